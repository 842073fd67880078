"""The relay's connection handling: one task per connection, bounded queues, handle_<type>.

Wire protocol: see ``messenger.protocol.wire``. State that outlives a message (session
numbers and members, presence) lives in ``server.pairing`` and ``server.presence``; this
module moves frames and keeps them in step. The relay never looks inside ``Relay.data``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

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
from messenger.protocol.framing import encode_frame
from messenger.protocol.transport import HandshakeKeys, ServerHandshake, ticket_secret
from messenger.protocol.wire import MAX_SESSION_ID_LEN, PROTOCOL_VERSION, SALT_SIZE
from server.config import ServerConfig
from server.connection import ClientConnection
from server.crypto_pool import NEW, UNDER_WAY, CryptoPool
from server.limits import AddressLimits
from server.mailbox import Quotas, SqliteMailbox, mailbox_path
from server.mailroom import Mailroom, mailbox_secret
from server.pairing import PairingState, SessionRecord
from server.presence import Presence, Present
from server.rotation import RotationTimers
from server.tickets import TicketBook, load_used, save_used, ticket_master

#: Connection events: numbers, addresses, why a connection ended. Never who it belongs to.
conn_log = logging.getLogger("messenger.server")
#: Session events (who authenticated, created, joined, invited, accepted, left). They tie
#: connections to people and to each other, so ``messenger-server`` shows them only at
#: ``--log-level DEBUG`` (see "What the relay logs" in docs/security.md).
log = logging.getLogger("messenger.server.sessions")

T = TypeVar("T")
#: Watchers handed a presence difference (or a rotation tick) per turn of the event loop.
FAN_OUT_SLICE = 256

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
        self.presence = Presence(busy=self.pairing.is_busy)
        self.rotation = RotationTimers(config.rotate_interval, self._rotation_tick)
        self._limits = AddressLimits(
            handshakes_per_second=config.handshakes_per_second,
            handshake_burst=config.handshake_burst,
            joins_per_minute=config.joins_per_minute,
        )
        # Handshake crypto (two X25519 agreements and a signature check, about 1 ms; an RSA
        # signature when the handshake key is renewed) must not stall every other client,
        # and in a storm a handshake under way goes first (see ``server.crypto_pool``).
        self._crypto = CryptoPool(config.crypto_threads, name="relay-rsa")
        self._handshake_keys = HandshakeKeys(server_key, lifetime=config.handshake_key_lifetime)
        self._connections: dict[int, ClientConnection] = {}
        self._per_address: dict[str, int] = {}
        #: Every connection's handler, from the moment it is accepted, with its socket.
        self._handlers: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        #: Handlers in their cleanup, which must not be cancelled.
        self._cleaning: set[asyncio.Task[None]] = set()
        self._invite_timers: dict[str, asyncio.TimerHandle] = {}
        self._ids = itertools.count(1)
        self._server: asyncio.Server | None = None
        #: Store and forward, direct frames and contacts' presence (opened by ``start``).
        self.mailroom: Mailroom | None = None
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._refused = _RefusalLog()
        self._closing = False
        self._close_task: asyncio.Task[None] | None = None
        #: message class -> the handler for it (``handle_<type>`` here or in the mailroom)
        self._routes: dict[type, Callable[[ClientConnection, object], Awaitable[None]]] = {}
        #: A presence difference is due (``call_later``), or being handed out in slices.
        self._presence_due: asyncio.TimerHandle | None = None
        self._fanning_out = False
        #: Resumption tickets (``start`` opens the book, if tickets are on).
        self._tickets: TicketBook | None = None
        self._renewer: asyncio.Task[None] | None = None
        self._data_dir: Path | None = None

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> tuple[str, int]:
        data_dir = self.config.data_dir
        if data_dir is None:
            # No data folder (tests, throwaway relays): the mailbox lives for this run only.
            self._scratch = tempfile.TemporaryDirectory(prefix="messenger-relay-")
            data_dir = Path(self._scratch.name)
        mailbox = await SqliteMailbox.open(
            mailbox_path(data_dir),
            quotas=Quotas(
                max_messages=self.config.queue_max_messages,
                max_bytes=self.config.queue_max_bytes,
                max_age=self.config.queue_max_age,
            ),
        )
        self.mailroom = Mailroom(mailbox, self._connections_of, mailbox_secret(data_dir))
        self._routes = self._make_routes()
        self._data_dir = data_dir
        if self.config.ticket_lifetime > 0:
            self._tickets = TicketBook(
                ticket_master(data_dir),
                self.server_key.fingerprint,
                self.config.ticket_lifetime,
                used=load_used(data_dir),
            )
            self._renewer = asyncio.create_task(self._renew_tickets(), name="ticket-renewal")
        self._ticker = asyncio.create_task(self._tick_everyone(), name="rotation-ticks")
        self._server = await asyncio.start_server(
            self._accepted,
            self.config.host,
            self.config.port,
            limit=READ_CHUNK,
            backlog=self.config.backlog,
        )
        host, port = self._server.sockets[0].getsockname()[:2]
        return host, port

    def _make_routes(self) -> dict[type, Callable[[ClientConnection, object], Awaitable[None]]]:
        """What handles each message a client may send: looked up once, not per frame."""
        routes = {}
        for tag, cls in wire.control.types().items():
            handler = getattr(self, f"handle_{tag}", None) or getattr(
                self.mailroom, f"handle_{tag}", None
            )
            if handler is not None:
                routes[cls] = handler
        return routes

    async def close(self) -> None:
        """Stop accepting, close every connection, await every handler. Safe to call twice
        (also at once: the second call waits for the first)."""
        if self._close_task is None:
            self._close_task = asyncio.create_task(self._close())
        await asyncio.shield(self._close_task)

    async def _close(self) -> None:
        self._closing = True
        if self._server is not None:
            self._server.close()
        self.rotation.cancel_all()
        if self._ticker is not None:
            self._ticker.cancel()
        if self._renewer is not None:
            self._renewer.cancel()
        for timer in self._invite_timers.values():
            timer.cancel()
        self._invite_timers.clear()
        if self._presence_due is not None:
            self._presence_due.cancel()
            self._presence_due = None
        # Handlers are registered when their connection is accepted, so none is missed; and
        # none is added after this point (``_accepted`` refuses while closing).
        while self._handlers:
            handlers = list(self._handlers)
            for task in handlers:
                if task not in self._cleaning:
                    task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        self._crypto.shutdown()
        if self.mailroom is not None:
            mailroom, self.mailroom = self.mailroom, None
            await mailroom.close()
            await mailroom.mailbox.close()
        if self._tickets is not None and self._data_dir is not None and self._scratch is None:
            save_used(self._data_dir, self._tickets.used())  # the next run refuses them too
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    # -- one connection ---------------------------------------------------------------------

    def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A connection arrived: start its handler and register it at once, so that a
        ``close()`` that comes before the handler's first step still cancels and awaits it."""
        if self._closing:
            writer.transport.abort()
            return
        address = _address_of(writer)
        try:
            self._limits.check_handshake(address)
        except BusyError as exc:
            # Over the handshake rate: refused before any RSA work, and as cheaply as we can
            # (no task, no log line per connection: a flood must not flood the log either).
            writer.write(encode_frame(wire.encode(_fatal(exc))))
            writer.close()
            self._refused.note(address)
            return
        task = asyncio.get_running_loop().create_task(self._handle(reader, writer))
        self._handlers[task] = writer
        task.add_done_callback(self._handler_done)

    def _handler_done(self, task: asyncio.Task[None]) -> None:
        writer = self._handlers.pop(task)
        self._cleaning.discard(task)
        # A handler cancelled before its first step never reached its own cleanup.
        writer.transport.abort()
        if not task.cancelled() and (exc := task.exception()) is not None:
            conn_log.error("a connection handler failed outside its guard", exc_info=exc)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        address = _address_of(writer)
        stream = FramedStream(
            reader,
            writer,
            max_frame=self.config.max_frame,
            queue_bytes=self.config.send_queue_bytes,
            send_timeout=self.config.send_timeout,
        )
        task = asyncio.current_task()
        assert task is not None
        conn = ClientConnection(next(self._ids), address, stream, task)
        self._per_address[address] = self._per_address.get(address, 0) + 1
        self._connections[conn.conn_id] = conn
        conn_log.info("conn %d: connected from %s", conn.conn_id, address)
        reason = "closed"
        try:
            try:
                if self._per_address[address] > self.config.max_connections_per_address:
                    raise BusyError("Too many connections from your address.")
                async with asyncio.timeout(self.config.handshake_timeout):
                    await self._handshake(conn)
                # One idle timer per connection, looked at when it fires, instead of a
                # timeout object per frame read.
                loop = asyncio.get_running_loop()
                conn.reading_since = loop.time()
                conn.idle_timer = loop.call_at(
                    conn.reading_since + self.config.idle_timeout, self._idle_check, conn
                )
                read_message, dispatch = stream.read_message, self._dispatch
                while True:
                    message = await read_message()
                    conn.reading_since = None
                    await dispatch(conn, message)
                    conn.reading_since = loop.time()
            except asyncio.CancelledError:
                # Another handler found this client not reading (``conn.kick``): end it with
                # that error. Any other cancellation (the relay stopping) goes on up.
                if conn.kicked is None or self._closing:
                    raise
                task.uncancel()
                raise conn.kicked from None
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
        except asyncio.CancelledError:
            reason = "relay stopping"
            raise
        except Exception:
            # One failing handler must never take the relay down: log once, abort, move on.
            conn_log.exception("conn %d: handler failed", conn.conn_id)
            reason = "internal error"
        finally:
            conn.closing = True  # from here on nobody may cancel this cleanup
            if conn.idle_timer is not None:
                conn.idle_timer.cancel()
            self._cleaning.add(task)
            self._forget(conn)
            del self._connections[conn.conn_id]
            self._per_address[address] -= 1
            if not self._per_address[address]:
                del self._per_address[address]
            await stream.close()
            conn_log.info("conn %d: disconnected (%s)", conn.conn_id, reason)

    def _idle_check(self, conn: ClientConnection) -> None:
        """The idle timer fired: close the connection if it has sent nothing for the idle
        timeout, else look again when it would have."""
        loop = asyncio.get_running_loop()
        since = conn.reading_since
        now = loop.time()
        if since is not None and now - since >= self.config.idle_timeout:
            conn.idle_timer = None
            conn.kick(TimeoutError_("Closed an idle connection."))
            return
        due = (since if since is not None else now) + self.config.idle_timeout
        conn.idle_timer = loop.call_at(due, self._idle_check, conn)

    async def _offload(self, priority: int, work: Callable[..., T], *args: object) -> T:
        """Run RSA work in the crypto threads, off the event loop: ``NEW`` for a hello,
        ``UNDER_WAY`` for the later steps, which go first. If the connection ends while the
        work still waits for a thread, it never runs."""
        return await self._crypto.run(priority, work, *args)

    async def _handshake(self, conn: ClientConnection) -> None:
        """Transport handshake, then the client's signature over it (see ``transport``)."""
        stream = conn.stream
        hello = await stream.read_body()
        handshake, answer = await self._offload(NEW, self._answer_hello, hello)
        await stream.send_raw(answer)
        assert handshake.cipher is not None
        stream.start_sealing(handshake.cipher)
        if handshake.resumed:  # the hello's ticket was good: no RSA work at all
            client = handshake.got_resume(await stream.read_body())
        else:  # the client's signature: a public-key check, no private-key work
            client = await self._offload(UNDER_WAY, handshake.got_auth, await stream.read_body())
        conn.person_id, conn.name = client.id, client.name
        conn.key_der = client.key.der
        if handshake.wants_tickets:
            conn.resumption = handshake.resumption
        self.presence.add(
            Present(
                conn.conn_id,
                client.id,
                client.name,
                client.accept_invites,
                client.key.der,
                client.listed,
            )
        )
        log.debug("conn %d: authenticated as %s", conn.conn_id, client.id[:16])
        if self.mailroom is not None:
            self.mailroom.person_arrived(client.id)
        await conn.send(
            wire.Welcome(
                version=PROTOCOL_VERSION,
                rotate_interval=self.config.rotate_interval,
                idle_timeout=self.config.idle_timeout,
                id=client.id,
                resumed=handshake.resumed,
            )
        )
        self._give_ticket(conn)
        self._presence_changed()

    def _answer_hello(self, hello: bytes) -> tuple[ServerHandshake, bytes]:
        """In a crypto thread: a fresh ephemeral key, then the answer to the hello (a
        ``server_hello`` with the current signed handshake key, or ``server_resume`` for a
        good ticket)."""
        handshake = ServerHandshake(self.server_key, self._tickets, self._handshake_keys.current())
        return handshake, handshake.got_client_hello(hello)

    def _give_ticket(self, conn: ClientConnection) -> None:
        """A ticket for the client's next connection (see ``server.tickets``)."""
        if self._tickets is None or not conn.resumption or conn.closing:
            return
        number = conn.tickets_given
        conn.tickets_given += 1
        conn.ticket_given_at = time.monotonic()
        secret = ticket_secret(conn.resumption, number)
        conn.send_nowait(
            wire.Ticket(
                ticket=self._tickets.issue(conn.person_id, conn.key_der, secret),
                number=number,
                lifetime=self._tickets.lifetime,
            ),
            coalesce="ticket",
        )

    async def _renew_tickets(self) -> None:
        """Connections get a fresh ticket before theirs expires: whenever it goes, the next
        connection still resumes."""
        assert self._tickets is not None
        period = self._tickets.lifetime / 4
        while True:
            await asyncio.sleep(period)
            stale = time.monotonic() - 2 * period
            connections = list(self._connections.values())
            for start in range(0, len(connections), FAN_OUT_SLICE):
                if start:
                    await asyncio.sleep(0)
                for conn in connections[start : start + FAN_OUT_SLICE]:
                    if conn.resumption and conn.ticket_given_at <= stale:
                        self._give_ticket(conn)

    async def _dispatch(self, conn: ClientConnection, message: object) -> None:
        handler = self._routes.get(type(message))
        if handler is None:
            kind = getattr(message, "TYPE", "?")
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
        self._limits.check_join(conn.address)
        _check_session_id(message.session)
        self._check_session_quota(conn)
        record = self.pairing.join(message.session, conn.conn_id)
        log.info("conn %d: joined session %s", conn.conn_id, record.number)
        await self._announce_pair(record)

    async def handle_invite(self, conn: ClientConnection, message: wire.Invite) -> None:
        if message.to == conn.person_id:
            raise LocalProtocolError("You cannot invite yourself.")
        if not self.presence.is_online(message.to):
            raise PeerOfflineError()
        target = self.presence.free_connection(message.to)
        if target is None or self.pairing.is_busy(conn.conn_id):
            raise PeerBusyError()
        record = self.pairing.invite(conn.conn_id, target.conn_id)
        log.debug("conn %d: sent an invitation (session %s)", conn.conn_id, record.number)
        self._invite_timers[record.number] = asyncio.get_running_loop().call_later(
            self.config.invite_timeout, self._invite_expired, record.number
        )
        await conn.send(wire.InviteSent(session=record.number, to=message.to, ref=message.ref))
        await self._connections[target.conn_id].send(
            wire.Invitation(session=record.number, from_id=conn.person_id, from_name=conn.name)
        )
        self._presence_changed(conn.conn_id, target.conn_id)

    async def handle_accept(self, conn: ClientConnection, message: wire.Accept) -> None:
        record = self.pairing.accept(message.session, conn.conn_id)
        self._cancel_invite_timer(record.number)
        log.debug("conn %d: accepted session %s", conn.conn_id, record.number)
        await self._announce_pair(record)

    async def handle_decline(self, conn: ClientConnection, message: wire.Decline) -> None:
        record = self.pairing.decline(message.session, conn.conn_id)
        self._cancel_invite_timer(record.number)
        log.debug("conn %d: declined session %s", conn.conn_id, record.number)
        inviter = self._connections.get(record.creator)
        if inviter is not None:
            inviter.send_nowait(_error_frame(DeclinedError(), session=record.number))
        self._presence_changed(record.creator, conn.conn_id)

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
        self._presence_changed(conn.conn_id, *filter(None, [result.failed_joiner]))

    async def handle_leave(self, conn: ClientConnection, message: wire.LeaveSession) -> None:
        self._leave(conn.conn_id, message.session)
        log.debug("conn %d: left session %s", conn.conn_id, message.session)

    # -- handlers: presence and housekeeping ------------------------------------------------

    async def handle_list_people(self, conn: ClientConnection, message: wire.ListPeople) -> None:
        """One page of the list (name order, an optional name prefix); with ``watch``, every
        later difference too. The page says which version of the list it shows."""
        if len(message.query) > wire.MAX_PEOPLE_QUERY:
            raise LocalProtocolError(
                f"Search for at most {wire.MAX_PEOPLE_QUERY} characters of a name."
            )
        if len(message.cursor) > wire.MAX_PEOPLE_CURSOR or message.limit < 0:
            raise LocalProtocolError("That is not a page of the list of people.")
        if message.watch:
            self.presence.watchers[conn.conn_id] = None
        limit = min(message.limit or self.config.max_people_listed, self.config.max_people_listed)
        people, cursor = self.presence.page(
            message.query, message.cursor, limit, exclude=conn.person_id
        )
        await conn.send(
            wire.People(
                people=tuple(people),
                version=self.presence.version,
                cursor=cursor,
                ref=message.ref,
            )
        )

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
        self._presence_changed(*record.members)

    def _check_session_quota(self, conn: ClientConnection) -> None:
        if len(self.pairing.sessions_of(conn.conn_id)) >= self.config.max_sessions_per_connection:
            raise BusyError("You have too many sessions open at once.")

    def _presence_changed(self, *conn_ids: int) -> None:
        """The sessions of these connections changed (or someone came or went): refresh
        their people's entries, and have watchers told soon. Changes gather for
        ``presence_interval`` and go out as one difference, encoded once (``_tell_watchers``)."""
        for conn_id in conn_ids:
            present = self.presence.get(conn_id)
            if present is not None:
                self.presence.refresh(present.id)
        if (
            self._presence_due is None
            and not self._fanning_out
            and self.presence.has_changes
            and not self._closing
        ):
            self._presence_due = asyncio.get_running_loop().call_later(
                self.config.presence_interval, self._tell_watchers
            )

    def _tell_watchers(self) -> None:
        """Hand the list's latest difference to every watcher: encoded once, the same bytes
        queued for each (each connection only seals them), a slice of watchers per turn of
        the event loop so that ten thousand watchers never stall it."""
        self._presence_due = None
        if self._closing:
            return
        changes = self.presence.take_changes(wire.MAX_PEOPLE_PAGE)
        if not changes or not self.presence.watchers:
            return
        bodies = [
            wire.encode(wire.PeopleChanged(version=c.version, people=c.people, gone=c.gone))
            for c in changes
        ]
        self._fanning_out = True
        self._fan_out(list(self.presence.watchers), bodies, 0)

    def _fan_out(self, watchers: list[int], bodies: list[bytes], start: int) -> None:
        end = start + FAN_OUT_SLICE
        connections, listening = self._connections, self.presence.watchers
        for conn_id in watchers[start:end]:
            conn = connections.get(conn_id)
            if conn is not None and conn_id in listening:
                for body in bodies:
                    conn.send_encoded_nowait(body)
        if end < len(watchers) and not self._closing:
            asyncio.get_running_loop().call_soon(self._fan_out, watchers, bodies, end)
            return
        self._fanning_out = False
        self._presence_changed()  # what changed meanwhile goes out next

    def _leave(self, member: int, session: str) -> None:
        record = self.pairing.get(session)
        members = record.members if record is not None else ()
        result = self.pairing.leave(session, member)
        self.rotation.stop(session)
        self._cancel_invite_timer(session)
        self._notify_left(session, result.notify_left)
        self._presence_changed(*members)

    def _notify_left(self, session: str, members: tuple[int, ...]) -> None:
        if self._closing:
            return  # nobody left: the relay is stopping, and every client sees it close
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
        tick = wire.encode(wire.RotateTick(session=""))
        while True:
            await asyncio.sleep(interval)
            connections = list(self._connections.values())
            for start in range(0, len(connections), FAN_OUT_SLICE):
                if start:
                    await asyncio.sleep(0)  # a slice per turn of the loop
                for conn in connections[start : start + FAN_OUT_SLICE]:
                    if conn.person_id and not conn.closing:
                        conn.send_encoded_nowait(tick)

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
                conn.send_nowait(wire.RotateTick(session=session), coalesce=f"rotate {session}")


