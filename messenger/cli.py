"""messenger-cli: the headless client. JSON Lines on stdout, one object per line, flushed.

Meeting commands (``create``, ``join``, ``invite``, ``wait``) meet someone and then chat:
each stdin line is one message to them (``/rotate`` renews keys now, ``/send-file PATH``
offers a file). Lines typed before the meeting is done are queued, not lost; if the relay
goes away the CLI reconnects and carries on, and lines typed meanwhile go once it is back.
On stdin EOF it waits (bounded) for running transfers and for receipts, then exits 0.

Conversation commands (``send``, ``inbox``, ``listen``, ``history``, ``forget``,
``contacts``) work with contacts, online or not. After an ``error`` event the CLI exits 1;
usage errors exit 2. See docs/cli.md for every command and event.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, assert_never

from messenger import events as ev
from messenger.cli_args import build_parser
from messenger.cli_lab import run_lab
from messenger.client import Client
from messenger.courier import Courier, LinkPhase
from messenger.crypto.rsa import IdentityKey, format_fingerprint
from messenger.files import FileError
from messenger.protocol.errors import (
    LocalProtocolError,
    MessengerError,
    TimeoutError_,
)
from messenger.protocol.transport import ServerIdentity
from messenger.session import Session
from messenger.store.profile import Profile, ProfileError
from messenger.store.worker import DatabaseWorker
from messenger.transfer_link import TransferLink

#: How long to wait at stdin EOF for receipts of what was sent.
DELIVERY_WAIT = 30.0
#: How long ``send`` and ``inbox`` wait for the relay to take or hand over everything.
RELAY_WAIT = 30.0
#: Pauses between reconnection attempts (the last one repeats).
RECONNECT_PAUSES = (0.5, 1.0, 2.0, 5.0, 10.0)
#: Usage errors exit 2 (argparse does that itself).
EXIT_OK, EXIT_ERROR = 0, 1


def emit(event: str, **fields: Any) -> None:
    """Print one JSON line and flush, so a reader on a pipe sees it at once."""
    sys.stdout.write(json.dumps({"event": event, **fields}, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def emit_error(error: MessengerError) -> None:
    emit("error", code=error.code.value, message=str(error))


class StdinLines:
    """Reads stdin in a daemon thread (works for ttys, pipes and files alike)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._loop = loop
        threading.Thread(target=self._read, name="stdin", daemon=True).start()

    def _read(self) -> None:
        try:
            for line in sys.stdin:
                self._loop.call_soon_threadsafe(self.queue.put_nowait, line.rstrip("\r\n"))
        except (OSError, ValueError):
            pass
        with contextlib.suppress(RuntimeError):  # loop already closed at exit
            self._loop.call_soon_threadsafe(self.queue.put_nowait, None)


class SessionEnded(Exception):
    """Internal: the session is over; ``error`` is why (None for a normal end)."""

    def __init__(self, error: MessengerError | None) -> None:
        super().__init__(error)
        self.error = error


