"""The relay against misbehaving raw connections: it answers with an error frame, drops the
offender, and keeps serving everyone else."""

from __future__ import annotations

import time

import pytest

from messenger.crypto.aead import random_bytes
from messenger.crypto.kdf import stretch_password
from messenger.protocol import wire
from messenger.protocol.errors import BusyError, WrongPasswordError
from messenger.protocol.framing import encode_frame
from messenger.protocol.packets import PacketKind
from messenger.protocol.password_handshake import (
    HandshakeComplete,
    PasswordHandshake,
    Role,
    SendPacket,
)
from tests.integration.conftest import exchange, pair
from tests.support import event

pytestmark = pytest.mark.timeout(60)


def fatal_error_then_close(connection, timeout: float = 10.0) -> wire.Error:
    """The relay's last word: exactly one fatal error frame, then the connection closes."""
    messages = connection.recv_until_closed(timeout)
    assert connection.eof, "the relay must close the connection"
    assert len(messages) == 1 and isinstance(messages[0], wire.Error), messages
    assert messages[0].fatal, messages[0]
    return messages[0]


def client_hello(version: int = wire.PROTOCOL_VERSION) -> wire.ClientHello:
    return wire.ClientHello(version=version, eph=random_bytes(32), nonce=random_bytes(32))


# -- malformed input --------------------------------------------------------------------------


def test_garbage_instead_of_a_client_hello_is_answered_and_dropped(relay, make_raw):
    rogue = make_raw(relay.port)

    rogue.send_bytes(encode_frame(b"\xc1 this is not msgpack"))

    assert fatal_error_then_close(rogue).code == "protocol"
    make_raw(relay.port).handshake()  # the relay still serves a new client


def test_a_sealed_frame_with_a_malformed_body_is_dropped_while_a_paired_session_goes_on(
    relay, make_cli, make_raw
):
    alice, bob = pair(make_cli, relay.addr)
    exchange(alice, bob, "before the garbage")
    rogue = make_raw(relay.port)
    rogue.handshake()

    rogue.write_body(b"\xc1 sealed properly, but not msgpack inside")

    assert fatal_error_then_close(rogue).code == "protocol"
    exchange(alice, bob, "after the garbage")
    exchange(bob, alice, "and back")


def test_a_frame_that_fails_transport_authentication_is_answered_as_tampered(relay, make_raw):
    rogue = make_raw(relay.port)
    rogue.handshake()

    rogue.send_bytes(encode_frame(b"\x00" * 40))  # not sealed with the connection's key

    assert fatal_error_then_close(rogue).code == "tampered"
    make_raw(relay.port).handshake()


def test_an_oversized_length_prefix_is_refused_before_any_body_arrives(relay, make_raw):
    rogue = make_raw(relay.port)
    rogue.handshake()

    rogue.send_bytes(b"\xff\xff\xff\xff")

    assert fatal_error_then_close(rogue).code == "frame_too_large"
    make_raw(relay.port).handshake()


def test_a_client_hello_with_the_wrong_version_gets_a_fatal_error(relay, make_raw):
    stranger = make_raw(relay.port)

    stranger.write_body(wire.encode(client_hello(version=wire.PROTOCOL_VERSION + 1)))

    error = fatal_error_then_close(stranger)
    assert error.code == "protocol"
    assert str(wire.PROTOCOL_VERSION) in error.message


# -- timeouts ---------------------------------------------------------------------------------


def test_a_connection_that_never_says_hello_is_closed_after_the_handshake_timeout(
    make_relay, make_raw
):
    relay = make_relay("--handshake-timeout", "1")
    silent = make_raw(relay.port)
    started = time.monotonic()

    error = fatal_error_then_close(silent, timeout=10)

    assert error.code == "timeout"
    assert 0.5 < time.monotonic() - started < 8
    make_raw(relay.port).handshake()


