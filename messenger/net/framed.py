"""A framed, optionally sealed, asyncio byte stream: used by the client and the relay alike.

Outgoing bodies are queued in plaintext and sealed by the single writer task, in queue
order, so the transport's implicit counters always match the order on the wire. Whether a
body is sealed is decided when it is queued: handshake messages go out in the clear even if
the transport switches on before the writer reaches them.

The queue is bounded in bytes, counting a frame until the socket has taken it (``drain``),
so a peer that does not read makes its senders wait (backpressure) instead of growing
memory; with ``send_timeout`` a sender waits at most that long and then gets ``SendTimeout``
(the peer is not reading: the owner of the stream should drop it). Notices that must not
block and must not be lost (``send_nowait``: a peer left, an error about a session) go in
past the byte bound; there may be at most ``max_notices`` of them waiting, and a notice with
a ``coalesce`` key replaces a queued one with the same key (only the newest presence list or
rotation tick matters).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import struct
from collections import deque
from dataclasses import dataclass

from messenger.protocol import wire
from messenger.protocol.framing import FrameDecoder, encode_frame
from messenger.protocol.transport import TransportCipher

READ_CHUNK = 256 * 1024
#: Notices that may wait beyond the byte bound before the stream counts as stuck.
MAX_NOTICES = 1024
#: The writer hands the socket what is queued in one write of up to about this many bytes
#: (frames smaller than ``_JOIN_BELOW`` are joined into it; bigger ones go on their own).
BATCH_BYTES = 256 * 1024
_JOIN_BELOW = 64 * 1024


class StreamClosed(Exception):
    """The other side closed the connection (or we are closing it)."""


class SendTimeout(Exception):
    """The other side has read nothing for so long that a frame could not be queued."""


class NoticeOverflow(Exception):
    """The other side let so many must-deliver notices pile up that it is not reading."""


@dataclass(slots=True, eq=False)
class _Outgoing:
    body: bytes
    sealed: bool
    #: Bytes counted against the queue bound until the socket has taken the frame.
    reserved: int
    notice: bool = False
    coalesce: str | None = None


@dataclass(slots=True, eq=False)
class _Waiter:
    size: int
    future: asyncio.Future[None]


class FramedStream:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        max_frame: int,
        queue_bytes: int,
        send_timeout: float | None = None,
        max_notices: int = MAX_NOTICES,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self._transport = writer.transport
        self._decoder = FrameDecoder(max_frame)
        self._queue_bytes = queue_bytes
        self._send_timeout = send_timeout
        self._max_notices = max_notices
        self._queue: deque[_Outgoing] = deque()
        self._by_key: dict[str, _Outgoing] = {}
        self._waiters: deque[_Waiter] = deque()
        self._pending = 0  #: bytes reserved: queued, being sealed, or in the socket's buffer
        #: Bytes written at once by a sender (see ``_push``) that the socket has not taken
        #: yet: the writer task waits for them to drain, then gives their room back.
        self._unreleased = 0
        #: The writer task is between taking frames off the queue and the socket's drain.
        self._writing = False
        self._notices = 0
        self._work = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
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
        await self._reserve(len(body))
        self._push(_Outgoing(body, self._sealing, len(body)))

    async def send(self, message: object) -> None:
        """Queue a control message; waits while the queue is full (backpressure).

        Raises ``SendTimeout`` if there was no room within ``send_timeout``, and
        ``StreamClosed`` if the stream is closing. The message is encoded only once there is
        room, so a sender waiting with a big frame does not hold two copies of it.
        """
        size = _size_hint(message)
        await self._reserve(size)
        try:
            body = wire.encode(message)
        except BaseException:
            self._release(size)
            raise
        self._push(_Outgoing(body, self._sealing, size))

    def send_nowait(self, message: object, *, coalesce: str | None = None) -> None:
        """Queue a notice that must not block and must not be lost (peer left, an error
        about a session, a presence update), past the byte bound.

        With ``coalesce``, a queued notice with the same key is replaced instead (its place
        in the queue is kept). Raises ``NoticeOverflow`` when ``max_notices`` are already
        waiting: the other side is not reading, and the caller should drop it. Does nothing
        on a stream that is closing.
        """
        if self._closing:
            return
        self.send_encoded_nowait(wire.encode(message), coalesce=coalesce)

    def send_encoded_nowait(self, body: bytes, *, coalesce: str | None = None) -> None:
        """``send_nowait`` for a message already encoded: the relay encodes a presence
        change once and hands the same bytes to every watcher."""
        if self._closing:
            return
        if coalesce is not None and (queued := self._by_key.get(coalesce)) is not None:
            self._pending += len(body) - queued.reserved
            queued.body, queued.reserved, queued.sealed = body, len(body), self._sealing
            return
        if self._notices >= self._max_notices:
            raise NoticeOverflow(f"{self._notices} notices are waiting to be read")
        self._pending += len(body)
        item = _Outgoing(body, self._sealing, len(body), notice=True, coalesce=coalesce)
        if not self._push(item):
            self._notices += 1
            if coalesce is not None:
                self._by_key[coalesce] = item

    def send_urgent(self, message: object) -> None:
        """Throw away what is queued and queue ``message`` as the last frame (a fatal error
        must get out now). Senders still waiting for room get ``StreamClosed``."""
        for item in self._queue:
            self._pending -= item.reserved
        self._queue.clear()
        self._by_key.clear()
        self._notices = 0
        body = wire.encode(message)
        self._pending += len(body)
        self._push(_Outgoing(body, self._sealing, len(body)))
        self._stop_accepting()

    @property
    def queued_bytes(self) -> int:
        """Bytes queued or handed to the socket and not yet taken by it."""
        return self._pending

    async def _reserve(self, size: int) -> None:
        if self._closing:
            raise StreamClosed()
        if not self._waiters and self._fits(size):
            self._pending += size
            return
        waiter = _Waiter(size, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(self._send_timeout):
                await waiter.future
        except BaseException as exc:
            future = waiter.future
            if future.done() and not future.cancelled() and future.exception() is None:
                self._release(size)  # room was granted just as we gave up: give it back
            else:
                future.cancel()
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
                self._wake_waiters()
            if isinstance(exc, TimeoutError):
                raise SendTimeout(
                    f"no room for {size} bytes within {self._send_timeout:g} s"
                ) from None
            raise

    def _fits(self, size: int) -> bool:
        return self._pending == 0 or self._pending + size <= self._queue_bytes

    def _release(self, size: int) -> None:
        self._pending -= size
        if self._waiters:
            self._wake_waiters()

    def _wake_waiters(self) -> None:
        """Grant room to waiting senders in order, as far as it goes."""
        while self._waiters:
            waiter = self._waiters[0]
            if waiter.future.done():
                self._waiters.popleft()
                continue
            if not self._fits(waiter.size):
                return
            self._waiters.popleft()
            self._pending += waiter.size
            waiter.future.set_result(None)

    def _push(self, item: _Outgoing) -> bool:
        """Queue ``item`` for the writer task; or, when nothing is queued or being written
        and the socket keeps up, seal and write it at once (no task switch per frame: the
        relay forwards most frames this way). True if it was written."""
        if (
            not self._queue
            and not self._writing
            and not self._unreleased
            and not self._transport.is_closing()
            and not self._transport.get_write_buffer_size()
        ):
            self._transport.write(self._frame(item))
            if self._transport.get_write_buffer_size():
                # The socket did not take it all: the writer waits for it to drain.
                self._unreleased += item.reserved
                self._idle.clear()
                self._work.set()
            else:
                self._release(item.reserved)
            return True
        self._queue.append(item)
        self._idle.clear()
        self._work.set()
        return False

    def _frame(self, item: _Outgoing) -> bytes | bytearray:
        """The frame for ``item``, sealed now if it was queued sealed (so seals happen in the
        order frames reach the socket, as the transport's counters require)."""
        body, item.body = item.body, b""
        if item.sealed:
            assert self._cipher is not None
            return self._cipher.seal_frame(body)
        return encode_frame(body)

    def _stop_accepting(self) -> None:
        self._closing = True
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.future.done():
                waiter.future.set_exception(StreamClosed())
        self._work.set()

    async def _write_loop(self) -> None:
        try:
            await self._write_queued()
        except (ConnectionError, OSError):
            pass
        finally:
            self._writing = False
            self._stop_accepting()  # nothing more gets out: nobody may wait for room

    async def _write_queued(self) -> None:
        """Hand the socket everything queued, joined into few writes, then wait for it to
        drain before giving the room back (backpressure)."""
        transport = self._transport
        while True:
            if not self._queue and not self._unreleased:
                self._idle.set()
                if self._closing:
                    return
                self._work.clear()
                await self._work.wait()
                continue
            self._writing = True
            reserved, self._unreleased = self._unreleased, 0
            joined: list[bytes | bytearray] = []
            size = 0
            while self._queue and size < BATCH_BYTES:
                item = self._queue.popleft()
                if item.coalesce is not None and self._by_key.get(item.coalesce) is item:
                    del self._by_key[item.coalesce]
                if item.notice:
                    self._notices -= 1
                reserved += item.reserved
                frame = self._frame(item)
                size += len(frame)
                if len(frame) < _JOIN_BELOW:
                    joined.append(frame)
                    continue
                if joined:
                    transport.write(b"".join(joined))
                    joined = []
                transport.write(frame)
                del frame
            if joined:
                transport.write(joined[0] if len(joined) == 1 else b"".join(joined))
            del joined
            try:
                await self.writer.drain()
            finally:
                self._writing = False
                self._release(reserved)

    @property
    def writing(self) -> bool:
        return not self._writer_task.done()

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait (bounded) until everything queued has been handed to the socket."""
        idle = asyncio.ensure_future(self._idle.wait())
        try:
            await asyncio.wait(
                [idle, self._writer_task], timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            idle.cancel()

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
        """Let queued frames (an error, say) out briefly, then close; a peer that does not
        take them in time is cut off (its unsent bytes are dropped). Safe to call twice."""
        self._stop_accepting()
        writer_task = self._writer_task
        done, _ = await asyncio.wait({writer_task}, timeout=flush_timeout)
        flushed = bool(done) and not writer_task.cancelled() and writer_task.exception() is None
        if not done:
            writer_task.cancel()
            await asyncio.wait({writer_task})
        transport = self.writer.transport
        if flushed:
            self.writer.close()  # what the socket buffer still holds goes out, then FIN
            with contextlib.suppress(Exception):
                async with asyncio.timeout(flush_timeout):
                    await self.writer.wait_closed()
        # A peer that did not take everything in time is cut off: close() alone would keep
        # the socket (and its unsent bytes) until the peer reads.
        if not flushed or transport.get_write_buffer_size():
            sock = transport.get_extra_info("socket")
            if sock is not None:  # reset, so the kernel does not keep its copy for the peer
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()


def _size_hint(message: object) -> int:
    """About the encoded size of ``message``, without encoding it: the bytes and strings it
    carries plus a little per field (msgpack adds a few bytes of framing to each)."""
    size = 16
    for field in dataclasses.fields(message):  # type: ignore[arg-type]
        value = getattr(message, field.name)
        size += 16 + len(field.name)
        if isinstance(value, bytes | str):
            size += len(value)
        elif isinstance(value, tuple):
            size += 128 * len(value)
    return size
