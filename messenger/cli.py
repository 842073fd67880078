"""messenger-cli: the headless client. JSON Lines on stdout, one object per line, flushed.

Each stdin line is one message (``/rotate`` rotates the sending key now). Lines typed before
the session is ready are queued, not lost. On stdin EOF it waits (bounded) until every sent
message has a receipt, then exits 0. After an ``error`` event it exits 1; usage errors exit 2.
See docs/cli.md for every command and event.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, assert_never

from messenger import events as ev
from messenger.cli_args import build_parser
from messenger.client import Client
from messenger.crypto.rsa import IdentityKey, format_fingerprint
from messenger.files import FileError
from messenger.protocol.errors import LocalProtocolError, MessengerError, TimeoutError_
from messenger.protocol.transport import ServerIdentity
from messenger.session import Session
from messenger.store.profile import Profile, ProfileError

#: How long to wait at stdin EOF for receipts of what was sent.
DELIVERY_WAIT = 30.0
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
        peer = {"peer_id": event.peer_id, "peer_name": event.peer_name} if event.peer_id else {}
        emit("ready", session=event.session, mode=event.mode, safety=event.safety, **peer)
    elif isinstance(event, ev.MessageReceived):
        emit("message", id=event.id, text=event.text, sent_at=event.sent_at)
    elif isinstance(event, ev.MessageDelivered):
        emit("delivered", id=event.id)
    elif isinstance(event, ev.KeysRotated):
        emit("rotated", epoch=event.epoch)
    elif isinstance(event, ev.PeerLeft):
        emit("peer_left")
        raise SessionEnded(None)
    elif isinstance(event, ev.SessionFailed | ev.Disconnected):
        emit_error(event.error)
        raise SessionEnded(event.error)
    elif isinstance(event, ev.FileOffered):
        emit("file_offer", id=event.id, name=event.name, size=event.size, sha256=event.sha256)
    elif isinstance(event, ev.FileAccepted):
        emit("file_accepted", id=event.id, start_chunk=event.start_chunk)
    elif isinstance(event, ev.FileProgress):
        emit(
            "file_progress",
            id=event.id,
            bytes=event.transferred,
            total=event.total,
            direction=event.direction,
        )
    elif isinstance(event, ev.FileCompleted):
        emit(
            "file_done",
            id=event.id,
            path=event.path,
            sha256=event.sha256,
            direction=event.direction,
        )
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


def print_pending(client: Client) -> None:
    """Print events already queued (receipts, messages) before the process exits."""
    with contextlib.suppress(SessionEnded):
        while not client.events.empty():
            print_event(client.events.get_nowait())


async def print_events(client: Client) -> MessengerError | None:
    """Print events until the session ends; return its error, if any."""
    try:
        while True:
            print_event(await client.events.get())
    except SessionEnded as ended:
        return ended.error


async def pump_stdin(session: Session, lines: StdinLines) -> None:
    """Send each stdin line; at EOF wait for receipts (bounded)."""
    while (line := await lines.queue.get()) is not None:
        if line == "/rotate":
            await session.rotate()
        elif line.startswith("/send-file "):
            await offer_file(session, line.removeprefix("/send-file ").strip())
        elif line.startswith("/cancel-file "):
            await session.cancel_file(line.removeprefix("/cancel-file ").strip())
        elif line:
            await session.send_text(line)
    await session.wait_ready()
    await session.wait_transfers()
    if not await session.wait_delivered(DELIVERY_WAIT) and session.error is None:
        raise TimeoutError_(
            f"{session.undelivered} message(s) were not confirmed by the other person "
            f"within {DELIVERY_WAIT:.0f} s."
        )


async def offer_file(session: Session, path: str) -> None:
    """Offer a file; a file that cannot be read is reported, and the session goes on."""
    try:
        await session.send_file(Path(path))
    except FileError as exc:
        emit("file_error", id="", code=exc.file_code, message=str(exc))


async def chat(client: Client, session: Session, lines: StdinLines, stop: asyncio.Event) -> int:
    """Print events and send stdin lines until the session ends, EOF, or a signal."""
    printer = asyncio.create_task(print_events(client))
    pumper = asyncio.create_task(pump_stdin(session, lines))
    stopper = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait(
            {printer, pumper, stopper}, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        # Also when chat itself is cancelled (a signal stops the whole command): a pump left
        # running would go on after the session closed and die with an unretrieved error.
        for task in (printer, pumper, stopper):
            task.cancel()
    if printer in done:
        return EXIT_ERROR if printer.result() is not None else EXIT_OK
    if pumper in done and (failure := pumper.exception()) is not None:
        raise failure
    print_pending(client)
    return EXIT_OK


async def wait_for_invitation(client: Client, from_id: str | None) -> Session:
    """Answer invitations until one is accepted; others' events are printed meanwhile."""
    while True:
        event = await client.events.get()
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


