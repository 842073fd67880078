"""Where the app's data files (icons, style sheets, the .desktop file) live at run time.

One helper, so that every caller works the same from a source checkout, an editable install
and a PyInstaller bundle. Imports no Qt: the headless parts may use it too.
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["resource_path", "resources_dir"]


def resources_dir() -> Path:
    """The ``resources/`` folder: at the bundle root when frozen, else beside the package.

    PyInstaller unpacks data files under ``sys._MEIPASS`` (the spec adds ``resources/`` at
    the bundle root); in a checkout the folder sits next to ``messenger/``.
    """
    bundle = getattr(sys, "_MEIPASS", None)
    if getattr(sys, "frozen", False) and bundle:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def resource_path(*parts: str) -> Path:
    """``resource_path("icons", "lock.svg")`` -> the file's absolute path (may not exist)."""
    return resources_dir().joinpath(*parts)
