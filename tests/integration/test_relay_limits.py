"""The relay against resource attacks (issue 9): peers that stop reading, hello floods, join
sweeps, and what its log says about people.

Every attack runs against the real relay process over real sockets on 127.0.0.1. An honest
client that must stay unaffected connects from 127.0.0.2 (still loopback), so the attacker's
per-address limits are not the honest client's.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from messenger.crypto.aead import random_bytes
from messenger.crypto.rsa import IdentityKey, format_fingerprint
from messenger.protocol import wire
from messenger.protocol.framing import MAX_FRAME_BODY
from messenger.protocol.transport import ClientHandshake
from server.__main__ import build_parser
from tests.integration.conftest import FrameSocket, RawConnection, exchange, pair
from tests.support import HOST, SOON, Keys

pytestmark = pytest.mark.timeout(120)

MIB = 1024 * 1024
#: The largest relay payload that still fits one sealed frame (msgpack fields, GCM tag).
MAX_DATA = MAX_FRAME_BODY - 16 - 64
#: Another loopback address: the honest client is not counted with the attacker.
ELSEWHERE = "127.0.0.2"


class RawConnectionFrom(RawConnection):
    """A ``RawConnection`` bound to another loopback address (``source``)."""

    def __init__(self, port: int, identity: IdentityKey, source: str) -> None:
        FrameSocket.__init__(
            self, socket.create_connection((HOST, port), timeout=5, source_address=(source, 0))
        )
        self.identity = identity
        self._handshake = None


@pytest.fixture
def connect(keys: Keys) -> Iterator[Callable[..., RawConnection]]:
    """``connect(port, identity=0, source=None)``: like ``make_raw``, but each pool key is
    parsed once (0.1 s each), so a test can open dozens of connections quickly."""
    parsed: dict[int, IdentityKey] = {}
    opened: list[RawConnection] = []

    def open_raw(port: int, identity: int = 0, source: str | None = None) -> RawConnection:
        index = identity % len(keys.identity_pems)
        if index not in parsed:
            parsed[index] = keys.identity(index)
        key = parsed[index]
        connection = (
            RawConnection(port, key) if source is None else RawConnectionFrom(port, key, source)
        )
        opened.append(connection)
        return connection

    yield open_raw
    for connection in opened:
        connection.close()


def status_kib(pid: int, key: str) -> int:
    """A ``kB`` field of /proc/PID/status (VmRSS now, VmHWM the peak so far)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {key} in /proc/{pid}/status")


def ping_round_trip(connection: RawConnection, nonce: int) -> float:
    """Seconds from sending a ping to its pong (other messages in between are skipped)."""
    started = time.monotonic()
    connection.send(wire.Ping(nonce=nonce))
    deadline = started + SOON
    while True:
        body = connection.read_body(max(0.01, deadline - time.monotonic()))
        assert body is not None, "the relay closed the honest client's connection"
        message = wire.decode(body)
        if message == wire.Pong(nonce=nonce):
            return time.monotonic() - started


def code_session(creator: RawConnection, joiner: RawConnection) -> str:
    """``creator`` makes a session, ``joiner`` joins it; both have read their ``paired``."""
    creator.send(wire.CreateSession(salt=random_bytes(wire.SALT_SIZE), ref=1))
    created = creator.recv()
    assert isinstance(created, wire.SessionCreated), created
    joiner.send(wire.JoinSession(session=created.session))
    for side in (creator, joiner):
        paired = side.recv()
        assert isinstance(paired, wire.Paired), paired
    return created.session


def push_until_stalled(
    sender: RawConnection, session: str, data: bytes, frames: int, stall: float
) -> int:
    """Send up to ``frames`` relay frames; stop when the socket takes nothing for ``stall`` s.
    Returns how many went out whole."""
    sender.sock.settimeout(stall)
    for sent in range(frames):
        try:
            sender.send(wire.Relay(session=session, data=data))
        except OSError:
            return sent
    return frames


def messages_until(connection: RawConnection, wanted: object, timeout: float) -> list[object]:
    """Read (everything, relay frames too) until ``wanted`` arrives; fail at the deadline."""
    deadline = time.monotonic() + timeout
    seen: list[object] = []
    while True:
        remaining = deadline - time.monotonic()
        try:
            body = connection.read_body(max(0.01, remaining))
        except TimeoutError:
            body = None
        if body is None:
            kinds = [type(m).__name__ for m in seen]
            pytest.fail(f"no {wanted!r} within {timeout:g} s (eof={connection.eof}); saw {kinds}")
        message = wire.decode(body)
        seen.append(message)
        if message == wanted:
            return seen


# -- item 1: peers that stop reading ----------------------------------------------------------


