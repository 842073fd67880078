"""One end-to-end session as the client runs it: handshake, then the conversation.

Each session has its own inbox and task, so its packets are handled strictly in order and
the slow steps (PBKDF2, SPAKE2) run in an executor without racing the packets that arrive
meanwhile. Messages the person sends before the peer is there wait in ``_queued``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from enum import StrEnum
from pathlib import Path

from messenger import events as ev
from messenger.crypto.kdf import stretch_password
from messenger.crypto.rsa import IdentityKey, PublicKey
from messenger.files import FileError, OfferPolicy, Transfers
from messenger.protocol import wire
from messenger.protocol.channel import SecureChannel
from messenger.protocol.conversation import (
    Conversation,
    Delivered,
    FilePayload,
    Outgoing,
    PeerSaidBye,
    Rotated,
    TextReceived,
)
from messenger.protocol.errors import (
    LocalProtocolError,
    MessengerError,
    PeerLeftError,
    SessionBurnedError,
    TimeoutError_,
    WrongPasswordError,
)
from messenger.protocol.password_handshake import (
    HandshakeComplete,
    HandshakeEvent,
    PasswordHandshake,
    Role,
    SendPacket,
    SessionKeys,
)
from messenger.protocol.rsa_handshake import RsaHandshake
from messenger.protocol.vocabulary import SessionMode

log = logging.getLogger("messenger.session")
#: How long the peer has to finish the handshake once both are paired.
HANDSHAKE_TIMEOUT = 60.0
#: Failed joins a code survives at its creator: wrong passwords, and joiners that never
#: confirmed. The relay burns the number after as many; the creator counts too, so a relay
#: that does not cannot give anyone more online guesses.
MAX_PASSWORD_ATTEMPTS = 3

Send = Callable[[object], Awaitable[None]]
Emit = Callable[[ev.ClientEvent], None]


class SessionState(StrEnum):
    WAITING = "waiting"  #: created, nobody joined yet
    HANDSHAKE = "handshake"
    READY = "ready"
    CLOSED = "closed"


class _Tick:
    """Inbox marker: the relay's rotation timer fired."""


class _PeerGone:
    """Inbox marker: the relay says the peer left."""