def print_event(event: ev.ClientEvent) -> None:
    """Print one client event as a JSON line; raise SessionEnded when it ends the session."""
    if isinstance(event, ev.CodeCreated):
        emit("code", code=event.code, session=event.session)
    elif isinstance(event, ev.SessionReady):
        emit(
            "ready",
            session=event.session,
            mode=event.mode,
            safety=event.safety,
            peer_id=event.peer_id,
            peer_name=event.peer_name,
            new_contact=event.new_contact,
        )
    elif isinstance(event, ev.MessageReceived):
        puzzle = {"puzzle": event.puzzle} if event.puzzle else {}
        emit(
            "message",
            id=event.id,
            text=event.text,
            sent_at=event.sent_at,
            **{"from": event.contact},
            name=event.name,
            **puzzle,
        )
    elif isinstance(event, ev.MessageSent):
        emit("sent", to=event.contact, id=event.id)
    elif isinstance(event, ev.MessageDelivered):
        emit("delivered", id=event.id, to=event.contact)
    elif isinstance(event, ev.MessageFailed):
        emit("not_sent", id=event.id, to=event.contact, code=event.error.code.value,
             message=str(event.error))  # fmt: skip
    elif isinstance(event, ev.KeysRotated):
        emit("rotated", epoch=event.epoch, contact=event.contact)
    elif isinstance(event, ev.ContactPresence):
        emit("presence", id=event.contact, online=event.online)
    elif isinstance(event, ev.EnvelopeDropped):
        emit("dropped", reason=event.reason.value)
    elif isinstance(event, ev.CaughtUp):
        emit("caught_up", count=event.count)
    elif isinstance(event, ev.PeerLeft):
        emit("peer_left")
        raise SessionEnded(None)
    elif isinstance(event, ev.SessionFailed | ev.Disconnected):
        emit_error(event.error)
        raise SessionEnded(event.error)
    elif isinstance(event, ev.FileOffered):
        emit("file_offer", id=event.id, name=event.name, size=event.size, sha256=event.sha256)
    elif isinstance(event, ev.FileWaiting):
        emit("file_waiting", name=event.name)
    elif isinstance(event, ev.FileAccepted):
        emit("file_accepted", id=event.id, start_chunk=event.start_chunk)
    elif isinstance(event, ev.FileProgress):
        emit("file_progress", id=event.id, bytes=event.transferred, total=event.total,
             direction=event.direction)  # fmt: skip
    elif isinstance(event, ev.FileCompleted):
        emit("file_done", id=event.id, path=event.path, sha256=event.sha256,
             direction=event.direction)  # fmt: skip
    elif isinstance(event, ev.FileCancelled):
        emit("file_cancelled", id=event.id, by=event.by, reason=event.reason)
    elif isinstance(event, ev.FileFailed):
        emit("file_error", id=event.id, code=event.code, message=event.message)
    elif isinstance(event, ev.PairingAttemptFailed):
        # The code is still open: the creator keeps waiting for the right person.
        name = "wrong_password" if event.reason is ev.AttemptFailure.WRONG_PASSWORD else (
            "join_abandoned"
        )
        emit(name, session=event.session, tries_left=event.tries_left)
    elif isinstance(event, ev.Invited | ev.InvitationClosed | ev.PeopleChanged):
        pass  # `wait` answers invitations itself; no command watches the people list
    else:
        assert_never(event)


# -- the runtime: profile, database, conversations ----------------------------------------------


@dataclass
class Runtime:
    """What every command that talks to a relay shares across reconnections."""

    args: argparse.Namespace
    profile: Profile
    identity: IdentityKey
    worker: DatabaseWorker
    courier: Courier
    events: asyncio.Queue[ev.ClientEvent]
    name: str

    def client(self, *, fetch: bool, accept_invites: bool = False) -> Client:
        host, port = self.args.server
        return Client(
            host,
            port,
            self.identity,
            name=self.name,
            courier=self.courier,
            accept_invites=accept_invites,
            check_server_key=self._check_server_key,
            check_peer=self._check_peer,
            fetch=fetch,
            events=self.events,
        )

    async def _check_server_key(self, server: ServerIdentity) -> None:
        address = "{}:{}".format(*self.args.server)
        first_use = await self.worker.run(
            lambda _db: self.profile.known_servers.check(
                address,
                server.fingerprint,
                require_known=self.args.require_known_server,
                expected=self.args.server_fingerprint,
            )
        )
        emit("server_key", fingerprint=format_fingerprint(server.fingerprint), first_use=first_use)

    async def _check_peer(self, peer_id: str, name: str, fingerprint: str) -> None:
        await self.worker.run(lambda _db: self.profile.contacts.check(peer_id, name, fingerprint))


