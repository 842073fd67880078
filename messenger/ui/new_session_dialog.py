"""The "New session" dialog: create a code, enter one, or invite someone who is online.

Each way is a tab of its own (``create_code_tab``, ``join_code_tab``, ``people_tab``) that
calls one controller coroutine. The dialog holds what they share: the error label, which
button Enter presses, and what a started session means here. A failure shows in the shared
``errorLabel`` and leaves every field as typed, so the person can fix one character and try
again. ``sessionStarted`` fires as soon as a session exists; the main window opens it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import shiboken6
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from messenger.ui.create_code_tab import CreateCodeTab
from messenger.ui.icons import icon
from messenger.ui.join_code_tab import JoinCodeTab
from messenger.ui.new_session_tab import NewSessionTab
from messenger.ui.people_tab import PeopleTab
from messenger.ui.theme import ErrorLabel

if TYPE_CHECKING:
    from messenger.ui.controller import AppController

__all__ = ["NewSessionDialog"]


class NewSessionDialog(QDialog):
    """Three ways to start a session, one per tab; stays open after "Create code" so the
    code can be read out, and closes itself after a successful join or invitation."""

    sessionStarted = Signal(str)  # conversation key

    def __init__(self, controller: AppController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.created_session: str | None = None
        self.setWindowTitle("New session")
        self.setMinimumWidth(480)

        self.create_tab = CreateCodeTab(controller)
        self.join_tab = JoinCodeTab(controller)
        self.people_tab = PeopleTab(controller)
        self._tabs: tuple[NewSessionTab, ...] = (self.create_tab, self.join_tab, self.people_tab)

        self.tabs = QTabWidget()
        self.tabs.setObjectName("newSessionTabs")
        # Every tab title in full: scroll arrows hide the third way of starting a session.
        self.tabs.setUsesScrollButtons(False)
        self.tabs.setElideMode(Qt.TextElideMode.ElideNone)
        self.tabs.addTab(self.create_tab, icon("lock"), "Create a code")
        self.tabs.addTab(self.join_tab, icon("lock"), "Enter a code")
        self.tabs.addTab(self.people_tab, icon("key"), "Pick someone online")

        self.error_label = ErrorLabel()

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        for button in buttons.buttons():
            if isinstance(button, QPushButton):
                button.setAutoDefault(False)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 16, 16, 12)
        layout.setSpacing(12)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.error_label)
        layout.addWidget(buttons)

        for tab in self._tabs:
            # Enter runs the current tab's main button and nothing else.
            for button in tab.findChildren(QPushButton):
                button.setAutoDefault(False)
            tab.errorCleared.connect(self.error_label.clear_error)
            tab.errorRaised.connect(lambda message, tab=tab: self._show_error(tab, message))
        self.create_tab.sessionStarted.connect(self._code_created)
        self.join_tab.sessionStarted.connect(self._joined)
        self.people_tab.sessionStarted.connect(self._joined)
        self.tabs.currentChanged.connect(self._tab_changed)
        self._tab_changed(self.tabs.currentIndex())

        bridge = getattr(controller, "bridge", None)
        if bridge is not None:
            bridge.peopleChanged.connect(self.people_tab.set_people)
            session_ready = getattr(bridge, "sessionReady", None)
            if session_ready is not None:
                session_ready.connect(self._session_ready)

    def _tab_changed(self, index: int) -> None:
        self.error_label.clear_error()
        tab = self._tabs[index]
        tab.main_button.setDefault(True)
        tab.shown()

    def _show_error(self, tab: NewSessionTab, message: str) -> None:
        """Show ``message`` under the tab whose action failed (switching back to it if the
        person moved on while the call ran)."""
        if not shiboken6.isValid(self):
            return
        if self.tabs.currentWidget() is not tab:
            self.tabs.setCurrentWidget(tab)
        self.error_label.show_error(message)

    def _code_created(self, key: str) -> None:
        """The code shows in its tab; the dialog stays open until the other person joins."""
        self.created_session = key
        self.sessionStarted.emit(key)

    def _joined(self, key: str) -> None:
        self.sessionStarted.emit(key)
        self.accept()

    def _session_ready(self, key: str, *_details: str) -> None:
        """The other person joined the code shown here: nothing left to read out."""
        if key and key == self.created_session:
            self.accept()
