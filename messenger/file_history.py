"""File transfers kept in the history: one row per transfer, so a conversation still shows
its files (and what became of them) after a restart.

A row has kind ``"file"``, the transfer id as its message id, the file's name as its body
(so a search finds files by name) and a JSON ``meta`` that the transfer's end fills in: its
size, its state, where the file is (the saved copy, or the file we sent) and why it stopped.
Progress is not written: a card shows it live, and a transfer that was running when the app
stopped reads back as ``interrupted``.

The writes go to the database worker in the order the events happen and nobody waits for
them (a transfer's events come from inside the transfer's own tasks); a failed write is
logged, never raised into the transfer.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from pathlib import Path

from messenger import events as ev
from messenger.store.database import ProfileDatabase
from messenger.store.records import MessageRecord, MessageStatus
from messenger.store.worker import DatabaseWorker

__all__ = ["FILE_KIND", "FileHistory", "FileMeta", "FileState"]

log = logging.getLogger("messenger.files")

FILE_KIND = "file"


class FileState(StrEnum):
    OFFERED = "offered"  #: theirs, not answered yet
    WAITING = "waiting"  #: ours, offered, not answered yet
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"
    #: Read back from a row the app left unfinished (the transfer died with the app).
    INTERRUPTED = "interrupted"


FINAL = frozenset({FileState.DONE, FileState.CANCELLED, FileState.FAILED})


@dataclass(frozen=True, slots=True)
class FileMeta:
    """What a file row's ``meta`` holds."""

    size: int
    state: FileState
    #: The saved copy (incoming) or the file that was sent (outgoing).
    path: str = ""
    #: "me" or "peer", for a cancelled transfer.
    by: str = ""
    reason: str = ""

    def to_json(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if v != ""}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> FileMeta:
        """Tolerant: a damaged or foreign ``meta`` reads as an interrupted file of size 0."""
        try:
            data = json.loads(text or "{}")
            state = FileState(data.get("state", FileState.INTERRUPTED))
            return cls(
                size=int(data.get("size", 0)),
                state=state,
                path=str(data.get("path", "")),
                by=str(data.get("by", "")),
                reason=str(data.get("reason", "")),
            )
        except (ValueError, TypeError, AttributeError):
            return cls(0, FileState.INTERRUPTED)

    def as_stored(self, *, running: bool) -> FileMeta:
        """The state to show for a row read back: one not finished by a transfer that is
        no longer running was interrupted."""
        if self.state in FINAL or running:
            return self
        return replace(self, state=FileState.INTERRUPTED)


def file_meta(message: MessageRecord) -> FileMeta:
    return FileMeta.from_json(message.meta)


class FileHistory:
    """Writes the rows of one profile's file transfers (fed by each ``TransferLink``)."""

    def __init__(self, worker: DatabaseWorker, now: Callable[[], float]) -> None:
        self._worker = worker
        self._now = now

    def offered(self, contact_id: str, transfer_id: str, path: Path, size: int) -> None:
        """We offered ``path`` to the contact."""
        meta = FileMeta(size, FileState.WAITING, path=str(path))
        now = self._now()

        def write(db: ProfileDatabase) -> None:
            db.add_message(
                contact_id, transfer_id, outgoing=True, body=path.name, sent_at=now,
                status=MessageStatus.SENT, kind=FILE_KIND, meta=meta.to_json(), stored_at=now,
            )  # fmt: skip

        self._write(write)

    def note(self, contact_id: str, event: ev.ClientEvent) -> None:
        """A file event of the contact's transfers: a new offer, or the end of one."""
        if isinstance(event, ev.FileOffered):
            self._incoming(contact_id, event)
        elif isinstance(event, ev.FileCompleted):
            directions = (event.direction == "out",)
            self._update(contact_id, event.id, FileState.DONE, directions, path=event.path)
        elif isinstance(event, ev.FileCancelled):
            cancelled = FileState.CANCELLED
            self._update(
                contact_id, event.id, cancelled, (True, False), by=event.by, reason=event.reason
            )
        elif isinstance(event, ev.FileFailed) and event.id:
            self._update(contact_id, event.id, FileState.FAILED, (True, False),
                         reason=event.message)  # fmt: skip

    def _incoming(self, contact_id: str, event: ev.FileOffered) -> None:
        meta = FileMeta(event.size, FileState.OFFERED)
        now = self._now()

        def write(db: ProfileDatabase) -> None:
            with db.transaction():
                if db.add_message(
                    contact_id, event.id, outgoing=False, body=event.name, sent_at=now,
                    kind=FILE_KIND, meta=meta.to_json(), stored_at=now,
                ):  # fmt: skip
                    db.bump_unread(contact_id)

        self._write(write)

    def _update(
        self,
        contact_id: str,
        transfer_id: str,
        state: FileState,
        directions: tuple[bool, ...],
        **details: str,
    ) -> None:
        """The transfer ended: its state, and ``path``, ``by`` or ``reason`` if given.

        Transfer ids are chosen by whoever offers, so a peer can offer a file under the id
        of one of ours: only the rows of ``directions`` (outgoing or not) that are still
        open are touched, and a finished row is never rewritten."""

        def write(db: ProfileDatabase) -> None:
            with db.transaction():
                for outgoing in directions:
                    message = db.message(contact_id, transfer_id, outgoing=outgoing)
                    if message is None or message.kind != FILE_KIND:
                        continue
                    old = file_meta(message)
                    if old.state in FINAL:
                        continue
                    meta = FileMeta(
                        old.size,
                        state,
                        path=details.get("path") or old.path,
                        by=details.get("by", ""),
                        reason=details.get("reason", ""),
                    )
                    db.set_meta(contact_id, transfer_id, outgoing=outgoing, meta=meta.to_json())

        self._write(write)

    def _write(self, fn: Callable[[ProfileDatabase], None]) -> None:
        if self._worker.closed:
            return
        future = self._worker.run(fn)
        future.add_done_callback(_log_failure)


def _log_failure(future: asyncio.Future[None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("could not keep a file transfer in the history: %s", future.exception())
