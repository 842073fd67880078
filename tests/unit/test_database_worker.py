"""DatabaseWorker: the profile database on one thread, awaited from asyncio.

Each test runs its own event loop (``asyncio.run``) against a fresh database.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from messenger.store.database import ProfileDatabase
from messenger.store.db_key import new_key
from messenger.store.errors import UnknownContactError
from messenger.store.records import ContactRecord
from messenger.store.worker import DatabaseWorker

T = TypeVar("T")
ALICE = "a" * 64
#: Upper bound for a wait that should end at once; reaching it means the test failed.
SOON = 10.0


@pytest.fixture
def db(tmp_path):
    database = ProfileDatabase.open(tmp_path, new_key())
    database.upsert_contact(ContactRecord(id=ALICE, name="alice", pinned_at=1.0))
    yield database
    database.close()


def run(db: ProfileDatabase, test: Callable[[DatabaseWorker], Awaitable[T]]) -> T:
    async def main() -> T:
        worker = DatabaseWorker(db)
        try:
            return await test(worker)
        finally:
            await worker.close()

    return asyncio.run(main())


def add(db: ProfileDatabase, msg_id: str, body: str) -> bool:
    return db.add_message(ALICE, msg_id, outgoing=False, body=body, sent_at=1.0)


def test_run_calls_the_function_with_the_database_and_gives_back_its_result(db):
    async def test(worker: DatabaseWorker) -> tuple[bool, bool]:
        return await worker.run(add, "m1", "hi"), await worker.run(add, "m1", "hi")

    assert run(db, test) == (True, False)
    assert [m.body for m in db.history(ALICE, limit=5)] == ["hi"]


def test_calls_run_in_order_on_one_thread_that_is_not_the_loops(db):
    threads: set[int] = set()

    def record(database: ProfileDatabase, n: int) -> int:
        threads.add(threading.get_ident())
        add(database, f"m{n}", str(n))
        return n

    async def test(worker: DatabaseWorker) -> list[int]:
        return list(await asyncio.gather(*(worker.run(record, n) for n in range(50))))

    assert run(db, test) == list(range(50))
    assert [m.body for m in db.history(ALICE, limit=100)] == [str(n) for n in range(50)]
    assert len(threads) == 1
    assert threading.get_ident() not in threads


def test_the_loop_keeps_running_while_the_database_works(db):
    loop_ran = threading.Event()

    async def test(worker: DatabaseWorker) -> bool:
        loop = asyncio.get_running_loop()
        started: asyncio.Future[None] = loop.create_future()

        def wait_for_the_loop(database: ProfileDatabase) -> bool:
            loop.call_soon_threadsafe(started.set_result, None)
            return loop_ran.wait(SOON)  # True only if the loop answered meanwhile

        job = worker.run(wait_for_the_loop)
        await started  # the loop runs while the job is still working...
        loop_ran.set()  # ...and answers it
        return await job

    assert run(db, test) is True


def test_an_exception_reaches_the_caller_and_the_worker_carries_on(db):
    def to_nobody(database: ProfileDatabase) -> None:
        database.add_message("b" * 64, "m1", outgoing=False, body="x", sent_at=1.0)

    async def test(worker: DatabaseWorker) -> bool:
        with pytest.raises(UnknownContactError):
            await worker.run(to_nobody)
        return await worker.run(add, "m2", "still working")

    assert run(db, test) is True


def test_a_function_with_a_transaction_commits_whole_or_not_at_all(db):
    def half_then_fail(database: ProfileDatabase) -> None:
        with database.transaction():
            add(database, "m1", "first half")
            raise RuntimeError("crash between the two writes")

    async def test(worker: DatabaseWorker) -> None:
        with pytest.raises(RuntimeError):
            await worker.run(half_then_fail)

    run(db, test)
    assert db.history(ALICE, limit=5) == []


def test_close_finishes_queued_work_and_is_safe_twice(db):
    async def test(worker: DatabaseWorker) -> list[bool]:
        jobs = [worker.run(add, f"m{n}", "x") for n in range(20)]
        await asyncio.gather(worker.close(), worker.close())
        await worker.close()
        assert worker.closed
        with pytest.raises(RuntimeError, match="closed"):
            await worker.run(add, "late", "x")
        return [job.result() for job in jobs]

    assert run(db, test) == [True] * 20
    assert len(db.history(ALICE, limit=50)) == 20
