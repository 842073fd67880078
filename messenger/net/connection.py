"""One asyncio connection to the relay: frames out through a bounded queue, messages in.

This layer moves bytes and nothing else: it does not know what a session is. Sealing the
transport (a later step) slots in between ``encode_frame`` and the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from messenger.protocol import wire
from messenger.protocol.errors import (
    MessengerError,
    RemoteProtocolError,
    ServerUnreachableError,
    error_from_code,
)
from messenger.protocol.framing import MAX_FRAME_BODY, FrameDecoder, encode_frame

log = logging.getLogger("messenger.net")
READ_CHUNK = 256 * 1024
CONNECT_TIMEOUT = 10.0
#: Frames waiting for the socket before ``send`` makes the caller wait.
SEND_QUEUE_FRAMES = 64


class ConnectionLostError(MessengerError):
    """The connection to the server was lost."""

    code = ServerUnreachableError.code


class ServerConnection:
    """A connected, greeted relay connection. Use ``await ServerConnection.open(...)``."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, address: str
    ) -> None:
        self.address = address
        self._reader = reader
        self._writer = writer
        self._decoder = FrameDecoder(MAX_FRAME_BODY)
        self._outgoing: asyncio.Queue[bytes | None] = asyncio.Queue(SEND_QUEUE_FRAMES)
        self._writer_task = asyncio.create_task(self._write_loop())
        self.welcome: wire.Welcome | None = None
        self._closed = False

    @classmethod
    async def open(
        cls, host: str, port: int, name: str = "", timeout: float = CONNECT_TIMEOUT
    ) -> ServerConnection:
        """Connect and greet; raises ServerUnreachableError naming host and port."""
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
        connection = cls(reader, writer, address)
        try:
            await connection.send(wire.Hello(version=wire.PROTOCOL_VERSION, name=name))
            async with asyncio.timeout(timeout):
                first = await connection.receive()
        except TimeoutError:
            await connection.close()
            raise ServerUnreachableError(
                f"The server at {address} did not answer the greeting."
            ) from None
        except MessengerError:
            await connection.close()
            raise
        if not isinstance(first, wire.Welcome):
            await connection.close()
            if isinstance(first, wire.Error):
                raise error_from_code(first.code, first.message)
            raise RemoteProtocolError(f"The server at {address} did not greet us properly.")
        connection.welcome = first
        return connection

    async def send(self, message: object) -> None:
        """Queue one message; waits (backpressure) while the socket is behind."""
        if self._closed:
            raise ConnectionLostError()
        await self._outgoing.put(encode_frame(wire.encode(message)))

    async def receive(self) -> object:
        """The next message from the relay; ConnectionLostError at EOF."""
        while (body := self._decoder.next_frame()) is None:
            try:
                data = await self._reader.read(READ_CHUNK)
            except ConnectionError:
                data = b""
            if not data:
                raise ConnectionLostError(f"The server at {self.address} closed the connection.")
            self._decoder.receive_data(data)
        return wire.decode(body)

    async def messages(self) -> AsyncIterator[object]:
        while True:
            yield await self.receive()

    async def _write_loop(self) -> None:
        try:
            while (frame := await self._outgoing.get()) is not None:
                self._writer.write(frame)
                await self._writer.drain()
                self._outgoing.task_done()
        except (ConnectionError, OSError):
            self._closed = True

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait until everything queued has been handed to the socket."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await asyncio.wait(
                    [asyncio.ensure_future(self._outgoing.join()), self._writer_task],
                    return_when=asyncio.FIRST_COMPLETED,
                )

    async def close(self) -> None:
        if self._closed and self._writer_task.done():
            return
        self._closed = True
        with contextlib.suppress(asyncio.QueueFull):
            self._outgoing.put_nowait(None)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2):
                await self._writer_task
        self._writer_task.cancel()
        self._writer.close()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2):
                await self._writer.wait_closed()
