"""Keeps the desktop app connected to its relay: it reconnects after a drop, pausing longer
after each failed attempt.

A person whose network blinks or whose relay restarts should not have to restart the app, and
a relay that is down should not be hammered. The status bar says what is happening and when
the next attempt comes; Session > Reconnect now skips the wait. Each attempt is a full
connection (server key check, identity proof), so a relay that comes back with a different
key stops here behind the same blocking warning as at start, never a silent reconnect.
Conversations carry on across a drop (the courier outlives the connection): their pages say
they are reconnecting, what is written meanwhile waits in the outbox, and the next link
posts it and takes in what waited at the relay. Only codes and invitations still waiting
end with the connection. Settings can point the keeper at another server (``switch_to``):
it lets go of the current connection and connects there at once, no pause.
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
from messenger.ui.wording import for_people

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
        #: Another server was chosen; the loop has not gone there yet.
        self._switching = False
        #: The loop, once ``start`` ran it (it ends when stopped or told to stay off).
        self.task: asyncio.Task[None] | None = None
        window.reconnectRequested.connect(self.retry_now)
        window.serverChangeRequested.connect(lambda address: self.switch_to(ServerChoice(address)))

    def start(self) -> None:
        """Run the loop as the keeper's own ``task``, unless it is running already."""
        if self.task is None or self.task.done():
            self.task = asyncio.ensure_future(self._keep_connected())

    def retry_now(self) -> None:
        """Skip the current pause (the person asked)."""
        self._wake.set()

    def switch_to(self, choice: ServerChoice) -> None:
        """Use another server from now on: drop the current connection (or stop waiting)
        and connect to ``choice`` at once. Starts the loop again if it had ended, since a
        person who stayed off a server with a changed key may pick another one."""
        if self._stopped:
            return
        self.choice = choice
        self._switching = True
        self._wake.set()
        self.start()

    def stop(self) -> None:
        """Stop reconnecting (the app is quitting)."""
        self._stopped = True
        self._wake.set()

    async def _keep_connected(self) -> None:
        failures = 0  # attempts in a row that failed
        dropped = False
        while not self._stopped:
            if self._switching:  # a new server: its first connection is not "again"
                self._switching, failures, dropped = False, 0, False
            outcome = await self._connect_once(self.controller, self.window, self.choice)
            if self._stopped:
                return
            if self._switching:  # another server was chosen during the attempt: go there
                continue
            if outcome is None:
                return
            if isinstance(outcome, MessengerError):
                failures += 1
                address = self.controller.server_address or self.choice.address
                why = f"Not connected: {for_people(outcome, address)}"
            else:
                if failures or dropped:
                    self.window.statusBar().showMessage("Connected again.", BACK_MESSAGE_MS)
                failures = 0
                lost = await self._until_lost(outcome)
                if self._stopped:
                    return
                if self._switching:  # connecting to the new server drops this connection
                    continue
                dropped = True
                why = f"Connection lost: {lost}"
            await self._pause(self.delays[min(max(failures - 1, 0), len(self.delays) - 1)], why)

    async def _until_lost(self, bridge: ClientBridge) -> str:
        """Wait until this connection drops (or the keeper is stopped or switched to another
        server); returns why."""
        lost: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        def on_lost(_code: str, message: str) -> None:
            if not lost.done():
                lost.set_result(message)

        bridge.disconnected.connect(on_lost)
        interrupted: asyncio.Future[str] = asyncio.ensure_future(self._interrupted())
        try:
            await asyncio.wait([lost, interrupted], return_when=asyncio.FIRST_COMPLETED)
        finally:
            interrupted.cancel()
            with contextlib.suppress(RuntimeError):
                bridge.disconnected.disconnect(on_lost)
        return lost.result() if lost.done() else ""

    async def _interrupted(self) -> str:
        """Return once the keeper is stopped or told to switch servers (says which)."""
        while not (self._stopped or self._switching):
            self._wake.clear()
            await self._wake.wait()
        return "stopped" if self._stopped else "switching"

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
