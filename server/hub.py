"""The relay's connection handling: one task per connection, bounded queues, handle_<type>.

Wire protocol: see ``messenger.protocol.wire``. State that outlives a connection (session
numbers, members, failed pairings) lives in ``server.pairing``; this module only moves frames
and keeps the two in step. The relay never looks inside ``Relay.data``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from dataclasses import dataclass, field

from messenger.protocol import wire
from messenger.protocol.errors import (
    BusyError,
    ErrorCode,
    LocalProtocolError,
    MessengerError,
    NoSuchSessionError,
    RemoteProtocolError,
    SessionBurnedError,
    TimeoutError_,
)
from messenger.protocol.framing import FrameDecoder, encode_frame
from messenger.protocol.wire import MAX_SESSION_ID_LEN, PROTOCOL_VERSION, SALT_SIZE
from server.config import ServerConfig
from server.pairing import PairingState
from server.rotation import RotationTimers

log = logging.getLogger("messenger.server")
READ_CHUNK = 256 * 1024


class _Closing(Exception):
    """Internal: the connection is done (error already sent or peer hung up)."""


@dataclass(eq=False)
class ClientConnection:
    """One connected client: its socket, its outgoing queue and what it is called."""

    conn_id: int
    peer: str
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    outgoing: asyncio.Queue[bytes | None]
    name: str = ""
    hello_done: bool = False
    decoder: FrameDecoder = field(default_factory=FrameDecoder)

    async def send(self, message: object) -> None:
        """Queue a message; waits when the queue is full so a slow reader slows its senders."""
        await self.outgoing.put(encode_frame(wire.encode(message)))

    def send_nowait(self, message: object) -> None:
        """Queue a notice that must not block (timers, peer left); dropped if the queue is full."""
        with contextlib.suppress(asyncio.QueueFull):
            self.outgoing.put_nowait(encode_frame(wire.encode(message)))

    async def write_loop(self) -> None:
        while (frame := await self.outgoing.get()) is not None:
            self.writer.write(frame)
            await self.writer.drain()


class Hub:
    """Accepts connections and relays between paired members."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.pairing = PairingState(max_failed_pairings=config.max_failed_pairings)
        self.rotation = RotationTimers(config.rotate_interval, self._rotation_tick)
        self._connections: dict[int, ClientConnection] = {}
        self._per_address: dict[str, int] = {}
        self._handlers: set[asyncio.Task[None]] = set()
        self._ids = itertools.count(1)
        self._server: asyncio.Server | None = None
        self._closed = asyncio.Event()

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> tuple[str, int]:
        self._server = await asyncio.start_server(
            self._accept, self.config.host, self.config.port, limit=READ_CHUNK
        )
        host, port = self._server.sockets[0].getsockname()[:2]
        return host, port

    async def serve_until_closed(self) -> None:
        await self._closed.wait()

    async def close(self) -> None:
        """Stop accepting, close every connection, await every handler. Safe to call twice."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self.rotation.cancel_all()
        for conn in list(self._connections.values()):
            conn.writer.close()
        if self._handlers:
            await asyncio.gather(*self._handlers, return_exceptions=True)
        self._closed.set()

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    # -- one connection ---------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await self._handle(reader, writer)
        finally:
            self._handlers.discard(task)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        address = (writer.get_extra_info("peername") or ("?", 0))[0]
        conn = ClientConnection(
            next(self._ids),
            f"{address}",
            reader,
            writer,
            asyncio.Queue(self.config.send_queue_frames),
            decoder=FrameDecoder(self.config.max_frame),
        )
        writer_task = asyncio.create_task(conn.write_loop())
        self._per_address[address] = self._per_address.get(address, 0) + 1
        self._connections[conn.conn_id] = conn
        log.info("conn %d: connected from %s", conn.conn_id, address)
        reason = "closed"
        try:
            if self._per_address[address] > self.config.max_connections_per_address:
                raise BusyError("Too many connections from your address.")
            async with asyncio.timeout(self.config.handshake_timeout):
                first = await self._read_message(conn)
            if not isinstance(first, wire.Hello):
                raise RemoteProtocolError("The first message must be hello.")
            await self.handle_hello(conn, first)
            while True:
                try:
                    async with asyncio.timeout(self.config.idle_timeout):
                        message = await self._read_message(conn)
                except TimeoutError:
                    raise TimeoutError_("Closed an idle connection.") from None
                await self._dispatch(conn, message)
        except _Closing:
            reason = "peer closed"
        except TimeoutError:
            reason = "handshake timeout"
            self._send_fatal(conn, TimeoutError_("No hello within the handshake timeout."))
        except MessengerError as exc:
            reason = f"{exc.code}: {exc}"
            self._send_fatal(conn, exc)
        except (ConnectionError, asyncio.IncompleteReadError):
            reason = "connection lost"
        except Exception:
            # One failing handler must never take the relay down: log once, abort, move on.
            log.exception("conn %d: handler failed", conn.conn_id)
            reason = "internal error"
        finally:
            self._drop_member(conn)
            await self._finish_writer(conn, writer_task)
            del self._connections[conn.conn_id]
            self._per_address[address] -= 1
            if not self._per_address[address]:
                del self._per_address[address]
            log.info("conn %d: disconnected (%s)", conn.conn_id, reason)

    async def _finish_writer(self, conn: ClientConnection, writer_task: asyncio.Task[None]) -> None:
        """Flush what is queued (an error frame, say) briefly, then close the socket."""
        with contextlib.suppress(asyncio.QueueFull):
            conn.outgoing.put_nowait(None)
        try:
            async with asyncio.timeout(2):
                await writer_task
        except (TimeoutError, ConnectionError, OSError):
            pass
        writer_task.cancel()
        conn.writer.close()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2):
                await conn.writer.wait_closed()

    async def _read_message(self, conn: ClientConnection) -> object:
        while (body := conn.decoder.next_frame()) is None:
            data = await conn.reader.read(READ_CHUNK)
            if not data:
                raise _Closing()
            conn.decoder.receive_data(data)
        return wire.decode(body)

    def _send_fatal(self, conn: ClientConnection, exc: MessengerError) -> None:
        # Drop anything still queued: the error must get out now, ahead of bulk data.
        while not conn.outgoing.empty():
            conn.outgoing.get_nowait()
        conn.send_nowait(wire.Error(code=exc.code.value, message=str(exc), fatal=True))

    async def _dispatch(self, conn: ClientConnection, message: object) -> None:
        handler = getattr(self, f"handle_{message.TYPE}", None)  # type: ignore[attr-defined]
        if handler is None:
            raise RemoteProtocolError(f"Clients may not send {message.TYPE!r} messages.")  # type: ignore[attr-defined]
        try:
            await handler(conn, message)
        except (LocalProtocolError, NoSuchSessionError, SessionBurnedError) as exc:
            await self._session_error(conn, exc, getattr(message, "session", None))
        except MessengerError as exc:
            if exc.code in (ErrorCode.SESSION_FULL, ErrorCode.BUSY):
                await self._session_error(conn, exc, getattr(message, "session", None))
            else:
                raise

    async def _session_error(
        self, conn: ClientConnection, exc: MessengerError, session: str | None
    ) -> None:
        """A request about one session failed; the connection itself is fine."""
        code = ErrorCode.PROTOCOL if isinstance(exc, LocalProtocolError) else exc.code
        await conn.send(wire.Error(code=code.value, message=str(exc), session=session))

    # -- handlers ---------------------------------------------------------------------------

    async def handle_hello(self, conn: ClientConnection, message: wire.Hello) -> None:
        if conn.hello_done:
            raise RemoteProtocolError("hello was sent twice.")
        if message.version != PROTOCOL_VERSION:
            raise RemoteProtocolError(
                f"This relay speaks protocol {PROTOCOL_VERSION}; "
                f"the client speaks {message.version}."
            )
        conn.hello_done = True
        conn.name = message.name[: wire.MAX_NAME_LEN]
        await conn.send(
            wire.Welcome(
                version=PROTOCOL_VERSION,
                rotate_interval=self.config.rotate_interval,
                idle_timeout=self.config.idle_timeout,
            )
        )

    async def handle_create(self, conn: ClientConnection, message: wire.CreateSession) -> None:
        if len(message.salt) != SALT_SIZE:
            raise RemoteProtocolError(f"A session salt must be {SALT_SIZE} bytes.")
        if len(self.pairing.sessions_of(conn.conn_id)) >= self.config.max_sessions_per_connection:
            raise BusyError("You have too many sessions open at once.")
        record = self.pairing.create(conn.conn_id, message.salt)
        log.info("conn %d: created session %s", conn.conn_id, record.number)
        await conn.send(wire.SessionCreated(session=record.number))

    async def handle_join(self, conn: ClientConnection, message: wire.JoinSession) -> None:
        _check_session_id(message.session)
        if len(self.pairing.sessions_of(conn.conn_id)) >= self.config.max_sessions_per_connection:
            raise BusyError("You have too many sessions open at once.")
        record = self.pairing.join(message.session, conn.conn_id)
        log.info("conn %d: joined session %s", conn.conn_id, record.number)
        creator = self._connections[record.creator]
        await creator.send(wire.Paired(session=record.number, role="creator", salt=record.salt))
        await conn.send(wire.Paired(session=record.number, role="joiner", salt=record.salt))
        self.rotation.start(record.number)

    async def handle_relay(self, conn: ClientConnection, message: wire.Relay) -> None:
        record = self.pairing.get(message.session)
        if record is None or conn.conn_id not in record.members:
            raise NoSuchSessionError("You are not in that session.")
        peer_id = record.other(conn.conn_id)
        if peer_id is None:
            raise LocalProtocolError("Nobody has joined that session yet.")
        peer = self._connections.get(peer_id)
        if peer is not None:
            await peer.send(wire.Relay(session=message.session, data=message.data))

    async def handle_pairing_failed(
        self, conn: ClientConnection, message: wire.PairingFailed
    ) -> None:
        result = self.pairing.pairing_failed(message.session, conn.conn_id)
        self.rotation.stop(message.session)
        log.info(
            "conn %d: failed pairing %d on session %s%s",
            conn.conn_id,
            result.record.failed_pairings,
            message.session,
            " (burned)" if result.burned else "",
        )
        self._notify_left(message.session, result.notify_left)
        if result.burned:
            await conn.send(
                wire.Error(
                    code=ErrorCode.SESSION_BURNED.value,
                    message=SessionBurnedError.default_message(),
                    session=message.session,
                )
            )

    async def handle_leave(self, conn: ClientConnection, message: wire.LeaveSession) -> None:
        result = self.pairing.leave(message.session, conn.conn_id)
        self.rotation.stop(message.session)
        log.info("conn %d: left session %s", conn.conn_id, message.session)
        self._notify_left(message.session, result.notify_left)

    async def handle_ping(self, conn: ClientConnection, message: wire.Ping) -> None:
        await conn.send(wire.Pong(nonce=message.nonce))

    # -- helpers ----------------------------------------------------------------------------

    def _notify_left(self, session: str, members: tuple[object, ...]) -> None:
        for member in members:
            other = self._connections.get(member)  # type: ignore[arg-type]
            if other is not None:
                other.send_nowait(wire.PeerLeft(session=session))

    def _drop_member(self, conn: ClientConnection) -> None:
        """A connection ended: every session it was in ends, and the peers are told."""
        for record in self.pairing.sessions_of(conn.conn_id):
            result = self.pairing.leave(record.number, conn.conn_id)
            self.rotation.stop(record.number)
            self._notify_left(record.number, result.notify_left)

    def _rotation_tick(self, session: str) -> None:
        record = self.pairing.get(session)
        if record is None or record.joiner is None:
            self.rotation.stop(session)
            return
        for member in record.members:
            conn = self._connections.get(member)  # type: ignore[arg-type]
            if conn is not None:
                conn.send_nowait(wire.RotateTick(session=session))


def _check_session_id(session: str) -> None:
    if not session or len(session) > MAX_SESSION_ID_LEN or not session.isdigit():
        raise NoSuchSessionError()
