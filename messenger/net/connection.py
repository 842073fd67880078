"""One asyncio connection to the relay: sealed transport handshake, then messages in and out.

This layer moves bytes and nothing else: it does not know what a session is. It checks the
server's key through a callback (the profile's pins), so a changed key stops the connection
before any secret is sent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from messenger.crypto.rsa import IdentityKey
from messenger.net.framed import READ_CHUNK, FramedStream, StreamClosed
from messenger.net.tickets import JAR, TicketJar, Where
from messenger.protocol import wire
from messenger.protocol.errors import (
    AuthenticationFailedError,
    MessengerError,
    RemoteProtocolError,
    ServerUnreachableError,
    TamperedError,
    error_from_code,
)
from messenger.protocol.framing import MAX_FRAME_BODY
from messenger.protocol.transport import ClientHandshake, ClientTicket, ServerIdentity

log = logging.getLogger("messenger.net")
CONNECT_TIMEOUT = 15.0
#: Bytes waiting for the socket before ``send`` makes the caller wait: room for the file
#: sender's window of 8 one-MiB chunks.
SEND_QUEUE_BYTES = 8 * 1024 * 1024

#: Called with the server's identity before any secret is sent; raises to refuse it.
#: A coroutine: the pins live in the profile's database, which has its own thread.
ServerKeyCheck = Callable[[ServerIdentity], Awaitable[None]]


def parse_address(text: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:5555`` too) -> (host, port); ValueError saying what is wrong."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} is not HOST:PORT (a port from 1 to 65535).")
    return host.strip("[]"), int(port)


class ConnectionLostError(MessengerError):
    """The connection to the server was lost."""

    code = ServerUnreachableError.code


class ServerConnection:
    """A connected, authenticated relay connection. Use ``await ServerConnection.open(...)``."""

    def __init__(
        self,
        stream: FramedStream,
        address: str,
        tickets: TicketJar | None = None,
        where: Where = ("", 0, ""),
    ) -> None:
        self.address = address
        self._stream = stream
        self.welcome: wire.Welcome | None = None
        self.server: ServerIdentity | None = None
        self._closed = False
        self._tickets = tickets
        self._where = where
        self._handshake_state: ClientHandshake | None = None

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        *,
        identity: IdentityKey,
        name: str = "",
        accept_invites: bool = False,
        listed: bool | None = None,
        check_server_key: ServerKeyCheck | None = None,
        timeout: float = CONNECT_TIMEOUT,
        tickets: TicketJar | None = JAR,
    ) -> ServerConnection:
        """Connect, run the transport handshake, prove our identity; raises a MessengerError
        (``server_unreachable`` naming host and port, ``server_key_changed``, ...).

        With a ticket from our last connection to this relay in ``tickets`` (the process's
        jar by default; None: never), the handshake resumes: no RSA work on either side.
        The relay's next tickets go into the jar as they come."""
        address = f"{host}:{port}"
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(host, port, limit=READ_CHUNK)
        except (OSError, TimeoutError) as exc:
            reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
            raise ServerUnreachableError(
                f"Could not reach the server at {address}: {reason}. "
                "Check the address and that the server is running."
            ) from None
        stream = FramedStream(
            reader, writer, max_frame=MAX_FRAME_BODY, queue_bytes=SEND_QUEUE_BYTES
        )
        connection = cls(stream, address, tickets, (host, port, identity.fingerprint))
        try:
            async with asyncio.timeout(timeout):
                await connection._handshake(
                    identity, name, accept_invites, listed, check_server_key
                )
        except TimeoutError:
            await stream.close(0.5)
            raise ServerUnreachableError(
                f"The server at {address} did not complete the handshake in time."
            ) from None
        except StreamClosed:
            await stream.close(0.5)
            raise ServerUnreachableError(
                f"The server at {address} closed the connection during the handshake."
            ) from None
        except BaseException:
            await stream.close(0.5)
            raise
        return connection

    async def _handshake(
        self,
        identity: IdentityKey,
        name: str,
        accept_invites: bool,
        listed: bool | None,
        check_server_key: ServerKeyCheck | None,
    ) -> None:
        loop = asyncio.get_running_loop()
        ticket = await self._ticket(check_server_key)
        handshake = ClientHandshake(
            identity, name, accept_invites, listed, ticket, want_tickets=self._tickets is not None
        )
        self._handshake_state = handshake
        await self._stream.send_raw(handshake.hello())
        self.server = handshake.got_server_hello(await self._stream.read_body())
        assert handshake.cipher is not None
        if handshake.resumed:
            self._stream.start_sealing(handshake.cipher)
            await self._stream.send_raw(handshake.resume())
        else:
            if check_server_key is not None:
                await check_server_key(self.server)
            self._stream.start_sealing(handshake.cipher)
            await self._stream.send_raw(await loop.run_in_executor(None, handshake.auth))
        try:
            first = await self.receive()
        except TamperedError:
            # Only the holder of the key the relay showed (its signed handshake key, or the
            # ticket's secret) can seal this frame.
            raise AuthenticationFailedError(
                f"The server at {self.address} could not prove it holds its key."
            ) from None
        if isinstance(first, wire.Error):
            raise error_from_code(first.code, first.message)
        if not isinstance(first, wire.Welcome):
            raise RemoteProtocolError(f"The server at {self.address} did not welcome us.")
        self.welcome = first

    async def _ticket(self, check_server_key: ServerKeyCheck | None) -> ClientTicket | None:
        """The ticket to resume with, if we have one for a relay key we still trust."""
        if self._tickets is None:
            return None
        ticket = self._tickets.take(self._where)
        if ticket is not None and check_server_key is not None:
            try:
                await check_server_key(ServerIdentity(ticket.server))
            except MessengerError:
                return None  # our pins changed since: a full handshake shows the key anew
        return ticket

    @property
    def resumed(self) -> bool:
        """This connection skipped the RSA work with a ticket from the last one."""
        return self._handshake_state is not None and self._handshake_state.resumed

    def _keep_ticket(self, message: wire.Ticket) -> None:
        if self._tickets is None or self._handshake_state is None:
            return
        ticket = self._handshake_state.got_ticket(message)
        if ticket is not None:
            self._tickets.put(self._where, ticket, message.lifetime)

    async def send(self, message: object) -> None:
        """Queue one message; waits (backpressure) while the socket is behind."""
        if self._closed or not self._stream.writing:
            raise ConnectionLostError(f"The connection to {self.address} is closed.")
        try:
            await self._stream.send(message)
        except StreamClosed:
            raise ConnectionLostError(f"The connection to {self.address} is closed.") from None

    async def receive(self) -> object:
        """The next message from the relay; ConnectionLostError at EOF. (Tickets for the
        next connection are kept here, not returned.)"""
        try:
            while isinstance(message := await self._stream.read_message(), wire.Ticket):
                self._keep_ticket(message)
        except StreamClosed:
            raise ConnectionLostError(
                f"The server at {self.address} closed the connection."
            ) from None
        return message

    async def messages(self) -> AsyncIterator[object]:
        while True:
            yield await self.receive()

    async def flush(self, timeout: float = 5.0) -> None:
        await self._stream.flush(timeout)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._stream.close()
