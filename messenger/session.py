"""One session on the relay as the client runs it: a meeting (handshake and introductions,
see ``protocol.meeting``), then a live chat whose messages travel in the conversation with
the contact the meeting introduced (``courier``), so they are kept and outlive the session.

Each session has its own inbox and task, so its packets are handled strictly in order and
the slow steps (PBKDF2, SPAKE2, RSA) run in an executor without racing the packets that
arrive meanwhile. A code's creator outlives a failed join: each joiner gets a fresh
meeting until the code has had its tries. Messages and files the person sends before the
meeting is done wait here, and go once it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from enum import StrEnum
from pathlib import Path

from messenger import events as ev
from messenger.courier import Courier
from messenger.crypto.kdf import stretch_password
from messenger.crypto.rsa import IdentityKey, PublicKey
from messenger.files import FileError, Transfers
from messenger.protocol import wire
from messenger.protocol.errors import (
    LocalProtocolError,
    MessengerError,
    PeerLeftError,
    SessionBurnedError,
    TimeoutError_,
    WrongPasswordError,
)
from messenger.protocol.meeting import Meeting, MeetingEvent, Met, RegisterToken
from messenger.protocol.password_handshake import SendPacket
from messenger.protocol.vocabulary import Role, SessionMode

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
    WAITING = "waiting"  #: created, nobody (or nobody right) joined yet
    HANDSHAKE = "handshake"  #: the meeting runs
    READY = "ready"  #: met: the conversation carries the chat
    CLOSED = "closed"


class _Tick:
    """Inbox marker: the relay's rotation timer fired."""


class _PeerGone:
    """Inbox marker: the relay says the peer left."""


