"""The relay's connection handling: one task per connection, bounded queues, handle_<type>.

Wire protocol: see ``messenger.protocol.wire``. State that outlives a message (session
numbers and members, presence) lives in ``server.pairing`` and ``server.presence``; this
module moves frames and keeps them in step. The relay never looks inside ``Relay.data``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging

from messenger.crypto.rsa import IdentityKey
from messenger.net.framed import READ_CHUNK, FramedStream, StreamClosed
from messenger.protocol import wire
from messenger.protocol.errors import (
    BusyError,
    CodeUsedError,
    DeclinedError,
    ErrorCode,
    LocalProtocolError,
    MessengerError,
    NoSuchSessionError,
    NotAllowedError,
    PeerBusyError,
    PeerOfflineError,
    QueueFullError,
    RemoteProtocolError,
    SessionBurnedError,
    SessionFullError,
    TimeoutError_,
    WrongPasswordError,
)
from messenger.protocol.transport import ServerHandshake
from messenger.protocol.wire import MAX_SESSION_ID_LEN, PROTOCOL_VERSION, SALT_SIZE
from server.config import ServerConfig
from server.connection import ClientConnection
from server.mailbox import Quotas, SqliteMailbox, mailbox_path
from server.mailroom import Mailroom
from server.pairing import PairingState, SessionRecord
from server.presence import Presence, Present
from server.rotation import RotationTimers

log = logging.getLogger("messenger.server")

#: Errors about one request: reported to the client, the connection stays open.
_REQUEST_ERRORS = (
    LocalProtocolError,
    NoSuchSessionError,
    NotAllowedError,
    QueueFullError,
    CodeUsedError,
    SessionBurnedError,
    SessionFullError,
    BusyError,
    PeerBusyError,
    PeerOfflineError,
)


class Hub:
    """Accepts connections and relays between paired members."""

    def __init__(self, config: ServerConfig, server_key: IdentityKey) -> None:
        self.config = config
        self.server_key = server_key
        self.pairing = PairingState(max_failed_pairings=config.max_failed_pairings)
        self.presence = Presence()
        self.rotation = RotationTimers(config.rotate_interval, self._rotation_tick)
        self._connections: dict[int, ClientConnection] = {}
        self._per_address: dict[str, int] = {}
        self._handlers: set[asyncio.Task[None]] = set()
        self._invite_timers: dict[str, asyncio.TimerHandle] = {}
        self._ids = itertools.count(1)
        self._server: asyncio.Server | None = None
        #: Store and forward, direct frames and contacts' presence (opened by ``start``).
        self.mailroom: Mailroom | None = None
        self._ticker: asyncio.Task[None] | None = None

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> tuple[str, int]:
        data_dir = self.config.data_dir
        if data_dir is None:
            raise ValueError("The relay needs a data folder for its mailbox.")
        mailbox = await SqliteMailbox.open(
            mailbox_path(data_dir),
            quotas=Quotas(
                max_messages=self.config.queue_max_messages,
                max_bytes=self.config.queue_max_bytes,
                max_age=self.config.queue_max_age,
            ),
        )
        self.mailroom = Mailroom(mailbox, self._connections_of)
        self._ticker = asyncio.create_task(self._tick_everyone(), name="rotation-ticks")
        self._server = await asyncio.start_server(
            self._accept, self.config.host, self.config.port, limit=READ_CHUNK
        )
        host, port = self._server.sockets[0].getsockname()[:2]
        return host, port

    async def close(self) -> None:
        """Stop accepting, close every connection, await every handler. Safe to call twice."""
        if self._server is not None:
            self._server.close()
            self._server = None
        self.rotation.cancel_all()
        if self._ticker is not None:
            self._ticker.cancel()
        for timer in self._invite_timers.values():
            timer.cancel()
        for conn in list(self._connections.values()):
            conn.stream.writer.close()
        if self._handlers:
            await asyncio.gather(*self._handlers, return_exceptions=True)
        if self.mailroom is not None:
            mailroom, self.mailroom = self.mailroom, None
            await mailroom.close()
            await mailroom.mailbox.close()

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
        address = str((writer.get_extra_info("peername") or ("?", 0))[0])
        stream = FramedStream(
            reader,
            writer,
            max_frame=self.config.max_frame,
            queue_frames=self.config.send_queue_frames,
        )
        conn = ClientConnection(next(self._ids), address, stream)
        self._per_address[address] = self._per_address.get(address, 0) + 1
        self._connections[conn.conn_id] = conn
        log.info("conn %d: connected from %s", conn.conn_id, address)
        reason = "closed"
        try:
            if self._per_address[address] > self.config.max_connections_per_address:
                raise BusyError("Too many connections from your address.")
            async with asyncio.timeout(self.config.handshake_timeout):
                await self._handshake(conn)
            while True:
                try:
                    async with asyncio.timeout(self.config.idle_timeout):
                        message = await stream.read_message()
                except TimeoutError:
                    raise TimeoutError_("Closed an idle connection.") from None
                await self._dispatch(conn, message)
        except StreamClosed:
            reason = "peer closed"
        except TimeoutError:
            reason = "handshake timeout"
            stream.send_urgent(_fatal(TimeoutError_("The handshake took too long.")))
        except MessengerError as exc:
            reason = f"{exc.code}: {exc}"
            stream.send_urgent(_fatal(exc))
        except (ConnectionError, asyncio.IncompleteReadError):
            reason = "connection lost"
        except Exception:
            # One failing handler must never take the relay down: log once, abort, move on.
            log.exception("conn %d: handler failed", conn.conn_id)
            reason = "internal error"
        finally:
            self._forget(conn)
            await stream.close()
            del self._connections[conn.conn_id]
            self._per_address[address] -= 1
            if not self._per_address[address]:
                del self._per_address[address]
            log.info("conn %d: disconnected (%s)", conn.conn_id, reason)

    async def _handshake(self, conn: ClientConnection) -> None:
        """Transport handshake, then the client's signature over it (see ``transport``)."""
        handshake = ServerHandshake(self.server_key)
        stream = conn.stream
        await stream.send_raw(handshake.got_client_hello(await stream.read_body()))
        stream.start_sealing(handshake.got_key_exchange(await stream.read_body()))
        client = handshake.got_auth(await stream.read_body())
        conn.person_id, conn.name = client.id, client.name
        self.presence.add(
            Present(conn.conn_id, client.id, client.name, client.accept_invites, client.key.der)
        )
        log.info("conn %d: authenticated as %s", conn.conn_id, client.id[:16])
        if self.mailroom is not None:
            self.mailroom.person_arrived(client.id)
        await conn.send(
            wire.Welcome(
                version=PROTOCOL_VERSION,
                rotate_interval=self.config.rotate_interval,
                idle_timeout=self.config.idle_timeout,
                id=client.id,
            )
        )
        self._presence_changed()

    async def _dispatch(self, conn: ClientConnection, message: object) -> None:
        kind = getattr(message, "TYPE", "?")
        handler = getattr(self, f"handle_{kind}", None) or getattr(
            self.mailroom, f"handle_{kind}", None
        )
        if handler is None:
            raise RemoteProtocolError(f"Clients may not send {kind!r} messages.")
        try:
            await handler(conn, message)
        except _REQUEST_ERRORS as exc:
            code = ErrorCode.PROTOCOL if isinstance(exc, LocalProtocolError) else exc.code
            await conn.send(
                wire.Error(
                    code=code.value,
                    message=str(exc),
                    session=getattr(message, "session", None),
                    ref=getattr(message, "ref", 0),
                )
            )

    # -- handlers: sessions -----------------------------------------------------------------

    async def handle_create(self, conn: ClientConnection, message: wire.CreateSession) -> None:
        if len(message.salt) != SALT_SIZE:
            raise RemoteProtocolError(f"A session salt must be {SALT_SIZE} bytes.")
        self._check_session_quota(conn)
        record = self.pairing.create(conn.conn_id, message.salt)
        log.info("conn %d: created session %s", conn.conn_id, record.number)
        await conn.send(wire.SessionCreated(session=record.number, ref=message.ref))

    async def handle_join(self, conn: ClientConnection, message: wire.JoinSession) -> None:
        _check_session_id(message.session)
        self._check_session_quota(conn)
        record = self.pairing.join(message.session, conn.conn_id)
        log.info("conn %d: joined session %s", conn.conn_id, record.number)
        await self._announce_pair(record)

    async def handle_invite(self, conn: ClientConnection, message: wire.Invite) -> None:
        if message.to == conn.person_id:
            raise LocalProtocolError("You cannot invite yourself.")
        if not self.presence.connections_of(message.to):
            raise PeerOfflineError()
        target = self.presence.free_connection(message.to, self.pairing.is_busy)
        if target is None or self.pairing.is_busy(conn.conn_id):
            raise PeerBusyError()
        record = self.pairing.invite(conn.conn_id, target.conn_id)
        log.info(
            "conn %d: invited conn %d to session %s", conn.conn_id, target.conn_id, record.number
        )
        self._invite_timers[record.number] = asyncio.get_running_loop().call_later(
            self.config.invite_timeout, self._invite_expired, record.number
        )
        await conn.send(wire.InviteSent(session=record.number, to=message.to, ref=message.ref))
        await self._connections[target.conn_id].send(
            wire.Invitation(session=record.number, from_id=conn.person_id, from_name=conn.name)
        )
        self._presence_changed()

    async def handle_accept(self, conn: ClientConnection, message: wire.Accept) -> None:
        record = self.pairing.accept(message.session, conn.conn_id)
        self._cancel_invite_timer(record.number)
        log.info("conn %d: accepted session %s", conn.conn_id, record.number)
        await self._announce_pair(record)

    async def handle_decline(self, conn: ClientConnection, message: wire.Decline) -> None:
        record = self.pairing.decline(message.session, conn.conn_id)
        self._cancel_invite_timer(record.number)
        log.info("conn %d: declined session %s", conn.conn_id, record.number)
        inviter = self._connections.get(record.creator)
        if inviter is not None:
            inviter.send_nowait(_error_frame(DeclinedError(), session=record.number))
        self._presence_changed()

    async def handle_relay(self, conn: ClientConnection, message: wire.Relay) -> None:
        record = self.pairing.get(message.session)
        if record is None or conn.conn_id not in record.members or record.pending:
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
        if result.failed_joiner is not None:
            # The joiner's guess was wrong: it is told so (its attempt is over); the code
            # stays open for the right person until it burns.
            joiner = self._connections.get(result.failed_joiner)
            if joiner is not None:
                joiner.send_nowait(_error_frame(WrongPasswordError(), session=message.session))
        if result.burned:
            await conn.send(_error_frame(SessionBurnedError(), session=message.session))
        self._presence_changed()

    async def handle_leave(self, conn: ClientConnection, message: wire.LeaveSession) -> None:
        self._leave(conn.conn_id, message.session)
        log.info("conn %d: left session %s", conn.conn_id, message.session)
        self._presence_changed()

    # -- handlers: presence and housekeeping ------------------------------------------------

    async def handle_list_people(self, conn: ClientConnection, message: wire.ListPeople) -> None:
        if message.watch:
            self.presence.watchers.add(conn.conn_id)
        await conn.send(wire.People(people=tuple(self._people_for(conn))))

    async def handle_ping(self, conn: ClientConnection, message: wire.Ping) -> None:
        await conn.send(wire.Pong(nonce=message.nonce))

    # -- helpers ----------------------------------------------------------------------------

    async def _announce_pair(self, record: SessionRecord) -> None:
        """Tell both members they are paired, each with the other's identity."""
        creator = self._connections[record.creator]
        joiner = self._connections[record.joiner]  # type: ignore[index]
        for conn, peer, role in ((creator, joiner, "creator"), (joiner, creator, "joiner")):
            present = self.presence.get(peer.conn_id)
            await conn.send(
                wire.Paired(
                    session=record.number,
                    role=role,
                    salt=record.salt,
                    mode=record.mode,
                    peer_id=peer.person_id,
                    peer_name=peer.name,
                    peer_key=present.key if present is not None else b"",
                )
            )
        self.rotation.start(record.number)
        self._presence_changed()

    def _check_session_quota(self, conn: ClientConnection) -> None:
        if len(self.pairing.sessions_of(conn.conn_id)) >= self.config.max_sessions_per_connection:
            raise BusyError("You have too many sessions open at once.")

    def _people_for(self, conn: ClientConnection) -> list[wire.Person]:
        return [p for p in self.presence.people(self.pairing.is_busy) if p.id != conn.person_id]

    def _presence_changed(self) -> None:
        for watcher_id in list(self.presence.watchers):
            watcher = self._connections.get(watcher_id)
            if watcher is not None:
                watcher.send_nowait(wire.People(people=tuple(self._people_for(watcher))))

    def _leave(self, member: int, session: str) -> None:
        result = self.pairing.leave(session, member)
        self.rotation.stop(session)
        self._cancel_invite_timer(session)
        self._notify_left(session, result.notify_left)

    def _notify_left(self, session: str, members: tuple[int, ...]) -> None:
        for member in members:
            other = self._connections.get(member)
            if other is not None:
                other.send_nowait(wire.PeerLeft(session=session))

    def _forget(self, conn: ClientConnection) -> None:
        """A connection ended: every session it was in ends, and the peers are told."""
        for record in self.pairing.sessions_of(conn.conn_id):
            self._leave(conn.conn_id, record.number)
        if self.presence.remove(conn.conn_id) is not None:
            self._presence_changed()
        if self.mailroom is not None:
            self.mailroom.connection_closed(conn)

    def _connections_of(self, person_id: str) -> list[ClientConnection]:
        """``person_id``'s open, authenticated connections, oldest first."""
        return [
            conn
            for present in self.presence.connections_of(person_id)
            if (conn := self._connections.get(present.conn_id)) is not None
        ]

    async def _tick_everyone(self) -> None:
        """Every ``rotate_interval``, tell every connection it is time to renew keys: each
        client then takes a fresh X25519 step in its conversations that need one."""
        interval = self.config.rotate_interval
        while True:
            await asyncio.sleep(interval)
            for conn in list(self._connections.values()):
                if conn.person_id:
                    conn.send_nowait(wire.RotateTick(session=""))

    def _invite_expired(self, session: str) -> None:
        self._invite_timers.pop(session, None)
        record = self.pairing.get(session)
        if record is None or not record.pending:
            return
        inviter = self._connections.get(record.creator)
        invitee = self._connections.get(record.joiner) if record.joiner is not None else None
        if invitee is not None:  # first, so its prompt closes as "expired", not "withdrawn"
            invitee.send_nowait(
                _error_frame(
                    TimeoutError_("The invitation expired before it was answered."),
                    session=session,
                )
            )
        self._leave(record.creator, session)
        if inviter is not None:
            inviter.send_nowait(
                _error_frame(
                    TimeoutError_("The invitation was not answered in time."), session=session
                )
            )
        self._presence_changed()

    def _cancel_invite_timer(self, session: str) -> None:
        timer = self._invite_timers.pop(session, None)
        if timer is not None:
            timer.cancel()

    def _rotation_tick(self, session: str) -> None:
        record = self.pairing.get(session)
        if record is None or record.joiner is None or record.pending:
            return
        for member in record.members:
            conn = self._connections.get(member)
            if conn is not None:
                conn.send_nowait(wire.RotateTick(session=session))


def _error_frame(
    exc: MessengerError, *, session: str | None = None, ref: int = 0, fatal: bool = False
) -> wire.Error:
    """The ``error`` frame that tells a client about ``exc``, in its own words."""
    return wire.Error(code=exc.code.value, message=str(exc), session=session, ref=ref, fatal=fatal)


def _fatal(exc: MessengerError) -> wire.Error:
    return _error_frame(exc, fatal=True)


def _check_session_id(session: str) -> None:
    if not session or len(session) > MAX_SESSION_ID_LEN or not session.isdigit():
        raise NoSuchSessionError()
