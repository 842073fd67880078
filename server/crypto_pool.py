"""The relay's RSA private-key work in a few threads, handshakes already under way first.

A full handshake asks for RSA work three times: the signature over the server hello, the
unwrap of the key exchange, the check of the client's signature. In a first-come queue, a
reconnect storm (thousands of clients sending their hellos at once) puts every handshake's
second and third steps behind all the hellos that arrived in the meantime. By the time those
steps run, the handshake has outlived its timeout, and the relay spends its RSA work on
handshakes that fail: in ``tests.bench.relay_load``, 2,000 clients reconnecting without
tickets made 70,000 handshake timeouts in seven minutes, and the storm never ended.

So work for a handshake that already has its signature (``UNDER_WAY``) goes ahead of any new
hello (``NEW``): work started is work finished. A hello that waits past the handshake timeout
is cancelled before it runs (its connection is gone), which costs nothing. The threads run
pycryptodome, whose big-number code releases the GIL, so the event loop keeps answering
other clients meanwhile.
"""

from __future__ import annotations

import asyncio
import itertools
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")

#: A step of a handshake that has already had RSA work done for it.
UNDER_WAY = 0
#: The first RSA work of a new handshake (the server hello's signature).
NEW = 1
_STOP = -1

_Item = tuple[Future[Any], Callable[..., Any], tuple[Any, ...]] | None


class CryptoPool:
    """``threads`` worker threads taking work in priority order, then in order of arrival."""

    def __init__(self, threads: int, name: str = "relay-rsa") -> None:
        if threads < 1:
            raise ValueError("a crypto pool needs at least one thread")
        self._queue: queue.PriorityQueue[tuple[int, int, _Item]] = queue.PriorityQueue()
        self._order = itertools.count()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}_{i}", daemon=True)
            for i in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, priority: int, work: Callable[..., T], *args: object) -> Future[T]:
        """Queue ``work(*args)``; cancelling the future before a thread takes it means it
        never runs."""
        if self._closed:
            raise RuntimeError("the crypto pool is shut down")
        future: Future[T] = Future()
        self._queue.put((priority, next(self._order), (future, work, args)))
        return future

    async def run(self, priority: int, work: Callable[..., T], *args: object) -> T:
        """``work(*args)`` in a thread; cancelling the caller cancels work still queued."""
        return await asyncio.wrap_future(self.submit(priority, work, *args))

    def shutdown(self) -> None:
        """Cancel everything still queued; the threads end after what they are running
        (not waited for: RSA work is short and the threads are daemons)."""
        self._closed = True
        while True:
            try:
                _priority, _n, item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                item[0].cancel()
        for _ in self._threads:
            self._queue.put((_STOP, next(self._order), None))

    def _work(self) -> None:
        while True:
            _priority, _n, item = self._queue.get()
            if item is None:
                return
            future, work, args = item
            if not future.set_running_or_notify_cancel():
                continue  # cancelled while it waited: its handshake is gone
            try:
                result = work(*args)
            except BaseException as exc:  # handed to the awaiting handshake, not lost here
                future.set_exception(exc)
            else:
                future.set_result(result)
