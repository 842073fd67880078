"""Keeps the desktop app connected to its relay: it reconnects after a drop, pausing longer
after each failed attempt.

A person whose network blinks or whose relay restarts should not have to restart the app, and
a relay that is down should not be hammered. The status bar says what is happening and when
the next attempt comes; Session > Reconnect now skips the wait. Each attempt is a full
connection (server key check, identity proof), so a relay that comes back with a different
key stops here behind the same blocking warning as at start, never a silent reconnect.
Sessions do not survive a drop yet (docs/decisions.md): they end with a system line, and new
ones can be started once the app is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Awaitable, Callable

from messenger.protocol.errors import MessengerError
from messenger.ui.bridge import ClientBridge
from messenger.ui.controller import AppController, ServerChoice
from messenger.ui.main_window import MainWindow

__all__ = ["RETRY_DELAYS", "ConnectionKeeper"]

#: Pauses (seconds) before the first, second, ... new attempt; the last one repeats.
RETRY_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)
#: How long "Connected again." stays in the status bar.
BACK_MESSAGE_MS = 5000

#: One connection attempt: a bridge when connected, the error when it failed, None when the
#: person chose to stay disconnected (a changed server key they did not accept).
ConnectOnce = Callable[
    [AppController, MainWindow, ServerChoice], Awaitable[ClientBridge | MessengerError | None]
]


class ConnectionKeeper:
    """Connects, waits for the connection to drop, and connects again, until stopped."""

    def __init__(
        self,
        controller: AppController,
        window: MainWindow,
        choice: ServerChoice,
        connect_once: ConnectOnce,
        delays: tuple[float, ...] = RETRY_DELAYS,
    ) -> None:
        self.controller = controller
        self.window = window
        self.choice = choice
        self.delays = delays
        self._connect_once = connect_once
        self._wake = asyncio.Event()
        self._stopped = False
        window.reconnectRequested.connect(self.retry_now)

    def retry_now(self) -> None:
        """Skip the current pause (the person asked)."""
        self._wake.set()

    def stop(self) -> None:
        """Stop reconnecting (the app is quitting)."""
        self._stopped = True
        self._wake.set()

    async def run(self) -> None:
        failures = 0  # attempts in a row that failed
        dropped = False
        while not self._stopped:
            outcome = await self._connect_once(self.controller, self.window, self.choice)
            if outcome is None or self._stopped:
                return
            if isinstance(outcome, MessengerError):
                failures += 1
                why = f"Not connected: {outcome}"
            else:
                if failures or dropped:
                    self.window.statusBar().showMessage("Connected again.", BACK_MESSAGE_MS)
                failures = 0
                lost = await self._until_lost(outcome)
                if self._stopped:
                    return
                dropped = True
                why = f"Connection lost: {lost}"
            await self._pause(self.delays[min(max(failures - 1, 0), len(self.delays) - 1)], why)

    async def _until_lost(self, bridge: ClientBridge) -> str:
        """Wait until this connection drops (or the keeper is stopped); returns why."""
        lost: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        def on_lost(_code: str, message: str) -> None:
            if not lost.done():
                lost.set_result(message)

        bridge.disconnected.connect(on_lost)
        stopped = asyncio.ensure_future(self._stopped_event())
        try:
            await asyncio.wait({lost, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            with contextlib.suppress(RuntimeError):
                bridge.disconnected.disconnect(on_lost)
        return lost.result() if lost.done() else ""

    async def _stopped_event(self) -> None:
        while not self._stopped:
            self._wake.clear()
            await self._wake.wait()

    async def _pause(self, seconds: float, why: str) -> None:
        """Wait before the next attempt, counting down in the status bar. The countdown
        comes first: a long reason is cut off at the window's edge, the countdown is not."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        self._wake.clear()
        while (remaining := deadline - loop.time()) > 0 and not self._wake.is_set():
            self.window.statusBar().showMessage(f"Trying again in {math.ceil(remaining)} s. {why}")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(1.0, remaining)):
                    await self._wake.wait()
