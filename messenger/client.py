"""The Qt-free client facade that messenger-cli and the desktop app both drive.

``Client`` owns one relay connection and any number of sessions on it. Front ends call
``create_session`` / ``join_session`` / ``Session.send_text`` and read ``ClientEvent``s from
``client.events`` (an asyncio queue); they never see frames, keys or sockets.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging

from messenger import events as ev
from messenger.crypto.aead import random_bytes
from messenger.net.connection import ConnectionLostError, ServerConnection
from messenger.protocol import codes, wire
from messenger.protocol.errors import (
    LocalProtocolError,
    MessengerError,
    RemoteProtocolError,
    error_from_code,
)
from messenger.protocol.password_handshake import Role
from messenger.session import Session

log = logging.getLogger("messenger.client")


class Client:
    """A connection to one relay plus the sessions running over it."""

    def __init__(self, host: str, port: int, *, name: str = "") -> None:
        self.host = host
        self.port = port
        self.name = name
        self.events: asyncio.Queue[ev.ClientEvent] = asyncio.Queue()
        self.sessions: dict[str, Session] = {}
        self._connection: ServerConnection | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._keepalive_task: asyncio.Task[None] | None = None
        self._pending_creates: collections.deque[asyncio.Future[str]] = collections.deque()
        self._pending_joins: dict[str, asyncio.Future[wire.Paired]] = {}
        self._closing = False

    @property
    def connected(self) -> bool:
        return self._connection is not None and not self._closing

    async def connect(self) -> None:
        """Connect and greet the relay. Raises ServerUnreachableError with host and port."""
        self._connection = await ServerConnection.open(self.host, self.port, self.name)
        self._reader_task = asyncio.create_task(self._read_loop(), name="client-reader")
        self._keepalive_task = asyncio.create_task(self._keepalive(), name="client-keepalive")

    async def close(self) -> None:
        """Leave every session politely, then close the connection."""
        self._closing = True
        for session in list(self.sessions.values()):
            await session.leave()
        for task in (self._keepalive_task, self._reader_task):
            if task is not None:
                task.cancel()
        if self._connection is not None:
            await self._connection.flush()
            await self._connection.close()

    # -- sessions ---------------------------------------------------------------------------

    async def create_session(self, password: str | None = None) -> tuple[Session, str]:
        """Ask the relay for a session number; returns the session and the code to share.

        Without ``password`` a two-word password is generated and the code is
        ``number-word-word``; with one, the code is just the number.
        """
        salt = random_bytes(wire.SALT_SIZE)
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._pending_creates.append(future)
        await self._send(wire.CreateSession(salt=salt))
        number = await future
        secret = password if password is not None else codes.generate_password()
        session = Session(number, secret, self._send, self._emit, role=Role.CREATOR)
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
        session = Session(number, password, self._send, self._emit, role=Role.JOINER)
        future: asyncio.Future[wire.Paired] = asyncio.get_running_loop().create_future()
        self._pending_joins[number] = future
        self.sessions[number] = session
        try:
            await self._send(wire.JoinSession(session=number))
            paired = await future
        except MessengerError:
            self.sessions.pop(number, None)
            raise
        finally:
            self._pending_joins.pop(number, None)
        session.paired(Role.JOINER, paired.salt)
        return session

    # -- plumbing ---------------------------------------------------------------------------

    def _emit(self, event: ev.ClientEvent) -> None:
        self.events.put_nowait(event)
        if isinstance(event, ev.SessionFailed | ev.PeerLeft) and event.session is not None:
            self.sessions.pop(event.session, None)

    async def _send(self, message: object) -> None:
        if self._connection is None:
            raise ConnectionLostError("Not connected to a server.")
        await self._connection.send(message)

    async def _keepalive(self) -> None:
        """Ping often enough that the relay's idle timeout never fires on a quiet session."""
        assert self._connection is not None and self._connection.welcome is not None
        interval = max(1.0, self._connection.welcome.idle_timeout / 3)
        nonce = 0
        while True:
            await asyncio.sleep(interval)
            nonce += 1
            with contextlib.suppress(MessengerError):
                await self._send(wire.Ping(nonce=nonce))

    async def _read_loop(self) -> None:
        assert self._connection is not None
        error: MessengerError
        try:
            async for message in self._connection.messages():
                self._dispatch(message)
        except asyncio.CancelledError:
            raise
        except MessengerError as exc:
            error = exc
        except Exception as exc:  # never let the reader die silently
            log.exception("client reader failed")
            error = RemoteProtocolError(f"Unexpected failure reading from the server: {exc}")
        if self._closing:
            return
        self._fail_everything(error)

    def _fail_everything(self, error: MessengerError) -> None:
        for future in list(self._pending_creates) + list(self._pending_joins.values()):
            if not future.done():
                future.set_exception(error)
        self._pending_creates.clear()
        for session in list(self.sessions.values()):
            session.fail(error)
        self._emit(ev.Disconnected(error))

    def _dispatch(self, message: object) -> None:
        if isinstance(message, wire.SessionCreated):
            if not self._pending_creates:
                raise RemoteProtocolError("The server announced a session nobody asked for.")
            future = self._pending_creates.popleft()
            if not future.done():
                future.set_result(message.session)
        elif isinstance(message, wire.Paired):
            self._on_paired(message)
        elif isinstance(message, wire.Relay | wire.RotateTick | wire.PeerLeft):
            session = self.sessions.get(message.session)
            if session is not None:
                session.deliver(message)
        elif isinstance(message, wire.Error):
            self._on_error(message)
        elif isinstance(message, wire.Pong):
            pass
        else:
            raise RemoteProtocolError(f"The server sent an unexpected {type(message).__name__}.")

    def _on_paired(self, message: wire.Paired) -> None:
        future = self._pending_joins.get(message.session)
        if message.role == Role.JOINER and future is not None and not future.done():
            future.set_result(message)
            return
        session = self.sessions.get(message.session)
        if message.role == Role.CREATOR and session is not None:
            session.paired(Role.CREATOR, message.salt)

    def _on_error(self, message: wire.Error) -> None:
        error = error_from_code(message.code, message.message)
        if message.fatal or message.session is None:
            if message.session is None and not message.fatal and self._pending_creates:
                self._pending_creates.popleft().set_exception(error)
                return
            # The relay will close the connection; the reader reports it with this cause.
            self._fail_everything(error)
            self._closing = True
            return
        future = self._pending_joins.get(message.session)
        if future is not None and not future.done():
            future.set_exception(error)
            return
        session = self.sessions.get(message.session)
        if session is not None:
            session.fail(error)