def test_sixteen_pairs_whose_receivers_stop_reading_cannot_grow_the_relay(make_relay, connect):
    # The send deadline (5 s) is well past the senders' stall (1 s), so a sender is seen
    # waiting before its receiver is dropped (with 2 s, a fast machine could drop the
    # receiver first and let its sender push every frame).
    relay = make_relay("--send-timeout", "5")
    honest = connect(relay.port, source=ELSEWHERE)
    honest.handshake("honest")
    pairs = []
    for index in range(16):  # 32 connections: the per-address limit, all used by the attacker
        sender = connect(relay.port, identity=index)
        receiver = connect(relay.port, identity=index + 1)
        sender.handshake("sender")
        receiver.handshake("receiver")
        pairs.append((sender, receiver, code_session(sender, receiver)))
    ping_round_trip(honest, 0)
    baseline_kib = status_kib(relay.proc.pid, "VmRSS")

    # The senders push max-size frames; the receivers never read (but keep pinging, so they
    # are never idle). Each sender pushes at most 16 frames (32 MiB) to keep a failure quick.
    data = bytes(MAX_DATA)
    pushed: list[int] = []
    floods = [
        threading.Thread(
            target=lambda s=sender, n=session: pushed.append(push_until_stalled(s, n, data, 16, 1)),
            daemon=True,
        )
        for sender, _receiver, session in pairs
    ]
    stop_pinging = threading.Event()

    def keep_receivers_busy() -> None:
        nonce = 0
        while not stop_pinging.wait(0.5):
            for _sender, receiver, _session in pairs:
                nonce += 1
                try:
                    receiver.sock.settimeout(0.5)
                    receiver.send(wire.Ping(nonce=nonce))
                except OSError:
                    pass

    pinger = threading.Thread(target=keep_receivers_busy, daemon=True)
    pinger.start()
    for flood in floods:
        flood.start()
    # Meanwhile the honest client's pings keep coming back.
    round_trips = []
    nonce = 1
    while any(flood.is_alive() for flood in floods):
        round_trips.append(ping_round_trip(honest, nonce))
        nonce += 1
    for flood in floods:
        flood.join()

    peak_mib = (status_kib(relay.proc.pid, "VmHWM") - baseline_kib) / 1024
    print(f"relay RSS {baseline_kib / 1024:.0f} MiB before, peak +{peak_mib:.0f} MiB")
    assert peak_mib < 100, f"the relay grew by {peak_mib:.0f} MiB (pushed {sum(pushed)} frames)"
    assert max(pushed) < 16, f"the senders were never made to wait: {pushed}"
    assert round_trips and max(round_trips) < SOON / 2, round_trips

    # The receivers stopped reading, so the relay drops them at the send deadline (5 s)...
    relay.wait_for_log(
        lambda lines: sum("disconnected (timeout" in line for line in lines) >= 16,
        timeout=SOON,
        what="every receiver that stopped reading to be disconnected",
    )
    stop_pinging.set()
    pinger.join()
    # ...and their senders are told, even though their own handlers were stuck sending.
    for sender, _receiver, session in pairs:
        sender.sock.settimeout(None)
        messages_until(sender, wire.PeerLeft(session=session), timeout=SOON)
    ping_round_trip(honest, nonce)


def test_peer_left_reaches_a_member_whose_queue_is_full(make_relay, connect):
    relay = make_relay()
    reader = connect(relay.port, identity=0)  # stops reading for a while
    flooder = connect(relay.port, identity=1)
    leaver = connect(relay.port, identity=2)
    for connection in (reader, flooder, leaver):
        connection.handshake()
    flooded = code_session(flooder, reader)
    quiet = code_session(leaver, reader)

    # Fill the reader's queue (and the socket buffers on the way) until the flooder stalls.
    push_until_stalled(flooder, flooded, bytes(256 * 1024), frames=2000, stall=1.0)
    # The other member leaves; its ping's pong proves the relay has handled the leave.
    leaver.send(wire.LeaveSession(session=quiet))
    leaver.send(wire.Ping(nonce=7))
    assert ping_round_trip(leaver, 7) < SOON

    seen = messages_until(reader, wire.PeerLeft(session=quiet), timeout=SOON)
    assert any(isinstance(m, wire.Relay) for m in seen), "the queue was not full after all"


# -- item 2: a flood of hellos ----------------------------------------------------------------


