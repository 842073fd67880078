"""File transfers for one session: reading, writing, hashing, resuming. Qt-free asyncio.

The rules (names, chunk sizes, the window, what may arrive when) are in
``messenger.protocol.transfer``; this module does the I/O around them:

- Outgoing: hash the file (in an executor), offer it, and once accepted pump chunks while
  the window allows; memory stays at a window of chunks, however large the file.
- Incoming: accept into a folder, check each chunk as it arrives, and hand it to the
  transfer's writer task, which appends chunks in order to a ``PartialFile`` (which hashes
  them, keeps a resume record, and moves the file into place once the whole-file SHA-256
  matches), then acks and reports them. The writer is fed through a short bounded queue, so
  the next chunks are read and opened while earlier ones are hashed and written, memory
  stays at a few chunks, and an ack never runs ahead of what is on disk (resuming relies
  on it).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from messenger import events as ev
from messenger.partial_file import PARTIAL_DIR, PartialFile, sha256_file
from messenger.protocol.errors import MessengerError, RemoteProtocolError
from messenger.protocol.payloads import (
    FileAccept,
    FileAck,
    FileCancel,
    FileChunk,
    FileDecline,
    FileDone,
    FileOffer,
)
from messenger.protocol.transfer import (
    CHUNK_SIZE,
    OfferTerms,
    SendWindow,
    check_offer,
    check_transfer_id,
    chunk_count,
    new_transfer_id,
)

__all__ = ["PARTIAL_DIR", "FileError", "OfferPolicy", "Transfers"]

log = logging.getLogger(__name__)

#: Progress events per transfer per second, at most.
PROGRESS_INTERVAL = 0.25
#: Save resume state every this many chunks.
STATE_EVERY = 8
#: Chunks received and checked but not yet written, per incoming transfer. When the writer
#: falls this far behind, the reader waits for it (the peer's window stops it soon anyway).
WRITE_QUEUE = 4

SendPayload = Callable[[object], Awaitable[None]]
Emit = Callable[[ev.ClientEvent], None]
#: Decides an offer: a folder to save into, None to decline. Absent: ask the person.
OfferPolicy = Callable[[OfferTerms], Path | None]


@dataclass
class _Progress:
    transferred: int = 0
    last_report: float = 0.0
    last_percent: int = -1

    def due(self, done: int, total: int) -> bool:
        """Report at every whole percent passed, and otherwise at most every
        ``PROGRESS_INTERVAL``: both sides measure bytes the receiver acknowledged, and so
        report the same steps (their bars differ by no more than what is on the way)."""
        now = time.monotonic()
        percent = 100 * done // total if total else 100
        if percent != self.last_percent or now - self.last_report >= PROGRESS_INTERVAL:
            self.last_report, self.last_percent = now, percent
            return True
        return False


@dataclass
class Outgoing:
    id: str
    path: Path
    size: int
    sha256: bytes
    chunk_size: int
    window: SendWindow | None = None
    acked: asyncio.Event = field(default_factory=asyncio.Event)
    pump: asyncio.Task[None] | None = None
    progress: _Progress = field(default_factory=_Progress)
    stopped: bool = False

    def stop(self) -> None:
        """Ask the pump to stop between chunks. Not ``Task.cancel()``: a cancel could land
        after a chunk was sealed but before it was queued, leaving a gap the peer would
        read as a replay."""
        self.stopped = True
        self.acked.set()


@dataclass
class Incoming:
    terms: OfferTerms
    #: Set once the person accepted (None while the offer is waiting for an answer).
    partial: PartialFile | None = None
    #: The next chunk to be written (everything before it is on disk and acknowledged).
    next_index: int = 0
    #: The next chunk to arrive (ahead of ``next_index`` by what waits for the writer).
    next_arriving: int = 0
    progress: _Progress = field(default_factory=_Progress)
    #: Chunks checked and waiting to be written, in order; bounded by ``WRITE_QUEUE``.
    queue: asyncio.Queue[bytes] = field(default_factory=lambda: asyncio.Queue(WRITE_QUEUE))
    writer: asyncio.Task[None] | None = None

    def stop_writing(self) -> None:
        """Stop the writer and let a reader waiting on a full queue go: nothing more is
        written. Not from the writer itself (it returns on its own once the transfer is
        gone), as cancelling it there would interrupt what it is doing for the cancel."""
        if self.writer is not None and self.writer is not asyncio.current_task():
            self.writer.cancel()
        while not self.queue.empty():
            self.queue.get_nowait()


class FileError(MessengerError):
    """A file transfer failed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.file_code = code


