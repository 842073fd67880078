"""The main window's file cards: one per transfer, fed by the bridge, their clicks turned
into controller calls.

Cards live on their conversation's page (``ChatPage.cards``, by transfer id), in the
history as rows of kind "file". A card the page made from the history (an offer still
waiting for an answer, after the page was opened) is wired here too (``cardMade``). A file
of ours that had to wait (for the contact to come online, or for a meeting to be done) has
a card without a transfer id until the offer goes out: it is matched by name then.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from qasync import asyncSlot

from messenger.file_history import FILE_KIND, FileMeta, FileState
from messenger.protocol.errors import MessengerError
from messenger.store.records import MessageStatus
from messenger.ui.bridge import ClientBridge
from messenger.ui.chat_view import ChatPage
from messenger.ui.controller import AppController
from messenger.ui.history_rows import Row, live_row
from messenger.ui.transfer_widgets import FINAL_STATES, TransferCard, TransferState

__all__ = ["TransferCards", "file_row"]

_waiting_ids = itertools.count(1)


def file_row(transfer_id: str, name: str, size: int, outgoing: bool, state: FileState) -> Row:
    """The history row of a transfer that starts now."""
    status = MessageStatus.SENT if outgoing else MessageStatus.RECEIVED
    return live_row(transfer_id, outgoing, FILE_KIND, name, status,
                    FileMeta(size, state).to_json())  # fmt: skip


class TransferCards(QObject):
    """Every file card of the window's pages, and the slots that drive them."""

    #: Someone offered a file: key, a one-line summary. The window counts it unread
    #: (and notifies) as it does a message.
    incoming = Signal(str, str)
    #: Something happened in a conversation (a file offered or sent): key.
    touched = Signal(str, str)  # key, preview

    def __init__(
        self, controller: AppController, pages: dict[str, ChatPage], parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        #: The window's own dict of pages (shared, not copied): pages come and go there.
        self.pages = pages
        #: Outgoing cards still waiting for their transfer id, by key.
        self._preparing: dict[str, list[TransferCard]] = {}

    def attach(self, bridge: ClientBridge) -> None:
        """Listen to a (new) connection's file events."""
        bridge.fileOffered.connect(self._file_offered)
        bridge.fileAccepted.connect(self._file_accepted)
        bridge.fileProgress.connect(self._file_progress)
        bridge.fileCompleted.connect(self._file_completed)
        bridge.fileCancelled.connect(self._file_cancelled)
        bridge.fileFailed.connect(self._file_failed)

    def wire(self, key: str, card: TransferCard) -> None:
        """Turn a card's buttons into controller calls."""
        card.acceptRequested.connect(lambda tid, k=key: self.accept_file(k, tid))
        card.declineRequested.connect(lambda tid, k=key: self.decline_file(k, tid))
        card.cancelRequested.connect(lambda tid, k=key: self.cancel_file(k, tid))

    def end_meeting(self, key: str) -> None:
        """A meeting ended: a transfer still under way in it can never finish."""
        page = self.pages.get(key)
        for card in page.transfers() if page is not None else []:
            if card.state not in FINAL_STATES:
                card.failed("The session ended before the transfer finished.")

    # -- cards ------------------------------------------------------------------------------

    def _new_card(
        self, key: str, transfer_id: str, name: str, size: int, direction: str,
        state: TransferState | None = None,
    ) -> TransferCard | None:  # fmt: skip
        page = self.pages.get(key)
        if page is None:
            return None
        card = TransferCard(transfer_id, name, size, direction, state=state)
        self.wire(key, card)
        outgoing = direction == "out"
        file_state = FileState.WAITING if outgoing else FileState.OFFERED
        row = file_row(transfer_id or f"waiting-{next(_waiting_ids)}", name, size, outgoing,
                       file_state)  # fmt: skip
        if not transfer_id:
            card.setProperty("waitingId", row.msg_id)
        page.add_transfer(card, row)
        return card

    def _card(self, key: str, transfer_id: str) -> TransferCard | None:
        """The card of a transfer; one of ours that waited before it went out takes its
        id now (matched by name), or gets a card now."""
        page = self.pages.get(key)
        if page is None:
            return None
        card = page.cards.get(transfer_id)
        if card is None:
            known = self.controller.outgoing_file(key, transfer_id)
            if known is not None:
                card = self._preparing_card(key, known[0])
                if card is not None:
                    page.rekey_transfer(card, transfer_id)
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
            preparing.remove(card)
            page.remove_transfer(card)
            page.add_system_line(f"Not sent: {exc}")
            return
        if transfer_id is None:
            # It waits (the contact is offline, or the meeting is not done): the card
            # stays, and takes its transfer id when the offer goes out.
            card.offered("")
            card.state_label.setText(
                "Waits until the other person is online; it is offered then."
            )
            self.touched.emit(key, f"\U0001f4ce {name}")
            return
        if card in preparing:
            preparing.remove(card)
        if page.cards.get(transfer_id) is not card:
            page.rekey_transfer(card, transfer_id)
            card.offered(transfer_id)
        self.touched.emit(key, f"\U0001f4ce {name}")

    @asyncSlot(str, str)
    async def accept_file(self, key: str, transfer_id: str) -> None:
        page = self.pages.get(key)
        card = page.cards.get(transfer_id) if page is not None else None
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
        self.touched.emit(key, f"\U0001f4ce {name}")
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
        card = self._card(key, transfer_id)
        if card is not None:
            card.completed(path)

    def _file_cancelled(self, key: str, transfer_id: str, by: str, reason: str) -> None:
        card = self._card(key, transfer_id)
        if card is not None:
            card.cancelled(by, reason)

    def _file_failed(self, key: str, transfer_id: str, _code: str, message: str) -> None:
        page = self.pages.get(key)
        card = page.cards.get(transfer_id) if page is not None and transfer_id else None
        if card is not None:
            card.failed(message)
        elif page is not None:
            page.add_system_line(message)
