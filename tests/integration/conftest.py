"""Integration fixtures: a real relay process, real messenger-cli processes, raw protocol
connections and a frame-level TCP proxy, all on 127.0.0.1.

Nothing here sleeps to wait for something: every wait is a condition with a deadline, and
every failure message says what was seen so far (events, stderr tail, relay log tail).

RSA-3072 key generation takes 0.2-5 s per key, so the relay key and a few client identities
are made once per test session and copied into each relay data dir and CLI profile.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from messenger.crypto.rsa import IdentityKey, format_fingerprint
from messenger.protocol import wire
from messenger.protocol.framing import FrameDecoder, encode_frame
from messenger.protocol.transport import ClientHandshake, ServerHandshake, TransportCipher
from tests.support import (
    HOST,
    NOWHERE,
    SOON,
    Event,
    Keys,
    Predicate,
    RelayProcess,
    _Lines,
    _terminate,
    _write_private,
    event,
)

# -- messenger-cli ----------------------------------------------------------------------------


def _parse_event(line: str) -> Event:
    try:
        parsed = json.loads(line)
    except ValueError:
        return {"event": "<not json>", "line": line.rstrip("\n")}
    return parsed if isinstance(parsed, dict) else {"event": "<not an object>", "line": line}


class CliProcess:
    """One ``messenger-cli`` process; its stdout JSON lines become ``events``."""

    def __init__(self, server: str, profile: Path, *args: str, name: str = "cli") -> None:
        self.name = name
        command = [sys.executable, "-m", "messenger.cli", "--server", server]
        self.proc = subprocess.Popen(
            [*command, "--profile", str(profile), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,
        )
        self._stdout = _Lines(self.proc.stdout, _parse_event)
        self._stderr = _Lines(self.proc.stderr)

    # -- stdin --

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def close_stdin(self) -> None:
        with contextlib.suppress(OSError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()

    # -- stdout --

    @property
    def events(self) -> list[Event]:
        """Every event printed so far."""
        return self._stdout.snapshot()

    def of(self, name: str) -> list[Event]:
        return [ev for ev in self.events if ev.get("event") == name]

    def texts(self) -> list[str]:
        """The text of every ``message`` event so far, in order."""
        return [ev["text"] for ev in self.of("message")]

    @property
    def stderr(self) -> str:
        return "\n".join(self._stderr.snapshot())

    def describe(self) -> str:
        shown = ("event", "code", "text", "epoch", "message")
        summary = [{k: v for k, v in ev.items() if k in shown} for ev in self.events[-12:]]
        return (
            f"{self.name}: returncode={self.proc.poll()} last events={summary} "
            f"stderr tail={self.stderr[-600:]!r}"
        )

    def wait_for(self, pred: Predicate, timeout: float = SOON, what: str | None = None) -> Event:
        """The first event (seen so far or arriving before the deadline) matching ``pred``."""
        found = self._stdout.wait_until(
            lambda evs: next((ev for ev in evs if pred(ev)), None), timeout
        )
        if found is None:
            label = what or getattr(pred, "__name__", "matching event")
            pytest.fail(f"no {label} within {timeout:g} s; {self.describe()}")
        return found

    def wait_until(
        self, check: Callable[[list[Event]], Any], timeout: float = SOON, what: str = "condition"
    ) -> Any:
        """Wait until ``check(events)`` is truthy; return its value."""
        result = self._stdout.wait_until(check, timeout)
        if not result:
            pytest.fail(f"no {what} within {timeout:g} s; {self.describe()}")
        return result

    def wait_count(self, name: str, count: int, timeout: float = SOON) -> list[Event]:
        """Wait until at least ``count`` events called ``name`` were printed; return them all."""

        def enough(evs: list[Event]) -> list[Event] | None:
            matching = [ev for ev in evs if ev.get("event") == name]
            return matching if len(matching) >= count else None

        return self.wait_until(enough, timeout, what=f"{count} {name!r} events")

    def wait_exit(self, timeout: float = SOON) -> int:
        """Wait for the process to end and its output to be fully read; return the exit code."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.name} still running after {timeout:g} s; {self.describe()}")
        self._stdout.join(5)
        self._stderr.join(5)
        return code

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        self.close_stdin()
        _terminate(self.proc)


# -- frames over a blocking socket ------------------------------------------------------------


