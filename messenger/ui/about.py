"""The About box: what the app is and the versions a bug report needs."""

from __future__ import annotations

import platform
from html import escape
from importlib import metadata

import PySide6
from PySide6.QtCore import qVersion
from PySide6.QtWidgets import QMessageBox, QWidget

import messenger

__all__ = ["about_text", "show_about"]


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def about_text() -> str:
    """Rich text for the box; the versions are the ones a bug report should quote."""
    rows = [
        ("Messenger", messenger.__version__),
        ("Python", platform.python_version()),
        ("PySide6", PySide6.__version__),
        ("Qt", qVersion()),
        ("pycryptodome", _version("pycryptodome")),
        ("spake2", _version("spake2")),
    ]
    table = "".join(
        f"<tr><td>{escape(name)}</td><td>&nbsp;&nbsp;{escape(value)}</td></tr>"
        for name, value in rows
    )
    return (
        f"<h3>Messenger {escape(messenger.__version__)}</h3>"
        "<p>End-to-end encrypted messages and files between two people, through a relay "
        "server that cannot read them.</p>"
        f"<table>{table}</table>"
    )


def show_about(parent: QWidget | None) -> None:
    QMessageBox.about(parent, "About Messenger", about_text())
