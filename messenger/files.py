"""File transfers for one session: reading, writing, hashing, resuming. Qt-free asyncio.

The rules (names, chunk sizes, the window, what may arrive when) are in
``messenger.protocol.transfer``; this module does the I/O around them:

- Outgoing: hash the file (in an executor), offer it, and once accepted pump chunks while
  the window allows; memory stays at a window of chunks, however large the file.
- Incoming: write to ``DIR/.messenger-partial/<sha256>.part``, hash as chunks arrive, and only
  when the whole-file SHA-256 matches move it to a fresh name in DIR (never overwriting).
  A small JSON beside it records how far it got, so a re-offer of the same file (same
  SHA-256, size and chunk size), even in a new session after a dropped link, resumes there.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import json
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from messenger import events as ev
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
    chunk_count,
    numbered,
)

PARTIAL_DIR = ".messenger-partial"
#: Progress events per transfer per second, at most.
PROGRESS_INTERVAL = 0.25
#: Save resume state every this many chunks.
STATE_EVERY = 8
#: The resume record is padded to this size so that rewriting it never truncates.
STATE_RECORD_SIZE = 256
HASH_BLOCK = 4 * 1024 * 1024

SendPayload = Callable[[object], Awaitable[None]]
Emit = Callable[[ev.ClientEvent], None]
#: Decides an offer: a folder to save into, None to decline. Absent: ask the person.
OfferPolicy = Callable[[OfferTerms], Path | None]


def sha256_file(path: Path, limit: int | None = None) -> hashlib._Hash:  # type: ignore[name-defined]
    """Hash a file (or its first ``limit`` bytes); blocking, run it in an executor."""
    digest = hashlib.sha256()
    remaining = limit
    with path.open("rb") as handle:
        while remaining is None or remaining > 0:
            block = handle.read(HASH_BLOCK if remaining is None else min(HASH_BLOCK, remaining))
            if not block:
                break
            digest.update(block)
            if remaining is not None:
                remaining -= len(block)
    return digest


@dataclass
class _Progress:
    transferred: int = 0
    last_report: float = 0.0

    def due(self) -> bool:
        now = time.monotonic()
        if now - self.last_report >= PROGRESS_INTERVAL:
            self.last_report = now
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
    folder: Path | None = None
    part: Path | None = None
    handle: object | None = None  # an open binary file
    hasher: object | None = None
    next_index: int = 0
    progress: _Progress = field(default_factory=_Progress)

    @property
    def state_path(self) -> Path:
        assert self.part is not None
        return self.part.with_suffix(".json")


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
        return bool(self.outgoing) or any(i.folder for i in self.incoming.values())

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
        transfer = Outgoing(uuid.uuid4().hex, path, size, digest, CHUNK_SIZE)
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
        if transfer.progress.due() or done == transfer.size:
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
        if transfer is None or transfer.folder is not None:
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
        terms = transfer.terms
        partial_dir = folder / PARTIAL_DIR
        partial_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        transfer.folder = folder
        transfer.part = partial_dir / f"{terms.sha256.hex()}.part"
        if any(
            other is not transfer and other.part == transfer.part
            for other in self.incoming.values()
        ):
            # The same content is already arriving: this copy gets its own partial file.
            transfer.part = partial_dir / f"{terms.sha256.hex()}-{terms.id}.part"
        start = 0
        with contextlib.suppress(OSError, ValueError, TypeError):
            state = json.loads(transfer.state_path.read_text())
            if (state.get("size"), state.get("chunk_size")) == (terms.size, terms.chunk_size):
                start = min(int(state.get("next", 0)), terms.chunks)
        if start and (
            not transfer.part.exists() or transfer.part.stat().st_size < start * terms.chunk_size
        ):
            start = 0
        loop = asyncio.get_running_loop()
        if start:
            transfer.hasher = await loop.run_in_executor(
                None, sha256_file, transfer.part, start * terms.chunk_size
            )
        else:
            transfer.hasher = hashlib.sha256()
        handle = transfer.part.open("r+b" if start else "wb")
        handle.truncate(start * terms.chunk_size)
        handle.seek(start * terms.chunk_size)
        transfer.handle = handle
        transfer.next_index = start
        transfer.progress.transferred = start * terms.chunk_size
        return start

    async def _got_chunk(self, chunk: FileChunk) -> None:
        transfer = self.incoming.get(chunk.id)
        if transfer is None or transfer.handle is None:
            return  # a chunk of something we cancelled or declined: ignore it
        terms = transfer.terms
        if chunk.index != transfer.next_index:
            await self._abort_incoming(
                transfer,
                "out_of_order",
                f"{terms.name}: chunk {chunk.index} arrived when "
                f"{transfer.next_index} was due; the transfer stopped.",
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
        try:
            # Writing and hashing a MiB off the event loop (the GUI thread, in the app); both
            # release the GIL, so they also overlap with opening the next record.
            await asyncio.get_running_loop().run_in_executor(
                None, _write_and_hash, transfer, chunk.data
            )
        except ValueError:
            return  # the file was closed under us: the person cancelled meanwhile
        except OSError as exc:
            code = "disk_full" if exc.errno == errno.ENOSPC else "write_failed"
            await self._abort_incoming(
                transfer,
                code,
                f"{terms.name}: writing failed ({exc.strerror}); the partial file was removed.",
            )
            return
        if self.incoming.get(terms.id) is not transfer:
            return  # cancelled while the chunk was being written
        transfer.next_index += 1
        transfer.progress.transferred += len(chunk.data)
        if transfer.next_index % STATE_EVERY == 0:
            self._save_state(transfer)
        await self._send(FileAck(id=terms.id, next=transfer.next_index))
        if self.incoming.get(terms.id) is not transfer:
            return  # cancelled while the ack was queued
        if transfer.progress.due():
            self._emit(
                ev.FileProgress(
                    self.session_id, terms.id, transfer.progress.transferred, terms.size, "in"
                )
            )
        if transfer.next_index == terms.chunks:
            await self._finish(transfer)

    def _save_state(self, transfer: Incoming) -> None:
        """Note how far we got, overwriting a fixed-size record in place.

        Truncating and rewriting the file instead made ext4 (mounted with ``discard``) stall
        the whole receiver for a second or more every few chunks.
        """
        transfer.handle.flush()  # type: ignore[attr-defined]
        state = {
            "size": transfer.terms.size,
            "chunk_size": transfer.terms.chunk_size,
            "next": transfer.next_index,
        }
        record = json.dumps(state).encode().ljust(STATE_RECORD_SIZE)
        with contextlib.suppress(OSError):
            fd = os.open(transfer.state_path, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                os.pwrite(fd, record, 0)
            finally:
                os.close(fd)

    async def _finish(self, transfer: Incoming) -> None:
        """Check the whole-file SHA-256, then move the file into place under a fresh name."""
        terms = transfer.terms
        transfer.handle.close()  # type: ignore[attr-defined]
        transfer.handle = None
        if transfer.hasher.digest() != terms.sha256:  # type: ignore[attr-defined]
            await self._abort_incoming(
                transfer,
                "hash_mismatch",
                f"{terms.name}: the received file does not match the "
                "SHA-256 that was offered; it was removed.",
            )
            return
        assert transfer.folder is not None and transfer.part is not None
        try:
            final = _reserve_name(transfer.folder, terms.name)
            os.replace(transfer.part, final)
        except (OSError, FileError) as exc:
            message = exc.strerror if isinstance(exc, OSError) else str(exc)
            await self._abort_incoming(
                transfer,
                "unwritable",
                f"{terms.name}: could not be saved in {transfer.folder} ({message}).",
            )
            return
        transfer.state_path.unlink(missing_ok=True)
        del self.incoming[terms.id]
        await self._send(FileDone(id=terms.id))
        self._emit(ev.FileProgress(self.session_id, terms.id, terms.size, terms.size, "in"))
        self._emit(
            ev.FileCompleted(self.session_id, terms.id, str(final), terms.sha256.hex(), "in")
        )

    async def _abort_incoming(self, transfer: Incoming, code: str, message: str) -> None:
        """Stop, remove the partial file, tell the sender and the person."""
        self.incoming.pop(transfer.terms.id, None)
        self._discard(transfer)
        with contextlib.suppress(MessengerError):
            await self._send(FileCancel(id=transfer.terms.id, reason=message))
        self._emit(ev.FileFailed(self.session_id, transfer.terms.id, code, message))

    @staticmethod
    def _discard(transfer: Incoming) -> None:
        if transfer.handle is not None:
            with contextlib.suppress(OSError):
                transfer.handle.close()  # type: ignore[attr-defined]
            transfer.handle = None
        if transfer.part is not None:
            transfer.part.unlink(missing_ok=True)
            transfer.state_path.unlink(missing_ok=True)

    # -- both ways --------------------------------------------------------------------------

    async def handle(self, payload: object) -> None:
        """A file payload from the peer."""
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
            self._discard(incoming)
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
        for transfer in list(self.incoming.values()):
            if transfer.handle is not None:
                self._save_state(transfer)
                with contextlib.suppress(OSError):
                    transfer.handle.close()  # type: ignore[attr-defined]
                self._emit(
                    ev.FileFailed(
                        self.session_id,
                        transfer.terms.id,
                        "interrupted",
                        f"{transfer.terms.name}: the session ended; the part "
                        "received so far is kept for a resume.",
                    )
                )
        self.outgoing.clear()
        self.incoming.clear()


def _write_and_hash(transfer: Incoming, data: bytes) -> None:
    """Append one chunk to the partial file and to the running SHA-256 (blocking)."""
    transfer.handle.write(data)  # type: ignore[attr-defined]
    transfer.hasher.update(data)  # type: ignore[attr-defined]


def _reserve_name(folder: Path, name: str) -> Path:
    """A path in ``folder`` that did not exist, claimed atomically (never overwrite)."""
    for attempt in range(10_000):
        candidate = folder / numbered(name, attempt)
        try:
            fd = os.open(candidate, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            continue
        os.close(fd)
        return candidate
    raise FileError("name_taken", f"Too many files named like {name} in {folder}.")
