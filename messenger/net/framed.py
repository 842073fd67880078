"""A framed, optionally sealed, asyncio byte stream: used by the client and the relay alike.

Outgoing bodies are queued in plaintext and sealed by the single writer task, in queue
order, so the transport's implicit counters always match the order on the wire. Whether a
body is sealed is decided when it is queued: handshake messages go out in the clear even if
the transport switches on before the writer reaches them. The queue is bounded, so a peer
that does not read makes its senders wait (backpressure) instead of growing memory.
"""

from __future__ import annotations

import asyncio
import contextlib

from messenger.protocol import wire
from messenger.protocol.framing import FrameDecoder, encode_frame
from messenger.protocol.transport import TransportCipher

READ_CHUNK = 256 * 1024


class StreamClosed(Exception):
    """The other side closed the connection."""


class FramedStream:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        max_frame: int,
        queue_frames: int,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self._decoder = FrameDecoder(max_frame)
        self._outgoing: asyncio.Queue[tuple[bytes, bool] | None] = asyncio.Queue(queue_frames)
        self._cipher: TransportCipher | None = None
        self._sealing = False
        self._writer_task = asyncio.create_task(self._write_loop())

    def start_sealing(self, cipher: TransportCipher) -> None:
        """From now on every frame in both directions is sealed."""
        self._cipher = cipher
        self._sealing = True

    # -- out --------------------------------------------------------------------------------

    async def send_raw(self, body: bytes) -> None:
        """Queue an already encoded body (a handshake message), sealed if sealing is on."""
        await self._outgoing.put((body, self._sealing))

    async def send(self, message: object) -> None:
        """Queue a control message; waits while the queue is full (backpressure)."""
        await self._outgoing.put((wire.encode(message), self._sealing))

    def send_nowait(self, message: object) -> None:
        """Queue a notice that must not block (timers, peer left); dropped if the queue is full."""
        with contextlib.suppress(asyncio.QueueFull):
            self._outgoing.put_nowait((wire.encode(message), self._sealing))

    def send_urgent(self, message: object) -> None:
        """Throw away what is queued and queue ``message`` (a fatal error must get out now)."""
        while not self._outgoing.empty():
            self._outgoing.get_nowait()
        self.send_nowait(message)

    async def _write_loop(self) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while (item := await self._outgoing.get()) is not None:
                body, sealed = item
                if sealed:
                    assert self._cipher is not None
                    body = self._cipher.seal(body)
                self.writer.write(encode_frame(body))
                await self.writer.drain()
                self._outgoing.task_done()

    @property
    def writing(self) -> bool:
        return not self._writer_task.done()

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait (bounded) until everything queued has been handed to the socket."""
        joined = asyncio.ensure_future(self._outgoing.join())
        try:
            await asyncio.wait(
                [joined, self._writer_task], timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            joined.cancel()

    # -- in ---------------------------------------------------------------------------------

    async def read_body(self) -> bytes:
        """The next frame body, opened if the transport is sealed."""
        while (body := self._decoder.next_frame()) is None:
            try:
                data = await self.reader.read(READ_CHUNK)
            except ConnectionError:
                data = b""
            if not data:
                raise StreamClosed()
            self._decoder.receive_data(data)
        return self._cipher.open(body) if self._cipher is not None else body

    async def read_message(self) -> object:
        return wire.decode(await self.read_body())

    # -- close ------------------------------------------------------------------------------

    async def close(self, flush_timeout: float = 2.0) -> None:
        """Let queued frames (an error, say) out briefly, then close. Safe to call twice."""
        with contextlib.suppress(asyncio.QueueFull):
            self._outgoing.put_nowait(None)
        with contextlib.suppress(TimeoutError, ConnectionError, OSError):
            async with asyncio.timeout(flush_timeout):
                await self._writer_task
        self._writer_task.cancel()
        self.writer.close()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(flush_timeout):
                await self.writer.wait_closed()
