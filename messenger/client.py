"""The Qt-free client facade that messenger-cli and the desktop app both drive.

``Client`` owns one authenticated relay connection and any number of sessions on it. Front
ends call ``create_session`` / ``join_session`` / ``invite`` / ``Session.send_text`` and read
``ClientEvent``s from ``client.events`` (an asyncio queue); they never see frames, keys or
sockets. Trust decisions (server pins, contacts) are the profile's, passed in as callbacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable, Iterable
from enum import StrEnum
from typing import Any

from messenger import events as ev
from messenger.courier import Courier
from messenger.crypto.aead import random_bytes
from messenger.crypto.errors import CryptoError
from messenger.crypto.rsa import IdentityKey, PublicKey
from messenger.net.connection import ConnectionLostError, ServerConnection, ServerKeyCheck
from messenger.protocol import codes, wire
from messenger.protocol.errors import (
    ErrorCode,
    LocalProtocolError,
    MessengerError,
    PeerKeyChangedError,
    RemoteProtocolError,
    ServerUnreachableError,
    error_from_code,
)
from messenger.protocol.vocabulary import Role, SessionMode
from messenger.session import Session

log = logging.getLogger("messenger.client")
#: Pings go out at least this often (more often if the relay's idle timeout is short).
MAX_PING_INTERVAL = 15.0
#: Pages of the list of people ``list_people`` reads at most (a million people).
MAX_PEOPLE_PAGES = 1000
#: People kept while listing or watching the list; a relay that sends more is not believed
#: past this (the window lists them all, so the bound is a window's, not the relay's).
MAX_DIRECTORY = 20_000
#: A ping unanswered for this long (or one interval, if longer) means the link is dead.
MIN_PONG_TIMEOUT = 1.0
#: ... but not sooner than this (or the relay's idle timeout, if shorter).
PONG_GRACE = 35.0
#: The longest the reader works through buffered frames before the loop gets a turn.
READ_BURST_S = 0.005


class LinkState(StrEnum):
    """Where the connection to the relay is. One value, so "closed after a fatal error"
    and "closed by us" cannot disagree the way two flags did."""

    IDLE = "idle"  #: not connected yet
    OPEN = "open"
    FAILED = "failed"  #: lost or refused by the relay; ``close()`` still cleans up
    CLOSED = "closed"  #: ``close()`` ran: tasks stopped, socket closed

#: Checks a peer before an RSA session starts: (peer id, name, key fingerprint) -> raise.
#: A coroutine: the answer comes from the profile's database, which has its own thread.
PeerCheck = Callable[[str, str, str], Awaitable[None]]


class Client:
    """A connection to one relay plus the sessions running over it."""

    def __init__(
        self,
        host: str,
        port: int,
        identity: IdentityKey,
        *,
        name: str = "",
        courier: Courier,
        accept_invites: bool = False,
        listed: bool | None = None,
        check_server_key: ServerKeyCheck | None = None,
        check_peer: PeerCheck | None = None,
        fetch: bool = True,
        events: asyncio.Queue[ev.ClientEvent] | None = None,
    ) -> None:
        """``courier`` carries the conversations with contacts (it outlives this link: a
        reconnect hands it to a new Client). With ``fetch`` false the relay keeps what waits
        for us (``messenger-cli send`` takes nothing in). ``listed``: appear in the relay's
        list of people (by default, whoever takes invitations does; contacts see each other
        come and go either way)."""
        self.host = host
        self.port = port
        self.identity = identity
        self.name = name
        self.accept_invites = accept_invites
        self.listed = accept_invites if listed is None else listed
        #: Where events go; a front end that reconnects passes the same queue to each Client
        #: (and to the courier), so it reads one stream whatever link carried them.
        self.events: asyncio.Queue[ev.ClientEvent] = (
            events if events is not None else asyncio.Queue()
        )
        self.sessions: dict[str, Session] = {}
        #: The people we know to be listed (see ``list_people``), sorted by name.
        self.people: tuple[wire.Person, ...] = ()
        #: While watching: everyone listed whose name matches the watch's query, by id, and
        #: the version of the relay's list they reflect.
        self._directory: dict[str, wire.Person] = {}
        self._people_version = -1
        self._watch_query: str | None = None
        self._check_server_key = check_server_key
        self._check_peer = check_peer
        self.courier = courier
        self._fetch = fetch
        self._connection: ServerConnection | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._refs = itertools.count(1)
        self._pending: dict[int, asyncio.Future[object]] = {}
        self._pending_joins: dict[str, asyncio.Future[object]] = {}
        self._invitations: dict[str, ev.Invited] = {}
        #: Invitations sent and not yet answered by the relay: ref -> person id.
        self._inviting: dict[int, str] = {}
        self.link = LinkState.IDLE
        #: The nonce of the ping still waiting for its pong, and when it went out.
        self._unanswered: tuple[int, float] | None = None

    @property
    def id(self) -> str:
        return self.identity.fingerprint

    @property
    def connected(self) -> bool:
        return self.link is LinkState.OPEN

    @property
    def server(self):  # -> ServerIdentity | None
        return self._connection.server if self._connection is not None else None

    async def connect(self) -> None:
        """Connect, check the server's key, prove our identity. Raises a MessengerError."""
        self._connection = await ServerConnection.open(
            self.host,
            self.port,
            identity=self.identity,
            name=self.name,
            accept_invites=self.accept_invites,
            listed=self.listed,
            check_server_key=self._check_server_key,
        )
        self.link = LinkState.OPEN
        self._tasks = [
            asyncio.create_task(self._read_loop(), name="client-reader"),
            asyncio.create_task(self._keepalive(), name="client-keepalive"),
        ]
        await self.courier.link_up(self._send, fetch=self._fetch)

    async def close(self) -> None:
        """Leave every session politely (if the link is still up), then stop every task and
        close the connection. Safe to call twice, and after the link failed."""
        if self.link is LinkState.CLOSED:
            return
        polite = self.link is LinkState.OPEN
        self.link = LinkState.CLOSED
        self.courier.link_down()
        if polite:
            for session in list(self.sessions.values()):
                await session.leave()
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._connection is not None:
            if polite:
                await self._connection.flush()
            await self._connection.close()

    # -- password sessions ------------------------------------------------------------------

    async def create_session(self, password: str | None = None) -> tuple[Session, str]:
        """Ask the relay for a session number; returns the session and the code to share.

        Without ``password`` a two-word password is generated and the code is
        ``number-word-word``; with one, the code is just the number.
        """
        salt = random_bytes(wire.SALT_SIZE)
        reply = await self._request(lambda ref: wire.CreateSession(salt=salt, ref=ref))
        assert isinstance(reply, wire.SessionCreated)
        number = reply.session
        secret = password if password is not None else codes.generate_password()
        session = self._new_session(
            number, Role.CREATOR, SessionMode.PASSWORD, password=secret, salt=salt
        )
        self.sessions[number] = session
        code = number if password is not None else codes.make_code(number, secret)
        self._emit(ev.CodeCreated(number, code))
        return session, code

    async def join_session(self, code_or_number: str, password: str | None = None) -> Session:
        """Join by code (``7-orbit-lantern``) or by number plus password."""
        if password is None:
            try:
                number, password = codes.parse_code(code_or_number)
            except ValueError as exc:
                raise LocalProtocolError(str(exc)) from None
        else:
            number = code_or_number.strip()
        if number in self.sessions:
            raise LocalProtocolError("You are already in that session.")
        session = self._new_session(number, Role.JOINER, SessionMode.PASSWORD, password=password)
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._pending_joins[number] = future
        self.sessions[number] = session
        try:
            await self._send(wire.JoinSession(session=number))
            await future  # the session starts when `paired` arrives
        except MessengerError:
            self.sessions.pop(number, None)
            raise
        finally:
            self._pending_joins.pop(number, None)
        return session

    # -- RSA sessions and presence ----------------------------------------------------------

    async def invite(self, person_id: str) -> Session:
        """Invite someone online to an RSA session; it starts when they accept."""
        session = await self._request(lambda ref: self._note_invite(ref, person_id))
        assert isinstance(session, Session)
        return session

    def _note_invite(self, ref: int, person_id: str) -> wire.Invite:
        self._inviting[ref] = person_id
        return wire.Invite(to=person_id, ref=ref)

    def _invite_sent(self, message: wire.InviteSent) -> None:
        """Register the session as the reply is read, not when ``invite`` resumes: the
        ``paired`` or ``declined`` right behind it must find the session."""
        person_id = self._inviting.pop(message.ref, message.to)
        session = self._new_session(message.session, Role.CREATOR, SessionMode.RSA)
        session.peer_id = person_id
        self.sessions[message.session] = session
        # The session itself is the reply: a ``declined`` read in the same chunk may remove
        # it from ``sessions`` before ``invite`` resumes.
        self._resolve(message.ref, session)

    async def answer_invitation(self, session_id: str, accept: bool) -> Session | None:
        invitation = self._invitations.pop(session_id, None)
        if invitation is None:
            raise LocalProtocolError("There is no such invitation (it may have expired).")
        if not accept:
            await self._send(wire.Decline(session=session_id))
            return None
        try:
            if self._check_peer is not None:
                await self._check_peer(
                    invitation.from_id, invitation.from_name, invitation.from_id
                )
        except MessengerError:
            await self._send(wire.Decline(session=session_id))
            raise
        session = self._new_session(session_id, Role.JOINER, SessionMode.RSA)
        session.peer_id, session.peer_name = invitation.from_id, invitation.from_name
        self.sessions[session_id] = session
        await self._send(wire.Accept(session=session_id))
        return session

    async def list_people(
        self, watch: bool = False, query: str = "", limit: int | None = None
    ) -> tuple[wire.Person, ...]:
        """The people listed on the relay now (those who chose to be), by name: all of them,
        page by page, or the first ``limit``; with ``query``, those whose name starts with
        it. With ``watch``, later changes arrive as PeopleChanged events (the relay sends
        only differences; ``people`` in the event is the whole list as we know it)."""
        if watch:
            self._watch_query = name_key(query)
        found: dict[str, wire.Person] = {}
        cursor, pages = "", 0
        while True:
            want = 0 if limit is None else max(1, min(limit - len(found), wire.MAX_PEOPLE_PAGE))
            reply = await self._request(
                lambda ref, c=cursor, w=want: wire.ListPeople(  # type: ignore[misc]
                    watch=watch, query=query, cursor=c, limit=w, ref=ref
                )
            )
            if not isinstance(reply, wire.People):
                raise RemoteProtocolError("The server answered a list request with no list.")
            if len(reply.people) > wire.MAX_PEOPLE_PAGE:
                raise RemoteProtocolError("The server sent a page longer than a page.")
            for person in self._believable(reply.people, name_key(query)):
                if person.id in found or len(found) < MAX_DIRECTORY:
                    found[person.id] = person
            if watch:
                self._page_arrived(reply)
            full = len(found) >= (MAX_DIRECTORY if limit is None else min(limit, MAX_DIRECTORY))
            if not reply.cursor or full:
                break
            pages += 1
            if reply.cursor == cursor or pages >= MAX_PEOPLE_PAGES:
                raise RemoteProtocolError("The server's list of people does not end.")
            cursor = reply.cursor
        if watch:
            return self.people
        return _by_name(found.values())

    def _page_arrived(self, page: wire.People) -> None:
        """A page while watching: it shows the list at its version, newer than any
        difference before it."""
        for person in self._believable(page.people, self._watch_query or ""):
            self._keep(person)
        self._people_version = max(self._people_version, page.version)
        self.people = _by_name(self._directory.values())

    def _people_changed(self, change: wire.PeopleChanged) -> None:
        """A difference to the list: apply it (each entry is as it is now, so applying one
        twice does no harm) unless a page already showed that version."""
        if self._watch_query is None or change.version <= self._people_version:
            return
        self._people_version = change.version
        added: list[wire.Person] = []
        gone = [person_id for person_id in change.gone if person_id in self._directory]
        for person in self._believable(change.people, ""):
            if name_key(person.name).startswith(self._watch_query):
                if self._directory.get(person.id) != person:
                    added.append(person)
            elif person.id in self._directory:  # renamed out of a search's results
                gone.append(person.id)
        for person_id in gone:
            self._directory.pop(person_id, None)
        added = [person for person in added if self._keep(person)]
        if not added and not gone:
            return
        self.people = _by_name(self._directory.values())
        self._emit(ev.PeopleChanged(self.people, added=tuple(added), gone=tuple(gone)))

    def _believable(self, people: Iterable[wire.Person], query: str) -> list[wire.Person]:
        """The entries of a page or difference that could be true: a person id, a name no
        longer than names are, a name matching the search we asked for (``query``, already
        a name key), and not us."""
        return [
            person
            for person in people
            if wire.is_person_id(person.id)
            and person.id != self.id
            and len(person.name) <= wire.MAX_NAME_LEN
            and name_key(person.name).startswith(query)
        ]

    def _keep(self, person: wire.Person) -> bool:
        """Put a watched person into the directory, unless it is full; True if kept."""
        if person.id not in self._directory and len(self._directory) >= MAX_DIRECTORY:
            return False
        self._directory[person.id] = person
        return True

    # -- plumbing ---------------------------------------------------------------------------

    def _new_session(
        self, session_id: str, role: Role, mode: SessionMode, password: str = "", salt: bytes = b""
    ) -> Session:
        """A session wired to this client's connection, events and conversations. Its mode
        and role come from what we asked for; ``paired`` is checked against them."""
        return Session(
            session_id,
            self._send,
            self._emit,
            self.courier,
            self.identity,
            self.name,
            role=role,
            mode=mode,
            password=password,
            salt=salt,
        )

    def _emit(self, event: ev.ClientEvent) -> None:
        self.events.put_nowait(event)
        if isinstance(event, ev.SessionFailed | ev.PeerLeft) and event.session is not None:
            self.sessions.pop(event.session, None)

    async def _send(self, message: object) -> None:
        if self._connection is None:
            raise ConnectionLostError("Not connected to a server.")
        await self._connection.send(message)

    async def _request(self, build: Callable[[int], object]) -> object:
        """Send a request carrying a fresh ``ref`` and wait for the reply with that ref."""
        ref = next(self._refs)
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._pending[ref] = future
        try:
            await self._send(build(ref))
            return await future
        finally:
            self._pending.pop(ref, None)

    async def _keepalive(self) -> None:
        """Ping often enough that the relay's idle timeout never fires on a quiet session,
        and notice a dead link: a ping with no pong in time fails the connection (a relay
        that froze, or a network that silently drops everything, never sends a close)."""
        assert self._connection is not None and self._connection.welcome is not None
        loop = asyncio.get_running_loop()
        idle_timeout = self._connection.welcome.idle_timeout
        interval = max(0.05, min(MAX_PING_INTERVAL, idle_timeout / 3))
        # The relay may hold our ping while it waits (up to its send timeout, 30 s) to hand
        # a frame of ours to a peer that reads slowly: allow that, within the idle timeout.
        deadline = max(MIN_PONG_TIMEOUT, interval, min(idle_timeout, PONG_GRACE))
        nonces = itertools.count(1)
        while self.link is LinkState.OPEN:
            await asyncio.sleep(interval)
            if self._unanswered is not None:
                if loop.time() - self._unanswered[1] >= deadline:
                    await self._link_lost(
                        ServerUnreachableError(
                            f"The server at {self.host}:{self.port} stopped answering."
                        )
                    )
                    return
                continue
            nonce = next(nonces)
            self._unanswered = (nonce, loop.time())
            with contextlib.suppress(MessengerError):
                await self._send(wire.Ping(nonce=nonce))

    async def _link_lost(self, error: MessengerError) -> None:
        """Fail everything, and let go of the socket (nothing more will come on it)."""
        self._fail_everything(error)
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()
        if self._connection is not None:
            await self._connection.close()

    async def _read_loop(self) -> None:
        """Read and dispatch what the relay sends. A read returns many frames at once (a
        backlog of stored envelopes fills the socket buffer), and opening each costs a
        fraction of a millisecond: the loop gets a turn at least every ``READ_BURST_S``, so a
        front end on the same loop (the app's window) never freezes behind a backlog."""
        assert self._connection is not None
        error: MessengerError
        loop = asyncio.get_running_loop()
        turn = loop.time()
        try:
            async for message in self._connection.messages():
                await self._dispatch(message)
                if loop.time() - turn > READ_BURST_S:
                    await asyncio.sleep(0)
                    turn = loop.time()
        except asyncio.CancelledError:
            raise
        except MessengerError as exc:
            error = exc
        except Exception as exc:  # never let the reader die silently
            log.exception("client reader failed")
            error = RemoteProtocolError(f"Unexpected failure reading from the server: {exc}")
        self._fail_everything(error)

    def _fail_everything(self, error: MessengerError) -> None:
        """The link is gone: every waiter and session learns why, once."""
        if self.link is not LinkState.OPEN:
            return
        self.link = LinkState.FAILED
        futures: list[asyncio.Future[Any]] = [
            *self._pending.values(),
            *self._pending_joins.values(),
        ]
        for future in futures:
            if not future.done():
                future.set_exception(error)
        for session in list(self.sessions.values()):
            session.fail(error)
        self.courier.link_down()
        self._emit(ev.Disconnected(error))

    async def _dispatch(self, message: object) -> None:
        if isinstance(message, wire.RotateTick) and not message.session:
            await self.courier.tick()
        elif await self.courier.dispatch(message):
            pass
        elif isinstance(message, wire.Error) and self.courier.claims(message):
            await self.courier.failed(message, error_from_code(message.code, message.message))
        elif isinstance(message, wire.InviteSent):
            self._invite_sent(message)
        elif isinstance(message, wire.SessionCreated):
            self._resolve(message.ref, message)
        elif isinstance(message, wire.Paired):
            await self._on_paired(message)
        elif isinstance(message, wire.Relay | wire.RotateTick | wire.PeerLeft):
            session = self.sessions.get(message.session)
            if session is not None:
                session.deliver(message)
            elif isinstance(message, wire.PeerLeft):
                self._invitation_closed(message.session, ev.InvitationEnd.WITHDRAWN)
        elif isinstance(message, wire.Invitation):
            invited = ev.Invited(message.session, message.from_id, message.from_name)
            self._invitations[message.session] = invited
            self._emit(invited)
        elif isinstance(message, wire.People):
            self._resolve(message.ref, message)
        elif isinstance(message, wire.PeopleChanged):
            self._people_changed(message)
        elif isinstance(message, wire.Error):
            self._on_error(message)
        elif isinstance(message, wire.Pong):
            if self._unanswered is not None and message.nonce == self._unanswered[0]:
                self._unanswered = None
        else:
            raise RemoteProtocolError(f"The server sent an unexpected {type(message).__name__}.")

    def _resolve(self, ref: int, value: object) -> None:
        future = self._pending.get(ref)
        if future is not None and not future.done():
            future.set_result(value)

    async def _on_paired(self, message: wire.Paired) -> None:
        """The relay paired us. What kind of session this is, our role in it and (for an
        invitation) who the peer is were decided by our own request; the relay's claims are
        only checked against them, never followed, so a hostile relay cannot switch a
        session to a weaker handshake or to another person."""
        session = self.sessions.get(message.session)
        if session is None:
            return
        future = self._pending_joins.get(message.session)
        try:
            _check_pairing(session, message)
        except MessengerError as exc:
            if future is not None and not future.done():
                future.set_exception(exc)
            session.refuse(exc)
            return
        assert session.role is not None
        if future is not None and not future.done():
            future.set_result(message)
        if session.mode == SessionMode.PASSWORD:
            session.peer_name = message.peer_name
            # The creator made the salt; the joiner learns it from the relay (and a wrong one
            # only makes the passwords disagree).
            salt = session.salt if session.role is Role.CREATOR else message.salt
            session.begin_password(session.role, salt)
            return
        try:
            peer_key = PublicKey.from_der(message.peer_key)
        except CryptoError:
            session.refuse(RemoteProtocolError("The server sent an unusable key for the peer."))
            return
        try:
            if self._check_peer is not None:
                await self._check_peer(message.peer_id, message.peer_name, peer_key.fingerprint)
        except MessengerError as exc:
            session.refuse(exc)
            return
        session.peer_name = message.peer_name
        session.begin_rsa(session.role, peer_key)

    def _on_error(self, message: wire.Error) -> None:
        error = error_from_code(message.code, message.message)
        if message.fatal:
            # The relay will close the connection; report it with this cause.
            self._fail_everything(error)
            return
        if message.ref:
            future = self._pending.get(message.ref)
            if future is not None and not future.done():
                future.set_exception(error)
            return
        if message.session is not None:
            future = self._pending_joins.get(message.session)
            if future is not None and not future.done():
                future.set_exception(error)
                return
            session = self.sessions.get(message.session)
            if session is not None:
                session.deliver_error(error)
            reason = (
                ev.InvitationEnd.EXPIRED
                if error.code is ErrorCode.TIMEOUT
                else ev.InvitationEnd.WITHDRAWN
            )
            self._invitation_closed(message.session, reason)

    def _invitation_closed(self, session_id: str, reason: ev.InvitationEnd) -> None:
        if self._invitations.pop(session_id, None) is not None:
            self._emit(ev.InvitationClosed(session_id, reason))


def name_key(name: str) -> str:
    """How the relay sorts and searches names (``server.presence.name_key``)."""
    return name.casefold()


def _by_name(people: Iterable[wire.Person]) -> tuple[wire.Person, ...]:
    return tuple(sorted(people, key=lambda p: (name_key(p.name), p.id)))


def _check_pairing(session: Session, message: wire.Paired) -> None:
    """Refuse a ``paired`` that does not match what we asked the relay for."""
    if message.mode != session.mode:
        raise RemoteProtocolError(
            f"The server tried to change the kind of session (you asked for a "
            f"{session.mode} session, it said {message.mode[:16]!r}); it was ended before "
            "any key was made."
        )
    if message.role != session.role:
        raise RemoteProtocolError(
            f"The server gave this side the wrong role ({message.role[:16]!r}) in a session "
            "it asked for; it was ended before any key was made."
        )
    if session.mode == SessionMode.RSA and message.peer_id != session.peer_id:
        raise PeerKeyChangedError("The server paired us with someone we did not invite.")
