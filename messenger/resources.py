"""Where the app's data files (icons, style sheets, the .desktop file) live at run time.

One helper, so that every caller works the same from a source checkout, an editable install,
a plain wheel install and a PyInstaller bundle. Imports no Qt: the headless parts may use it.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from pathlib import Path

__all__ = ["INSTALLED_RESOURCES", "resource_path", "resources_dir"]

#: Where a wheel install puts ``resources/`` (pyproject's data-files), under the data prefix.
INSTALLED_RESOURCES = Path("share", "messenger", "resources")


def _installed_candidates() -> list[Path]:
    """The data prefixes a wheel may have been installed under: the running interpreter's
    scheme (a venv or the system) and the per-user one (``pip install --user``)."""
    prefixes = [sysconfig.get_path("data")]
    with_user_scheme = f"{os.name}_user"
    if with_user_scheme in sysconfig.get_scheme_names():
        prefixes.append(sysconfig.get_path("data", with_user_scheme))
    return [Path(prefix) / INSTALLED_RESOURCES for prefix in prefixes if prefix]


def resources_dir() -> Path:
    """The ``resources/`` folder: at the bundle root when frozen, beside the package in a
    checkout (or editable install), else where a wheel install put it.

    PyInstaller unpacks data files under ``sys._MEIPASS`` (the spec adds ``resources/`` at
    the bundle root). A wheel cannot put a top-level folder next to the package, so
    pyproject.toml installs it as data files under ``<prefix>/share/messenger/resources``.
    """
    bundle = getattr(sys, "_MEIPASS", None)
    if getattr(sys, "frozen", False) and bundle:
        return Path(bundle) / "resources"
    beside_package = Path(__file__).resolve().parent.parent / "resources"
    if beside_package.is_dir():
        return beside_package
    for candidate in _installed_candidates():
        if candidate.is_dir():
            return candidate
    return beside_package  # nothing found: callers report the missing file by this path


def resource_path(*parts: str) -> Path:
    """``resource_path("icons", "lock.svg")`` -> the file's absolute path (may not exist)."""
    return resources_dir().joinpath(*parts)