def _error_frame(
    exc: MessengerError, *, session: str | None = None, ref: int = 0, fatal: bool = False
) -> wire.Error:
    """The ``error`` frame that tells a client about ``exc``, in its own words."""
    return wire.Error(code=exc.code.value, message=str(exc), session=session, ref=ref, fatal=fatal)


def _fatal(exc: MessengerError) -> wire.Error:
    return _error_frame(exc, fatal=True)


def _address_of(writer: asyncio.StreamWriter) -> str:
    return str((writer.get_extra_info("peername") or ("?", 0))[0])


class _RefusalLog:
    """Logs handshakes refused for their rate as one line a minute, not one per connection."""

    PERIOD = 60.0

    def __init__(self) -> None:
        self._count = 0
        self._addresses: set[str] = set()
        self._logged_at: float | None = None

    def note(self, address: str) -> None:
        self._count += 1
        if len(self._addresses) < 1000:
            self._addresses.add(address)
        now = time.monotonic()
        if self._logged_at is None or now - self._logged_at >= self.PERIOD:
            conn_log.warning(
                "refused %d connection(s) from %d address(es) over the handshake rate limit",
                self._count,
                len(self._addresses),
            )
            self._count = 0
            self._addresses.clear()
            self._logged_at = now


def _check_session_id(session: str) -> None:
    if not session or len(session) > MAX_SESSION_ID_LEN or not session.isdigit():
        raise NoSuchSessionError()
