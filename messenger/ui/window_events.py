"""What the bridge reports, routed to the conversation list and the pages (a mixin of
``MainWindow``, kept apart so that each module stays about one thing).

A conversation's events name its contact; they update its entry (preview, time, unread,
online) whether or not its page was ever opened, and its page if it was. A meeting's
events (a code, a failed join, its end) concern its own entry; once it is done, its entry
becomes the contact's. A dropped connection ends meetings only: conversations carry on,
what is written waits in the outbox, and each page says it is reconnecting.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox
from qasync import asyncSlot

from messenger.crypto.rsa import format_fingerprint
from messenger.protocol.errors import MessengerError, PeerKeyChangedError
from messenger.store.contacts import names_clash
from messenger.store.records import MessageStatus
from messenger.ui.bridge import ClientBridge
from messenger.ui.conversation_list import Entry
from messenger.ui.history_rows import Row, live_row
from messenger.ui.history_rows import message_row as row_of_record
from messenger.ui.key_change import KeyChangeDialog, is_person_id, shown_name
from messenger.ui.theme import message_box
from messenger.ui.window_base import WindowBase
from messenger.ui.wording import for_people, session_kind, technical_kind

__all__ = ["WAITING_TEXT", "WindowEvents", "incoming_row"]

#: What a meeting's entry says while it waits.
WAITING_TEXT = "Waiting for the other person…"


def incoming_row(msg_id: str, text: str, puzzle: str) -> Row:
    """A message that arrived now, as its page shows it until the history is read again."""
    kind = "puzzle" if puzzle else "text"
    return live_row(msg_id, False, kind, text, MessageStatus.RECEIVED, puzzle or None)


class WindowEvents(WindowBase):
    def attach(self, bridge: ClientBridge) -> None:
        """Listen to a (new) connection's events."""
        bridge.codeCreated.connect(self._code_created)
        bridge.sessionReady.connect(self._session_ready)
        bridge.messageReceived.connect(self._message_received)
        # Bound methods only: Qt drops them with the window; a lambda would outlive it.
        bridge.messageSent.connect(self._sent)
        bridge.messageDelivered.connect(self._delivered)
        bridge.messageFailed.connect(self._failed)
        bridge.keysRotated.connect(self._keys_rotated)
        bridge.contactPresence.connect(self._presence)
        bridge.peerLeft.connect(self._peer_left)
        bridge.sessionFailed.connect(self._session_failed)
        bridge.disconnected.connect(self._disconnected)
        bridge.invited.connect(self._invited)
        bridge.invitationClosed.connect(self._invitation_closed)
        bridge.pairingAttemptFailed.connect(self._pairing_attempt_failed)
        self.transfers.attach(bridge)
        bridge.start()

    # -- the connection ---------------------------------------------------------------------

    def _connection_changed(self, state: str) -> None:
        self.status_bar.show_connection(state)
        view = self.controller.hosting_view()
        relay = self.controller.relay
        port = relay.address[1] if view is not None and relay and relay.address else None
        self.status_bar.show_hosting(port, view.summary if view is not None else "")
        self._set_connected(state == "connected")

    def _set_connected(self, connected: bool) -> None:
        self._connected = connected
        for page in self.pages.values():
            page.set_connected(connected)
        if not connected:  # nobody is online for us while we are not
            for entry in self.conversation_list.entries():
                if entry.online:
                    self._presence(entry.key, False)

    def _disconnected(self, code: str, message: str) -> None:
        self._connection_changed("disconnected")
        self.statusBar().showMessage(message)

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

    # -- conversations ----------------------------------------------------------------------

    def _message_received(
        self, key: str, msg_id: str, text: str, _sent_at: float, puzzle: str
    ) -> None:
        row = incoming_row(msg_id, text, puzzle)
        page = self.pages.get(key)
        if page is not None:
            page.add_message(row)
        preview = "\U0001f9e9 Puzzle" if puzzle else text.strip().splitlines()[0][:200]
        self._touched(key, preview)
        self._note_incoming(key, "Sent you a puzzle" if puzzle else text[:120])

    def _touched(self, key: str, preview: str) -> None:
        """Something happened in a conversation now: its entry moves to the top."""
        changed = self.conversation_list.change(key, preview=preview, activity=time.time())
        if changed is None and self.controller.is_contact(key):
            self.spawn(self.refresh_entry(key))

    def _note_incoming(self, key: str, summary: str) -> None:
        """Something arrived: count it unread unless the conversation is in front, and
        notify while the window is not (unfocused, minimised or in the tray)."""
        away = not self.isActiveWindow() or self.isMinimized() or not self.isVisible()
        if not away and self.current_session() == key:
            self.mark_read_soon(key)  # the core counted it on arrival
            return
        entry = self.conversation_list.entry(key)
        if entry is not None:
            self.conversation_list.change(key, unread=entry.unread + 1)
        self._update_tray()
        if away and self.tray is not None:
            preview = self.controller.profile.settings().get("notification_previews", True)
            title = entry.title if entry is not None else "Messenger"
            self.tray.notify(title, summary if preview else "New message")

    def _sent(self, key: str, msg_id: str) -> None:
        self._status(key, msg_id, MessageStatus.SENT)

    def _delivered(self, key: str, msg_id: str) -> None:
        self._status(key, msg_id, MessageStatus.DELIVERED)

    def _failed(self, key: str, msg_id: str, _code: str, why: str) -> None:
        self._status(key, msg_id, MessageStatus.FAILED, why)

    def _status(self, key: str, msg_id: str, status: MessageStatus, why: str = "") -> None:
        """One of our messages moved on (the relay has it, their app stored it, or it was
        refused); a message the page did not see being sent is read and shown."""
        page = self.pages.get(key)
        if page is None:
            return
        if not page.set_status(msg_id, status, why) and page.loaded.is_set():
            self.spawn(self._show_sent(key, msg_id))

    async def _show_sent(self, key: str, msg_id: str) -> None:
        book = self.controller.book
        record = await book.message(key, msg_id, True) if book is not None else None
        page = self.pages.get(key)
        if record is not None and page is not None:
            page.add_message(row_of_record(record))

    def _keys_rotated(self, key: str, _epoch: int) -> None:
        """Keys turn over whenever the talk changes direction: a line in the conversation
        each time would bury it, so only the status bar counts them."""
        if key == self.current_session():
            self._update_epoch()

    def _presence(self, contact_id: str, online: bool) -> None:
        self.conversation_list.change(contact_id, online=online)
        page = self.pages.get(contact_id)
        if page is not None:
            page.set_online(online)

    # -- meetings ---------------------------------------------------------------------------

    def _session_added(self, key: str) -> None:
        """A code was made, a code joined, an invitation sent or accepted: its entry."""
        info = self.controller.sessions[key]
        entry = Entry(key, info.title, contact=False, state=WAITING_TEXT, activity=time.time())
        self.conversation_list.put(entry)
        page = self.page_for(key)
        self.conversation_list.select(key)
        if info.session.mode == "rsa":
            page.add_system_line(f"Setting up an invited session with {info.title}\u2026")
        self._update_placeholder()

    def _code_created(self, key: str, code: str) -> None:
        page = self.pages.get(key)
        if page is not None:
            page.add_system_line(f"Code: {code} — waiting for the other person to join.")

    @asyncSlot(str, str, str, str, str)
    async def _session_ready(
        self, key: str, mode: str, _safety: str, peer_id: str, peer_name: str
    ) -> None:
        """The meeting introduced ``peer_id``: their conversation's entry takes its place."""
        if not peer_id:
            return
        in_front = self.current_session() == key
        entry = await self.refresh_entry(peer_id)
        if entry is None:
            entry = Entry(peer_id, peer_name or peer_id[:12], activity=time.time())
            self.conversation_list.put(entry)
        page = self.page_for(peer_id)
        page.add_system_line(
            f"{session_kind(mode)} done: {entry.title} is one of your contacts. Write any "
            "time; what you write waits for them while they are offline."
        )
        if in_front or self.current_session() is None:
            self.conversation_list.select(peer_id)
        self._drop_entry(key)
        await self._replaced(peer_id, peer_name)

    def _peer_left(self, key: str) -> None:
        if key in self.controller.sessions:
            self._end(key, "The other person left before you met.")

    def _session_failed(self, key: str, code: str, message: str) -> None:
        if key in self.controller.sessions:
            self._end(key, f"Ended: {message}")

    def _end(self, key: str, text: str) -> None:
        page = self.pages.get(key)
        if page is not None:
            page.add_system_line(text)
            page.set_ended()
        self.transfers.end_meeting(key)
        self.conversation_list.change(key, state="Ended")

    def _pairing_attempt_failed(self, key: str, reason: str, tries_left: int) -> None:
        page = self.pages.get(key)
        if page is None:
            return
        what = (
            "tried to join with a wrong password"
            if reason == "wrong_password"
            else "joined but did not finish"
        )
        tries = "1 more try" if tries_left == 1 else f"{tries_left} more tries"
        page.add_system_line(f"Someone {what}. Your code still works ({tries} before it closes).")

    @asyncSlot(str, str, str)
    async def _invited(self, key: str, from_id: str, from_name: str) -> None:
        who = from_name or from_id[:16]
        box = message_box(
            self,
            QMessageBox.Icon.Question,
            "Invitation",
            f"{who} invites you to a conversation.",
            "Accept if you expect it. Check who it is with Details\u2026 once it starts.",
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
            if isinstance(exc, PeerKeyChangedError) and exc.known_id in self._key_changes:
                return  # the known contact's page says so, with "Compare keys…"
            warning = message_box(self, QMessageBox.Icon.Warning, "Invitation", for_people(exc))
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

    # -- a known name with a new key --------------------------------------------------------

    def _peer_key_changed(self, new_id: str, known_id: str, name: str) -> None:
        """A session was refused: ``new_id`` uses the name of the contact ``known_id``. Their
        page says so and offers to compare the keys (and trust the new one)."""
        if not (is_person_id(new_id) and is_person_id(known_id)):
            return
        if not self.controller.is_contact(known_id):
            return
        newcomer = shown_name(name, new_id[:12])
        self._key_changes[known_id] = (new_id, newcomer)
        entry = self.conversation_list.entry(known_id)
        known = entry.title if entry is not None else newcomer
        page = self.page_for(known_id)
        page.key_change_bar.show_change(newcomer, known)
        page.add_system_line(
            f"A session with a different key calling itself “{newcomer}” was "
            f"refused: it may be someone else. Compare keys with {known} another way."
        )
        self.conversation_list.select(known_id)

    @asyncSlot(str)
    async def compare_keys(self, known_id: str) -> None:
        """The known contact's key beside the new one, and "I checked: trust the new key"."""
        book = self.controller.book
        change = self._key_changes.get(known_id)
        if book is None or change is None:
            return
        known = await book.contact(known_id)
        if known is None:
            return
        new_id, newcomer = change
        dialog = KeyChangeDialog(known, new_id, newcomer, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.trustRequested.connect(lambda: self.trust_new_key(known_id, new_id))
        dialog.open()

    @asyncSlot(str, str)
    async def trust_new_key(self, known_id: str, new_id: str) -> None:
        await self.controller.trust_key(new_id)
        page = self.pages.get(known_id)
        if page is None:
            return
        entry = self.conversation_list.entry(known_id)
        known = entry.title if entry is not None else "this contact"
        page.key_change_bar.hide()
        page.add_system_line(
            "You trusted the new key. To talk with it, meet again: a new code or invitation. "
            f"This conversation then stays here as \u201c{known} (old key)\u201d."
        )

    async def _replaced(self, peer_id: str, peer_name: str) -> None:
        """A trusted new key met us: the contacts whose name it used are now "NAME (old
        key)" (``Contacts.pin``); their entries and pages show it. (Found by name, not only
        by ``_key_changes``: the key may have been trusted before the app last started.)"""
        for known_id, (new_id, _name) in list(self._key_changes.items()):
            if new_id == peer_id:
                del self._key_changes[known_id]
                page = self.pages.get(known_id)
                if page is not None:
                    page.key_change_bar.hide()
        for entry in self.conversation_list.entries():
            if entry.contact and entry.key != peer_id and names_clash(entry.title, peer_name):
                await self.refresh_entry(entry.key)
