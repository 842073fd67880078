"""The main window's file cards: one per transfer, fed by the bridge, their clicks turned
into controller calls.

Cards live in the chat pages; this object finds them by (session id, transfer id), which
is all the bridge's file events carry. A file of ours that was queued until the session
was ready was never seen offered here: its card appears with the first event about it.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from qasync import asyncSlot

from messenger.protocol.errors import MessengerError
from messenger.ui.bridge import ClientBridge
from messenger.ui.chat_view import ChatPage
from messenger.ui.controller import AppController
from messenger.ui.session_list import SessionList
from messenger.ui.transfer_widgets import FINAL_STATES, TransferCard, TransferState

__all__ = ["TransferCards"]


class TransferCards(QObject):
    """Every file card of the window's pages, and the slots that drive them."""

    #: Someone offered a file: session id, a one-line summary. The window counts it unread
    #: (and notifies) as it does a message.
    incoming = Signal(str, str)

    def __init__(
        self,
        controller: AppController,
        pages: dict[str, ChatPage],
        session_list: SessionList,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        #: The window's own dict of pages (shared, not copied): pages come and go there.
        self.pages = pages
        self.session_list = session_list
        #: File cards by (session id, transfer id).
        self.cards: dict[tuple[str, str], TransferCard] = {}
        #: Outgoing cards still waiting for their transfer id, by conversation key.
        self._preparing: dict[str, list[TransferCard]] = {}

    def attach(self, bridge: ClientBridge) -> None:
        """Listen to a (new) connection's file events."""
        bridge.fileOffered.connect(self._file_offered)
        bridge.fileAccepted.connect(self._file_accepted)
        bridge.fileProgress.connect(self._file_progress)
        bridge.fileCompleted.connect(self._file_completed)
        bridge.fileCancelled.connect(self._file_cancelled)
        bridge.fileFailed.connect(self._file_failed)

    def end_session(self, key: str) -> None:
        """The session ended: a transfer still under way in it can never finish."""
        for (card_session, _id), card in self.cards.items():
            if card_session == key and card.state not in FINAL_STATES:
                card.failed("The session ended before the transfer finished.")

    def forget_session(self, key: str) -> None:
        """The session's page is going away, and its cards with it."""
        for card_key in [card_key for card_key in self.cards if card_key[0] == key]:
            del self.cards[card_key]

    # -- cards ------------------------------------------------------------------------------

    def _new_card(
        self,
        key: str,
        transfer_id: str,
        name: str,
        size: int,
        direction: str,
        state: TransferState | None = None,
    ) -> TransferCard | None:
        page = self.pages.get(key)
        if page is None:
            return None
        card = TransferCard(transfer_id, name, size, direction, state=state)
        card.acceptRequested.connect(lambda tid, s=key: self.accept_file(s, tid))
        card.declineRequested.connect(lambda tid, s=key: self.decline_file(s, tid))
        card.cancelRequested.connect(lambda tid, s=key: self.cancel_file(s, tid))
        if transfer_id:
            self.cards[(key, transfer_id)] = card
        return page.add_transfer(card)

    def _card(self, key: str, transfer_id: str) -> TransferCard | None:
        """The card of a transfer; one of ours that the window did not see offered (it was
        queued until the session was ready) gets its card now."""
        card = self.cards.get((key, transfer_id))
        if card is None:
            known = self.controller.outgoing_file(key, transfer_id)
            if known is not None:
                card = self._preparing_card(key, known[0])
                if card is not None:
                    # Its offer went out (and was answered) before ``send_file`` heard
                    # back: the card that shows "preparing" is this transfer's.
                    self.cards[(key, transfer_id)] = card
                    card.offered(transfer_id)
                else:
                    card = self._new_card(key, transfer_id, *known, "out")
        return card

    def _preparing_card(self, key: str, name: str) -> TransferCard | None:
        preparing = self._preparing.get(key, [])
        card = next((c for c in preparing if c.name == name), None)
        if card is not None:
            preparing.remove(card)
        return card

    # -- the person's requests --------------------------------------------------------------

    @asyncSlot(str, str)
    async def send_file(self, key: str, path: str) -> None:
        """Offer a file; its card shows at once, while the file is read and hashed."""
        page = self.pages.get(key)
        if page is None:
            return
        name = Path(path).name
        try:
            size = Path(path).stat().st_size
        except OSError:
            size = 0  # send_file says why
        card = self._new_card(key, "", name, size, "out", state=TransferState.PREPARING)
        assert card is not None
        preparing = self._preparing.setdefault(key, [])
        preparing.append(card)
        try:
            transfer_id = await self.controller.send_file(key, path)
        except MessengerError as exc:
            page.remove_transfer(card)
            page.add_system_line(f"Not sent: {exc}")
            return
        finally:
            if card in preparing:
                preparing.remove(card)
        if transfer_id is None:
            page.remove_transfer(card)  # its card appears when the offer goes out
            page.add_system_line(f"{name} will be offered once the session is ready.")
            return
        if self.cards.get((key, transfer_id)) is not card:
            self.cards[(key, transfer_id)] = card
            card.offered(transfer_id)
        self.session_list.update_session(key, time=time.time())

    @asyncSlot(str, str)
    async def accept_file(self, key: str, transfer_id: str) -> None:
        card = self.cards.get((key, transfer_id))
        if card is None or card.chosen_folder is None:
            return
        try:
            await self.controller.answer_file(key, transfer_id, card.chosen_folder)
        except MessengerError as exc:
            card.failed(f"Not saved: {exc}")

    @asyncSlot(str, str)
    async def decline_file(self, key: str, transfer_id: str) -> None:
        try:
            await self.controller.answer_file(key, transfer_id, None)
        except MessengerError as exc:
            self._file_failed(key, transfer_id, "", str(exc))

    @asyncSlot(str, str)
    async def cancel_file(self, key: str, transfer_id: str) -> None:
        try:
            await self.controller.cancel_file(key, transfer_id)
        except MessengerError as exc:
            self._file_failed(key, transfer_id, "", str(exc))

    # -- bridge signals ---------------------------------------------------------------------

    def _file_offered(self, key: str, transfer_id: str, name: str, size: int, _sha256: str) -> None:
        card = self._new_card(key, transfer_id, name, size, "in")
        if card is not None:
            card.default_folder = self.controller.download_dir()
            self.incoming.emit(key, f"Wants to send you {name} ({size:,} bytes)")

    def _file_accepted(self, key: str, transfer_id: str, start_chunk: int) -> None:
        card = self._card(key, transfer_id)
        if card is not None:
            card.accepted(start_chunk)

    def _file_progress(
        self, key: str, transfer_id: str, transferred: int, total: int, _direction: str
    ) -> None:
        card = self._card(key, transfer_id)
        if card is not None:
            card.update_progress(transferred, total)

    def _file_completed(
        self, key: str, transfer_id: str, path: str, _sha256: str, _direction: str
    ) -> None:
        card = self.cards.get((key, transfer_id))
        if card is not None:
            card.completed(path)
        elif (page := self.pages.get(key)) is not None:
            page.add_system_line(f"File done: {Path(path).name}")

    def _file_cancelled(self, key: str, transfer_id: str, by: str, reason: str) -> None:
        card = self.cards.get((key, transfer_id))
        if card is not None:
            card.cancelled(by, reason)
        elif (page := self.pages.get(key)) is not None:
            who = "You" if by == "me" else "The other person"
            page.add_system_line(f"{who} stopped a file transfer ({reason}).")

    def _file_failed(self, key: str, transfer_id: str, _code: str, message: str) -> None:
        card = self.cards.get((key, transfer_id))
        if card is not None:
            card.failed(message)
        elif (page := self.pages.get(key)) is not None:
            page.add_system_line(message)