def test_an_idle_connection_is_closed_after_the_idle_timeout(make_relay, make_raw):
    relay = make_relay("--idle-timeout", "1")
    idle = make_raw(relay.port)
    assert idle.handshake().idle_timeout == 1.0
    started = time.monotonic()

    error = fatal_error_then_close(idle, timeout=10)

    assert error.code == "timeout"
    assert 0.5 < time.monotonic() - started < 8


@pytest.mark.parametrize("idle", [1.0, 2.0], ids=["one-second", "two-seconds"])
def test_a_quiet_cli_session_survives_the_idle_timeout(make_relay, make_cli, make_raw, idle):
    relay = make_relay("--idle-timeout", str(idle))
    alice, bob = pair(make_cli, relay.addr)
    exchange(alice, bob, "before the quiet")
    idler = make_raw(relay.port)
    idler.handshake()

    # Deliberate pacing, not a wait: the session must stay quiet for well over the idle
    # timeout, so only the client's keepalive pings keep its connections open.
    time.sleep(max(2.0, 1.5 * idle))

    assert fatal_error_then_close(idler, timeout=5).code == "timeout"
    for side in (alice, bob):
        assert side.running and not side.of("error"), side.describe()
        assert not side.of("peer_left"), side.describe()
    exchange(alice, bob, "after the quiet")
    exchange(bob, alice, "reply after the quiet")


# -- burning a session number -----------------------------------------------------------------


def run_password_handshake(creator, joiner, session: str, salt: bytes, passwords) -> None:
    """Drive both sides of the PAKE over the relay; raise what the creator's side raises.

    PBKDF2 runs with one iteration: both sides are ours, and the relay never sees it.
    """
    sides = {}
    roles = ((creator, Role.CREATOR, passwords[0]), (joiner, Role.JOINER, passwords[1]))
    for connection, role, password in roles:
        handshake = PasswordHandshake(role, session, salt)
        sides[role] = (connection, handshake)
        for out in handshake.start(stretch_password(password, handshake.salt, iterations=1)):
            connection.send(wire.Relay(session=session, data=out.data))
    # Each side gets the peer's PAKE message (the joiner answers with its confirmation, the
    # creator waits for it), then the creator gets the joiner's confirmation and fails.
    for _round in range(2):
        for role in (Role.JOINER, Role.CREATOR):
            connection, handshake = sides[role]
            if _round == 1 and role is Role.JOINER:
                continue  # the creator sends nothing more to a wrong guess
            packet = connection.recv()
            assert isinstance(packet, wire.Relay), packet
            try:
                events = handshake.receive(packet.data)
            except WrongPasswordError:
                if role is Role.CREATOR:
                    raise
                continue
            for out in events:
                assert not isinstance(out, HandshakeComplete), "different passwords paired"
                if isinstance(out, SendPacket):
                    connection.send(wire.Relay(session=session, data=out.data))


def test_three_failed_pairings_burn_the_session_number(relay, make_raw):
    creator = make_raw(relay.port, identity=0)
    creator.handshake("creator")
    salt = random_bytes(wire.SALT_SIZE)
    creator.send(wire.CreateSession(salt=salt, ref=1))
    created = creator.recv()
    assert isinstance(created, wire.SessionCreated) and created.ref == 1, created
    session = created.session

    for attempt in range(1, 4):
        joiner = make_raw(relay.port, identity=attempt)
        joiner.handshake(f"guesser {attempt}")
        joiner.send(wire.JoinSession(session=session))
        for side in (creator, joiner):
            paired = side.recv()
            assert isinstance(paired, wire.Paired) and paired.salt == salt, paired
        with pytest.raises(WrongPasswordError):
            run_password_handshake(
                creator, joiner, session, salt, ("the real one", f"guess {attempt}")
            )
        creator.send(wire.PairingFailed(session=session))
        told = joiner.recv()
        assert isinstance(told, wire.Error) and told.code == "wrong_password", told
        assert told.session == session and not told.fatal
        if attempt == 3:
            burned = creator.recv()
            assert isinstance(burned, wire.Error) and burned.code == "session_burned", burned
            assert burned.session == session and not burned.fatal
        joiner.close()

    late = make_raw(relay.port, identity=1)
    late.handshake("fourth guesser")
    late.send(wire.JoinSession(session=session))
    refused = late.recv()
    assert isinstance(refused, wire.Error) and refused.code == "session_burned", refused
    assert refused.session == session and not refused.fatal
    creator.send(wire.CreateSession(salt=salt, ref=2))
    fresh = creator.recv()
    assert isinstance(fresh, wire.SessionCreated) and fresh.session != session, fresh