def server_key_checker(
    profile: Profile, args: argparse.Namespace
) -> Callable[[ServerIdentity], None]:
    address = "{}:{}".format(*args.server)

    def check(server: ServerIdentity) -> None:
        first_use = profile.known_servers.check(
            address,
            server.fingerprint,
            require_known=args.require_known_server,
            expected=args.server_fingerprint,
        )
        emit("server_key", fingerprint=format_fingerprint(server.fingerprint), first_use=first_use)

    return check


async def run(args: argparse.Namespace) -> int:
    profile = Profile.open(args.profile)
    try:
        return await run_unlocked(profile, args)
    finally:
        profile.close()


async def run_unlocked(profile: Profile, args: argparse.Namespace) -> int:
    if args.name is not None:
        profile.save_settings(name=args.name)
    name = args.name if args.name is not None else profile.name
    # Contacts and pins are in the profile's encrypted database: every command unlocks it.
    loop = asyncio.get_running_loop()
    passphrase = read_passphrase(args.passphrase_file)
    identity: IdentityKey = await loop.run_in_executor(None, profile.unlock, passphrase)
    if args.command == "trust":
        profile.contacts.trust(args.person)
        emit("trusted", id=args.person)
        return EXIT_OK
    if args.command == "contacts":
        for contact in profile.contacts.all():
            emit(
                "contact",
                id=contact.id,
                name=contact.name,
                verified=contact.verified,
                fingerprint=format_fingerprint(contact.fingerprint),
            )
        return EXIT_OK
    if args.command == "whoami":
        emit(
            "identity",
            id=identity.fingerprint,
            name=name,
            fingerprint=format_fingerprint(identity.fingerprint),
        )
        return EXIT_OK
    host, port = args.server
    client = Client(
        host,
        port,
        identity,
        name=name,
        accept_invites=args.command == "wait",
        check_server_key=server_key_checker(profile, args),
        check_peer=profile.contacts.check,
        peer_verified=profile.contacts.pin,
        file_policy=lambda _offer: args.accept_files,
    )
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    lines = StdinLines(loop) if args.command in {"create", "join", "wait", "invite"} else None
    command = asyncio.create_task(run_command(client, args, identity, lines, stop))
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({command, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if command.done():
            return command.result()
        # A signal before the chat began (connecting, waiting for an invitation): stop now.
        command.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await command
        return EXIT_OK
    finally:
        stopper.cancel()
        await client.close()


async def run_command(
    client: Client,
    args: argparse.Namespace,
    identity: IdentityKey,
    lines: StdinLines | None,
    stop: asyncio.Event,
) -> int:
    """Connect and carry out one command; errors become an ``error`` event and exit 1."""
    try:
        await client.connect()
        if args.command == "online":
            for person in await client.list_people():
                emit("person", id=person.id, name=person.name, status=person.status)
            return EXIT_OK
        if args.command == "create":
            session, _code = await client.create_session(args.password)
        elif args.command == "join":
            session = await client.join_session(args.code, args.password)
        elif args.command == "invite":
            if args.person == identity.fingerprint:
                raise LocalProtocolError("That is your own id; invite someone else.")
            session = await client.invite(args.person)
        else:
            session = await wait_for_invitation(client, args.from_id)
        assert lines is not None
        return await chat(client, session, lines, stop)
    except MessengerError as exc:
        print_pending(client)
        emit_error(exc)
        return EXIT_ERROR


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
