"""Store and forward: sealed envelopes the relay keeps for people who are offline.

The hub talks to a ``Mailbox`` (a ``typing.Protocol``, so a Redis backend can stand in
later); ``SqliteMailbox`` is the embedded default, one file under the relay's ``--data-dir``
(``mailbox.sqlite3``). No networking here.

What is stored: for each envelope the recipient's person id, the sealed bytes, the arrival
time and an id that only ever grows. Never the sender: the relay is not told who wrote an
envelope; only the recipient, opening it, learns that. Delivery tokens are stored as
SHA-256 hashes only, so a copy of the database does not let anyone post.

Guarantees:

- ``put`` returns only after the envelope is committed. The database runs in WAL mode with
  ``synchronous=NORMAL``: a commit appends the transaction to the WAL file with ``write()``
  before it returns, and a ``kill -9`` of the relay cannot undo a write the kernel already
  has, so every confirmed envelope survives a crash of the relay process. NORMAL skips the
  ``fsync`` per commit, so a power cut or kernel crash may lose the last commits (the file
  stays consistent); that is out of scope. ``synchronous="FULL"`` adds one fsync per commit
  (per batch, see below); ``python -m tests.bench.queue`` measures both.
- Group commit: SQLite runs on ONE dedicated thread, never on the event loop. Requests queue
  up while a transaction commits; the thread then takes every waiting request (up to
  ``max_batch``) into one transaction, commits once, and only then resolves each caller's
  await. Thousands of concurrent puts cost a handful of commits.
- Order: requests run first in, first out, so ids follow the order in which ``put`` calls
  start, and ``pending`` returns envelopes in id order: a sender's messages, put one after
  the other, reach the recipient in the order they were sent.
- Quotas per recipient (``Quotas``): envelopes, bytes and age; a put over quota raises
  ``QueueFullError`` and stores nothing. Expired envelopes are never returned and go at the
  next ``purge_expired`` (or as soon as a full queue needs the room).
- ``delete`` removes only the named recipient's envelopes. A ``put`` cancelled while it waits
  may still be stored (a commit cannot be taken back); the client de-duplicates by message id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from messenger.protocol.errors import LocalProtocolError, QueueFullError, ServerError
from server.mailbox_sqlite import Envelope, Quotas, SqliteStore

__all__ = [
    "MAILBOX_FILE",
    "Envelope",
    "Mailbox",
    "Quotas",
    "SqliteMailbox",
    "mailbox_path",
]

log = logging.getLogger("messenger.server")

MAILBOX_FILE = "mailbox.sqlite3"
#: Requests one transaction takes at most.
DEFAULT_MAX_BATCH = 1024
#: Refusals that concern one request: reported to its caller, the batch commits.
_REQUEST_ERRORS = (LocalProtocolError, QueueFullError)

T = TypeVar("T")


def mailbox_path(data_dir: Path) -> Path:
    return data_dir / MAILBOX_FILE


class Mailbox(Protocol):
    """What the hub needs from store-and-forward storage (SQLite now, Redis later)."""

    async def put(self, recipient: str, data: bytes) -> int:
        """Keep a sealed envelope for ``recipient``; returns its id once it is durable."""
        ...

    async def pending(self, recipient: str, after_id: int = 0, limit: int = 1000) -> list[Envelope]:
        """Envelopes waiting for ``recipient`` with ids above ``after_id``, oldest first."""
        ...

    async def delete(self, recipient: str, ids: Iterable[int]) -> int:
        """Drop those of ``ids`` that belong to ``recipient``; returns how many went."""
        ...

    async def purge_expired(self, now: float | None = None) -> int:
        """Drop every envelope older than the age quota; returns how many went."""
        ...

    async def register_tokens(self, recipient: str, tokens: Iterable[bytes]) -> None:
        """Let whoever holds one of ``tokens`` leave envelopes for ``recipient``."""
        ...

    async def revoke_tokens(self, recipient: str, tokens: Iterable[bytes]) -> None:
        """Withdraw tokens; unknown ones are ignored."""
        ...

    async def token_allows(self, recipient: str, token: bytes) -> bool:
        """Whether ``token`` lets its holder leave envelopes for ``recipient``."""
        ...

    async def close(self) -> None:
        """Finish what was asked, then release the storage. Safe to call twice."""
        ...


@dataclass
class _Request:
    run: Callable[[SqliteStore], Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


_STOP = object()


class SqliteMailbox:
    """``Mailbox`` on SQLite, with one worker thread and group commit. Use ``open``."""

    def __init__(
        self,
        path: Path,
        *,
        quotas: Quotas | None = None,
        synchronous: str = "NORMAL",
        now: Callable[[], float] = time.time,
        max_batch: int = DEFAULT_MAX_BATCH,
    ) -> None:
        self.path = path
        self.quotas = Quotas() if quotas is None else quotas
        self._synchronous = synchronous
        self._now = now
        self._max_batch = max_batch
        self._requests: queue.SimpleQueue[_Request | object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="mailbox", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready: asyncio.Future[None] | None = None
        self._stopped: asyncio.Future[None] | None = None
        self._closing = False
        #: Transactions committed so far (for tests and the benchmark).
        self.commits = 0

    @classmethod
    async def open(cls, path: Path, **options: Any) -> SqliteMailbox:
        """Open (or create) the database on the worker thread; errors surface here."""
        mailbox = cls(path, **options)
        loop = asyncio.get_running_loop()
        mailbox._ready = loop.create_future()
        mailbox._stopped = loop.create_future()
        mailbox._loop = loop
        mailbox._thread.start()
        try:
            await mailbox._ready
        except BaseException:
            await asyncio.shield(mailbox._stopped)
            raise
        return mailbox

    # -- the Mailbox interface --------------------------------------------------------------

    async def put(self, recipient: str, data: bytes) -> int:
        arrival = self._now()
        result: int = await self._call(lambda store: store.put(recipient, data, arrival))
        return result

    async def pending(self, recipient: str, after_id: int = 0, limit: int = 1000) -> list[Envelope]:
        now = self._now()
        result: list[Envelope] = await self._call(
            lambda store: store.pending(recipient, after_id, limit, now)
        )
        return result

    async def delete(self, recipient: str, ids: Iterable[int]) -> int:
        wanted = list(ids)
        result: int = await self._call(lambda store: store.delete(recipient, wanted))
        return result

    async def purge_expired(self, now: float | None = None) -> int:
        when = self._now() if now is None else now
        result: int = await self._call(lambda store: store.purge_expired(when))
        return result

    async def register_tokens(self, recipient: str, tokens: Iterable[bytes]) -> None:
        wanted = list(tokens)
        await self._call(lambda store: store.register_tokens(recipient, wanted))

    async def revoke_tokens(self, recipient: str, tokens: Iterable[bytes]) -> None:
        wanted = list(tokens)
        await self._call(lambda store: store.revoke_tokens(recipient, wanted))

    async def token_allows(self, recipient: str, token: bytes) -> bool:
        result: bool = await self._call(lambda store: store.token_allows(recipient, token))
        return result

    async def close(self) -> None:
        if self._stopped is None:
            return
        if not self._closing:
            self._closing = True
            self._requests.put(_STOP)
        await asyncio.shield(self._stopped)

    # -- the event-loop side ----------------------------------------------------------------

    def _call(self, run: Callable[[SqliteStore], T]) -> asyncio.Future[T]:
        """Queue ``run`` for the worker; the future resolves after its transaction commits.

        The worker takes requests first in, first out, so ids follow the order in which
        ``put`` calls start running: the order of awaits for one caller, the order of task
        creation for ``gather``.
        """
        if self._closing or self._stopped is None or self._stopped.done():
            raise RuntimeError("the mailbox is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._requests.put(_Request(run, future, loop))
        return future

    # -- the worker thread ------------------------------------------------------------------

    def _serve(self) -> None:
        store: SqliteStore | None = None
        try:
            store = SqliteStore(self.path, quotas=self.quotas, synchronous=self._synchronous)
        except BaseException as exc:
            self._settle_on_loop(self._ready, None, _as_server_error(exc))
        else:
            self._settle_on_loop(self._ready, None, None)
            self._loop_over_batches(store)
        finally:
            if store is not None:
                store.close()
            self._settle_on_loop(self._stopped, None, None)

    def _loop_over_batches(self, store: SqliteStore) -> None:
        while True:
            first = self._requests.get()
            if first is _STOP:
                return
            assert isinstance(first, _Request)
            batch = [first]
            stop = False
            while len(batch) < self._max_batch:
                try:
                    item = self._requests.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                assert isinstance(item, _Request)
                batch.append(item)
            self._run_batch(store, batch)
            if stop:
                return

    def _run_batch(self, store: SqliteStore, batch: list[_Request]) -> None:
        """Run every request in one transaction; resolve them all only after COMMIT.

        A request refused on its merits (quota, size) fails alone. Anything else (a disk
        error) rolls the whole transaction back; then each request is retried in its own
        transaction, so one poisoned request cannot fail the others.
        """
        outcomes: list[tuple[_Request, Any, BaseException | None]] = []
        try:
            store.begin()
            for request in batch:
                try:
                    outcomes.append((request, request.run(store), None))
                except _REQUEST_ERRORS as exc:
                    outcomes.append((request, None, exc))
            store.commit()
        except Exception as exc:
            with contextlib.suppress(sqlite3.Error):
                store.rollback()
            if len(batch) > 1:
                for request in batch:
                    self._run_batch(store, [request])
                return
            log.warning("mailbox: a request failed: %s", exc)
            outcomes = [(batch[0], None, _as_server_error(exc))]
        else:
            self.commits += 1
        # One wake-up per event loop per batch, not one per request.
        by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
        for request, value, error in outcomes:
            by_loop.setdefault(request.loop, []).append((request.future, value, error))
        for loop, settled in by_loop.items():
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
                loop.call_soon_threadsafe(_settle_all, settled)

    def _settle_on_loop(
        self, future: asyncio.Future[None] | None, value: None, error: BaseException | None
    ) -> None:
        if future is not None and self._loop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(_settle_all, [(future, value, error)])


_Outcome = tuple["asyncio.Future[Any]", Any, BaseException | None]


def _settle_all(outcomes: list[_Outcome]) -> None:
    """On the event loop: hand each caller its result (after the batch's COMMIT)."""
    for future, value, error in outcomes:
        if future.done():  # the caller was cancelled; the work is done regardless
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)


def _as_server_error(exc: BaseException) -> BaseException:
    if isinstance(exc, sqlite3.Error | OSError):
        error = ServerError("The relay could not use its message store.")
        error.__cause__ = exc
        return error
    return exc


def _conforms(mailbox: SqliteMailbox) -> Mailbox:
    """Type check only: mypy fails here if SqliteMailbox drifts from the interface."""
    return mailbox
