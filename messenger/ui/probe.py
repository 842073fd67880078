"""Is there a Messenger server at host:port? Connect, run the first step of the transport
handshake (enough to learn the server's key), and hang up.

The welcome and Settings dialogs check a typed address with this before they use it, so
that a typo shows as a sentence at once rather than as a status bar that keeps retrying.
Asyncio all the way: the GUI keeps painting while it waits.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import cast

from messenger.crypto.rsa import IdentityKey
from messenger.net.connection import parse_address
from messenger.net.framed import READ_CHUNK, FramedStream
from messenger.protocol.framing import MAX_FRAME_BODY
from messenger.protocol.transport import ClientHandshake
from messenger.ui.wording import connection_problem

__all__ = ["PROBE_TIMEOUT", "ProbeError", "probe_server"]

PROBE_TIMEOUT = 8.0


class ProbeError(Exception):
    """No Messenger server answered; the message says why, in a sentence."""


async def probe_server(address: str, timeout: float = PROBE_TIMEOUT) -> str:
    """The fingerprint of the server's key at ``address``; ProbeError if none answers."""
    try:
        host, port = parse_address(address)
    except ValueError as exc:
        raise ProbeError(str(exc)) from None
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port, limit=READ_CHUNK)
            stream = FramedStream(reader, writer, max_frame=MAX_FRAME_BODY, queue_bytes=64 * 1024)
            # hello() and got_server_hello() never use the identity (only auth() signs with
            # it), and we hang up before that: a new profile has no key yet.
            handshake = ClientHandshake(cast(IdentityKey, None))
            await stream.send_raw(handshake.hello())
            server = handshake.got_server_hello(await stream.read_body())
            return server.fingerprint
    except Exception as exc:  # anything at all means "no Messenger server here"
        raise ProbeError(connection_problem(exc, address)) from None
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