class Transfers:
    """All transfers of one session, both directions."""

    def __init__(
        self, session_id: str, send: SendPayload, emit: Emit, policy: OfferPolicy | None = None
    ) -> None:
        self.session_id = session_id
        self._send = send
        self._emit_event = emit
        self._policy = policy
        self.outgoing: dict[str, Outgoing] = {}
        self.incoming: dict[str, Incoming] = {}
        #: Set whenever a transfer moves (progress, done, cancelled): lets waiters wake up.
        self.changed = asyncio.Event()

    def progress_marker(self) -> tuple[int, ...]:
        """Changes whenever any transfer makes progress."""
        return (
            len(self.outgoing),
            len(self.incoming),
            *(t.window.acked if t.window else -1 for t in self.outgoing.values()),
            *(t.next_index for t in self.incoming.values()),
        )

    def _emit(self, event: ev.ClientEvent) -> None:
        self._emit_event(event)
        self.changed.set()

    @property
    def busy(self) -> bool:
        """Transfers are still running (the CLI waits for them at EOF)."""
        return bool(self.outgoing) or any(i.partial for i in self.incoming.values())

    # -- sending ----------------------------------------------------------------------------

    async def offer(self, path: Path) -> str:
        """Hash and offer a file; chunks flow once the peer accepts. Returns the transfer id."""
        path = Path(path).expanduser()
        try:
            size = path.stat().st_size
            if not path.is_file():
                raise IsADirectoryError(errno.EISDIR, "not a regular file")
            loop = asyncio.get_running_loop()
            digest = (await loop.run_in_executor(None, sha256_file, path)).digest()
        except OSError as exc:
            raise FileError("unreadable", f"Cannot read {path}: {exc.strerror or exc}.") from None
        transfer = Outgoing(new_transfer_id(), path, size, digest, CHUNK_SIZE)
        self.outgoing[transfer.id] = transfer
        await self._send(
            FileOffer(
                id=transfer.id, name=path.name, size=size, sha256=digest, chunk_size=CHUNK_SIZE
            )
        )
        return transfer.id

    async def _pump(self, transfer: Outgoing) -> None:
        """Send chunks while the window allows; wait for acks; never hold more than it."""
        assert transfer.window is not None
        window = transfer.window
        loop = asyncio.get_running_loop()
        try:
            with transfer.path.open("rb") as handle:
                handle.seek(window.next_to_send * transfer.chunk_size)
                while not window.finished_sending and not transfer.stopped:
                    while not window.may_send() and not transfer.stopped:
                        transfer.acked.clear()
                        await transfer.acked.wait()
                    if transfer.stopped:
                        return
                    index = window.sent()
                    # Disk reads off the event loop (in the app, that is the GUI thread).
                    data = await loop.run_in_executor(None, handle.read, transfer.chunk_size)
                    await self._send(FileChunk(id=transfer.id, index=index, data=data))
        except OSError as exc:
            await self._abort_outgoing(
                transfer, "unreadable", f"Reading {transfer.path} failed: {exc.strerror or exc}."
            )
        except MessengerError:
            return  # the session ended under us; interrupted() reports it

    def _sent_progress(self, transfer: Outgoing) -> None:
        assert transfer.window is not None
        done = min(transfer.size, transfer.window.acked * transfer.chunk_size)
        if transfer.progress.due(done, transfer.size) or done == transfer.size:
            self._emit(ev.FileProgress(self.session_id, transfer.id, done, transfer.size, "out"))

    async def _abort_outgoing(self, transfer: Outgoing, code: str, message: str) -> None:
        self.outgoing.pop(transfer.id, None)
        with contextlib.suppress(MessengerError):
            await self._send(FileCancel(id=transfer.id, reason=message))
        self._emit(ev.FileFailed(self.session_id, transfer.id, code, message))

    # -- receiving --------------------------------------------------------------------------

    async def _got_offer(self, offer: FileOffer) -> None:
        terms = check_offer(offer.id, offer.name, offer.size, offer.sha256, offer.chunk_size)
        if terms.id in self.incoming:
            raise RemoteProtocolError("The peer offered the same transfer twice.")
        self.incoming[terms.id] = Incoming(terms)
        self._emit(
            ev.FileOffered(self.session_id, terms.id, terms.name, terms.size, terms.sha256.hex())
        )
        if self._policy is not None:
            await self.answer(terms.id, self._policy(terms))

    async def answer(self, transfer_id: str, folder: Path | None) -> None:
        """Accept an offer into ``folder`` (resuming a partial copy if there is one), or
        decline it with None."""
        transfer = self.incoming.get(transfer_id)
        if transfer is None or transfer.partial is not None:
            return
        if folder is None:
            del self.incoming[transfer_id]
            await self._send(FileDecline(id=transfer_id, reason="declined"))
            self._emit(ev.FileCancelled(self.session_id, transfer_id, "me", "declined"))
            return
        try:
            start = await self._open_partial(transfer, Path(folder).expanduser())
        except OSError as exc:
            await self._abort_incoming(
                transfer, "unwritable", f"Cannot write into {folder}: {exc.strerror or exc}."
            )
            return
        await self._send(FileAccept(id=transfer_id, start=start))
        if transfer.next_index >= transfer.terms.chunks:
            await self._finish(transfer)

    async def _open_partial(self, transfer: Incoming, folder: Path) -> int:
        """Create or reopen the partial file; returns the first chunk we still need."""
        taken = [i.partial.path for i in self.incoming.values() if i.partial is not None]
        transfer.partial = PartialFile(folder, transfer.terms, taken)
        start = await asyncio.get_running_loop().run_in_executor(None, transfer.partial.open)
        transfer.next_index = transfer.next_arriving = start
        transfer.progress.transferred = start * transfer.terms.chunk_size
        return start

    async def _got_chunk(self, chunk: FileChunk) -> None:
        """Check a chunk and queue it for the writer. Only waits when the writer is
        ``WRITE_QUEUE`` chunks behind, so the session's reader goes on to read and open the
        next chunks while this one is hashed and written."""
        transfer = self.incoming.get(chunk.id)
        if transfer is None or transfer.partial is None or not transfer.partial.is_open:
            return  # a chunk of something we cancelled or declined: ignore it
        if transfer.writer is not None and transfer.writer.done():
            return  # the writer stopped (the session ended under it): nothing more is written
        terms = transfer.terms
        if chunk.index != transfer.next_arriving:
            await self._abort_incoming(
                transfer,
                "out_of_order",
                f"{terms.name}: chunk {chunk.index} arrived when "
                f"{transfer.next_arriving} was due; the transfer stopped.",
            )
            return
        if chunk.index >= terms.chunks or len(chunk.data) != terms.expected_length(chunk.index):
            await self._abort_incoming(
                transfer,
                "size_mismatch",
                f"{terms.name}: more or less data arrived than the "
                f"{terms.size} bytes announced; the transfer stopped.",
            )
            return
        transfer.next_arriving += 1
        if transfer.writer is None:
            transfer.writer = asyncio.create_task(
                self._write(transfer), name=f"file-writer-{terms.id}"
            )
        await transfer.queue.put(chunk.data)

    async def _write(self, transfer: Incoming) -> None:
        """The transfer's writer: append queued chunks in order, then ack and report each.

        Whatever waits in the queue is written in one executor call (fewer hand-offs
        between threads when the writer is behind); SHA-256 and the write release the GIL,
        so they overlap with opening the next chunks on the event loop.
        """
        terms, partial = transfer.terms, transfer.partial
        assert partial is not None
        loop = asyncio.get_running_loop()
        try:
            while transfer.next_index < terms.chunks:
                batch = [await transfer.queue.get()]
                while not transfer.queue.empty():
                    batch.append(transfer.queue.get_nowait())
                try:
                    await loop.run_in_executor(None, partial.append_all, batch)
                except ValueError:
                    return  # the file was closed under us: the person cancelled meanwhile
                except OSError as exc:
                    if self.incoming.get(terms.id) is transfer:
                        code = "disk_full" if exc.errno == errno.ENOSPC else "write_failed"
                        await self._abort_incoming(
                            transfer,
                            code,
                            f"{terms.name}: writing failed ({exc.strerror}); "
                            "the partial file was removed.",
                        )
                    return
                for data in batch:
                    if not await self._written(transfer, len(data)):
                        return
            await self._finish(transfer)
        except MessengerError:
            return  # the session ended under us; interrupted() reports it
        except Exception as exc:  # a task nobody awaits: never let it die silently
            log.exception("file writer failed")
            if self.incoming.get(terms.id) is transfer:
                await self._abort_incoming(
                    transfer, "write_failed", f"{terms.name}: saving failed ({exc})."
                )
        finally:
            transfer.stop_writing()  # a reader waiting on a full queue must not wait forever

    async def _written(self, transfer: Incoming, length: int) -> bool:
        """One more chunk is on disk: note it, ack it, report progress. False once the
        transfer is gone (cancelled meanwhile, even while the ack was being sent)."""
        terms = transfer.terms
        if self.incoming.get(terms.id) is not transfer or transfer.partial is None:
            return False
        transfer.next_index += 1
        transfer.progress.transferred += length
        if transfer.next_index % STATE_EVERY == 0:
            transfer.partial.save_state(transfer.next_index)
        await self._send(FileAck(id=terms.id, next=transfer.next_index))
        if self.incoming.get(terms.id) is not transfer:
            return False
        if transfer.progress.due(transfer.progress.transferred, terms.size):
            self._emit(
                ev.FileProgress(
                    self.session_id, terms.id, transfer.progress.transferred, terms.size, "in"
                )
            )
        return True

    async def _finish(self, transfer: Incoming) -> None:
        """Check the whole-file SHA-256, then move the file into place under a fresh name."""
        terms, partial = transfer.terms, transfer.partial
        assert partial is not None
        if not partial.matches_offer():
            await self._abort_incoming(
                transfer,
                "hash_mismatch",
                f"{terms.name}: the received file does not match the "
                "SHA-256 that was offered; it was removed.",
            )
            return
        try:
            final = partial.move_into_place()
        except OSError as exc:
            await self._abort_incoming(
                transfer,
                "unwritable",
                f"{terms.name}: could not be saved in {partial.folder} ({exc.strerror or exc}).",
            )
            return
        del self.incoming[terms.id]
        await self._send(FileDone(id=terms.id))
        self._emit(ev.FileProgress(self.session_id, terms.id, terms.size, terms.size, "in"))
        self._emit(
            ev.FileCompleted(self.session_id, terms.id, str(final), terms.sha256.hex(), "in")
        )

    async def _abort_incoming(self, transfer: Incoming, code: str, message: str) -> None:
        """Stop, remove the partial file, tell the sender and the person."""
        self.incoming.pop(transfer.terms.id, None)
        transfer.stop_writing()
        if transfer.partial is not None:
            transfer.partial.discard()
        with contextlib.suppress(MessengerError):
            await self._send(FileCancel(id=transfer.terms.id, reason=message))
        self._emit(ev.FileFailed(self.session_id, transfer.terms.id, code, message))

    # -- both ways --------------------------------------------------------------------------

    async def handle(self, payload: object) -> None:
        """A file payload from the peer. Its transfer id is checked first, whatever the
        payload: ids reach dictionaries, events and logs, and must have one harmless form."""
        check_transfer_id(getattr(payload, "id", ""))
        if isinstance(payload, FileOffer):
            await self._got_offer(payload)
        elif isinstance(payload, FileChunk):
            await self._got_chunk(payload)
        elif isinstance(payload, FileAccept):
            transfer = self.outgoing.get(payload.id)
            if transfer is None or transfer.window is not None:
                return
            total = chunk_count(transfer.size, transfer.chunk_size)
            if not 0 <= payload.start <= total:
                raise RemoteProtocolError("The peer asked to resume outside the file.")
            transfer.window = SendWindow(total, payload.start)
            self._emit(ev.FileAccepted(self.session_id, transfer.id, payload.start))
            transfer.pump = asyncio.create_task(self._pump(transfer))
        elif isinstance(payload, FileAck):
            transfer = self.outgoing.get(payload.id)
            if transfer is not None and transfer.window is not None:
                transfer.window.ack(payload.next)
                transfer.acked.set()
                self._sent_progress(transfer)
        elif isinstance(payload, FileDone):
            transfer = self.outgoing.pop(payload.id, None)
            if transfer is not None:
                self._emit(
                    ev.FileCompleted(
                        self.session_id,
                        transfer.id,
                        str(transfer.path),
                        transfer.sha256.hex(),
                        "out",
                    )
                )
        elif isinstance(payload, FileDecline | FileCancel):
            self._peer_stopped(payload.id, getattr(payload, "reason", "") or "cancelled")

    def _drop(self, transfer_id: str) -> bool:
        """Stop a transfer in either direction and remove its partial file; False if unknown."""
        outgoing = self.outgoing.pop(transfer_id, None)
        if outgoing is not None and outgoing.pump is not None:
            outgoing.stop()
        incoming = self.incoming.pop(transfer_id, None)
        if incoming is not None:
            incoming.stop_writing()
        if incoming is not None and incoming.partial is not None:
            incoming.partial.discard()
        return outgoing is not None or incoming is not None

    def _peer_stopped(self, transfer_id: str, reason: str) -> None:
        if self._drop(transfer_id):
            self._emit(ev.FileCancelled(self.session_id, transfer_id, "peer", reason))

    async def cancel(self, transfer_id: str) -> None:
        """The person cancels: both sides stop, the partial file is removed."""
        if not self._drop(transfer_id):
            return
        with contextlib.suppress(MessengerError):
            await self._send(FileCancel(id=transfer_id, reason="cancelled"))
        self._emit(ev.FileCancelled(self.session_id, transfer_id, "me", "cancelled"))

    def interrupted(self) -> None:
        """The session ended under running transfers: stop them; keep partial files (with
        their resume state) so that a re-offer continues where this one stopped."""
        for transfer in list(self.outgoing.values()):
            if transfer.pump is not None:
                transfer.stop()
            self._emit(
                ev.FileFailed(
                    self.session_id,
                    transfer.id,
                    "interrupted",
                    f"{transfer.path.name}: the session ended; offer it again to resume.",
                )
            )
        for incoming in list(self.incoming.values()):
            # What was received but not yet written is dropped: the resume record (saved
            # below, from ``next_index``) vouches only for what is on disk.
            incoming.stop_writing()
            if incoming.partial is not None and incoming.partial.is_open:
                incoming.partial.save_state(incoming.next_index)
                incoming.partial.close()
                self._emit(
                    ev.FileFailed(
                        self.session_id,
                        incoming.terms.id,
                        "interrupted",
                        f"{incoming.terms.name}: the session ended; the part "
                        "received so far is kept for a resume.",
                    )
                )
        self.outgoing.clear()
        self.incoming.clear()
