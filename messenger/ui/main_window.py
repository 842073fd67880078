"""The main window: sessions on the left, the chat on the right, status at the bottom.

The window routes the controller's and the bridge's signals to the page they concern. File
cards have their own router (``transfer_cards``), the status bar its own widget
(``status_bar``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

from PySide6.QtCore import QByteArray, QEvent, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QSplitter,
    QStackedWidget,
    QWidget,
)
from qasync import asyncSlot

from messenger.crypto.rsa import format_fingerprint
from messenger.protocol.errors import MessengerError
from messenger.ui.bridge import ClientBridge
from messenger.ui.chat_view import ChatPage
from messenger.ui.controller import AppController
from messenger.ui.session_list import SESSION_ID_ROLE, SessionList
from messenger.ui.status_bar import WindowStatusBar
from messenger.ui.theme import message_box
from messenger.ui.transfer_cards import TransferCards
from messenger.ui.tray import TrayIcon
from messenger.ui.window_exit import TrayAndQuit
from messenger.ui.wording import session_kind, technical_kind


class MainWindow(TrayAndQuit, QMainWindow):
    #: Session > Reconnect now: skip the pause before the next connection attempt.
    reconnectRequested = Signal()
    #: Settings chose another server ("embedded" or "host:port"): connect there now.
    serverChangeRequested = Signal(str)
    #: The window was closed (Quit, Ctrl+Q, the title bar): the app shuts down after it.
    closed = Signal()

    def __init__(self, controller: AppController) -> None:
        super().__init__()
        self.controller = controller
        self.setMinimumSize(760, 480)
        self.pages: dict[str, ChatPage] = {}
        self._dialogs: list[QWidget] = []
        #: Invitation prompts on screen, by session, so an expired one can be closed.
        self._invitation_boxes: dict[str, QMessageBox] = {}
        self.tray: TrayIcon | None = None
        #: Set once the person confirmed quitting (or nothing needed confirming).
        self._quitting = False
        self.update_title()

        self.session_list = SessionList()
        self.session_list.currentItemChanged.connect(self._show_selected)
        self.stack = QStackedWidget()
        self.placeholder = QLabel(
            "No session yet.\n\nPress Ctrl+N to create a code, enter one, or pick someone online."
        )
        self.placeholder.setObjectName("placeholder")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.stack.addWidget(self.placeholder)
        splitter = QSplitter()
        splitter.addWidget(self.session_list)
        splitter.addWidget(self.stack)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([240, 560])
        self.setCentralWidget(splitter)

        self.status_bar = WindowStatusBar()
        self.setStatusBar(self.status_bar)
        self.status_bar.hosting_button.clicked.connect(self.show_hosting)
        self.transfers = TransferCards(controller, self.pages, self.session_list, self)
        self.transfers.incoming.connect(self._note_incoming)

        self._build_menus()
        controller.connectionChanged.connect(self._connection_changed)
        controller.serverKeyShown.connect(self._server_key_shown)
        controller.sessionAdded.connect(self._session_added)
        controller.sessionRemoved.connect(self._drop_page)
        self._restore_geometry()

    # -- menus ------------------------------------------------------------------------------

    def _build_menus(self) -> None:
        session_menu = self.menuBar().addMenu("&Session")
        self.new_action = self._action(
            session_menu, "&New session…", QKeySequence.StandardKey.New, self.open_new_session
        )
        self.close_action = self._action(
            session_menu, "&Close session", QKeySequence.StandardKey.Close, self.close_current
        )
        session_menu.addSeparator()
        self._action(session_menu, "&Verify safety number…", "Ctrl+I", self.verify_current)
        self._action(session_menu, "&Rotate keys now", "Ctrl+R", self.rotate_current)
        session_menu.addSeparator()
        self.reconnect_action = self._action(
            session_menu, "Reconnect &now", "Ctrl+Shift+R", self.reconnectRequested.emit
        )
        # StandardKey.Preferences is bound on macOS only (Cmd+, which Qt spells Ctrl+,) and
        # empty elsewhere, so name the key itself: Ctrl+, everywhere, Cmd+, on a Mac.
        self.settings_action = self._action(
            session_menu, "&Settings…", "Ctrl+,", self.open_settings
        )
        self.settings_action.setMenuRole(QAction.MenuRole.PreferencesRole)
        self._action(session_menu, "&Quit", QKeySequence.StandardKey.Quit, self.quit_app)
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

    # -- wiring -----------------------------------------------------------------------------

    def attach(self, bridge: ClientBridge) -> None:
        """Listen to a (new) connection's events."""
        bridge.codeCreated.connect(self._code_created)
        bridge.sessionReady.connect(self._session_ready)
        bridge.messageReceived.connect(self._message_received)
        bridge.messageDelivered.connect(self._message_delivered)
        bridge.keysRotated.connect(self._keys_rotated)
        bridge.peerLeft.connect(self._peer_left)
        bridge.sessionFailed.connect(self._session_failed)
        bridge.disconnected.connect(self._disconnected)
        bridge.invited.connect(self._invited)
        bridge.invitationClosed.connect(self._invitation_closed)
        bridge.pairingAttemptFailed.connect(self._pairing_attempt_failed)
        self.transfers.attach(bridge)

    def current_session(self) -> str | None:
        item = self.session_list.currentItem()
        if item is None:
            return None
        key = item.data(SESSION_ID_ROLE)
        return key if isinstance(key, str) else None

    def page(self, key: str) -> ChatPage | None:
        return self.pages.get(key)

    # -- controller signals -----------------------------------------------------------------

    def _connection_changed(self, state: str) -> None:
        self.status_bar.show_connection(state)
        view = self.controller.hosting_view()
        relay = self.controller.relay
        port = relay.address[1] if view is not None and relay and relay.address else None
        self.status_bar.show_hosting(port, view.summary if view is not None else "")

    def show_hosting(self) -> None:
        """The status bar's "Hosting" button: where others connect, and the key to tell."""
        from messenger.ui.hosting import HostingDialog

        view = self.controller.hosting_view()
        if view is None:
            return
        dialog = HostingDialog(view, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    def _server_key_shown(self, fingerprint: str, first_use: bool) -> None:
        # The server hosted here is our own: no "first contact" news about it.
        hosting = self.controller.relay is not None
        self.status_bar.show_server_key(fingerprint, first_use and not hosting)

    def _session_added(self, key: str) -> None:
        info = self.controller.sessions[key]
        mode = info.session.mode
        page = ChatPage(key, info.title, mode)
        page.sendRequested.connect(self.send_message)
        page.verifyRequested.connect(lambda sid: self.verify_session(sid))
        page.fileRequested.connect(self.transfers.send_file)
        self.pages[key] = page
        self.stack.addWidget(page)
        item = self.session_list.add_session(key, info.title, mode)
        self.session_list.setCurrentItem(item)
        if mode == "rsa":
            page.add_system_line(f"Setting up an invited session with {info.title}\u2026")

    # -- bridge signals ---------------------------------------------------------------------

    def _code_created(self, key: str, code: str) -> None:
        page = self.pages.get(key)
        if page is not None:
            page.add_system_line(f"Code: {code} — waiting for the other person to join.")

    def _session_ready(
        self, key: str, mode: str, safety: str, peer_id: str, peer_name: str
    ) -> None:
        page = self.pages.get(key)
        if page is None:
            return
        info = self.controller.sessions[key]
        if peer_name:
            info.title = peer_name
            page.title.setText(peer_name)
        contact = self.controller.profile.contacts.get(peer_id) if peer_id else None
        info.verified = bool(contact and contact.verified)
        page.set_ready(True)
        page.set_verified(info.verified)
        page.add_system_line(
            f"{session_kind(mode)} ready. End-to-end encrypted; "
            "compare safety numbers to be sure (Verify\u2026)."
        )
        self.session_list.update_session(
            key, title=info.title, state="ready", verified=info.verified, time=time.time()
        )
        self._update_epoch()

    def _message_received(self, key: str, message_id: str, text: str, sent_at: float) -> None:
        page = self.pages.get(key)
        if page is None:
            return
        page.add_message(message_id, text, time.time(), outgoing=False)
        self._note_incoming(key, text[:120])

    def _note_incoming(self, key: str, summary: str) -> None:
        """Something arrived: count it unread unless the session is in front, and notify
        while the window is not (unfocused, minimised or in the tray)."""
        away = not self.isActiveWindow() or self.isMinimized() or not self.isVisible()
        in_front = not away and self.current_session() == key
        info = self.controller.sessions.get(key)
        if not in_front and info is not None:
            info.unread += 1
            self.session_list.update_session(key, unread=info.unread, time=time.time())
            self._update_tray()
            if away and self.tray is not None:
                preview = self.controller.profile.settings().get("notification_previews", True)
                self.tray.notify(info.title, summary if preview else "New message")
        else:
            self.session_list.update_session(key, time=time.time())

    def _message_delivered(self, key: str, message_id: str) -> None:
        page = self.pages.get(key)
        if page is not None:
            page.mark_delivered(message_id)

    def _keys_rotated(self, key: str, epoch: int) -> None:
        page = self.pages.get(key)
        if page is not None:
            page.note_keys_renewed(time.time())
        self._update_epoch()

    def _peer_left(self, key: str) -> None:
        self._end(key, "The other person left the session.")

    def _session_failed(self, key: str, code: str, message: str) -> None:
        if key:
            self._end(key, f"Session ended: {message}", state="failed")

    def _disconnected(self, code: str, message: str) -> None:
        self._connection_changed("disconnected")
        self.statusBar().showMessage(message)

    def _end(self, key: str, text: str, state: str = "ended") -> None:
        page = self.pages.get(key)
        if page is not None:
            page.add_system_line(text)
            page.set_ended()
        self.transfers.end_session(key)
        self.session_list.update_session(key, state=state)

    @asyncSlot(str, str, str)
    async def _invited(self, key: str, from_id: str, from_name: str) -> None:
        who = from_name or from_id[:16]
        box = message_box(
            self,
            QMessageBox.Icon.Question,
            "Invitation",
            f"{who} invites you to a conversation.",
            "Accept if you expect it. Check who it is with Verify\u2026 once it starts.",
        )
        box.setDetailedText(
            f"An invited session ({technical_kind('rsa')}).\n\n"
            f"Their key fingerprint:\n{format_fingerprint(from_id)}"
        )
        box.setObjectName("invitationBox")
        box.setProperty("inviter", who)
        accept = box.addButton("Accept", QMessageBox.ButtonRole.AcceptRole)
        decline = box.addButton("Decline", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(decline)
        self._dialogs.append(box)
        self._invitation_boxes[key] = box
        done = self.controller.loop_future()
        box.finished.connect(lambda _result: None if done.done() else done.set_result(None))
        box.open()
        await done
        self._dialogs.remove(box)
        if self._invitation_boxes.pop(key, None) is None:
            return  # closed because the invitation expired or was withdrawn: nothing to answer
        try:
            await self.controller.answer(key, box.clickedButton() is accept, who)
        except MessengerError as exc:
            warning = message_box(self, QMessageBox.Icon.Warning, "Invitation", str(exc))
            warning.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            warning.open()

    def _invitation_closed(self, session_id: str, reason: str) -> None:
        """An invitation on screen is gone: close its prompt (so it cannot be accepted into
        a dead session) and say why."""
        box = self._invitation_boxes.pop(session_id, None)
        if box is None:
            return
        who = box.property("inviter") or "The other person"
        box.done(0)
        why = (
            "expired before you answered"
            if reason == "expired"
            else f"was withdrawn ({who} left or went offline)"
        )
        notice = message_box(
            self, QMessageBox.Icon.Information, "Invitation", f"The invitation {why}."
        )
        notice.setObjectName("invitationClosedBox")
        notice.open()
        self._dialogs.append(notice)
        notice.finished.connect(lambda _result: self._dialogs.remove(notice))

    def _pairing_attempt_failed(self, session_id: str, reason: str, tries_left: int) -> None:
        page = self.pages.get(session_id)
        if page is None:
            return
        what = (
            "tried to join with a wrong password"
            if reason == "wrong_password"
            else "joined but did not finish"
        )
        tries = "1 more try" if tries_left == 1 else f"{tries_left} more tries"
        page.add_system_line(f"Someone {what}. Your code still works ({tries} before it closes).")

    # -- actions ----------------------------------------------------------------------------

    @asyncSlot(str, str)
    async def send_message(self, key: str, text: str) -> None:
        page = self.pages[key]
        try:
            message_id = await self.controller.send(key, text)
        except MessengerError as exc:
            page.add_system_line(f"Not sent: {exc}")
            return
        page.clear_composer()
        page.add_message(message_id, text, time.time(), outgoing=True)
        self.session_list.update_session(key, time=time.time())

    def open_new_session(self) -> None:
        from messenger.ui.new_session_dialog import NewSessionDialog

        dialog = NewSessionDialog(self.controller, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    def verify_current(self) -> None:
        key = self.current_session()
        if key is not None:
            self.verify_session(key)

    def verify_session(self, key: str) -> None:
        from messenger.ui.safety_dialog import SafetyDialog

        info = self.controller.sessions.get(key)
        if info is None or not info.session.safety:
            return
        dialog = SafetyDialog(info.session.safety, info.title, info.verified, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.verifiedChanged.connect(lambda ok: self._set_verified(key, ok))
        dialog.open()

    def _set_verified(self, key: str, verified: bool) -> None:
        self.controller.mark_verified(key, verified)
        self.pages[key].set_verified(verified)
        self.session_list.update_session(key, verified=verified)

    @asyncSlot()
    async def rotate_current(self) -> None:
        key = self.current_session()
        if key is not None and key in self.controller.sessions:
            with contextlib.suppress(MessengerError):  # an ended session has no keys to renew
                await self.controller.rotate(key)

    @asyncSlot()
    async def close_current(self) -> None:
        """Close the conversation in front (Ctrl+W); an open one ends for both people, so
        ask first."""
        key = self.current_session()
        info = self.controller.sessions.get(key) if key is not None else None
        if key is None or info is None:
            return
        if key in self.controller.open_sessions():
            box = message_box(
                self,
                QMessageBox.Icon.Question,
                "End this conversation?",
                f"Closing ends the conversation with {info.title} for both of you.",
            )
            box.setObjectName("closeConfirm")
            end = box.addButton("End conversation", QMessageBox.ButtonRole.AcceptRole)
            box.addButton(QMessageBox.StandardButton.Cancel)
            box.setDefaultButton(QMessageBox.StandardButton.Cancel)
            done = self.controller.loop_future()
            box.finished.connect(lambda _r: None if done.done() else done.set_result(None))
            box.open()
            await done
            if box.clickedButton() is not end:
                return
        await self.controller.close_session(key)  # its sessionRemoved drops the page

    def _drop_page(self, key: str) -> None:
        self.session_list.remove_session(key)
        self.transfers.forget_session(key)
        page = self.pages.pop(key, None)
        if page is not None:
            self.stack.removeWidget(page)
            page.deleteLater()

    def open_settings(self) -> None:
        from messenger.ui.settings_dialog import SettingsDialog

        dialog = SettingsDialog(self.controller, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.serverChanged.connect(self._switch_server)
        dialog.open()

    def _switch_server(self, address: str) -> None:
        """Sessions cannot move to another server: they end here, as on a drop, and the
        connection keeper connects to the new one."""
        for key in self.controller.open_sessions():
            self._end(key, "Session ended: Messenger switched to another server.")
        self.serverChangeRequested.emit(address)

    def open_cipher_lab(self) -> None:
        from messenger.ui.cipher_lab import show_cipher_lab

        show_cipher_lab(self)

    def show_about(self) -> None:
        from messenger.ui.about import show_about

        show_about(self)

    # -- view -------------------------------------------------------------------------------

    def changeEvent(self, event: QEvent) -> None:
        """Coming back to the window counts as reading the session in front."""
        if event.type() == QEvent.Type.ActivationChange and self.isActiveWindow():
            self._mark_read(self.current_session())
        super().changeEvent(event)

    def _mark_read(self, key: str | None) -> None:
        info = self.controller.sessions.get(key) if key else None
        if key is not None and info is not None and info.unread:
            info.unread = 0
            self.session_list.update_session(key, unread=0)
            self._update_tray()

    def _show_selected(self) -> None:
        key = self.current_session()
        page = self.pages.get(key) if key else None
        self.stack.setCurrentWidget(page if page is not None else self.placeholder)
        self._mark_read(key)
        if page is not None:
            page.composer.setFocus()
        self._update_epoch()

    def _update_epoch(self) -> None:
        key = self.current_session()
        info = self.controller.sessions.get(key) if key else None
        self.status_bar.show_session(info.session if info is not None else None)

    def _restore_geometry(self) -> None:
        saved = self.controller.profile.settings().get("geometry")
        if isinstance(saved, str):
            self.restoreGeometry(QByteArray.fromBase64(saved.encode()))
        else:
            self.resize(960, 640)