class Session:
    """One session, password or RSA: the meeting differs, everything after it is shared."""

    def __init__(
        self,
        session_id: str,
        send: Send,
        emit: Emit,
        courier: Courier,
        identity: IdentityKey,
        name: str,
        *,
        role: Role,
        mode: SessionMode = SessionMode.PASSWORD,
        password: str = "",
        salt: bytes = b"",
    ) -> None:
        self.id = session_id
        self.role = role
        self.mode = mode
        self.state = SessionState.WAITING
        self.safety = ""
        self.peer_id = ""
        self.peer_name = ""
        #: The contact the meeting introduced (the conversation carries the chat).
        self.contact_id = ""
        self._password = password
        #: The creator's own salt nonce (the relay only echoes it to the joiner).
        self.salt = salt
        self._stretched: bytes | None = None
        #: Joins of this code that failed (the creator keeps waiting until the limit).
        self.failed_attempts = 0
        self._send = send
        self._emit = emit
        self._courier = courier
        self._identity = identity
        self._name = name
        self._inbox: asyncio.Queue[object] = asyncio.Queue()
        self._queued: list[str] = []
        self._queued_files: list[Path] = []
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._closed = asyncio.Event()
        self.error: MessengerError | None = None

    # -- called by the client ---------------------------------------------------------------

    def begin_password(self, role: Role, salt: bytes) -> None:
        """The relay paired us for a password session: start this attempt's meeting."""
        if self._task is not None or self.state is SessionState.CLOSED:
            return
        if self.mode is not SessionMode.PASSWORD or not (self._password or self._stretched):
            # Never a password handshake without the password: with an empty one, anyone
            # (the relay first) could complete it.
            self.refuse(LocalProtocolError("This session has no password to run a handshake."))
            return
        # Anything still queued came from an earlier joiner whose attempt ended: the relay
        # sends ``paired`` before anything from the new one.
        while not self._inbox.empty():
            self._inbox.get_nowait()
        meeting = Meeting(
            SessionMode.PASSWORD, role, self.id, self._identity, self._name, salt=salt
        )
        self._start(meeting)

    def begin_rsa(self, role: Role, peer_key: PublicKey) -> None:
        """The relay paired us for an RSA session with ``peer_key`` (already checked)."""
        if self._task is not None or self.state is SessionState.CLOSED:
            return
        if self.mode is not SessionMode.RSA:
            self.refuse(LocalProtocolError("This session was not meant to be an RSA session."))
            return
        meeting = Meeting(
            SessionMode.RSA, role, self.id, self._identity, self._name, peer_key=peer_key
        )
        self._start(meeting)

    def _start(self, meeting: Meeting) -> None:
        self.state = SessionState.HANDSHAKE
        self._task = asyncio.create_task(self._run(meeting), name=f"session-{self.id}")

    def deliver(self, item: object) -> None:
        """A relay message for this session (Relay, RotateTick, PeerLeft)."""
        if isinstance(item, wire.Relay):
            self._inbox.put_nowait(item.data)
        elif isinstance(item, wire.RotateTick):
            self._inbox.put_nowait(_Tick())
        elif isinstance(item, wire.PeerLeft):
            if self._task is None and self.state is not SessionState.READY:
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
        """Send (or queue, until the meeting is done) one message; returns its id once it
        is in the conversation ("" while queued)."""
        if self.state is SessionState.CLOSED:
            raise LocalProtocolError("This session has ended.")
        if not self.contact_id or self._queued:
            # Behind what is still queued: the queue is being handed over in order right
            # after the meeting, and a line typed meanwhile must not overtake it.
            self._queued.append(text)
            return ""
        return await self._courier.send_text(self.contact_id, text)

    async def send_file(self, path: Path) -> str | None:
        """Offer a file (queued until the meeting is done); returns the transfer id once
        offered, None while queued. Raises FileError if it cannot be read."""
        if self.state is SessionState.CLOSED:
            raise LocalProtocolError("This session has ended.")
        if not self.contact_id:
            self._queued_files.append(Path(path))
            return None
        return await self._courier.file_link(self.contact_id).offer(Path(path))

    @property
    def transfers(self) -> Transfers | None:
        if not self.contact_id:
            return None
        return self._courier.file_link(self.contact_id).transfers

    async def answer_file(self, transfer_id: str, folder: Path | None) -> None:
        """Accept an offered file into ``folder``, or decline it (None)."""
        if self.transfers is not None:
            await self.transfers.answer(transfer_id, folder)

    async def cancel_file(self, transfer_id: str) -> None:
        if self.transfers is not None:
            await self.transfers.cancel(transfer_id)

    async def rotate(self) -> None:
        """The person's "renew keys now"."""
        if self.contact_id and self.state is SessionState.READY:
            await self._courier.rotate_now(self.contact_id)

    async def wait_ready(self) -> None:
        await _wait_either(self._ready, self._closed)
        if self.error is not None:
            raise self.error

    @property
    def queued(self) -> int:
        """Messages typed before the meeting was done and not yet handed to the
        conversation (they go the moment it is)."""
        return len(self._queued)

    @property
    def undelivered(self) -> int:
        waiting = len(self._queued)
        if self.contact_id:
            waiting += len(self._courier.undelivered.get(self.contact_id, ()))
        return waiting

    async def wait_delivered(self, timeout: float) -> bool:
        """Wait until every message sent so far has a receipt; False on timeout."""
        try:
            async with asyncio.timeout(timeout):
                while self.undelivered and not self._closed.is_set():
                    self._courier.changed.clear()
                    await _wait_either(self._courier.changed, self._closed)
        except TimeoutError:
            return False
        return self.undelivered == 0

    async def wait_transfers(self, stall: float = 60.0) -> None:
        """Wait until no file transfer is running, giving up only after ``stall`` seconds
        without any progress (a big file takes as long as it takes)."""
        last = None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + stall
        while (transfers := self.transfers) is not None and transfers.busy:
            if self._closed.is_set():
                return
            marker = transfers.progress_marker()
            if marker != last:
                last, deadline = marker, loop.time() + stall
            if loop.time() > deadline:
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.5):
                    await transfers.changed.wait()
            transfers.changed.clear()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    @property
    def epoch(self) -> int:
        if not self.contact_id:
            return 0
        return self._courier.sending_steps(self.contact_id)

    async def leave(self) -> None:
        """Leave the session on the relay (the conversation with the contact stays)."""
        if self.state is SessionState.CLOSED:
            return
        with contextlib.suppress(MessengerError):
            await self._send(wire.LeaveSession(session=self.id))
        self._finish(None)
        if self._task is not None:
            self._task.cancel()

    # -- the session task -------------------------------------------------------------------

    async def _run(self, meeting: Meeting) -> None:
        try:
            async with asyncio.timeout(HANDSHAKE_TIMEOUT):
                met = await self._meet(meeting)
            await self._met(met)
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

    async def _meet(self, meeting: Meeting) -> Met:
        """Run the meeting: slow steps in an executor, packets strictly in order."""
        loop = asyncio.get_running_loop()
        if meeting.mode is SessionMode.PASSWORD:
            if self._stretched is None:
                # Stretched once: a creator whose code survives a wrong guess reuses it for
                # the next joiner (same session number, same salt, same PBKDF2 output).
                password, self._password = self._password, ""
                self._stretched = await loop.run_in_executor(
                    None, stretch_password, password, meeting.password_salt
                )
            stretched = self._stretched
            if self.role is Role.JOINER:
                self._stretched = None
            events = await loop.run_in_executor(None, meeting.start, stretched)
        else:
            events = await loop.run_in_executor(None, meeting.start)
        while True:
            for event in events:
                if isinstance(event, SendPacket):
                    await self._send(wire.Relay(session=self.id, data=event.data))
                elif isinstance(event, RegisterToken):
                    self._courier.expect(event.hint)
                    await self._send(wire.RegisterTokens(tokens=(event.token,)))
                else:
                    return event
            events = await self._next_packet_events(meeting)

    async def _next_packet_events(self, meeting: Meeting) -> list[MeetingEvent]:
        loop = asyncio.get_running_loop()
        while True:
            item = await self._inbox.get()
            if isinstance(item, _PeerGone):
                raise PeerLeftError("The other person left before the session was set up.")
            if isinstance(item, MessengerError):
                raise item
            if isinstance(item, bytes):
                return await loop.run_in_executor(None, meeting.receive, item)

    async def _met(self, met: Met) -> None:
        """The meeting is done: the peer is a contact; the chat goes to the conversation."""
        new_contact = await self._courier.adopt(met)
        self.contact_id = self.peer_id = met.peer.id
        self.peer_name = met.peer.name
        self.safety = met.safety
        self._courier.sessions[self.contact_id] = self.id
        self.state = SessionState.READY
        self._ready.set()
        self._emit(
            ev.SessionReady(
                self.id, self.mode, met.safety, met.peer.id, met.peer.name, new_contact
            )
        )
        while self._queued:  # each stays counted (``undelivered``) until it is committed
            await self._courier.send_text(self.contact_id, self._queued[0])
            self._queued.pop(0)
        files, self._queued_files = self._queued_files, []
        link = self._courier.file_link(self.contact_id)
        for path in files:
            try:
                await link.offer(path)
            except FileError as exc:
                self._emit(ev.FileFailed(self.id, "", exc.file_code, str(exc)))

    async def _handle_item(self, item: object) -> None:
        if isinstance(item, _Tick):
            await self._courier.tick_one(self.contact_id)
        elif isinstance(item, _PeerGone):
            self._finish(None)  # first, so interrupted transfers are reported before peer_left
            self._emit(ev.PeerLeft(self.id))
        elif isinstance(item, MessengerError):
            raise item
        # Relay data after the meeting is a late packet of it: nothing more travels here.

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
        """Back to waiting; the next ``paired`` starts a fresh meeting. Called from inside
        the session task, which ends right after."""
        self.state = SessionState.WAITING
        self._task = None

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
        if self.contact_id:
            if self.transfers is not None:
                self.transfers.interrupted()
            if self._courier.sessions.get(self.contact_id) == self.id:
                del self._courier.sessions[self.contact_id]
        if error is not None:
            self._emit(ev.SessionFailed(self.id, error))
        self._closed.set()


async def _wait_either(first: asyncio.Event, second: asyncio.Event) -> None:
    waiters = [asyncio.ensure_future(first.wait()), asyncio.ensure_future(second.wait())]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
