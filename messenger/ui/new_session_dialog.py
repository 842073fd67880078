"""The "New session" dialog: create a code, enter one, or invite someone who is online.

Each tab calls one controller coroutine from an ``@asyncSlot`` handler. A failure shows in
the shared ``errorLabel`` and leaves every field as typed, so the person can fix one
character and try again. ``sessionStarted`` fires as soon as a session exists; the main
window opens it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import shiboken6
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from qasync import asyncSlot

from messenger.protocol.codes import parse_code
from messenger.protocol.errors import MessengerError
from messenger.ui.icons import icon
from messenger.ui.theme import ErrorLabel, grow_to_fit, monospace_font, set_primary

if TYPE_CHECKING:
    from messenger.protocol.wire import Person
    from messenger.ui.controller import AppController

__all__ = ["NewSessionDialog"]

CREATE_TAB, JOIN_TAB, PEOPLE_TAB = range(3)
#: Item data roles of the people list (Qt.UserRole holds the person id).
NAME_ROLE = Qt.ItemDataRole.UserRole + 1
STATUS_ROLE = Qt.ItemDataRole.UserRole + 2
COPIED_FEEDBACK_MS = 1500


def _hint(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("hintLabel")
    label.setWordWrap(True)
    return label


def _password_field(object_name: str, placeholder: str) -> QLineEdit:
    field = QLineEdit()
    field.setObjectName(object_name)
    field.setPlaceholderText(placeholder)
    field.setEchoMode(QLineEdit.EchoMode.Password)
    return field


class NewSessionDialog(QDialog):
    """Three ways to start a session, one per tab; stays open after "Create code" so the
    code can be read out, and closes itself after a successful join or invitation."""

    sessionStarted = Signal(str)  # session id

    def __init__(self, controller: AppController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.created_session: str | None = None
        self._people_loaded = False
        self._inviting = False
        self.setWindowTitle("New session")
        self.setMinimumWidth(480)

        self.tabs = QTabWidget()
        self.tabs.setObjectName("newSessionTabs")
        # Every tab title in full: scroll arrows hide the third way of starting a session.
        self.tabs.setUsesScrollButtons(False)
        self.tabs.setElideMode(Qt.TextElideMode.ElideNone)
        self.tabs.addTab(self._build_create_tab(), icon("lock"), "Create a code")
        self.tabs.addTab(self._build_join_tab(), icon("lock"), "Enter a code")
        self.tabs.addTab(self._build_people_tab(), icon("key"), "Pick someone online")

        self.error_label = ErrorLabel()

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        for button in buttons.buttons():
            button.setAutoDefault(False)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 16, 16, 12)
        layout.setSpacing(12)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.error_label)
        layout.addWidget(buttons)

        # Enter runs the current tab's main button and nothing else.
        self._tab_buttons = (self.create_button, self.join_button, self.invite_button)
        for button in (*self._tab_buttons, self.copy_button, self.refresh_button):
            button.setAutoDefault(False)
        self.tabs.currentChanged.connect(self._tab_changed)
        self._tab_changed(self.tabs.currentIndex())

        bridge = getattr(controller, "bridge", None)
        if bridge is not None:
            bridge.peopleChanged.connect(self._set_people)
            session_ready = getattr(bridge, "sessionReady", None)
            if session_ready is not None:
                session_ready.connect(self._session_ready)

    # -- tabs ------------------------------------------------------------------------------

    def _build_create_tab(self) -> QWidget:
        tab = QWidget()
        tab.setObjectName("createTab")
        self.create_intro = _hint(
            "Create a one-time code and give it to the other person: it is the password "
            "that secures the session, and it works only once."
        )
        self.own_password_check = QCheckBox("Use my own password")
        self.own_password = _password_field("ownPassword", "Password you will tell them")
        self.own_password.setVisible(False)
        self.own_password_check.toggled.connect(self._own_password_toggled)

        self.create_button = QPushButton("Create code")
        self.create_button.setObjectName("createButton")
        set_primary(self.create_button)
        self.create_button.clicked.connect(self._create)

        self.code_label = QLabel()
        self.code_label.setObjectName("codeLabel")
        self.code_label.setFont(monospace_font())
        self.code_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.code_label.setTextFormat(Qt.TextFormat.PlainText)
        self.code_label.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        self.copy_button = QPushButton(icon("copy"), "Copy")
        self.copy_button.setObjectName("copyCode")
        self.copy_button.clicked.connect(self._copy_code)
        self._copied_timer = QTimer(self)
        self._copied_timer.setSingleShot(True)
        self._copied_timer.setInterval(COPIED_FEEDBACK_MS)
        self._copied_timer.timeout.connect(lambda: self.copy_button.setText("Copy"))
        self.code_hint = _hint("")

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

        layout = QVBoxLayout(tab)
        layout.setContentsMargins(16, 16, 16, 16)
        layout.setSpacing(10)
        layout.addWidget(self.create_intro)
        layout.addWidget(self.own_password_check)
        layout.addWidget(self.own_password)
        layout.addLayout(button_row)
        layout.addWidget(self.code_box)
        layout.addStretch(1)
        return tab

    def _build_join_tab(self) -> QWidget:
        tab = QWidget()
        tab.setObjectName("joinTab")
        self.code_input = QLineEdit()
        self.code_input.setObjectName("codeInput")
        self.code_input.setPlaceholderText("7-orbit-lantern")
        self.code_input.setFont(monospace_font())
        self.number_check = QCheckBox("I have a session number and password instead")
        self.number_check.toggled.connect(self._number_mode_toggled)
        self.session_number_input = QLineEdit()
        self.session_number_input.setObjectName("sessionNumberInput")
        self.session_number_input.setPlaceholderText("Session number, e.g. 7")
        self.join_password = _password_field("joinPassword", "Password they told you")
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
        button_row = QHBoxLayout()
        button_row.addStretch(1)
        button_row.addWidget(self.join_button)

        layout = QVBoxLayout(tab)
        layout.setContentsMargins(16, 16, 16, 16)
        layout.setSpacing(10)
        layout.addWidget(_hint("Type the code the other person gave you."))
        layout.addWidget(self.code_input)
        layout.addWidget(self.number_check)
        layout.addWidget(self.number_box)
        layout.addLayout(button_row)
        layout.addStretch(1)
        return tab

    def _build_people_tab(self) -> QWidget:
        tab = QWidget()
        tab.setObjectName("peopleTab")
        self.people_list = QListWidget()
        self.people_list.setObjectName("peopleList")
        self.people_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.people_list.setMinimumHeight(140)
        self.people_list.itemSelectionChanged.connect(self._update_invite_button)
        self.people_list.itemDoubleClicked.connect(lambda _item: self.invite_button.click())
        self.people_empty = QLabel("Nobody else is online right now.")
        self.people_empty.setObjectName("peopleEmpty")
        self.people_empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.people_empty.setMinimumHeight(140)
        self.people_empty.setVisible(False)

        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setObjectName("refreshPeople")
        self.refresh_button.clicked.connect(self._refresh_people)
        self.invite_button = QPushButton("Invite")
        self.invite_button.setObjectName("inviteButton")
        set_primary(self.invite_button)
        self.invite_button.setEnabled(False)
        self.invite_button.clicked.connect(self._invite)
        button_row = QHBoxLayout()
        button_row.addWidget(self.refresh_button)
        button_row.addStretch(1)
        button_row.addWidget(self.invite_button)

        layout = QVBoxLayout(tab)
        layout.setContentsMargins(16, 16, 16, 16)
        layout.setSpacing(10)
        layout.addWidget(
            _hint(
                "People connected to this server now. An invitation starts a session secured "
                "by both your identity keys."
            )
        )
        layout.addWidget(self.people_list, 1)
        layout.addWidget(self.people_empty, 1)
        layout.addLayout(button_row)
        return tab

    def _tab_changed(self, index: int) -> None:
        self.error_label.clear_error()
        button = self._tab_buttons[index]
        button.setDefault(True)
        if index == JOIN_TAB:
            target = self.session_number_input if self.number_check.isChecked() else self.code_input
            target.setFocus()
        elif index == PEOPLE_TAB and not self._people_loaded:
            self._people_loaded = True
            self._refresh_people()

    def _alive(self) -> bool:
        """False once the dialog was closed and deleted (the main window opens it with
        WA_DeleteOnClose) while a call was still running; the session, if one was made,
        still reaches the main window through ``controller.sessionAdded``."""
        return shiboken6.isValid(self)

    @contextmanager
    def _busy(self, button: QPushButton, text: str) -> Iterator[None]:
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

    def _show_error(self, tab: int, message: str) -> None:
        """Show ``message`` under the tab whose action failed (switching back to it if the
        person moved on while the call ran)."""
        if not self._alive():
            return
        if self.tabs.currentIndex() != tab:
            self.tabs.setCurrentIndex(tab)
        self.error_label.show_error(message)

    # -- create ----------------------------------------------------------------------------

    def _own_password_toggled(self, checked: bool) -> None:
        self.own_password.setVisible(checked)
        if checked:
            self.own_password.setFocus()
            grow_to_fit(self)

    @asyncSlot()
    async def _create(self) -> None:
        self.error_label.clear_error()
        password: str | None = None
        if self.own_password_check.isChecked():
            password = self.own_password.text()
            if not password:
                self._show_error(
                    CREATE_TAB, "Type your password, or untick \u201cUse my own password\u201d."
                )
                self.own_password.setFocus()
                return
        try:
            with self._busy(self.create_button, "Creating\u2026"):
                info = await self.controller.create_code(password)
        except MessengerError as exc:
            self._show_error(CREATE_TAB, str(exc))
            return
        if not self._alive():
            return
        self._show_code(info.code or info.session.id, own_password=password is not None)
        self.created_session = info.session.id
        self.sessionStarted.emit(info.session.id)

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

    def _session_ready(self, session_id: str, *_details: str) -> None:
        """The other person joined the code shown here: nothing left to read out."""
        if session_id and session_id == self.created_session:
            self.accept()

    # -- join ------------------------------------------------------------------------------

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
        self.error_label.clear_error()
        arguments = self._join_arguments()
        if isinstance(arguments, str):
            self._show_error(JOIN_TAB, arguments)
            return
        try:
            with self._busy(self.join_button, "Joining\u2026"):
                info = await self.controller.join_code(*arguments)
        except MessengerError as exc:
            self._show_error(JOIN_TAB, str(exc))
            return
        if not self._alive():
            return
        self.sessionStarted.emit(info.session.id)
        self.accept()

    # -- people ----------------------------------------------------------------------------

    @asyncSlot()
    async def _refresh_people(self) -> None:
        self.error_label.clear_error()
        try:
            with self._busy(self.refresh_button, "Refreshing\u2026"):
                people = await self.controller.people()
        except MessengerError as exc:
            self._show_error(PEOPLE_TAB, str(exc))
            return
        if self._alive():
            self._set_people(people)

    def _set_people(self, people: list[Person]) -> None:
        """Fill the list (free people first), keeping the selection if that person is
        still there: updates arrive live while someone is choosing."""
        selected = self._selected_person_id()
        self.people_list.clear()
        person_icon = icon("person")
        for person in sorted(people, key=lambda p: (p.status != "free", p.name.lower())):
            name = person.name or person.id[:12]
            free = person.status == "free"
            item = QListWidgetItem(person_icon, f"{name} \u2014 {'free' if free else 'busy'}")
            item.setData(Qt.ItemDataRole.UserRole, person.id)
            item.setData(NAME_ROLE, name)
            item.setData(STATUS_ROLE, person.status)
            if not free:
                # Greyed and unselectable: a busy person cannot be invited. (A foreground
                # brush would not do: the style sheet's list colours win over it.)
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled)
                item.setToolTip(f"{name} is in another session right now.")
            self.people_list.addItem(item)
            if person.id == selected:
                item.setSelected(True)
                self.people_list.setCurrentItem(item)
        empty = self.people_list.count() == 0
        self.people_list.setVisible(not empty)
        self.people_empty.setVisible(empty)
        self._update_invite_button()

    def _selected_person_id(self) -> str | None:
        items = self.people_list.selectedItems()
        return items[0].data(Qt.ItemDataRole.UserRole) if items else None

    def _update_invite_button(self) -> None:
        items = self.people_list.selectedItems()
        free = bool(items) and items[0].data(STATUS_ROLE) == "free"
        self.invite_button.setEnabled(free and not self._inviting)

    @asyncSlot()
    async def _invite(self) -> None:
        items = self.people_list.selectedItems()
        if not items or items[0].data(STATUS_ROLE) != "free" or self._inviting:
            return
        person_id = items[0].data(Qt.ItemDataRole.UserRole)
        name = items[0].data(NAME_ROLE)
        self.error_label.clear_error()
        self._inviting = True
        try:
            with self._busy(self.invite_button, "Inviting\u2026"):
                info = await self.controller.invite(person_id, name)
        except MessengerError as exc:
            self._show_error(PEOPLE_TAB, str(exc))
            return
        finally:
            self._inviting = False
            if self._alive():
                self._update_invite_button()
        if not self._alive():
            return
        self.sessionStarted.emit(info.session.id)
        self.accept()