def test_a_hello_flood_from_one_address_is_refused_busy_while_other_clients_ping_on(
    relay, connect
):
    honest = connect(relay.port, source=ELSEWHERE)
    honest.handshake("honest")
    seconds = 2.0
    flooder = subprocess.Popen(
        [
            sys.executable, "-m", "tests.bench.hello_flood", "flood", "--port", str(relay.port),
            "--seconds", str(seconds), "--threads", "8",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        round_trips = []
        nonce = 0
        while flooder.poll() is None:
            nonce += 1
            round_trips.append(ping_round_trip(honest, nonce))
        out, err = flooder.communicate(timeout=SOON)
    finally:
        if flooder.poll() is None:
            flooder.kill()
            flooder.wait()
    assert flooder.returncode == 0, err
    report = json.loads(out)
    counts, elapsed = report["counts"], report["seconds"]
    total = sum(counts.values())

    # Default limits: 64 handshakes at once per address, then 10 a second; the rest is
    # refused with busy before any RSA work, which is what lets the flood run this fast.
    assert counts.get("server_hello", 0) <= 64 + 10 * (elapsed + 1), counts
    assert counts.get("busy", 0) >= 0.8 * total, f"the flood was not refused: {counts}"
    assert total >= 300, f"the flood never got going: {counts}"
    # Every ping of the honest client came back, none slowly (a generous bound: 2 cores).
    assert round_trips and max(round_trips) < 2.0, sorted(round_trips)[-5:]
    # The limit is per address: the honest client's address can still connect.
    connect(relay.port, identity=1, source=ELSEWHERE).handshake("honest again")


# -- item 3: sweeping session numbers ---------------------------------------------------------


def test_joins_over_the_per_address_rate_get_busy_and_the_connection_stays_usable(
    relay, connect
):
    sweeper = connect(relay.port)
    sweeper.handshake("sweeper")

    answers = []
    for number in range(100, 121):  # the default: 20 joins a minute from one address
        sweeper.send(wire.JoinSession(session=str(number)))
        answers.append(sweeper.recv())

    assert all(isinstance(a, wire.Error) and not a.fatal for a in answers), answers
    assert [a.code for a in answers[:20]] == ["no_such_session"] * 20, answers
    assert answers[20].code == "busy" and answers[20].session == "120", answers[20]
    assert ping_round_trip(sweeper, 1) < SOON  # refused, not dropped
    # Someone at another address still pairs by code.
    creator = connect(relay.port, identity=1, source=ELSEWHERE)
    joiner = connect(relay.port, identity=2, source="127.0.0.3")
    for connection in (creator, joiner):
        connection.handshake()
    code_session(creator, joiner)


# -- item 4: what the relay's log says about people -------------------------------------------


def accepting_invitations(connection: RawConnection, name: str) -> wire.Welcome:
    """``handshake``, but announcing that this client takes invitations."""
    connection._handshake = ClientHandshake(connection.identity, name, accept_invites=True)
    connection.write_body(connection._handshake.hello())
    return connection.finish_handshake()


def test_the_default_log_names_no_person_and_no_invitation(make_relay, make_cli, connect, keys):
    assert build_parser().parse_args([]).log_level == "INFO"  # the default is what we test
    relay = make_relay("--log-level", "INFO")
    invitee = connect(relay.port, identity=0)
    inviter = connect(relay.port, identity=1)
    accepting_invitations(invitee, "invitee")
    inviter.handshake("inviter")

    inviter.send(wire.Invite(to=invitee.identity.fingerprint, ref=1))
    assert isinstance(inviter.recv(), wire.InviteSent)
    invitation = invitee.recv()
    assert isinstance(invitation, wire.Invitation), invitation
    invitee.send(wire.Accept(session=invitation.session))
    for side in (invitee, inviter):
        assert isinstance(side.recv(), wire.Paired)
    inviter.send(wire.LeaveSession(session=invitation.session))
    assert invitee.recv() == wire.PeerLeft(session=invitation.session)
    alice, bob = pair(make_cli, relay.addr)  # and a session by code, between CLIs
    exchange(alice, bob, "hello")
    for cli in (alice, bob):
        cli.stop()
    for connection in (invitee, inviter):
        connection.close()
    relay.wait_for_log(
        lambda lines: sum("disconnected" in line for line in lines) >= 4,
        timeout=SOON,
        what="every connection to be logged as closed",
    )

    log = "\n".join(relay.log)
    assert "connected from 127.0.0.1" in log  # connections are logged, by number and address
    for index in range(len(keys.identity_pems)):
        person = keys.identity(index).fingerprint
        assert person[:8] not in log, f"the log names person {person[:8]}:\n{log}"
        assert format_fingerprint(person)[:9] not in log, f"the log names {person[:8]}:\n{log}"
    for word in ("invit", "authenticated", "accepted", "joined", "created session"):
        assert word not in log, f"the log says who did what ({word!r}):\n{log}"


def test_the_debug_log_is_where_identities_and_session_events_are(make_relay, connect):
    relay = make_relay("--log-level", "DEBUG")
    connection = connect(relay.port)
    connection.handshake()
    relay.wait_for_log(
        lambda lines: any(
            f"authenticated as {connection.identity.fingerprint[:16]}" in line for line in lines
        ),
        timeout=SOON,
        what="the DEBUG line naming the identity",
    )
