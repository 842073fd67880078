"""The main window: the menus, and the wiring of the controller's, the pages' and the side
panel's signals to the window's parts (``window_base``: state and layout;
``window_events``: what the bridge reports; ``window_actions``: what the person does).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu

from messenger.ui.chat_view import ChatPage
from messenger.ui.controller import AppController
from messenger.ui.window_actions import WindowActions

__all__ = ["MainWindow"]


class MainWindow(WindowActions):
    def __init__(self, controller: AppController) -> None:
        super().__init__(controller)
        self.side.searchWanted.connect(self.search)
        self.side.hitChosen.connect(self.open_message)
        self.status_bar.hosting_button.clicked.connect(self.show_hosting)
        self.transfers.incoming.connect(self._note_incoming)
        self.transfers.touched.connect(self._touched)
        controller.connectionChanged.connect(self._connection_changed)
        controller.serverKeyShown.connect(self._server_key_shown)
        controller.sessionAdded.connect(self._session_added)
        controller.peerKeyChanged.connect(self._peer_key_changed)
        self._build_menus()
        if controller.book is not None:
            self.spawn(self.load_conversations())

    def _wire_page(self, page: ChatPage) -> None:
        page.sendRequested.connect(self.send_message)
        page.detailsRequested.connect(self.show_details)
        page.retryRequested.connect(self.retry)
        page.puzzleOpened.connect(self.open_puzzle)
        page.compareKeysRequested.connect(self.compare_keys)

    # -- menus ------------------------------------------------------------------------------

    def _build_menus(self) -> None:
        menu = self.menuBar().addMenu("&Conversation")
        self.new_action = self._action(
            menu, "&New conversation…", QKeySequence.StandardKey.New, self.open_new_session
        )
        self.details_action = self._action(
            menu, "Contact &details…", "Ctrl+I", self.details_current
        )
        self.search_action = self._action(
            menu, "&Search…", QKeySequence.StandardKey.Find, self.focus_search
        )
        self.rotate_action = self._action(menu, "&Renew keys now", "Ctrl+R", self.rotate_current)
        self.close_action = self._action(
            menu, "&Cancel code or invitation", QKeySequence.StandardKey.Close, self.close_current
        )
        self.delete_action = self._action(
            menu, "De&lete conversation…", None, self.delete_current
        )
        menu.addSeparator()
        self.reconnect_action = self._action(
            menu, "Reconnect &now", "Ctrl+Shift+R", self.reconnectRequested.emit
        )
        # StandardKey.Preferences is bound on macOS only (Cmd+, which Qt spells Ctrl+,) and
        # empty elsewhere, so name the key itself: Ctrl+, everywhere, Cmd+, on a Mac.
        self.settings_action = self._action(menu, "&Settings…", "Ctrl+,", self.open_settings)
        self.settings_action.setMenuRole(QAction.MenuRole.PreferencesRole)
        self._action(menu, "&Quit", QKeySequence.StandardKey.Quit, self.quit_app)
        tools_menu = self.menuBar().addMenu("&Tools")
        self.lab_action = self._action(tools_menu, "Cipher &lab…", "Ctrl+L", self.open_cipher_lab)
        help_menu = self.menuBar().addMenu("&Help")
        self._action(help_menu, "&About Messenger", None, self.show_about)

    def _action(
        self,
        menu: QMenu,
        text: str,
        shortcut: str | QKeySequence.StandardKey | None,
        slot: Callable[[], object],
    ) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        menu.addAction(action)
        return action