class Session:
    """One session, password or RSA: the handshake differs, everything after it is shared."""

    def __init__(
        self,
        session_id: str,
        send: Send,
        emit: Emit,
        *,
        role: Role | None = None,
        mode: SessionMode = SessionMode.PASSWORD,
        password: str = "",
        salt: bytes = b"",
        file_policy: OfferPolicy | None = None,
    ) -> None:
        self.id = session_id
        self.role = role
        self.mode = mode
        self.state = SessionState.WAITING
        self.safety = ""
        self.peer_id = ""
        self.peer_name = ""
        self._password = password
        #: The creator's own salt nonce (the relay only echoes it to the joiner).
        self.salt = salt
        self._stretched: bytes | None = None
        #: Joins of this code that failed (the creator keeps waiting until the limit).
        self.failed_attempts = 0
        self._send = send
        self._emit = emit
        self._inbox: asyncio.Queue[object] = asyncio.Queue()
        self._queued: list[tuple[str, str]] = []
        self._queued_files: list[Path] = []
        self._seal_lock = asyncio.Lock()
        self._file_policy = file_policy
        #: File transfers; they exist once the session is ready.
        self.transfers: Transfers | None = None
        self._conversation: Conversation | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._closed = asyncio.Event()
        self._all_delivered = asyncio.Event()
        self._all_delivered.set()
        self._on_verified: Callable[[], None] | None = None
        self.error: MessengerError | None = None

    # -- called by the client ---------------------------------------------------------------

    def begin_password(self, role: Role, salt: bytes) -> None:
        """The relay paired us for a password session: start the handshake task."""
        if self._task is not None or self.state is SessionState.CLOSED:
            return
        # Anything still queued came from an earlier joiner whose attempt ended: the relay
        # sends ``paired`` before anything from the new one.
        while not self._inbox.empty():
            self._inbox.get_nowait()
        if self.mode is not SessionMode.PASSWORD or not (self._password or self._stretched):
            # Never a password handshake without the password: with an empty one, anyone
            # (the relay first) could complete it.
            self.refuse(LocalProtocolError("This session has no password to run a handshake."))
            return
        self.role = role
        self._start(self._password_handshake(salt))

    def begin_rsa(
        self,
        role: Role,
        identity: IdentityKey,
        peer_key: PublicKey,
        on_verified: Callable[[], None] | None = None,
    ) -> None:
        """The relay paired us for an RSA session with ``peer_key``."""
        if self._task is not None:
            return
        if self.mode is not SessionMode.RSA:
            self.refuse(LocalProtocolError("This session was not meant to be an RSA session."))
            return
        self.role = role
        self._on_verified = on_verified
        self._start(self._rsa_handshake(identity, peer_key))

    def _start(self, handshake: Coroutine[object, object, SessionKeys]) -> None:
        self.state = SessionState.HANDSHAKE
        self._task = asyncio.create_task(self._run(handshake), name=f"session-{self.id}")

    def deliver(self, item: object) -> None:
        """A relay message for this session (Relay, RotateTick, PeerLeft, Error)."""
        if isinstance(item, wire.Relay):
            self._inbox.put_nowait(item.data)
        elif isinstance(item, wire.RotateTick):
            self._inbox.put_nowait(_Tick())
        elif isinstance(item, wire.PeerLeft):
            if self._task is None:
                return  # a joiner left a waiting session: keep waiting
            self._inbox.put_nowait(_PeerGone())

    def refuse(self, error: MessengerError) -> None:
        """We will not run this session (say, the peer's key changed): leave it, report why."""
        if self._task is None:
            self._task = asyncio.create_task(self._abort(error), name=f"refuse-{self.id}")

    def deliver_error(self, error: MessengerError) -> None:
        """A relay error about this session, handled in order with what arrived before it
        (a ``peer_left`` already queued explains the error and wins)."""
        if self._task is None or self._task.done():
            self.fail(error)
        else:
            self._inbox.put_nowait(error)

    def fail(self, error: MessengerError) -> None:
        """End the session from outside (connection lost, relay error)."""
        if self.state is SessionState.CLOSED:
            return
        self._finish(error)
        if self._task is not None:
            self._task.cancel()

    # -- called by the person ---------------------------------------------------------------

    async def send_text(self, text: str) -> str:
        """Send (or queue, until the peer is there) one message; returns its id."""
        if self.state is SessionState.CLOSED:
            raise LocalProtocolError("This session has ended.")
        if self._conversation is None:
            message_id = _new_id()
            self._queued.append((message_id, text))
            self._all_delivered.clear()
            return message_id
        conversation = self._conversation
        async with self._seal_lock:
            message_id, events = conversation.send_text(text)
            self._all_delivered.clear()
            await self._send_outgoing(events)
        await self._dispatch(events)
        return message_id

    async def send_file(self, path: Path) -> str | None:
        """Offer a file (queued until the peer is there); returns the transfer id once
        offered, None while queued. Raises FileError if it cannot be read."""
        if self.state is SessionState.CLOSED:
            raise LocalProtocolError("This session has ended.")
        if self.transfers is None:
            self._queued_files.append(Path(path))
            return None
        return await self.transfers.offer(Path(path))

    async def answer_file(self, transfer_id: str, folder: Path | None) -> None:
        """Accept an offered file into ``folder``, or decline it (None)."""
        if self.transfers is not None:
            await self.transfers.answer(transfer_id, folder)

    async def cancel_file(self, transfer_id: str) -> None:
        if self.transfers is not None:
            await self.transfers.cancel(transfer_id)

    async def rotate(self) -> None:
        """The person's "rotate now"."""
        conversation = self._conversation
        if conversation is not None and self.state is SessionState.READY:
            await self._sealed(conversation.rotate)

    async def wait_ready(self) -> None:
        await _wait_either(self._ready, self._closed)
        if self.error is not None:
            raise self.error

    async def wait_delivered(self, timeout: float) -> bool:
        """Wait until every message sent so far has a receipt; False on timeout or close."""
        try:
            async with asyncio.timeout(timeout):
                await _wait_either(self._all_delivered, self._closed)
        except TimeoutError:
            return False
        return self._all_delivered.is_set()

    async def wait_transfers(self, stall: float = 60.0) -> None:
        """Wait until no file transfer is running, giving up only after ``stall`` seconds
        without any progress (a big file takes as long as it takes)."""
        last = None
        deadline = asyncio.get_running_loop().time() + stall
        while self.transfers is not None and self.transfers.busy and not self._closed.is_set():
            now = asyncio.get_running_loop().time()
            marker = self.transfers.progress_marker()
            if marker != last:
                last, deadline = marker, now + stall
            if now > deadline:
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.5):
                    await self.transfers.changed.wait()
            self.transfers.changed.clear()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    @property
    def undelivered(self) -> int:
        pending = len(self._queued)
        if self._conversation is not None:
            pending += len(self._conversation.undelivered)
        return pending

    @property
    def epoch(self) -> int:
        return self._conversation.epoch if self._conversation is not None else 0

    async def leave(self) -> None:
        """Say goodbye to the peer (sealed) and leave the session on the relay."""
        if self.state is SessionState.CLOSED:
            return
        with contextlib.suppress(MessengerError):
            if self._conversation is not None:
                await self._sealed(self._conversation.say_bye)
            await self._send(wire.LeaveSession(session=self.id))
        self._finish(None)
        if self._task is not None:
            self._task.cancel()

    # -- the session task -------------------------------------------------------------------

    async def _run(self, handshake: Coroutine[object, object, SessionKeys]) -> None:
        try:
            async with asyncio.timeout(HANDSHAKE_TIMEOUT):
                keys = await handshake
            self._conversation = Conversation(
                SecureChannel(
                    self.id, keys.send_key, keys.recv_key, keys.send_direction, ratchet=keys.ratchet
                )
            )
            if self._on_verified is not None:
                self._on_verified()
            self.safety = keys.safety
            self.state = SessionState.READY
            self._ready.set()
            self._emit(
                ev.SessionReady(self.id, self.mode, keys.safety, self.peer_id, self.peer_name)
            )
            conversation = self._conversation
            self.transfers = Transfers(self.id, self._send_payload, self._emit, self._file_policy)
            queued, self._queued = self._queued, []
            for message_id, text in queued:

                def seal_queued(m: str = message_id, t: str = text) -> list[object]:
                    return list(conversation.send_text(t, m)[1])

                await self._sealed(seal_queued)
            self._update_delivered()
            files, self._queued_files = self._queued_files, []
            for path in files:
                try:
                    await self.transfers.offer(path)
                except FileError as exc:
                    self._emit(ev.FileFailed(self.id, "", exc.file_code, str(exc)))
            while self.state is SessionState.READY:
                await self._handle_item(await self._inbox.get())
        except asyncio.CancelledError:
            raise
        except TimeoutError:
            if self._keeps_code_open():
                await self._attempt_failed(ev.AttemptFailure.UNCONFIRMED)
            else:
                await self._abort(TimeoutError_("The other person did not finish the handshake."))
        except WrongPasswordError as exc:
            if self._keeps_code_open():
                await self._attempt_failed(ev.AttemptFailure.WRONG_PASSWORD)
            else:
                await self._abort(exc)
        except PeerLeftError as exc:
            if self._keeps_code_open() and self.state is SessionState.HANDSHAKE:
                self._wait_for_next_joiner()  # they gave up before proving anything
            else:
                await self._abort(exc)
        except MessengerError as exc:
            await self._abort(exc)

    def _keeps_code_open(self) -> bool:
        """A code's creator outlives a failed join: the code stays open for the right person."""
        return self.mode is SessionMode.PASSWORD and self.role is Role.CREATOR

    async def _attempt_failed(self, reason: ev.AttemptFailure) -> None:
        """A joiner did not prove the password: tell the relay (it frees the seat, tells the
        joiner, counts toward burning the number) and wait for the next one, or give up
        once the code has had its tries."""
        self.failed_attempts += 1
        tries_left = MAX_PASSWORD_ATTEMPTS - self.failed_attempts
        with contextlib.suppress(MessengerError):
            await self._send(wire.PairingFailed(session=self.id))
        if tries_left <= 0:
            await self._abort(SessionBurnedError())
            return
        self._emit(ev.PairingAttemptFailed(self.id, reason, tries_left))
        self._wait_for_next_joiner()

    def _wait_for_next_joiner(self) -> None:
        """Back to waiting; the next ``paired`` starts a fresh handshake. Called from inside
        the session task, which ends right after."""
        self.state = SessionState.WAITING
        self._task = None

    async def _password_handshake(self, salt: bytes) -> SessionKeys:
        assert self.role is not None
        loop = asyncio.get_running_loop()
        handshake = PasswordHandshake(self.role, self.id, salt)
        if self._stretched is None:
            # Stretched once: a creator whose code survives a wrong guess reuses it for the
            # next joiner (same session number, same salt, so the same PBKDF2 output).
            password, self._password = self._password, ""
            self._stretched = await loop.run_in_executor(
                None, stretch_password, password, handshake.salt
            )
        stretched = self._stretched
        if self.role is Role.JOINER:
            self._stretched = None
        first = await loop.run_in_executor(None, handshake.start, stretched)
        return await self._drive(handshake, first)

    async def _rsa_handshake(self, identity: IdentityKey, peer_key: PublicKey) -> SessionKeys:
        assert self.role is not None
        loop = asyncio.get_running_loop()
        handshake = await loop.run_in_executor(
            None, RsaHandshake, self.role, self.id, identity, peer_key
        )
        first = []
        if self.role is Role.CREATOR:
            first = await loop.run_in_executor(None, handshake.start)
        return await self._drive(handshake, first)

    async def _drive(
        self, handshake: PasswordHandshake | RsaHandshake, pending: list[HandshakeEvent]
    ) -> SessionKeys:
        """Send what the handshake says, feed it the peer's packets (slow steps off-loop)."""
        loop = asyncio.get_running_loop()
        while True:
            for event in pending:
                if isinstance(event, SendPacket):
                    await self._send(wire.Relay(session=self.id, data=event.data))
                elif isinstance(event, HandshakeComplete):
                    return event.keys
            item = await self._inbox.get()
            if isinstance(item, _PeerGone):
                raise PeerLeftError("The other person left before the session was set up.")
            if isinstance(item, MessengerError):
                raise item
            if isinstance(item, _Tick):
                pending = []
                continue
            assert isinstance(item, bytes)
            pending = await loop.run_in_executor(None, handshake.receive, item)

    async def _handle_item(self, item: object) -> None:
        conversation = self._conversation
        assert conversation is not None
        if isinstance(item, _Tick):
            await self._sealed(conversation.rotate)
        elif isinstance(item, _PeerGone):
            self._finish(None)  # first, so interrupted transfers are reported before peer_left
            self._emit(ev.PeerLeft(self.id))
        elif isinstance(item, MessengerError):
            raise item
        else:
            await self._sealed(lambda: conversation.receive(item))  # type: ignore[arg-type]

    async def _sealed(self, make: Callable[[], list]) -> list:
        """Seal and queue under one lock, so records reach the socket in sealing order.

        Without it, two coroutines that sealed records n and n+1 could both wait on a full
        send queue and be let in the other way round: the peer would see a replay.
        """
        async with self._seal_lock:
            events = make()
            await self._send_outgoing(events)
        await self._dispatch(events)
        return events

    async def _send_outgoing(self, events: list) -> None:
        for event in events:
            if isinstance(event, Outgoing):
                await self._send(wire.Relay(session=self.id, data=event.data))

    async def _send_payload(self, payload: object) -> None:
        conversation = self._conversation
        if conversation is None or self.state is not SessionState.READY:
            raise LocalProtocolError("This session has ended.")
        await self._sealed(lambda: conversation.send_payload(payload))

    async def _dispatch(self, events: list) -> None:
        """What the sealed layer said happened, apart from packets to send."""
        for event in events:
            if isinstance(event, FilePayload):
                if self.transfers is not None:
                    await self.transfers.handle(event.payload)
            elif isinstance(event, TextReceived):
                self._emit(ev.MessageReceived(self.id, event.id, event.text, event.sent_at))
            elif isinstance(event, Delivered):
                self._emit(ev.MessageDelivered(self.id, event.id))
            elif isinstance(event, Rotated):
                self._emit(ev.KeysRotated(self.id, event.epoch))
            elif isinstance(event, PeerSaidBye):
                self._finish(None)
                self._emit(ev.PeerLeft(self.id))
                return
        self._update_delivered()

    def _update_delivered(self) -> None:
        if self.undelivered == 0:
            self._all_delivered.set()

    async def _abort(self, error: MessengerError) -> None:
        log.info("session %s ended: %s", self.id, error.code)
        with contextlib.suppress(MessengerError):
            await self._send(wire.LeaveSession(session=self.id))
        self._finish(error)

    def _finish(self, error: MessengerError | None) -> None:
        if self.state is SessionState.CLOSED:
            return
        self.state = SessionState.CLOSED
        self.error = error
        if self.transfers is not None:
            self.transfers.interrupted()
        if self._conversation is not None:
            self._conversation.channel.close()
        if error is not None:
            self._emit(ev.SessionFailed(self.id, error))
        self._closed.set()


def _new_id() -> str:
    return uuid.uuid4().hex


async def _wait_either(first: asyncio.Event, second: asyncio.Event) -> None:
    waiters = [asyncio.ensure_future(first.wait()), asyncio.ensure_future(second.wait())]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
