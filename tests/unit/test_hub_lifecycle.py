"""The relay's hub in one process: a real ``Hub`` on 127.0.0.1:0 inside ``asyncio.run``, with
real client connections (``messenger.net.connection``) on the same loop.

Shutdown (issue 9): every handler is registered the moment its connection is accepted, and
``close()`` stops accepting, ends every connection, awaits every handler, and may be called
twice. (The list of people: tests/unit/test_people_list.py.)
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

import pytest

from messenger.crypto.aead import random_bytes
from messenger.net.connection import ConnectionLostError, ServerConnection
from messenger.protocol import wire
from server.config import ServerConfig
from server.hub import Hub

pytestmark = pytest.mark.timeout(60)


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 45))


async def connect(port: int, identity, name: str = "") -> ServerConnection:
    return await ServerConnection.open("127.0.0.1", port, identity=identity, name=name)


async def receive(connection: ServerConnection, kind: type, timeout: float = 10.0):
    """The next message of type ``kind`` (others are skipped)."""
    async with asyncio.timeout(timeout):
        while not isinstance(message := await connection.receive(), kind):
            pass
    return message


def handler_tasks() -> list[asyncio.Task]:
    """The relay's per-connection handler tasks (not its timers)."""
    return [t for t in asyncio.all_tasks() if t.get_coro().__qualname__.startswith("Hub._handle")]


# -- close() ----------------------------------------------------------------------------------


def test_close_cancels_and_awaits_a_handler_that_has_not_started_yet(rsa_keys):
    async def scenario() -> None:
        hub = Hub(ServerConfig(port=0), rsa_keys.server)
        _host, port = await hub.start()
        connecting = asyncio.create_task(asyncio.open_connection("127.0.0.1", port))
        # Catch the connection's handler task between its creation and its first step: look
        # once per turn of the loop.
        for _ in range(10_000):
            handlers = handler_tasks()
            if handlers:
                break
            await asyncio.sleep(0)
        assert handlers, "the relay never started a handler"
        assert inspect.getcoroutinestate(handlers[0].get_coro()) == "CORO_CREATED"

        await hub.close()

        assert all(task.done() for task in handlers), "close() missed a handler"
        assert hub.connection_count == 0
        _reader, writer = await connecting
        writer.close()

    run(scenario)


def test_close_can_be_called_twice_and_at_once(rsa_keys):
    async def scenario() -> None:
        hub = Hub(ServerConfig(port=0), rsa_keys.server)
        _host, port = await hub.start()
        alice = await connect(port, rsa_keys.alice)
        bob = await connect(port, rsa_keys.bob)

        await asyncio.gather(hub.close(), hub.close())
        await hub.close()

        assert hub.connection_count == 0 and not handler_tasks()
        for client in (alice, bob):
            with pytest.raises(ConnectionLostError):
                await client.receive()
            await client.close()
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", port)  # no longer accepting

    run(scenario)


def test_close_ends_a_handler_stuck_sending_to_a_client_that_does_not_read(rsa_keys):
    async def scenario() -> None:
        # A send timeout far beyond the test: only close() can end the stuck handler.
        config = ServerConfig(port=0, send_queue_bytes=64 * 1024, send_timeout=600)
        hub = Hub(config, rsa_keys.server)
        _host, port = await hub.start()
        sender = await connect(port, rsa_keys.alice)
        reader = await connect(port, rsa_keys.bob)  # never reads after pairing
        await sender.send(wire.CreateSession(salt=random_bytes(wire.SALT_SIZE), ref=1))
        session = (await receive(sender, wire.SessionCreated)).session
        await reader.send(wire.JoinSession(session=session))
        for side in (sender, reader):
            await receive(side, wire.Paired)

        chunk = wire.Relay(session=session, data=bytes(256 * 1024))
        for _ in range(2000):  # until the sender's own queue stops taking frames
            try:
                await asyncio.wait_for(sender.send(chunk), 0.5)
            except TimeoutError:
                break
        else:
            pytest.fail("the relay never pushed back")

        await asyncio.wait_for(hub.close(), 10)

        assert hub.connection_count == 0 and not handler_tasks()
        for client in (sender, reader):
            await client.close()

    run(scenario)


def test_a_config_cannot_page_more_people_than_the_wire_allows():
    with pytest.raises(ValueError):
        ServerConfig(max_people_listed=wire.MAX_PEOPLE_PAGE + 1)
