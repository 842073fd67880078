"""The "Create a code" tab: make a one-time code (or a session number for a password of
one's own) and show it, ready to read out or copy."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QPushButton, QVBoxLayout, QWidget
from qasync import asyncSlot

from messenger.protocol.errors import MessengerError
from messenger.ui.icons import icon
from messenger.ui.new_session_tab import NewSessionTab, busy, password_field
from messenger.ui.theme import copyable_label, grow_to_fit, hint_label, set_primary

if TYPE_CHECKING:
    from messenger.ui.controller import AppController

__all__ = ["CreateCodeTab"]

COPIED_FEEDBACK_MS = 1500


class CreateCodeTab(NewSessionTab):
    """The form, then the code in its place once created."""

    def __init__(self, controller: AppController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.setObjectName("createTab")
        self.create_intro = hint_label(
            "Create a one-time code and give it to the other person: it is the password "
            "that secures the session, and it works only once."
        )
        self.own_password_check = QCheckBox("Use my own password")
        self.own_password = password_field("ownPassword", "Password you will tell them")
        self.own_password.setVisible(False)
        self.own_password_check.toggled.connect(self._own_password_toggled)

        self.create_button = QPushButton("Create code")
        self.create_button.setObjectName("createButton")
        set_primary(self.create_button)
        self.create_button.clicked.connect(self._create)
        self.main_button = self.create_button

        self.code_label = copyable_label("codeLabel", mono=True, centered=True)
        self.copy_button = QPushButton(icon("copy"), "Copy")
        self.copy_button.setObjectName("copyCode")
        self.copy_button.clicked.connect(self._copy_code)
        self._copied_timer = QTimer(self)
        self._copied_timer.setSingleShot(True)
        self._copied_timer.setInterval(COPIED_FEEDBACK_MS)
        self._copied_timer.timeout.connect(lambda: self.copy_button.setText("Copy"))
        self.code_hint = hint_label("")

        self.code_box = QWidget()
        code_layout = QVBoxLayout(self.code_box)
        code_layout.setContentsMargins(0, 0, 0, 0)
        code_layout.setSpacing(10)
        code_layout.addWidget(self.code_label)
        copy_row = QHBoxLayout()
        copy_row.addStretch(1)
        copy_row.addWidget(self.copy_button)
        copy_row.addStretch(1)
        code_layout.addLayout(copy_row)
        code_layout.addWidget(self.code_hint)
        self.code_box.setVisible(False)

        button_row = QHBoxLayout()
        button_row.addStretch(1)
        button_row.addWidget(self.create_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 16, 16, 16)
        layout.setSpacing(10)
        layout.addWidget(self.create_intro)
        layout.addWidget(self.own_password_check)
        layout.addWidget(self.own_password)
        layout.addLayout(button_row)
        layout.addWidget(self.code_box)
        layout.addStretch(1)

    def _own_password_toggled(self, checked: bool) -> None:
        self.own_password.setVisible(checked)
        if checked:
            self.own_password.setFocus()
            grow_to_fit(self)

    @asyncSlot()
    async def _create(self) -> None:
        self.errorCleared.emit()
        password: str | None = None
        if self.own_password_check.isChecked():
            password = self.own_password.text()
            if not password:
                self._show_error("Type your password, or untick \u201cUse my own password\u201d.")
                self.own_password.setFocus()
                return
        try:
            with busy(self.create_button, "Creating\u2026"):
                info = await self.controller.create_code(password)
        except MessengerError as exc:
            self._show_error(str(exc))
            return
        if not self._alive():
            return
        self._show_code(info.code or info.session.id, own_password=password is not None)
        self.sessionStarted.emit(info.key)

    def _show_code(self, code: str, own_password: bool) -> None:
        """Swap the form for the code; a second "Create code" would only make a second,
        unused session, so the form does not come back."""
        self.code_label.setText(code)
        if own_password:
            self.code_hint.setText(
                "Give this session number to the other person, and tell them the password "
                "separately (in person or on a call). The session opens when they join."
            )
        else:
            self.code_hint.setText(
                "Give this code to the other person. The session opens when they join."
            )
        for widget in (
            self.create_intro,
            self.own_password_check,
            self.own_password,
            self.create_button,
        ):
            widget.setVisible(False)
        self.code_box.setVisible(True)
        self.copy_button.setFocus()
        grow_to_fit(self)

    def _copy_code(self) -> None:
        QGuiApplication.clipboard().setText(self.code_label.text())
        self.copy_button.setText("Copied")
        self._copied_timer.start()
