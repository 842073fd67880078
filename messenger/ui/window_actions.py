"""What the person does in the main window: write, retry, look at a contact's details
(rename, verify, delete), renew keys, cancel a code, search and jump, send and open
puzzles, and the window's other dialogs. A mixin of ``MainWindow``.

Every database write goes through the controller's book or the courier (their own thread);
the slots only await them.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox
from qasync import asyncSlot

from messenger.protocol.errors import MessengerError
from messenger.store.records import MessageStatus
from messenger.ui.history_rows import Row, live_row
from messenger.ui.theme import message_box
from messenger.ui.window_events import WindowEvents
from messenger.ui.wording import for_people

if TYPE_CHECKING:
    from messenger.ui.cipher_lab import CipherLab

__all__ = ["WindowActions", "outgoing_row"]

_queued = itertools.count(1)


def outgoing_row(msg_id: str, text: str, puzzle: str = "") -> Row:
    """A message of ours, just committed: it waits in the outbox until the relay has it."""
    kind = "puzzle" if puzzle else "text"
    return live_row(
        msg_id or f"queued-{next(_queued)}", True, kind, text, MessageStatus.PENDING,
        puzzle or None,
    )  # fmt: skip


class WindowActions(WindowEvents):
    # -- writing ----------------------------------------------------------------------------

    @asyncSlot(str, str)
    async def send_message(self, key: str, text: str) -> None:
        page = self.pages.get(key)
        if page is None:
            return
        try:
            msg_id = await self.controller.send(key, text)
        except MessengerError as exc:
            page.add_system_line(f"Not sent: {for_people(exc)}")
            return
        page.clear_composer()
        page.add_message(outgoing_row(msg_id, text))
        self._touched(key, f"You: {text.strip().splitlines()[0][:200]}")

    @asyncSlot(str, str)
    async def retry(self, key: str, msg_id: str) -> None:
        """Retry a message the relay refused; it shows the outbox clock again at once."""
        page = self.pages.get(key)
        if page is not None:
            page.set_status(msg_id, MessageStatus.PENDING)
        try:
            await self.controller.retry(key, msg_id)
        except MessengerError as exc:
            if page is not None:
                page.set_status(msg_id, MessageStatus.FAILED, for_people(exc))

    @asyncSlot()
    async def rotate_current(self) -> None:
        key = self.current_session()
        if key is not None and self.controller.is_contact(key):
            try:
                await self.controller.rotate(key)
            except MessengerError as exc:
                self.statusBar().showMessage(f"Keys not renewed: {for_people(exc)}", 8000)

    # -- a contact's details ----------------------------------------------------------------

    def details_current(self) -> None:
        key = self.current_session()
        if key is not None:
            self.show_details(key)

    def delete_current(self) -> None:
        key = self.current_session()
        if key is not None and self.controller.is_contact(key):
            self.show_details(key, delete=True)

    @asyncSlot(str)
    async def show_details(self, key: str, delete: bool = False) -> None:
        from messenger.ui.contact_details import ContactDetailsDialog

        book = self.controller.book
        if book is None or not self.controller.is_contact(key):
            return
        contact = await book.contact(key)
        if contact is None:
            return
        dialog = ContactDetailsDialog(contact, book.safety_number(key), self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.renameRequested.connect(lambda name: self.rename(key, name))
        dialog.verifiedChanged.connect(lambda verified: self.set_verified(key, verified))
        dialog.deleteRequested.connect(lambda: self.delete_conversation(key))
        dialog.open()
        if delete:
            dialog.delete_button.click()

    @asyncSlot(str, str)
    async def rename(self, key: str, name: str) -> None:
        book = self.controller.book
        if book is not None:
            await book.rename(key, name or None)
            await self.refresh_entry(key)

    @asyncSlot(str, bool)
    async def set_verified(self, key: str, verified: bool) -> None:
        book = self.controller.book
        if book is not None:
            await book.set_verified(key, verified)
            self.conversation_list.change(key, verified=verified)
            page = self.pages.get(key)
            if page is not None:
                page.set_verified(verified)

    @asyncSlot(str)
    async def delete_conversation(self, key: str) -> None:
        """Forget the contact with their history and outbox (confirmed in the dialog)."""
        book = self.controller.book
        if book is None:
            return
        entry = self.conversation_list.entry(key)
        await book.delete(key)
        self._drop_entry(key)
        who = entry.title if entry is not None else "The conversation"
        self.statusBar().showMessage(f"{who}: conversation deleted.", 8000)

    # -- meetings ---------------------------------------------------------------------------

    def open_new_session(self) -> None:
        from messenger.ui.new_session_dialog import NewSessionDialog

        dialog = NewSessionDialog(self.controller, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    @asyncSlot()
    async def close_current(self) -> None:
        """Cancel the code or invitation in front (Ctrl+W); a conversation with a contact
        is not closed (it is deleted from its details, after asking)."""
        key = self.current_session()
        info = self.controller.sessions.get(key) if key is not None else None
        if key is None or info is None:
            return
        if key in self.controller.open_meetings():
            box = message_box(
                self,
                QMessageBox.Icon.Question,
                "Stop waiting?",
                f"Closing cancels {info.title}: nobody can use it any more.",
            )
            box.setObjectName("closeConfirm")
            end = box.addButton("Cancel it", QMessageBox.ButtonRole.AcceptRole)
            box.addButton("Keep waiting", QMessageBox.ButtonRole.RejectRole)
            done = self.controller.loop_future()
            box.finished.connect(lambda _r: None if done.done() else done.set_result(None))
            box.open()
            await done
            if box.clickedButton() is not end:
                return
        await self.controller.close_session(key)  # its sessionRemoved drops the entry

    # -- search -----------------------------------------------------------------------------

    @asyncSlot(str)
    async def search(self, query: str) -> None:
        book = self.controller.book
        if book is None or not query:
            return
        self.side.show_found(query, await book.search(query))

    @asyncSlot(str, int)
    async def open_message(self, contact_id: str, message_id: int) -> None:
        """Open a conversation at one message (a search hit)."""
        if self.conversation_list.entry(contact_id) is None:
            await self.refresh_entry(contact_id)
        page = self.page_for(contact_id, load=False)
        self.conversation_list.select(contact_id)
        self.stack.setCurrentWidget(page)
        await page.load(message_id)

    # -- puzzles (issue 14) -----------------------------------------------------------------

    def open_cipher_lab(self) -> CipherLab:
        from messenger.ui.cipher_lab import show_cipher_lab

        lab = show_cipher_lab(self)
        if not lab.property("wired"):
            lab.puzzleRequested.connect(self.send_puzzle)
            lab.setProperty("wired", True)
        return lab

    def open_puzzle(self, cipher: str, ciphertext: str) -> None:
        """A puzzle's "Open in lab": the lab, with the ciphertext ready to attack."""
        self.open_cipher_lab().open_puzzle(cipher, ciphertext)

    @asyncSlot(str, str)
    async def send_puzzle(self, cipher: str, ciphertext: str) -> None:
        """The lab's "Send as puzzle": into the conversation in front."""
        key = self.current_session()
        if key is None or not self.controller.is_contact(key):
            box = message_box(
                self,
                QMessageBox.Icon.Information,
                "Send as puzzle",
                "Open a conversation first, then send the puzzle from the lab.",
            )
            box.setObjectName("puzzleNoConversation")
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            box.open()
            return
        page = self.page_for(key)
        try:
            msg_id = await self.controller.send_puzzle(key, cipher, ciphertext)
        except MessengerError as exc:
            page.add_system_line(f"Puzzle not sent: {for_people(exc)}")
            return
        page.add_message(outgoing_row(msg_id, ciphertext, cipher))
        self._touched(key, "You: \U0001f9e9 Puzzle")
        entry = self.conversation_list.entry(key)
        self.statusBar().showMessage(f"Puzzle sent to {entry.title if entry else 'them'}.", 5000)

    # -- other windows ----------------------------------------------------------------------

    def open_settings(self) -> None:
        from messenger.ui.settings_dialog import SettingsDialog

        dialog = SettingsDialog(self.controller, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.serverChanged.connect(self._switch_server)
        dialog.open()

    def _switch_server(self, address: str) -> None:
        """Codes and invitations cannot move to another server: they end here; the
        conversations carry on there (the keeper connects to it)."""
        for key in self.controller.open_meetings():
            self._end(key, "Ended: Messenger switched to another server.")
        self.serverChangeRequested.emit(address)

    def show_about(self) -> None:
        from messenger.ui.about import show_about

        show_about(self)
