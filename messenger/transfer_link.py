"""File transfers with one contact: ``Transfers`` (the disk work and the rules) carried by the
courier. Offers, answers, cancels and "done" travel in the Double Ratchet as direct frames;
chunks and acks travel as transfer frames under the offer's own key (``transfer_frames``).

Files need both people online: an offer made while the contact is offline waits here
(``file_waiting``) and goes out when the relay says they are back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from messenger import events as ev
from messenger.crypto.aead import KEY_SIZE, random_bytes
from messenger.files import FileError, OfferPolicy, Transfers
from messenger.protocol.errors import RemoteProtocolError, TamperedError
from messenger.protocol.payloads import (
    FileAck,
    FileCancel,
    FileChunk,
    FileDecline,
    FileDone,
    FileOffer,
    payloads,
)
from messenger.protocol.transfer_frames import TransferCipher, frame_transfer_id

if TYPE_CHECKING:
    from messenger.courier import Courier

Emit = Callable[[ev.ClientEvent], None]
#: Transfer keys kept for transfers that may still be running (oldest dropped first).
MAX_CIPHERS = 256


class TransferLink:
    def __init__(
        self,
        contact_id: str,
        courier: Courier,
        emit: Emit,
        policy: OfferPolicy | None = None,
    ) -> None:
        self.contact_id = contact_id
        self._courier = courier
        self._emit_event = emit
        self.transfers = Transfers(contact_id, self._send_payload, self._emit, policy)
        self._ciphers: dict[str, TransferCipher] = {}
        self.waiting: list[Path] = []

    def _emit(self, event: ev.ClientEvent) -> None:
        """File events go into the history (``file_history``) and name the live session
        with this contact, if there is one."""
        self._courier.files.note(self.contact_id, event)
        session = self._courier.sessions.get(self.contact_id)
        if session and getattr(event, "session", None) == self.contact_id:
            event = dataclasses.replace(cast(Any, event), session=session)
        self._emit_event(event)

    # -- sending ----------------------------------------------------------------------------

    async def offer(self, path: Path) -> str | None:
        """Offer a file now if the contact is online, else keep it for when they are.
        Returns the transfer id once offered. Raises FileError if it cannot be read."""
        if not self._courier.online.get(self.contact_id, False):
            if not Path(path).expanduser().is_file():
                raise FileError("unreadable", f"Cannot read {path}: not a file.")
            self.waiting.append(Path(path))
            self._emit(ev.FileWaiting(self.contact_id, Path(path).name))
            return None
        return await self.transfers.offer(Path(path))

    async def peer_online(self) -> None:
        waiting, self.waiting = self.waiting, []
        for path in waiting:
            try:
                await self.transfers.offer(path)
            except FileError as exc:
                self._emit(ev.FileFailed(self.contact_id, "", exc.file_code, str(exc)))

    async def _send_payload(self, payload: object) -> None:
        if isinstance(payload, FileChunk | FileAck):
            cipher = self._ciphers.get(payload.id)
            if cipher is None:
                return  # the transfer ended meanwhile
            hint = self._courier.hint_for(self.contact_id)
            await self._courier.send_direct(
                self.contact_id, cipher.seal(payloads.encode(payload), hint)
            )
            return
        if isinstance(payload, FileOffer):
            key = random_bytes(KEY_SIZE)
            self._keep(TransferCipher(payload.id, key, sending=True))
            payload = dataclasses.replace(payload, key=key)
            transfer = self.transfers.outgoing.get(payload.id)
            if transfer is not None:
                files = self._courier.files
                files.offered(self.contact_id, payload.id, transfer.path, payload.size)
        if isinstance(payload, FileDone | FileCancel | FileDecline):
            self._ciphers.pop(payload.id, None)
        sealed = self._courier.seal_for(self.contact_id, payload)
        await self._courier.send_sealed(self.contact_id, [sealed])

    # -- receiving --------------------------------------------------------------------------

    async def handle(self, payload: object) -> None:
        """A file message from the ratchet (offer, answer, cancel, done)."""
        if isinstance(payload, FileOffer):
            self._keep(TransferCipher(payload.id, payload.key, sending=False))
        elif isinstance(payload, FileDone | FileCancel | FileDecline):
            self._ciphers.pop(payload.id, None)
        await self.transfers.handle(payload)

    async def frame(self, data: bytes) -> None:
        """A chunk or ack frame."""
        try:
            cipher = self._ciphers.get(frame_transfer_id(data))
            if cipher is None:
                return  # a transfer we no longer run
            payload = payloads.decode(cipher.open(data))
        except (TamperedError, RemoteProtocolError):
            self._emit(ev.EnvelopeDropped(ev.DropReason.TAMPERED, self.contact_id))
            return
        if not isinstance(payload, FileChunk | FileAck) or payload.id != cipher.transfer_id:
            self._emit(ev.EnvelopeDropped(ev.DropReason.MALFORMED, self.contact_id))
            return
        await self.transfers.handle(payload)

    def interrupted(self) -> None:
        self.transfers.interrupted()
        self._ciphers.clear()

    def _keep(self, cipher: TransferCipher) -> None:
        self._ciphers[cipher.transfer_id] = cipher
        while len(self._ciphers) > MAX_CIPHERS:
            self._ciphers.pop(next(iter(self._ciphers)))
