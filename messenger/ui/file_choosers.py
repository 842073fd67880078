"""The file and folder choosers behind the attach and Save buttons.

Plain functions, so tests can swap them (``ChatPage.choose_files``,
``TransferCard.choose_folder``). They run Qt's modal dialogs, so call them from ordinary
slots, never inside a coroutine: a nested event loop inside a qasync task makes the next
task step fail with "Cannot enter into task ... while another task is being executed".
"""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog, QWidget

__all__ = ["ask_for_files", "ask_for_folder"]


def ask_for_folder(parent: QWidget, start: str) -> str:
    """The folder to save an offered file in; "" if the person cancels."""
    return QFileDialog.getExistingDirectory(parent, "Save the file in…", start)


def ask_for_files(parent: QWidget) -> list[str]:
    """Files to send; [] if the person cancels."""
    files, _filter = QFileDialog.getOpenFileNames(parent, "Send files")
    return files
