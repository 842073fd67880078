"""The relay's signed handshake key, attacked on real sockets (protocol 4).

The relay signs an X25519 handshake key every few minutes instead of each handshake, so a
``server_hello`` carries a good signature whoever replays it. These tests play the two
attacks that opens and show that the client, our own ``ServerConnection``, gets nowhere:

- a network attacker swaps the relay's ``server_hello`` for a genuine one it recorded on its
  own connection (a good signature, a young key, but not this connection's shares);
- a hostile relay that stole an old handshake key, private half and signature, and answers
  with it: the signature is the real relay's, the key is too old to believe.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from messenger.net.connection import ServerConnection
from messenger.net.framed import FramedStream
from messenger.protocol.errors import AuthenticationFailedError, ServerUnreachableError
from messenger.protocol.framing import MAX_FRAME_BODY
from messenger.protocol.transport import MAX_HANDSHAKE_KEY_AGE, HandshakeKey, ServerHandshake
from tests.integration.conftest import DOWN, RawConnection, relay_closed_a_tampered_connection
from tests.support import HOST, Keys

pytestmark = pytest.mark.timeout(60)


class SwapServerHello:
    """A proxy hook that replaces the first frame going to the client (its ``server_hello``)
    with ``recorded``, and lets everything else through."""

    def __init__(self, recorded: bytes) -> None:
        self.recorded = recorded
        self.swapped = 0

    def __call__(self, direction: str, body: bytes) -> list[bytes] | None:
        if direction != DOWN or self.swapped:
            return None
        self.swapped += 1
        return [self.recorded]


def recorded_server_hello(port: int, keys: Keys) -> bytes:
    """A genuine server_hello the relay made for the attacker's own client_hello."""
    attacker = RawConnection(port, keys.identity(-1))
    try:
        attacker.say_hello("mallory")
        body = attacker.read_body(5.0)
        assert body is not None
        return body
    finally:
        attacker.close()


def test_a_genuine_server_hello_replayed_from_another_connection_gets_the_client_nowhere(
    relay, keys, make_proxy
):
    hook = SwapServerHello(recorded_server_hello(relay.port, keys))
    proxy = make_proxy(relay.port, hook)
    host, port = proxy.addr.rsplit(":", 1)

    async def attempt() -> None:
        with pytest.raises((AuthenticationFailedError, ServerUnreachableError)):
            await ServerConnection.open(
                host, int(port), identity=keys.identity(0), timeout=10, tickets=None
            )

    asyncio.run(attempt())
    assert hook.swapped == 1
    # The relay could not open the client's auth (sealed under keys it does not have) ...
    relay_closed_a_tampered_connection(relay)
    # ... and goes on serving everyone else.
    honest = RawConnection(relay.port, keys.identity(1))
    try:
        assert honest.handshake("bob").id == keys.identity(1).fingerprint
    finally:
        honest.close()


def test_a_relay_answering_with_a_stolen_old_handshake_key_is_refused(keys):
    """The attacker holds an old handshake key of the real relay (its private half and the
    relay's genuine signature) but not the relay's RSA key: the client refuses the key as
    too old before it sends anything sealed."""
    stale = HandshakeKey(keys.relay, time.time() - MAX_HANDSHAKE_KEY_AGE - 3600)
    auths: list[bytes] = []

    async def scenario() -> None:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            stream = FramedStream(reader, writer, max_frame=MAX_FRAME_BODY, queue_bytes=1 << 20)
            handshake = ServerHandshake(keys.relay, handshake_key=stale)
            with contextlib.suppress(Exception):
                await stream.send_raw(handshake.got_client_hello(await stream.read_body()))
                auths.append(await stream.read_body())
            await stream.close(0.5)

        server = await asyncio.start_server(answer, HOST, 0)
        port = server.sockets[0].getsockname()[1]
        try:
            with pytest.raises(AuthenticationFailedError, match="too long ago"):
                await ServerConnection.open(
                    HOST, port, identity=keys.identity(0), timeout=10, tickets=None
                )
        finally:
            server.close()
            await server.wait_closed()

    asyncio.run(scenario())
    assert auths == []  # the client's identity never went to the impostor
