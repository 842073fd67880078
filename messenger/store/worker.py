"""The profile database from asyncio: one dedicated thread, so no event loop waits on disk.

``await worker.run(fn, *args)`` runs ``fn(db, *args)`` on the worker's thread and gives
back its result or its exception. Calls run one at a time, in the order ``run`` was
called (it queues the call at once, before any await), and a function that
opens ``db.transaction()`` has the database to itself until it returns: put everything that
must commit together (a message and the ratchet state that opened it) in one function.

A ``run`` whose caller is cancelled still completes on the thread (a commit cannot be taken
back); the result is dropped. ``close`` lets what is queued finish, then stops the thread;
it does not close the database (the profile does: close the worker first).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar, TypeVarTuple

from messenger.store.database import ProfileDatabase

__all__ = ["DatabaseWorker"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


class DatabaseWorker:
    """Runs functions of the profile database on one thread of its own."""

    def __init__(self, db: ProfileDatabase, *, name: str = "profile-db") -> None:
        self.db = db
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._stopping: asyncio.Future[None] | None = None

    @property
    def closed(self) -> bool:
        return self._stopping is not None

    def run(self, fn: Callable[[ProfileDatabase, *Ts], T], *args: *Ts) -> asyncio.Future[T]:
        """Queue ``fn(db, *args)`` for the worker thread now; await the result (or the
        exception it raised). Queued calls run in the order ``run`` was called."""
        if self._stopping is not None:
            raise RuntimeError("The database worker is closed.")
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self._executor, fn, self.db, *args)

    async def close(self) -> None:
        """Finish what is queued, then stop the thread. Safe to call twice (or at once)."""
        if self._stopping is None:
            loop = asyncio.get_running_loop()
            # shutdown(wait=True) joins the thread: do that off the loop too.
            self._stopping = loop.run_in_executor(None, self._executor.shutdown, True)
        await asyncio.shield(self._stopping)