def read_passphrase(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ProfileError(f"Cannot read the passphrase file {path}: {exc.strerror}.") from None
    if not lines or not lines[0]:
        raise ProfileError(f"The passphrase file {path} is empty.")
    return lines[0]


async def run(args: argparse.Namespace) -> int:
    profile = Profile.open(args.profile)
    if args.name is not None:
        profile.save_settings(name=args.name)
    name = args.name if args.name is not None else profile.name
    loop = asyncio.get_running_loop()
    passphrase = read_passphrase(args.passphrase_file)
    identity: IdentityKey = await loop.run_in_executor(None, profile.unlock, passphrase)
    worker = DatabaseWorker(profile.db)
    try:
        local = await run_local(args, profile, identity, worker, name)
        if local is not None:
            return local
        events: asyncio.Queue[ev.ClientEvent] = asyncio.Queue()
        courier = Courier(identity, worker, events.put_nowait)
        accept = args.accept_files

        def link(contact_id: str) -> TransferLink:
            policy = (lambda _offer: accept) if accept is not None else (lambda _offer: None)
            return TransferLink(contact_id, courier, events.put_nowait, policy)

        courier.links = link
        await courier.load()
        runtime = Runtime(args, profile, identity, worker, courier, events, name)
        return await run_online(runtime)
    finally:
        await worker.close()
        profile.close()


async def run_local(
    args: argparse.Namespace,
    profile: Profile,
    identity: IdentityKey,
    worker: DatabaseWorker,
    name: str,
) -> int | None:
    """Commands that need no relay; None for the others."""
    if args.command == "whoami":
        fingerprint = format_fingerprint(identity.fingerprint)
        emit("identity", id=identity.fingerprint, name=name, fingerprint=fingerprint)
        return EXIT_OK
    if args.command == "trust":
        await worker.run(lambda _db: profile.contacts.trust(args.person))
        emit("trusted", id=args.person)
        return EXIT_OK
    if args.command == "contacts":
        for contact in await worker.run(lambda db: db.contacts()):
            emit(
                "contact",
                id=contact.id,
                name=contact.display_name,
                verified=contact.verified,
                verified_by=contact.verified_by.value if contact.verified_by else None,
                fingerprint=format_fingerprint(contact.id),
            )
        return EXIT_OK
    if args.command == "history":
        return await print_history(worker, args.person, args.limit)
    if args.command == "forget":
        if not await worker.run(lambda db: db.forget_contact(args.person)):
            emit("error", code="unknown_contact", message="That id is not one of your contacts.")
            return EXIT_ERROR
        emit("forgotten", id=args.person)
        return EXIT_OK
    return None


async def print_history(worker: DatabaseWorker, contact_id: str, limit: int) -> int:
    if await worker.run(lambda db: db.contact(contact_id)) is None:
        emit("error", code="unknown_contact", message="That id is not one of your contacts.")
        return EXIT_ERROR
    for message in await worker.run(lambda db: db.history(contact_id, limit=limit)):
        emit(
            "history",
            id=message.msg_id,
            **{"from": "me" if message.outgoing else contact_id},
            text=message.body,
            sent_at=message.sent_at,
            status=message.status.value,
            kind=message.kind,
        )
    return EXIT_OK


# -- commands that talk to a relay -------------------------------------------------------------


async def run_online(rt: Runtime) -> int:
    """Run the command until it ends or a signal stops it."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    command = asyncio.create_task(run_command(rt))
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({command, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if command.done():
            return command.result()
        command.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await command
        return EXIT_OK
    finally:
        stopper.cancel()
        await rt.courier.close()


async def run_command(rt: Runtime) -> int:
    """Carry out one command; errors become an ``error`` event and exit 1."""
    args = rt.args
    try:
        if args.command == "online":
            return await online(rt)
        if args.command == "send":
            return await send(rt)
        if args.command in ("inbox", "listen"):
            return await inbox(rt, stay=args.command == "listen")
        return await meet_and_chat(rt)
    except MessengerError as exc:
        if print_pending(rt.events) is None:  # else that error was printed already
            emit_error(exc)
        return EXIT_ERROR


async def online(rt: Runtime) -> int:
    client = rt.client(fetch=False)
    try:
        await client.connect()
        for person in await client.list_people(query=rt.args.search):
            emit("person", id=person.id, name=person.name, status=person.status)
    finally:
        await client.close()
    return EXIT_OK


async def send(rt: Runtime) -> int:
    """Write to a contact, online or not: each message is committed locally, then posted;
    ``sent`` once the relay has it."""
    contact_id = rt.args.person
    if not rt.courier.has(contact_id):
        emit("error", code="unknown_contact", message="That id is not one of your contacts.")
        return EXIT_ERROR
    if rt.args.text is not None:
        texts = [rt.args.text]
    else:
        lines = StdinLines(asyncio.get_running_loop())
        texts = [line for line in await _all_lines(lines) if line]
    # Committed first: whatever happens to the link, the messages are in the outbox (and
    # go out with the next command that reaches the relay).
    for text in texts:
        await rt.courier.send_text(contact_id, text)
    client = rt.client(fetch=False)
    failures: list[ev.MessageFailed] = []
    try:
        try:
            await client.connect()
        except MessengerError:
            emit("outbox", to=contact_id, waiting=len(rt.courier.pending.get(contact_id, ())))
            raise
        await _until(
            rt, lambda: not rt.courier.pending.get(contact_id), RELAY_WAIT, failures.append
        )
    finally:
        print_pending(rt.events)
        await client.close()
    if failures:
        emit_error(failures[0].error)
        return EXIT_ERROR
    if rt.courier.pending.get(contact_id):
        raise TimeoutError_("The relay did not confirm every message; they stay in the outbox.")
    return EXIT_OK


async def _all_lines(lines: StdinLines) -> list[str]:
    collected = []
    while (line := await lines.queue.get()) is not None:
        collected.append(line)
    return collected


async def inbox(rt: Runtime, *, stay: bool) -> int:
    """Take in what waited (and, with ``stay``, everything after), receipts included."""
    if stay:
        return await listen(rt)
    client = rt.client(fetch=True)
    try:
        await client.connect()
        await _until(rt, lambda: rt.courier.phase is LinkPhase.LIVE, RELAY_WAIT)
        await _until(rt, lambda: not any(rt.courier.pending.values()), RELAY_WAIT)
        await _take_in_the_last(rt)
    finally:
        print_pending(rt.events)
        await client.close()
    return EXIT_OK


async def _take_in_the_last(rt: Runtime) -> None:
    """Before exiting: take in no more envelopes, and report those already taken in (each
    is printed once, now or by a later command); bounded."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(RELAY_WAIT):
            await rt.courier.finish_intake()


async def _until(
    rt: Runtime,
    done: Callable[[], bool],
    timeout: float,
    failed: Callable[[ev.MessageFailed], None] | None = None,
) -> None:
    """Print events while waiting for ``done`` (bounded); messages the relay refused go to
    ``failed`` too, including those whose event was still queued when ``done`` came true
    (the courier says a refused message is no longer pending before its event is read)."""

    def show(event: ev.ClientEvent) -> None:
        if isinstance(event, ev.MessageFailed) and failed is not None:
            failed(event)
        print_event(event)

    async with asyncio.timeout(timeout):
        while not done():
            rt.courier.changed.clear()
            getter = asyncio.ensure_future(rt.events.get())
            changed = asyncio.ensure_future(rt.courier.changed.wait())
            try:
                await asyncio.wait({getter, changed}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                changed.cancel()
                if not getter.done():
                    getter.cancel()
            if getter.done() and not getter.cancelled():
                show(getter.result())
    while not rt.events.empty():
        show(rt.events.get_nowait())


def print_pending(events: asyncio.Queue[ev.ClientEvent]) -> MessengerError | None:
    """Print events already queued (receipts, messages) before the process exits; returns
    the error an event reported, if one ended the session."""
    try:
        while not events.empty():
            print_event(events.get_nowait())
    except SessionEnded as ended:
        return ended.error
    return None


# -- keeping the link up ------------------------------------------------------------------------


class LinkKeeper:
    """The current relay link, replaced by a new one (with growing pauses) whenever it
    drops: conversations outlive connections, and what is typed meanwhile waits in the
    outbox until the link is back."""

    def __init__(self, rt: Runtime, *, fetch: bool, accept_invites: bool) -> None:
        self.rt = rt
        self._fetch = fetch
        self._accept_invites = accept_invites
        self.client: Client | None = None
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def connect(self) -> Client:
        """The first link: it must work (a chat needs a relay to meet on)."""
        self.client = self.rt.client(fetch=self._fetch, accept_invites=self._accept_invites)
        await self.client.connect()
        self._task = asyncio.create_task(self._keep(), name="link-keeper")
        return self.client

    def lost(self, error: MessengerError) -> None:
        """The printer saw ``Disconnected``: say so and start reconnecting."""
        emit("reconnecting", code=error.code.value, message=str(error))
        self._lost.set()

    async def _keep(self) -> None:
        while True:
            await self._lost.wait()
            self._lost.clear()
            if self.client is not None:
                await self.client.close()
            for attempt in itertools.count():
                await asyncio.sleep(RECONNECT_PAUSES[min(attempt, len(RECONNECT_PAUSES) - 1)])
                client = self.rt.client(fetch=self._fetch, accept_invites=self._accept_invites)
                try:
                    await client.connect()
                except MessengerError:
                    await client.close()
                    continue
                self.client = client
                emit("reconnected")
                break

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.client is not None:
            await self.client.close()


async def listen(rt: Runtime) -> int:
    """Take in what waits, then everything that comes, over as many links as it takes."""
    keeper = LinkKeeper(rt, fetch=True, accept_invites=False)
    try:
        await keeper.connect()
        while True:
            event = await rt.events.get()
            if isinstance(event, ev.Disconnected):
                keeper.lost(event.error)
                continue
            print_event(event)
    finally:
        await _take_in_the_last(rt)
        print_pending(rt.events)
        await keeper.close()


# -- meeting someone, then chatting -------------------------------------------------------------


async def meet_and_chat(rt: Runtime) -> int:
    lines = StdinLines(asyncio.get_running_loop())
    keeper = LinkKeeper(rt, fetch=True, accept_invites=rt.args.command == "wait")
    try:
        client = await keeper.connect()
        return await Chat(rt, lines, keeper).run(client)
    finally:
        await keeper.close()


class Chat:
    """A meeting, then the conversation with whoever it introduced, over as many links as
    it takes: the printer and the stdin pump run for the whole chat, the keeper replaces
    the link under them."""

    def __init__(self, rt: Runtime, lines: StdinLines, keeper: LinkKeeper | None = None) -> None:
        self.rt = rt
        self.lines = lines
        self.keeper = keeper
        self.session: Session | None = None
        self.contact_id = ""

    async def run(self, client: Client) -> int:
        if not self.contact_id:
            self.session = await self._meet(client)
        printer = asyncio.create_task(self._print())
        pumper = asyncio.create_task(self._pump())
        try:
            done, _ = await asyncio.wait({printer, pumper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (printer, pumper):
                task.cancel()
        if printer in done:
            return printer.result()
        if (failure := pumper.exception()) is not None:
            raise failure
        await _take_in_the_last(self.rt)
        print_pending(self.rt.events)
        if self.session is not None:
            await self.session.leave()
        return EXIT_OK

    async def _meet(self, client: Client) -> Session:
        args = self.rt.args
        if args.command == "create":
            session, _code = await client.create_session(args.password)
        elif args.command == "join":
            session = await client.join_session(args.code, args.password)
        elif args.command == "invite":
            if args.person == self.rt.identity.fingerprint:
                raise LocalProtocolError("That is your own id; invite someone else.")
            session = await client.invite(args.person)
        else:
            session = await wait_for_invitation(client, self.rt.events, args.from_id)
        return session

    async def _print(self) -> int:
        """Print events; the session's end ends the chat, a lost link after the meeting
        only pauses it."""
        while True:
            event = await self.rt.events.get()
            session = self.session
            if isinstance(event, ev.SessionReady) and session and event.session == session.id:
                self.contact_id = event.peer_id
            if isinstance(event, ev.Disconnected) and self.contact_id and self.keeper:
                self.keeper.lost(event.error)
                continue
            if isinstance(event, ev.SessionFailed) and self.contact_id:
                # After the meeting only a lost link can end the relay session, and the
                # conversation goes on without it (the Disconnected that follows reconnects).
                continue
            if isinstance(event, ev.PeerLeft):
                # Their last messages may still be being opened: show them first. Ours may
                # still be on their way to the relay (typed before the meeting was done,
                # say): the chat ends once it has taken them, each with its `sent`.
                await _take_in_the_last(self.rt)
                if self.contact_id:
                    await _wait_posted(self.rt, self.contact_id, session, RELAY_WAIT)
                print_pending(self.rt.events)
            try:
                print_event(event)
            except SessionEnded as ended:
                return EXIT_ERROR if ended.error is not None else EXIT_OK

    async def _pump(self) -> None:
        """Send each stdin line; at EOF wait for transfers and receipts (bounded)."""
        while (line := await self.lines.queue.get()) is not None:
            await self._line(line)
        while not self.contact_id:
            assert self.session is not None
            await self.session.wait_ready()
            self.contact_id = self.session.contact_id
        courier = self.rt.courier
        link = courier.file_link(self.contact_id)
        await _wait_transfers(link)
        if not await _wait_receipts(self.rt, self.contact_id, self.session, DELIVERY_WAIT):
            missing = len(courier.undelivered.get(self.contact_id, ()))
            raise TimeoutError_(
                f"{missing} message(s) were not confirmed by the other person "
                f"within {DELIVERY_WAIT:.0f} s."
            )

    async def _line(self, line: str) -> None:
        if self.session is not None and not self.contact_id and self.session.contact_id:
            self.contact_id = self.session.contact_id
        courier = self.rt.courier
        if line == "/rotate":
            if self.contact_id:
                await courier.rotate_now(self.contact_id)
        elif line.startswith("/send-file "):
            await self._offer(line.removeprefix("/send-file ").strip())
        elif line.startswith("/cancel-file "):
            if self.contact_id:
                transfers = courier.file_link(self.contact_id).transfers
                await transfers.cancel(line.removeprefix("/cancel-file ").strip())
        elif line:
            if self.session is not None and (not self.contact_id or self.session.queued):
                # queued until the meeting is done, and behind the lines queued before it
                await self.session.send_text(line)
            else:
                await courier.send_text(self.contact_id, line)

    async def _offer(self, path: str) -> None:
        """Offer a file; a file that cannot be read is reported, and the chat carries on."""
        try:
            if self.contact_id:
                await self.rt.courier.file_link(self.contact_id).offer(Path(path))
            else:
                assert self.session is not None
                await self.session.send_file(Path(path))
        except FileError as exc:
            emit("file_error", id="", code=exc.file_code, message=str(exc))


async def _wait_transfers(link: TransferLink, stall: float = 60.0) -> None:
    """Wait until no file transfer runs, giving up after ``stall`` s without progress."""
    transfers = link.transfers
    loop = asyncio.get_running_loop()
    last, deadline = None, loop.time() + stall
    while transfers.busy and loop.time() < deadline:
        marker = transfers.progress_marker()
        if marker != last:
            last, deadline = marker, loop.time() + stall
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.5):
                await transfers.changed.wait()
        transfers.changed.clear()


async def _wait_receipts(
    rt: Runtime, contact_id: str, session: Session | None, timeout: float
) -> bool:
    """Wait until every message of ours (queued in the session or in the conversation)
    has a receipt; False on timeout."""
    courier = rt.courier

    def waiting() -> bool:
        queued = session is not None and session.undelivered > 0
        return queued or bool(courier.undelivered.get(contact_id))

    return await _wait_courier(rt, waiting, timeout)


async def _wait_posted(
    rt: Runtime, contact_id: str, session: Session | None, timeout: float
) -> bool:
    """Wait until the relay has taken every message of ours to ``contact_id`` (queued in
    the session or waiting in the outbox); False on timeout."""
    courier = rt.courier

    def waiting() -> bool:
        queued = session is not None and session.queued > 0
        return queued or bool(courier.pending.get(contact_id))

    return await _wait_courier(rt, waiting, timeout)


async def _wait_courier(rt: Runtime, waiting: Callable[[], bool], timeout: float) -> bool:
    """Wait, bounded, while ``waiting()``, looking again whenever the courier changes (and
    every half second: a session's queue has no event); False on timeout."""
    courier = rt.courier
    try:
        async with asyncio.timeout(timeout):
            while waiting():
                courier.changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.5):  # the session's queue has no event
                        await courier.changed.wait()
    except TimeoutError:
        return False
    return True


async def wait_for_invitation(
    client: Client, events: asyncio.Queue[ev.ClientEvent], from_id: str | None
) -> Session:
    """Answer invitations until one is accepted; other events are printed meanwhile."""
    while True:
        event = await events.get()
        if not isinstance(event, ev.Invited):
            print_event(event)
            continue
        if from_id is not None and event.from_id != from_id:
            await client.answer_invitation(event.session, accept=False)
            continue
        emit("invited", **{"from": event.from_id}, name=event.from_name, session=event.session)
        session = await client.answer_invitation(event.session, accept=True)
        assert session is not None
        return session


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "lab":  # needs no profile and no relay
        return run_lab(args)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(message)s",
    )
    try:
        return asyncio.run(run(args))
    except ProfileError as exc:
        emit("error", code="profile", message=str(exc))
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