class FrameSocket:
    """Length-prefixed frames over a blocking socket, sealed once ``cipher`` is set."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.decoder = FrameDecoder()
        self.cipher: TransportCipher | None = None
        self.eof = False

    def write_body(self, body: bytes) -> None:
        if self.cipher is not None:
            body = self.cipher.seal(body)
        self.sock.sendall(encode_frame(body))

    def read_frame(self, timeout: float | None = None) -> bytes | None:
        """The next frame body as it is on the wire; None at EOF; TimeoutError at the deadline."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while (body := self.decoder.next_frame()) is None:
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no frame and no close within {timeout:g} s")
                self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                raise TimeoutError(f"no frame and no close within {timeout:g} s") from None
            except ConnectionResetError:
                data = b""
            if not data:
                self.eof = True
                return None
            self.decoder.receive_data(data)
        return body

    def read_body(self, timeout: float | None = None) -> bytes | None:
        """The next frame body, opened if the transport is sealed; None at EOF."""
        body = self.read_frame(timeout)
        if body is None or self.cipher is None:
            return body
        return self.cipher.open(body)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.sock.close()


class RawConnection(FrameSocket):
    """A bare connection to the relay that speaks the sealed transport by hand."""

    def __init__(self, port: int, identity: IdentityKey) -> None:
        super().__init__(socket.create_connection((HOST, port), timeout=5))
        self.identity = identity
        self._handshake: ClientHandshake | None = None

    def handshake(self, name: str = "raw") -> wire.Welcome:
        """client_hello, server_hello, auth; returns the relay's welcome.

        Raises the error the relay answered with instead (busy, say), as the client would.
        """
        self.say_hello(name)
        return self.finish_handshake()

    def say_hello(self, name: str = "raw") -> None:
        """The first half of ``handshake``: lets a test open many connections in parallel."""
        self._handshake = ClientHandshake(self.identity, name)
        self.write_body(self._handshake.hello())

    def finish_handshake(self) -> wire.Welcome:
        handshake = self._handshake
        assert handshake is not None, "say_hello first"
        server_hello = self.read_body(SOON)
        assert server_hello is not None, "the relay closed the connection during the handshake"
        handshake.got_server_hello(server_hello)
        self.cipher = handshake.cipher
        self.write_body(handshake.auth())
        welcome = self.recv()
        assert isinstance(welcome, wire.Welcome), f"expected welcome, got {welcome!r}"
        return welcome

    def send(self, message: object) -> None:
        self.write_body(wire.encode(message))

    def send_bytes(self, data: bytes) -> None:
        """Bytes straight onto the socket: no frame, no sealing."""
        self.sock.sendall(data)

    def recv(self, timeout: float = SOON) -> object | None:
        """The next control message (pongs and presence updates skipped), or None at EOF."""
        deadline = time.monotonic() + timeout
        while True:
            body = self.read_body(max(0.01, deadline - time.monotonic()))
            if body is None:
                return None
            message = wire.decode(body)
            if not isinstance(message, wire.Pong | wire.People):
                return message

    def recv_until_closed(self, timeout: float = SOON) -> list[object]:
        """Every message until the relay closes the connection (TimeoutError if it does not)."""
        deadline = time.monotonic() + timeout
        messages: list[object] = []
        while (message := self.recv(max(0.01, deadline - time.monotonic()))) is not None:
            messages.append(message)
        return messages


# -- a frame-aware proxy ----------------------------------------------------------------------

#: hook(direction, body) -> None to forward unchanged, or the list of bodies to send instead.
FrameHook = Callable[[str, bytes], list[bytes] | None]
UP, DOWN = "client->relay", "relay->client"


