"""File transfers with one contact: ``Transfers`` (the disk work and the rules) carried by the
courier. Offers, answers, cancels and "done" travel in the Double Ratchet as direct frames;
chunks and acks travel as transfer frames under the offer's own key (``transfer_frames``).

Files need both people online: an offer made while the contact is offline waits here
(``file_waiting``) and goes out when the relay says they are back.

A chunk frame is opened off the event loop, by the transfer's opener task (one executor call
for whatever frames wait, in order), so that the session's reader goes on reading while the
end-to-end layer's AES-GCM (pycryptodome, which releases the GIL) opens earlier chunks. Ack
frames are small and opened where they arrive.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from messenger import events as ev
from messenger.crypto.aead import KEY_SIZE, random_bytes
from messenger.files import FileError, OfferPolicy, Transfers
from messenger.protocol.errors import MessengerError, RemoteProtocolError, TamperedError
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
#: Chunk frames waiting to be opened, per incoming transfer; when full, the reader waits.
OPEN_QUEUE = 4

log = logging.getLogger(__name__)


@dataclass
class _Opener:
    """Opens one incoming transfer's chunk frames in order, off the event loop."""

    cipher: TransferCipher
    queue: asyncio.Queue[bytes] = field(default_factory=lambda: asyncio.Queue(OPEN_QUEUE))
    task: asyncio.Task[None] | None = None

    def stop(self) -> None:
        """Stop opening, and let a reader waiting on a full queue go. Not from the task
        itself: it stops on its own once its cipher is forgotten."""
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()
        while not self.queue.empty():
            self.queue.get_nowait()


def _open_frames(cipher: TransferCipher, frames: list[bytes]) -> list[object]:
    """Open and decode frames in order (in a worker thread): a payload for each, or the
    TamperedError / RemoteProtocolError that frame raised."""
    opened: list[object] = []
    for data in frames:
        try:
            opened.append(payloads.decode(cipher.open(data)))
        except (TamperedError, RemoteProtocolError) as exc:
            opened.append(exc)
    return opened


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
        self._openers: dict[str, _Opener] = {}
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
            self._forget(payload.id)
        sealed = self._courier.seal_for(self.contact_id, payload)
        await self._courier.send_sealed(self.contact_id, [sealed])

    # -- receiving --------------------------------------------------------------------------

    async def handle(self, payload: object) -> None:
        """A file message from the ratchet (offer, answer, cancel, done)."""
        if isinstance(payload, FileOffer):
            self._keep(TransferCipher(payload.id, payload.key, sending=False))
        elif isinstance(payload, FileDone | FileCancel | FileDecline):
            self._forget(payload.id)
        await self.transfers.handle(payload)

    async def frame(self, data: bytes) -> None:
        """A chunk or ack frame. A chunk frame is queued for its transfer's opener (this
        waits only when ``OPEN_QUEUE`` frames are already waiting); an ack is opened here."""
        try:
            cipher = self._ciphers.get(frame_transfer_id(data))
        except RemoteProtocolError:
            self._emit(ev.EnvelopeDropped(ev.DropReason.TAMPERED, self.contact_id))
            return
        if cipher is None:
            return  # a transfer we no longer run
        if not cipher.sending:
            opener = self._openers.get(cipher.transfer_id)
            if opener is not None and opener.task is not None and opener.task.done():
                return  # its opener failed (and said so in the log): the transfer is stuck
            if opener is None:
                opener = self._openers[cipher.transfer_id] = _Opener(cipher)
                opener.task = asyncio.create_task(
                    self._open_chunks(opener), name=f"file-opener-{cipher.transfer_id}"
                )
            await opener.queue.put(data)
            return
        await self._opened(cipher, _open_frames(cipher, [data])[0])

    async def _open_chunks(self, opener: _Opener) -> None:
        """The opener task: open what waits in one executor call, then hand each payload
        on in order; stops once its transfer's cipher is forgotten."""
        cipher = opener.cipher
        loop = asyncio.get_running_loop()
        try:
            while self._ciphers.get(cipher.transfer_id) is cipher:
                frames = [await opener.queue.get()]
                while not opener.queue.empty():
                    frames.append(opener.queue.get_nowait())
                opened = await loop.run_in_executor(None, _open_frames, cipher, frames)
                for payload in opened:
                    if self._ciphers.get(cipher.transfer_id) is not cipher:
                        return
                    try:
                        await self._opened(cipher, payload)
                    except RemoteProtocolError as exc:  # as the courier contains it
                        log.info("dropped a file message that broke the protocol: %s", exc.code)
                        self._emit(ev.EnvelopeDropped(ev.DropReason.MALFORMED, self.contact_id))
        except MessengerError:
            return  # the session ended under us; interrupted() reports it
        except Exception:  # a task nobody awaits: never let it die silently
            log.exception("opening file chunks failed")
        finally:
            opener.stop()  # a reader waiting on a full queue must not wait forever

    async def _opened(self, cipher: TransferCipher, payload: object) -> None:
        if isinstance(payload, TamperedError | RemoteProtocolError):
            self._emit(ev.EnvelopeDropped(ev.DropReason.TAMPERED, self.contact_id))
            return
        if not isinstance(payload, FileChunk | FileAck) or payload.id != cipher.transfer_id:
            self._emit(ev.EnvelopeDropped(ev.DropReason.MALFORMED, self.contact_id))
            return
        await self.transfers.handle(payload)

    def interrupted(self) -> None:
        self.transfers.interrupted()
        for transfer_id in list(self._ciphers):
            self._forget(transfer_id)

    def _keep(self, cipher: TransferCipher) -> None:
        self._forget(cipher.transfer_id)  # a second offer of one id: its frames start over
        self._ciphers[cipher.transfer_id] = cipher
        while len(self._ciphers) > MAX_CIPHERS:
            self._forget(next(iter(self._ciphers)))

    def _forget(self, transfer_id: str) -> None:
        """Drop a transfer's key, and stop opening its frames."""
        self._ciphers.pop(transfer_id, None)
        opener = self._openers.pop(transfer_id, None)
        if opener is not None:
            opener.stop()
