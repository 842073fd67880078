"""Rotation timers: the relay keeps time for each paired session.

Clients rotate their sending keys when a tick arrives; the relay never sees the keys, it only
decides *when*, so both members of a session move on at roughly the same moment.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class RotationTimers:
    """One asyncio task per paired session that calls ``on_tick(session)`` every interval."""

    def __init__(self, interval: float, on_tick: Callable[[str], None]) -> None:
        self.interval = interval
        self._on_tick = on_tick
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, session: str) -> None:
        if self.interval <= 0 or session in self._tasks:
            return
        self._tasks[session] = asyncio.create_task(self._run(session))

    def stop(self, session: str) -> None:
        task = self._tasks.pop(session, None)
        if task is not None:
            task.cancel()

    def cancel_all(self) -> None:
        for session in list(self._tasks):
            self.stop(session)

    def __contains__(self, session: str) -> bool:
        return session in self._tasks

    async def _run(self, session: str) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time() + self.interval
        while True:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            next_at += self.interval
            self._on_tick(session)
