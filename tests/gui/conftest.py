"""GUI test setup: one qasync loop for the whole session, shared by every GUI test.

``@asyncSlot`` handlers schedule their coroutine on the current asyncio loop. With a
``qasync.QEventLoop(already_running=True)`` installed, that loop *is* Qt's event loop, so
``qtbot.waitUntil`` / ``waitSignal`` (which spin Qt's loop) also run those coroutines.
Never call ``loop.stop()`` or ``run_until_complete`` here: the first quits the
QApplication for every later test, the second raises "already running" (ENVIRONMENT.md).
"""

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import qasync

from tests.support import Keys, RelayProcess


@pytest.fixture(scope="session")
def qasync_loop(qapp):
    loop = qasync.QEventLoop(qapp, already_running=True)
    # Our own executor, so teardown can join its QThreads: Qt aborts the process (exit 134)
    # if a QThread is still alive when the interpreter exits.
    executor = qasync.QThreadExecutor(2)
    loop.set_default_executor(executor)
    asyncio.set_event_loop(loop)
    yield loop
    executor.shutdown(wait=True)


@pytest.fixture
def relay(tmp_path: Path, keys: Keys) -> Iterator[RelayProcess]:
    """A real relay process on 127.0.0.1 with a pre-made key (tests that need other
    relay options define their own ``relay``)."""
    data = tmp_path / "relay"
    keys.install_relay_key(data)
    process = RelayProcess(data)
    yield process
    process.kill()
