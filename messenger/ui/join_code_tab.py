"""The "Enter a code" tab: join with the code someone gave, or with a session number and
the password they told."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QStringListModel, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QCompleter,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from qasync import asyncSlot

from messenger.protocol.codes import WORDS, current_word, parse_code
from messenger.protocol.errors import MessengerError
from messenger.ui.new_session_tab import NewSessionTab, busy, password_field
from messenger.ui.theme import grow_to_fit, hint_label, monospace_font, set_primary

if TYPE_CHECKING:
    from messenger.ui.controller import AppController

__all__ = ["CodeWordCompleter", "JoinCodeTab"]

#: A completion path that matches no code word (a number or nothing typed yet).
_NO_WORD = "\u0000"


class CodeWordCompleter(QCompleter):
    """Completes the code word being typed, not the whole field: ``7 orb`` offers
    ``orbit`` and choosing it gives ``7 orbit``. Numbers and separators get no offer."""

    def __init__(self, field: QLineEdit) -> None:
        super().__init__(field)
        # Parented to the completer: a model without a parent is freed by Python at once.
        self.setModel(QStringListModel(sorted(WORDS), self))
        self.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setModelSorting(QCompleter.ModelSorting.CaseInsensitivelySortedModel)
        self.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self._field = field

    def splitPath(self, path: str) -> list[str]:
        word = current_word(path)[1]
        return [word if word.isalpha() else _NO_WORD]

    def pathFromIndex(self, index: QModelIndex | QPersistentModelIndex) -> str:
        head = current_word(self._field.text())[0]
        return head + str(index.data())


class JoinCodeTab(NewSessionTab):
    """A code field, or (ticked) a session number and a password field."""

    def __init__(self, controller: AppController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.setObjectName("joinTab")
        self.code_input = QLineEdit()
        self.code_input.setObjectName("codeInput")
        self.code_input.setPlaceholderText("7-orbit-lantern")
        self.code_input.setFont(monospace_font())
        self.code_input.setCompleter(CodeWordCompleter(self.code_input))
        self.number_check = QCheckBox("I have a session number and password instead")
        self.number_check.toggled.connect(self._number_mode_toggled)
        self.session_number_input = QLineEdit()
        self.session_number_input.setObjectName("sessionNumberInput")
        self.session_number_input.setPlaceholderText("Session number, e.g. 7")
        self.join_password = password_field("joinPassword", "Password they told you")
        self.number_box = QWidget()
        number_layout = QVBoxLayout(self.number_box)
        number_layout.setContentsMargins(0, 0, 0, 0)
        number_layout.addWidget(self.session_number_input)
        number_layout.addWidget(self.join_password)
        self.number_box.setVisible(False)

        self.join_button = QPushButton("Join")
        self.join_button.setObjectName("joinButton")
        set_primary(self.join_button)
        self.join_button.clicked.connect(self._join)
        self.main_button = self.join_button
        button_row = QHBoxLayout()
        button_row.addStretch(1)
        button_row.addWidget(self.join_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 16, 16, 16)
        layout.setSpacing(10)
        layout.addWidget(
            hint_label(
                "Type the code the other person gave you. Spaces or dashes between the "
                "words are both fine."
            )
        )
        layout.addWidget(self.code_input)
        layout.addWidget(self.number_check)
        layout.addWidget(self.number_box)
        layout.addLayout(button_row)
        layout.addStretch(1)

    def shown(self) -> None:
        target = self.session_number_input if self.number_check.isChecked() else self.code_input
        target.setFocus()

    def _number_mode_toggled(self, checked: bool) -> None:
        self.code_input.setVisible(not checked)
        self.number_box.setVisible(checked)
        (self.session_number_input if checked else self.code_input).setFocus()
        grow_to_fit(self)

    def _join_arguments(self) -> tuple[str, str | None] | str:
        """The ``join_code`` arguments, or a sentence saying what is wrong with the input."""
        if self.number_check.isChecked():
            number = self.session_number_input.text().strip()
            password = self.join_password.text()
            if not number.isdigit():
                return "The session number is the digits they gave you, for example 7."
            if not password:
                return "Type the password they told you."
            return number, password
        code = self.code_input.text().strip()
        if not code:
            return "Type the code first; it looks like 7-orbit-lantern."
        if code.isdigit():
            return (
                "That is a session number without the words. If they gave you a password "
                "instead, tick \u201cI have a session number and password instead\u201d."
            )
        try:
            parse_code(code)
        except ValueError as exc:
            return str(exc)
        return code, None

    @asyncSlot()
    async def _join(self) -> None:
        self.errorCleared.emit()
        arguments = self._join_arguments()
        if isinstance(arguments, str):
            self._show_error(arguments)
            return
        try:
            with busy(self.join_button, "Joining\u2026"):
                info = await self.controller.join_code(*arguments)
        except MessengerError as exc:
            self._show_error(str(exc))
            return
        if not self._alive():
            return
        self.sessionStarted.emit(info.key)
