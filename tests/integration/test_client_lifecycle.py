"""The client core's connection lifecycle against a real relay process: whatever ended the
link (a fatal relay error, a relay that froze), ``close()`` stops every task and socket,
and a dead link is noticed instead of waited on forever."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from messenger import events as ev
from messenger.client import Client, LinkState
from messenger.protocol import wire
from tests.support import SOON, InProcessClient, Keys

pytestmark = pytest.mark.timeout(60)


def client_for(relay, keys: Keys, folder: Path) -> InProcessClient:
    return InProcessClient(folder, keys.identity(0), relay.addr, name="lifecycle")


async def next_event(client: Client, kind: type) -> object:
    async with asyncio.timeout(SOON):
        while not isinstance(event := await client.events.get(), kind):
            pass
    return event


def test_close_after_a_fatal_relay_error_stops_every_task_and_the_socket(
    relay, keys, tmp_path
):
    async def scenario() -> None:
        async with client_for(relay, keys, tmp_path) as client:
            await client.connect()
            tasks = list(client._tasks)
            # A message clients may not send: the relay answers with a fatal error.
            await client._send(wire.Welcome(version=0, rotate_interval=1.0, idle_timeout=1.0))
            disconnected = await next_event(client, ev.Disconnected)
            assert disconnected.error.code == "protocol"
            assert client.link is LinkState.FAILED

            await client.close()

            assert client.link is LinkState.CLOSED
            assert all(task.done() for task in tasks), tasks
            assert client._connection is not None and not client._connection._stream.writing
            await client.close()  # a second close is harmless

    asyncio.run(scenario())


def test_a_relay_that_stops_answering_is_noticed_as_a_dead_link(make_relay, keys, tmp_path):
    """SIGSTOP freezes the relay: the socket stays open and silent, as on a network that
    drops everything. The client's unanswered ping must end the connection."""
    relay = make_relay("--idle-timeout", "0.6")

    async def scenario() -> None:
        async with client_for(relay, keys, tmp_path) as client:
            await client.connect()
            os.kill(relay.proc.pid, signal.SIGSTOP)
            try:
                disconnected = await next_event(client, ev.Disconnected)
            finally:
                os.kill(relay.proc.pid, signal.SIGCONT)
            assert disconnected.error.code == "server_unreachable"
            assert "stopped answering" in str(disconnected.error)
            assert not client.connected

    asyncio.run(scenario())
