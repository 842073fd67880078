"""GUI test setup: one qasync loop for the whole session, shared by every GUI test.

``@asyncSlot`` handlers schedule their coroutine on the current asyncio loop. With a
``qasync.QEventLoop(already_running=True)`` installed, that loop *is* Qt's event loop, so
``qtbot.waitUntil`` / ``waitSignal`` (which spin Qt's loop) also run those coroutines.
Never call ``loop.stop()`` or ``run_until_complete`` here: the first quits the
QApplication for every later test, the second raises "already running" (ENVIRONMENT.md).
"""

import asyncio

import pytest
import qasync


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