# -- shutdown and load ------------------------------------------------------------------------


def test_sigterm_stops_the_relay_cleanly_and_connected_chats_say_so_and_wait_for_it(
    relay, make_cli
):
    alice, bob = pair(make_cli, relay.addr)
    exchange(alice, bob, "just before shutdown")

    assert relay.stop(timeout=5) == 0

    for side in (alice, bob):
        lost = side.wait_for(event("reconnecting"))
        assert lost["code"] == "server_unreachable", lost
        assert relay.addr in lost["message"], lost
        assert side.running, "a conversation outlives its connection"
        side.close_stdin()  # nothing is waiting for a receipt: they end cleanly
        assert side.wait_exit() == 0, side.describe()
        assert "Traceback" not in side.stderr, side.stderr


def test_fifty_connections_hit_the_per_address_limit_and_the_relay_recovers(
    relay, make_cli, make_raw
):
    limit = 32  # ServerConfig.max_connections_per_address
    crowd = [make_raw(relay.port, identity=i) for i in range(50)]
    for connection in crowd:
        connection.say_hello("crowd")
    welcomed, refused = [], []
    for connection in crowd:
        try:
            connection.finish_handshake()
            welcomed.append(connection)
        except BusyError:
            refused.append(connection)

    assert len(welcomed) == limit
    assert len(refused) == 50 - limit

    for connection in welcomed[:2]:
        connection.close()
    relay.wait_for_log(
        lambda lines: sum("disconnected" in line for line in lines) >= 50 - limit + 2,
        timeout=10,
        what="the refused and the two closed connections to be gone",
    )
    alice, bob = pair(make_cli, relay.addr)
    exchange(alice, bob, "through the crowd")
    exchange(bob, alice, "and back")


# -- code sweeping ----------------------------------------------------------------------------


def test_a_wrong_guess_gets_nothing_from_the_creator_that_could_test_it(relay, make_cli, make_raw):
    """The sweeping attack: join a live code with a guess, read the creator's key
    confirmation (which says whether the guess was right) and walk away unseen. The real
    creator (messenger-cli) must not send its confirmation before checking the joiner's:
    all a wrong guesser ever gets is the creator's SPAKE2 message and ``wrong_password``."""
    bob = make_cli(relay.addr, "create", "--password", "correct horse", name="bob")
    session = bob.wait_for(event("code"))["session"]
    guesser = make_raw(relay.port, identity=1)
    guesser.handshake("guesser")
    guesser.send(wire.JoinSession(session=session))
    paired = guesser.recv()
    assert isinstance(paired, wire.Paired), paired
    handshake = PasswordHandshake(Role.JOINER, session, paired.salt)
    for out in handshake.start(stretch_password("wrong horse", handshake.salt)):
        guesser.send(wire.Relay(session=session, data=out.data))

    received = []
    while True:
        message = guesser.recv()
        received.append(message)
        if not isinstance(message, wire.Relay):
            break
        for out in handshake.receive(message.data):  # our confirmation goes back at once
            assert isinstance(out, SendPacket)
            guesser.send(wire.Relay(session=session, data=out.data))

    kinds = [PacketKind(m.data[1]).name for m in received if isinstance(m, wire.Relay)]
    assert kinds == ["PAKE"], received
    assert isinstance(received[-1], wire.Error) and received[-1].code == "wrong_password"
    assert bob.wait_for(event("wrong_password"))["tries_left"] == 2
