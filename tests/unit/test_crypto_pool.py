"""The relay's RSA thread pool (``server.crypto_pool``): a handshake under way goes before
new hellos, work cancelled while it waits never runs, and shutting down cancels what waits.

Without the priority, a reconnect storm starves every handshake's later steps behind the
hellos that keep arriving, and the relay times out handshakes it has already signed for.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import CancelledError, wait

import pytest

from server.crypto_pool import NEW, UNDER_WAY, CryptoPool

SOON = 10.0


@pytest.fixture
def pool():
    """One thread, held busy until ``pool.gate`` is set, so the test decides the queue."""
    pool = CryptoPool(1, name="test-rsa")
    pool.gate = threading.Event()
    started = threading.Event()

    def hold() -> bool:
        started.set()
        return pool.gate.wait(SOON)

    pool.blocker = pool.submit(UNDER_WAY, hold)
    assert started.wait(SOON), "the pool's thread never took the first work"
    yield pool
    pool.gate.set()
    pool.shutdown()


def test_a_step_of_a_handshake_under_way_runs_before_new_hellos_that_came_first(pool):
    ran: list[str] = []
    futures = [
        pool.submit(NEW, ran.append, "hello 1"),
        pool.submit(NEW, ran.append, "hello 2"),
        pool.submit(UNDER_WAY, ran.append, "key exchange"),
        pool.submit(NEW, ran.append, "hello 3"),
        pool.submit(UNDER_WAY, ran.append, "auth"),
    ]
    pool.gate.set()
    done, _ = wait(futures, timeout=SOON)
    assert len(done) == len(futures)
    assert ran == ["key exchange", "auth", "hello 1", "hello 2", "hello 3"]


def test_work_cancelled_while_it_waits_never_runs(pool):
    ran: list[str] = []
    gone = pool.submit(NEW, ran.append, "gone")
    kept = pool.submit(NEW, ran.append, "kept")
    assert gone.cancel()
    pool.gate.set()
    kept.result(SOON)
    assert ran == ["kept"]


def test_an_awaiting_handshake_that_times_out_cancels_its_queued_work(pool):
    ran: list[str] = []

    async def scenario() -> None:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0):  # the thread is held: the work is still queued
                await pool.run(NEW, ran.append, "timed out")
        pool.gate.set()
        assert await pool.run(UNDER_WAY, len, "abc") == 3  # ran after the blocker
        assert ran == []

    asyncio.run(asyncio.wait_for(scenario(), SOON))


def test_errors_reach_the_caller(pool):
    pool.gate.set()
    failing = pool.submit(NEW, int, "not a number")
    with pytest.raises(ValueError):
        failing.result(SOON)


def test_shutdown_cancels_what_waits_and_refuses_more(pool):
    waiting = pool.submit(NEW, len, "x")
    pool.shutdown()
    with pytest.raises(CancelledError):
        waiting.result(SOON)
    with pytest.raises(RuntimeError):
        pool.submit(NEW, len, "y")
    pool.gate.set()
    assert pool.blocker.result(SOON) is True  # what was running finishes


def test_threads_carry_the_name_logs_and_tests_look_for(pool):
    pool.gate.set()
    assert pool.submit(NEW, lambda: threading.current_thread().name).result(SOON).startswith(
        "test-rsa"
    )