class TcpProxy:
    """Listens on 127.0.0.1:0 and forwards whole frames to the relay, through ``hook``.

    By default it forwards frames as they are on the wire: after the transport handshake the
    hook sees sealed bodies. With ``relay_key`` it terminates the transport instead, playing
    the relay (with the relay's own key, so the client's pin matches) towards the client and
    a client (with ``identity``) towards the relay: the hook then sees every control message
    in the clear, exactly what the relay sees. That is the strongest attacker there is
    against the end-to-end layer: a relay that has turned hostile.
    """

    def __init__(
        self,
        target_port: int,
        hook: FrameHook | None = None,
        *,
        relay_key: IdentityKey | None = None,
        identity: IdentityKey | None = None,
    ) -> None:
        assert (relay_key is None) == (identity is None), "terminating needs both keys"
        self.target_port = target_port
        self.hook = hook
        self.relay_key = relay_key
        self.identity = identity
        self._listener = socket.create_server((HOST, 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list[FrameSocket] = []
        self._lock = threading.Lock()
        self._closed = False
        self.errors: list[BaseException] = []
        threading.Thread(target=self._accept_loop, name="proxy-accept", daemon=True).start()

    @property
    def addr(self) -> str:
        return f"{HOST}:{self.port}"

    def _accept_loop(self) -> None:
        while True:
            try:
                client_sock, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(
                target=self._serve, args=(client_sock,), name="proxy-conn", daemon=True
            ).start()

    def _serve(self, client_sock: socket.socket) -> None:
        try:
            relay_sock = socket.create_connection((HOST, self.target_port), timeout=5)
        except OSError as exc:
            self.errors.append(exc)
            client_sock.close()
            return
        client_sock.settimeout(None)
        relay_sock.settimeout(None)
        client, relay = FrameSocket(client_sock), FrameSocket(relay_sock)
        with self._lock:
            if self._closed:
                client.close()
                relay.close()
                return
            self._sockets += [client, relay]
        try:
            if self.relay_key is not None:
                self._terminate_transport(client, relay)
        except Exception as exc:
            self.errors.append(exc)
            client.close()
            relay.close()
            return
        for src, dst, direction in ((client, relay, UP), (relay, client, DOWN)):
            threading.Thread(
                target=self._pump, args=(src, dst, direction), name="proxy-pump", daemon=True
            ).start()

    def _terminate_transport(self, client: FrameSocket, relay: FrameSocket) -> None:
        assert self.relay_key is not None and self.identity is not None
        as_relay = ServerHandshake(self.relay_key)
        client.write_body(as_relay.got_client_hello(_required(client.read_body())))
        client.cipher = as_relay.cipher
        who = as_relay.got_auth(_required(client.read_body()))
        as_client = ClientHandshake(self.identity, who.name, who.accept_invites)
        relay.write_body(as_client.hello())
        as_client.got_server_hello(_required(relay.read_body()))
        relay.cipher = as_client.cipher
        relay.write_body(as_client.auth())

    def _pump(self, src: FrameSocket, dst: FrameSocket, direction: str) -> None:
        try:
            while (body := src.read_body()) is not None:
                replacement = self.hook(direction, body) if self.hook else None
                for out in [body] if replacement is None else replacement:
                    dst.write_body(out)
        except OSError:
            pass
        except Exception as exc:  # a broken hook must show up in the test, not vanish
            self.errors.append(exc)
        with contextlib.suppress(OSError):
            dst.sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            sockets, self._sockets = self._sockets, []
        with contextlib.suppress(OSError):
            self._listener.close()
        for frame_socket in sockets:
            frame_socket.close()


def _required(body: bytes | None) -> bytes:
    if body is None:
        raise ConnectionError("closed during the transport handshake")
    return body


# -- attackers on the wire -------------------------------------------------------------------


class NextFrame:
    """A plain (non-terminating) proxy hook: sealed frames pass untouched until ``armed``;
    then ``attack`` rewrites the next frame going ``direction``, still sealed, once."""

    def __init__(self, direction: str, attack: Callable[[bytes], list[bytes]]) -> None:
        self.direction = direction
        self.attack = attack
        self.armed = threading.Event()
        self.fired = threading.Event()

    def __call__(self, direction: str, body: bytes) -> list[bytes] | None:
        if direction != self.direction or not self.armed.is_set() or self.fired.is_set():
            return None
        self.fired.set()
        return self.attack(body)


def ended_by_the_attack(cli: CliProcess, code: str, attack: Any, proxy: TcpProxy) -> None:
    """``cli`` reports error ``code`` and exits non-zero; ``attack`` (a proxy hook with a
    ``fired`` event) did fire, and the proxy itself ran without an error."""
    failure = cli.wait_for(event("error"))
    assert attack.fired.is_set() and not proxy.errors
    assert failure["code"] == code, failure
    assert cli.wait_exit() != 0


def reconnected_after_the_attack(cli: CliProcess, code: str, attack: Any, proxy: TcpProxy) -> None:
    """The attack cost ``cli`` its connection (reported with ``code``); its conversation
    carries on over a new one, so it neither errs nor exits."""
    lost = cli.wait_for(event("reconnecting"))
    assert attack.fired.is_set() and not proxy.errors
    assert lost["code"] == code, lost
    assert cli.running and not cli.of("error"), cli.describe()


def relay_closed_a_tampered_connection(relay: RelayProcess) -> None:
    relay.wait_for_log(
        lambda lines: any("disconnected (tampered" in line for line in lines),
        timeout=5,
        what="log line about closing the tampered connection",
    )


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def make_relay_with(tmp_path: Path, keys: Keys) -> Iterator[Callable[..., RelayProcess]]:
    """``make_relay_with(key, *extra_args, rotate_interval=300)`` starts a relay holding
    ``key`` (another pool key plays a relay whose key changed); all are stopped after."""
    relays: list[RelayProcess] = []

    def start(
        key: IdentityKey,
        *extra: str,
        rotate_interval: float = 300.0,
        data_dir: Path | None = None,
    ) -> RelayProcess:
        if data_dir is None:  # a new relay; with data_dir, the same one started again
            data_dir = tmp_path / f"relay-{len(relays)}"
            keys.install_relay_key(data_dir, key)
        relay = RelayProcess(data_dir, *extra, rotate_interval=rotate_interval)
        relays.append(relay)
        return relay

    yield start
    for relay in relays:
        relay.kill()


@pytest.fixture
def make_relay(
    make_relay_with: Callable[..., RelayProcess], keys: Keys
) -> Callable[..., RelayProcess]:
    """``make_relay(*extra_args, rotate_interval=300)`` starts a relay with the pool's relay
    key; all are stopped after the test."""
    return functools.partial(make_relay_with, keys.relay)


@pytest.fixture
def relay(make_relay: Callable[..., RelayProcess]) -> RelayProcess:
    """A relay with a 300 s rotation interval (no ticks during a test)."""
    return make_relay(rotate_interval=300)


@pytest.fixture
def make_cli(tmp_path: Path, keys: Keys) -> Iterator[Callable[..., CliProcess]]:
    """``make_cli(server_addr, *args, name=...)`` starts messenger-cli with its own profile
    (and its own identity key, up to IDENTITIES per test)."""
    clis: list[CliProcess] = []

    def start(server: str, *args: str, name: str = "cli") -> CliProcess:
        profile = tmp_path / f"profile-{len(clis)}-{name}"
        keys.install_identity(profile, len(clis))
        cli = CliProcess(server, profile, *args, name=name)
        clis.append(cli)
        return cli

    yield start
    for cli in clis:
        cli.stop()


@pytest.fixture
def make_raw(keys: Keys) -> Iterator[Callable[..., RawConnection]]:
    """``make_raw(port, identity=0)`` opens a raw connection; all are closed after the test."""
    connections: list[RawConnection] = []

    def open_raw(port: int, identity: int = 0) -> RawConnection:
        connection = RawConnection(port, keys.identity(identity))
        connections.append(connection)
        return connection

    yield open_raw
    for connection in connections:
        connection.close()


@pytest.fixture
def make_proxy(keys: Keys) -> Iterator[Callable[..., TcpProxy]]:
    """``make_proxy(relay_port, hook, terminate=False)`` starts a frame proxy; with
    ``terminate`` it holds the relay's key and sees control messages in the clear."""
    proxies: list[TcpProxy] = []

    def start(target_port: int, hook: FrameHook | None = None, terminate: bool = False):
        # Towards the relay the proxy may authenticate as anyone: the relay routes by session.
        extra = {"relay_key": keys.relay, "identity": keys.identity(-1)} if terminate else {}
        proxy = TcpProxy(target_port, hook, **extra)
        proxies.append(proxy)
        return proxy

    yield start
    for proxy in proxies:
        proxy.close()


def pair(
    make_cli: Callable[..., CliProcess],
    creator_addr: str,
    joiner_addr: str | None = None,
    *,
    creator_options: tuple[str, ...] = (),
) -> tuple[CliProcess, CliProcess]:
    """Create a session (bob) and join it by code (alice); wait until both are ready.

    ``joiner_addr`` is where alice connects (a proxy, say); ``creator_options`` are bob's
    top-level options, such as ``("--accept-files", DIR)``."""
    bob = make_cli(creator_addr, *creator_options, "create", name="bob")
    code = bob.wait_for(event("code"))["code"]
    alice = make_cli(joiner_addr or creator_addr, "join", code, name="alice")
    for side in (alice, bob):
        side.wait_for(event("ready"))
    return alice, bob


def finished(cli: CliProcess, code: int = 0) -> CliProcess:
    """Wait for a short-lived command to exit with ``code``; return the CLI for its events."""
    assert cli.wait_exit() == code, cli.describe()
    return cli


def exchange(sender: CliProcess, receiver: CliProcess, text: str) -> None:
    """Send one line and wait until it arrives and its receipt comes back."""
    sender.send(text)
    arrived = receiver.wait_for(event("message", text=text), what=f"message {text!r}")
    sender.wait_for(event("delivered", id=arrived["id"]), what=f"receipt for {text!r}")


# -- people: profiles that outlive one process ------------------------------------------------


@dataclass(frozen=True)
class Person:
    """A profile folder holding one pool identity. Each ``cli``/``local`` call starts a new
    messenger-cli on the same profile, so pinned servers and contacts carry over."""

    name: str
    profile: Path
    key: IdentityKey
    _start: Callable[..., CliProcess]

    @property
    def id(self) -> str:
        return self.key.fingerprint

    @property
    def fingerprint(self) -> str:
        """The id as the CLI shows it: 16 groups of 4 hex digits."""
        return format_fingerprint(self.key.fingerprint)

    def cli(self, server: str, *args: str) -> CliProcess:
        """``messenger-cli --server SERVER --profile ... --name NAME ARGS...``."""
        return self._start(server, self, args)

    def local(self, *args: str) -> CliProcess:
        """A command that never talks to a relay (whoami, trust, contacts)."""
        return self._start(NOWHERE, self, args)


@pytest.fixture
def make_person(tmp_path: Path, keys: Keys) -> Iterator[Callable[..., Person]]:
    """``make_person(name, identity=None, passphrase=None)``: a profile holding pool identity
    ``identity`` (the next unused one by default; do not mix with ``make_cli`` in one test),
    stored encrypted under ``passphrase`` if one is given. Every CLI it starts is stopped
    after the test."""
    clis: list[CliProcess] = []
    next_identity = itertools.count()
    runs = itertools.count(1)
    profiles = itertools.count()

    def start(server: str, person: Person, args: tuple[str, ...]) -> CliProcess:
        label = f"{person.name}#{next(runs)} {' '.join(args)[:30]}"
        cli = CliProcess(server, person.profile, "--name", person.name, *args, name=label)
        clis.append(cli)
        return cli

    def make(name: str, identity: int | None = None, *, passphrase: str | None = None) -> Person:
        index = next(next_identity) if identity is None else identity
        profile = tmp_path / f"person-{next(profiles)}-{name}"
        key = keys.identity(index)
        profile.mkdir(parents=True, mode=0o700)
        if passphrase is None:
            keys.install_identity(profile, index)
        else:
            _write_private(profile / "identity.pem", key.to_pem(passphrase))
        return Person(name, profile, key, start)

    yield make
    # Stop them all at once; a short grace, since a CLI still in `wait` may ignore SIGTERM.
    for cli in clis:
        cli.close_stdin()
        if cli.running:
            with contextlib.suppress(ProcessLookupError):
                cli.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 0.5
    for cli in clis:
        _terminate(cli.proc, grace=max(0.05, deadline - time.monotonic()))


def start_waiting(
    relay: RelayProcess, person: Person, *args: str, server: str | None = None
) -> CliProcess:
    """``person`` runs ``wait ARGS``; returns once the relay has them online (so an invite
    sent now finds them). ``server`` is where the CLI connects (a proxy, say)."""
    before = len(relay.connections_of(person.id))
    waiting = person.cli(server or relay.addr, "wait", *args)
    online = relay._log.wait_until(
        lambda lines: len(relay.connections_of(person.id, lines)) > before, SOON
    )
    if not online:
        pytest.fail(
            f"{person.name} did not come online within {SOON:g} s; {waiting.describe()}; "
            f"relay log tail:\n{relay.log_tail()}"
        )
    return waiting


def rsa_session(
    relay: RelayProcess, waiter: Person, inviter: Person, *, inviter_server: str | None = None
) -> tuple[CliProcess, CliProcess]:
    """``waiter`` waits, ``inviter`` invites them; returns (waiter's CLI, inviter's CLI) once
    both are ready. ``inviter_server`` is where the inviter connects (default: the relay)."""
    waiting = start_waiting(relay, waiter)
    inviting = inviter.cli(inviter_server or relay.addr, "invite", waiter.id)
    for side in (waiting, inviting):
        side.wait_for(event("ready"))
    return waiting, inviting
