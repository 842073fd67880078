"""What the three tabs of the "New session" dialog share: the base class and small helpers.

A tab runs one controller coroutine from an ``@asyncSlot`` handler and reports back through
signals: ``sessionStarted`` once a session exists, ``errorRaised`` with a sentence for the
dialog's shared error label, ``errorCleared`` when a new attempt starts. The dialog decides
what a started session means for it (stay open to show the code, or close).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import shiboken6
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLineEdit, QPushButton, QWidget

__all__ = ["NewSessionTab", "busy", "password_field"]


def password_field(object_name: str, placeholder: str) -> QLineEdit:
    field = QLineEdit()
    field.setObjectName(object_name)
    field.setPlaceholderText(placeholder)
    field.setEchoMode(QLineEdit.EchoMode.Password)
    return field


@contextmanager
def busy(button: QPushButton, text: str) -> Iterator[None]:
    """Disable ``button`` and say what is happening on it while a call runs; put it
    back afterwards, whatever happened (unless the dialog is gone by then)."""
    label = button.text()
    button.setEnabled(False)
    button.setText(text)
    try:
        yield
    finally:
        if shiboken6.isValid(button):
            button.setText(label)
            button.setEnabled(True)


class NewSessionTab(QWidget):
    """One way to start a session. A failure leaves every field as typed, so the person can
    fix one character and try again."""

    sessionStarted = Signal(str)  # conversation key
    errorRaised = Signal(str)  # what went wrong, in a sentence
    errorCleared = Signal()

    #: The button Enter presses while this tab is in front (set by each tab).
    main_button: QPushButton

    def shown(self) -> None:
        """The tab came to the front; put the cursor where typing starts."""

    def _alive(self) -> bool:
        """False once the dialog was closed and deleted (the main window opens it with
        WA_DeleteOnClose) while a call was still running; the session, if one was made,
        still reaches the main window through ``controller.sessionAdded``."""
        return shiboken6.isValid(self)

    def _show_error(self, message: str) -> None:
        if self._alive():
            self.errorRaised.emit(message)
