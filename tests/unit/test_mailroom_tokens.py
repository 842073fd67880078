"""Direct frames between contacts on a real ``Hub``: the relay remembers a token the mailbox
accepted (so a file's chunks are not each a database round trip), and forgets it the moment
its owner revokes it."""

from __future__ import annotations

import asyncio

import pytest

from messenger.net.connection import ServerConnection
from messenger.protocol import wire
from server.config import ServerConfig
from server.hub import Hub

pytestmark = pytest.mark.timeout(60)

TOKEN = b"t" * wire.TOKEN_SIZE


async def receive(connection: ServerConnection, kind: type, timeout: float = 10.0):
    async with asyncio.timeout(timeout):
        while not isinstance(message := await connection.receive(), kind):
            pass
    return message


def test_a_revoked_token_stops_direct_frames_at_once_though_it_was_remembered(rsa_keys):
    async def scenario() -> None:
        hub = Hub(ServerConfig(port=0), rsa_keys.server)
        _host, port = await hub.start()
        alice = await ServerConnection.open("127.0.0.1", port, identity=rsa_keys.alice)
        bob = await ServerConnection.open("127.0.0.1", port, identity=rsa_keys.bob)
        await bob.send(wire.RegisterTokens(tokens=(TOKEN,)))
        await bob.send(wire.Fetch())
        await receive(bob, wire.CaughtUp)
        to_bob = rsa_keys.bob.fingerprint

        for n in range(3):  # the first is checked in the mailbox, the others remembered
            await alice.send(wire.Direct(to=to_bob, token=TOKEN, data=bytes([n]), ref=n + 1))
            assert (await receive(bob, wire.Forwarded)).data == bytes([n])

        await bob.send(wire.RevokeTokens(tokens=(TOKEN,)))
        await bob.send(wire.Ping(nonce=1))
        await receive(bob, wire.Pong)  # the revocation is done
        await alice.send(wire.Direct(to=to_bob, token=TOKEN, data=b"late", ref=9))
        refused = await receive(alice, wire.Error)
        assert (refused.code, refused.ref) == ("not_allowed", 9)

        await alice.send(wire.Direct(to=to_bob, token=b"u" * wire.TOKEN_SIZE, data=b"x", ref=10))
        assert (await receive(alice, wire.Error)).code == "not_allowed"
        for client in (alice, bob):
            await client.close()
        await hub.close()

    asyncio.run(asyncio.wait_for(scenario(), 45))
