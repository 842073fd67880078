"""The password handshake between creator and joiner: PBKDF2 output -> SPAKE2 -> confirmation.

Two PasswordHandshake objects are joined by a fake link that hands every SendPacket to the
other side, so each test reads as a conversation and checks what each side saw.
"""

import os
import re

import pytest

from messenger.crypto.kdf import stretch_password
from messenger.protocol import password_handshake
from messenger.protocol.channel import Direction
from messenger.protocol.errors import (
    LocalProtocolError,
    RemoteProtocolError,
    WrongPasswordError,
)
from messenger.protocol.packets import PACKET_VERSION, PacketKind, make_packet
from messenger.protocol.password_handshake import (
    CONFIRM_SIZE,
    HandshakeComplete,
    PasswordHandshake,
    Role,
    SendPacket,
    password_salt,
)
from tests.unit.handshakes import converse

SESSION = "7"
NONCE = bytes(range(16))
#: Stands in for stretch_password's output: any 32 bytes will do, and PBKDF2 is slow.
STRETCHED = b"s" * 32
OTHER_STRETCHED = b"t" * 32


def creator(session=SESSION, nonce=NONCE):
    return PasswordHandshake(Role.CREATOR, session, nonce)


def joiner(session=SESSION, nonce=NONCE):
    return PasswordHandshake(Role.JOINER, session, nonce)


def run(a, b, a_stretched=STRETCHED, b_stretched=STRETCHED, tamper=None):
    """Start both sides and deliver every packet to the other until nothing is in flight."""
    return converse(a, b, a.start(a_stretched), b.start(b_stretched), tamper)


def pake_from(handshake, stretched=STRETCHED):
    (send,) = handshake.start(stretched)
    return send.data


def at_the_joiners_confirm(j_stretched=STRETCHED):
    """A creator that has the joiner's PAKE (so it waits for a CONFIRM), that PAKE, and the
    CONFIRM the joiner, holding ``j_stretched``, sends back."""
    c, j = creator(), joiner()
    c_pake, j_pake = pake_from(c), pake_from(j, j_stretched)
    c.receive(j_pake)
    (j_confirm,) = j.receive(c_pake)
    return c, j_pake, j_confirm.data


def confirm_from(sender, peer):
    """Run the handshake up to ``sender``'s CONFIRM and return that packet."""
    peer_pake = pake_from(peer)
    pake_from(sender)
    (send,) = sender.receive(peer_pake)
    return send.data


# --- the same password ------------------------------------------------------------------------


def test_the_same_password_completes_on_both_sides_with_mirrored_keys():
    c, j = run(creator(), joiner())
    assert (c.error, j.error) == (None, None)
    assert c.seen == ["PAKE", "CONFIRM", "complete"]
    assert j.seen == ["PAKE", "CONFIRM", "complete"]
    assert c.keys.send_key == j.keys.recv_key
    assert c.keys.recv_key == j.keys.send_key
    assert c.keys.send_key != c.keys.recv_key
    assert len(c.keys.send_key) == len(c.keys.recv_key) == 32
    assert c.keys.send_direction is Direction.CREATOR_TO_JOINER
    assert j.keys.send_direction is Direction.JOINER_TO_CREATOR


def test_both_sides_show_the_same_sixty_digit_safety_number():
    c, j = run(creator(), joiner())
    assert c.keys.safety == j.keys.safety
    assert re.fullmatch(r"\d{5}( \d{5}){11}", c.keys.safety)


def test_each_run_makes_fresh_keys_even_with_the_same_password():
    first, _ = run(creator(), joiner())
    second, _ = run(creator(), joiner())
    assert first.keys.send_key != second.keys.send_key
    assert first.keys.safety != second.keys.safety


def test_the_same_typed_password_through_stretch_password_gives_matching_keys():
    c, j = creator(), joiner()
    c_stretched = stretch_password("orbit-lantern", c.salt)
    j_stretched = stretch_password("orbit-lantern", j.salt)
    c_side, j_side = run(c, j, c_stretched, j_stretched)
    assert c_side.keys.send_key == j_side.keys.recv_key
    assert c_side.keys.safety == j_side.keys.safety


def test_states_progress_from_need_key_to_confirmed():
    c, j = creator(), joiner()
    assert (c.state, c.done) == ("need_key", False)
    c_pake, j_pake = pake_from(c), pake_from(j)
    assert (c.state, c.done) == ("sent_pake", False)
    assert c.receive(j_pake) == []  # the creator confirms only after the joiner did
    assert (c.state, c.done) == ("know_key", False)
    (j_confirm,) = j.receive(c_pake)
    assert (j.state, j.done) == ("know_key", False)
    c_confirm, c_complete = c.receive(j_confirm.data)
    assert (c.state, c.done) == ("confirmed", True)
    (j_complete,) = j.receive(c_confirm.data)
    assert (j.state, j.done) == ("confirmed", True)
    assert c_complete.keys.send_key == j_complete.keys.recv_key


def test_a_pake_that_arrives_before_start_is_answered_at_start():
    c, j = creator(), joiner()
    c_pake = pake_from(c)
    assert j.receive(c_pake) == []
    assert j.state == "need_key"
    events = j.start(STRETCHED)
    assert [type(e) for e in events] == [SendPacket, SendPacket]
    assert [e.data[:2] for e in events] == [
        bytes((PACKET_VERSION, PacketKind.PAKE)),
        bytes((PACKET_VERSION, PacketKind.CONFIRM)),
    ]
    assert j.state == "know_key"
    assert c.receive(events[0].data) == []
    c_confirm, c_complete = c.receive(events[1].data)
    (j_complete,) = j.receive(c_confirm.data)
    assert c_complete.keys.send_key == j_complete.keys.recv_key


# --- different passwords, salts or sessions ---------------------------------------------------


def test_a_wrong_password_is_caught_by_the_creator_which_never_reveals_its_confirmation():
    c, j = run(creator(), joiner(), STRETCHED, OTHER_STRETCHED)
    assert isinstance(c.error, WrongPasswordError)
    # The creator failed on the joiner's CONFIRM and sent none of its own: the joiner holds
    # nothing that tells it whether its guess was right (the relay tells it it was not).
    assert c.seen == ["PAKE"]
    assert j.seen == ["PAKE", "CONFIRM"]
    assert j.error is None and not j.handshake.done
    assert (c.handshake.state, j.handshake.state) == ("failed", "know_key")


def test_a_joiner_that_withholds_its_confirmation_learns_nothing_about_its_guess():
    """The code-sweeping attack: guess, read the creator's confirmation, walk away without
    confirming (so the attempt is never counted). The creator must not answer first."""
    c, j = creator(), joiner()
    c_pake, j_pake = pake_from(c), pake_from(j)
    assert c.receive(j_pake) == []
    j.receive(c_pake)  # the joiner would now withhold this CONFIRM
    assert c.state == "know_key" and not c.done


def test_each_side_detects_a_wrong_password_without_hearing_from_the_other_side():
    c, _, j_confirm = at_the_joiners_confirm(OTHER_STRETCHED)
    with pytest.raises(WrongPasswordError):
        c.receive(j_confirm)


def test_different_salts_fail_as_a_wrong_password_even_with_equal_stretched_keys():
    c, j = run(creator(nonce=NONCE), joiner(nonce=bytes(16)))
    assert isinstance(c.error, WrongPasswordError)
    assert not j.handshake.done


def test_different_session_numbers_fail_as_a_wrong_password():
    c, j = run(creator(session="7"), joiner(session="8"))
    assert isinstance(c.error, WrongPasswordError)
    assert not j.handshake.done


def test_the_password_salt_depends_on_the_session_number_and_the_creators_nonce():
    salt = password_salt("7", NONCE)
    assert len(salt) == 32
    assert password_salt("7", NONCE) == salt
    assert password_salt("8", NONCE) != salt
    assert password_salt("7", bytes(16)) != salt
    assert creator().salt == joiner().salt == salt


# --- a peer or relay that breaks the rules ----------------------------------------------------


def test_a_confirm_before_any_pake_is_a_protocol_error():
    c = creator()
    pake_from(c)
    with pytest.raises(RemoteProtocolError):
        c.receive(make_packet(PacketKind.CONFIRM, bytes(CONFIRM_SIZE)))
    assert c.state == "failed"


def test_a_confirm_before_start_is_a_protocol_error():
    with pytest.raises(RemoteProtocolError):
        creator().receive(make_packet(PacketKind.CONFIRM, bytes(CONFIRM_SIZE)))


def test_a_second_pake_is_a_protocol_error():
    c, j = creator(), joiner()
    pake_from(c)
    j_pake = pake_from(j)
    c.receive(j_pake)
    with pytest.raises(RemoteProtocolError):
        c.receive(j_pake)
    assert c.state == "failed"


def test_two_pakes_before_start_are_a_protocol_error():
    j = joiner()
    c_pake = pake_from(creator())
    j.receive(c_pake)
    with pytest.raises(RemoteProtocolError):
        j.receive(c_pake)
    assert j.state == "failed"


@pytest.mark.parametrize(
    "body",
    [b"", b"\x00", b"garbage" * 5, bytes(33), b"\x42" * 100_000],
    ids=["empty", "one-byte", "text", "zeros", "huge"],
)
def test_a_garbage_pake_is_a_protocol_error(body):
    c = creator()
    pake_from(c)
    with pytest.raises(RemoteProtocolError):
        c.receive(make_packet(PacketKind.PAKE, body))
    assert c.state == "failed"


def test_a_garbage_pake_that_arrived_early_is_a_protocol_error_at_start():
    c = creator()
    assert c.receive(make_packet(PacketKind.PAKE, b"garbage")) == []
    with pytest.raises(RemoteProtocolError):
        c.start(STRETCHED)
    assert c.state == "failed"


def test_a_pake_reflected_back_to_its_sender_is_a_protocol_error():
    c = creator()
    c_pake = pake_from(c)
    with pytest.raises(RemoteProtocolError):
        c.receive(c_pake)


def test_two_creators_cannot_pair():
    a, b = run(creator(), creator())
    assert isinstance(a.error, RemoteProtocolError)
    assert isinstance(b.error, RemoteProtocolError)
    assert a.seen == b.seen == ["PAKE"]


def test_two_joiners_cannot_pair():
    a, b = run(joiner(), joiner())
    assert isinstance(a.error, RemoteProtocolError)
    assert isinstance(b.error, RemoteProtocolError)


@pytest.mark.parametrize("bit", [0, 7, 100, 8 * CONFIRM_SIZE - 1])
def test_a_confirm_with_one_bit_flipped_is_a_wrong_password(bit):
    def flip(receiver, packet):
        if packet[1] != PacketKind.CONFIRM:
            return packet
        flipped = bytearray(packet)
        flipped[2 + bit // 8] ^= 1 << (bit % 8)
        return bytes(flipped)

    c, j = run(creator(), joiner(), tamper=flip)
    # The joiner's CONFIRM is the one in flight first: the creator refuses it and never
    # sends its own, so the joiner is left without one.
    assert isinstance(c.error, WrongPasswordError)
    assert not j.handshake.done


@pytest.mark.parametrize("bit", [0, 7, 100, 255])
def test_a_creators_confirm_with_one_bit_flipped_is_a_wrong_password_for_the_joiner(bit):
    c, j = creator(), joiner()
    c_pake, j_pake = pake_from(c), pake_from(j)
    c.receive(j_pake)
    (j_confirm,) = j.receive(c_pake)
    c_confirm, _complete = c.receive(j_confirm.data)
    flipped = bytearray(c_confirm.data)
    flipped[2 + bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(WrongPasswordError):
        j.receive(bytes(flipped))


@pytest.mark.parametrize("length", [0, 1, CONFIRM_SIZE - 1])
def test_a_truncated_confirm_is_a_wrong_password(length):
    c, _, j_confirm = at_the_joiners_confirm()
    with pytest.raises(WrongPasswordError):
        c.receive(j_confirm[: 2 + length])


def test_a_confirm_with_bytes_appended_is_a_wrong_password():
    c, _, j_confirm = at_the_joiners_confirm()
    with pytest.raises(WrongPasswordError):
        c.receive(j_confirm + b"\x00")


def test_a_confirm_reflected_back_to_its_sender_is_a_wrong_password():
    c, j = creator(), joiner()
    c_pake, j_pake = pake_from(c), pake_from(j)
    c.receive(j_pake)
    (j_confirm,) = j.receive(c_pake)
    with pytest.raises(WrongPasswordError):
        j.receive(j_confirm.data)


def test_a_confirm_from_another_run_is_a_wrong_password():
    c1, j1 = creator(), joiner()
    pake_from(c1)
    j1_pake = pake_from(j1)
    c1.receive(j1_pake)
    stale_confirm = confirm_from(joiner(), creator())
    with pytest.raises(WrongPasswordError):
        c1.receive(stale_confirm)


class _IgnoresTheMessages:
    """A SPAKE2 stand-in whose shared secret ignores both messages: only the transcript can
    then notice a substituted message."""

    def __init__(self, password, idA, idB):
        self._message = os.urandom(33)

    def start(self):
        return self._message

    def finish(self, message):
        return b"the same secret whatever was said"


@pytest.mark.parametrize("substituted_on_the_way_to", [Role.CREATOR, Role.JOINER])
def test_the_confirmation_binds_both_pake_messages(monkeypatch, substituted_on_the_way_to):
    monkeypatch.setattr(password_handshake, "SPAKE2_A", _IgnoresTheMessages)
    monkeypatch.setattr(password_handshake, "SPAKE2_B", _IgnoresTheMessages)
    c, j = run(creator(), joiner())
    assert c.seen == j.seen == ["PAKE", "CONFIRM", "complete"]  # untouched, the keys agree

    def substitute_pake(receiver, packet):
        if packet[1] == PacketKind.PAKE and receiver.role is substituted_on_the_way_to:
            return make_packet(PacketKind.PAKE, os.urandom(33))
        return packet

    c, j = run(creator(), joiner(), tamper=substitute_pake)
    assert isinstance(c.error, WrongPasswordError)
    assert not j.handshake.done


# --- malformed packets ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "packet",
    [
        b"",
        bytes((PACKET_VERSION,)),
        bytes((PACKET_VERSION + 1, PacketKind.PAKE)) + bytes(33),
        bytes((0, PacketKind.PAKE)) + bytes(33),
        bytes((PACKET_VERSION, 0x99)) + bytes(33),
        make_packet(PacketKind.RECORD, bytes(64)),
    ],
    ids=["empty", "truncated", "newer-version", "version-0", "unknown-kind", "record"],
)
def test_a_malformed_packet_is_a_protocol_error(packet):
    c = creator()
    pake_from(c)
    with pytest.raises(RemoteProtocolError):
        c.receive(packet)


# --- misuse and the end of the road ----------------------------------------------------------


def test_after_a_failure_every_further_packet_is_refused():
    c, j_pake, j_confirm = at_the_joiners_confirm(OTHER_STRETCHED)
    with pytest.raises(WrongPasswordError):
        c.receive(j_confirm)
    for packet in (j_confirm, j_pake, make_packet(PacketKind.CONFIRM, bytes(32))):
        with pytest.raises(LocalProtocolError, match="already failed"):
            c.receive(packet)
    assert c.state == "failed"


def test_start_twice_is_refused():
    c = creator()
    c.start(STRETCHED)
    with pytest.raises(LocalProtocolError):
        c.start(STRETCHED)


def test_start_after_a_failure_is_refused():
    c = creator()
    with pytest.raises(RemoteProtocolError):
        c.receive(make_packet(PacketKind.CONFIRM, bytes(32)))
    with pytest.raises(LocalProtocolError):
        c.start(STRETCHED)


def test_a_completed_handshake_refuses_further_packets():
    c, _, j_confirm = at_the_joiners_confirm()
    c.receive(j_confirm)
    with pytest.raises(RemoteProtocolError):
        c.receive(j_confirm)


def test_session_keys_never_show_key_bytes_in_a_log_line():
    c, _ = run(creator(), joiner())
    keys = c.keys
    for text in (repr(keys), str(keys), repr(HandshakeComplete(keys)), f"{keys}"):
        for key in (keys.send_key, keys.recv_key):
            assert key.hex() not in text
            assert key.hex().upper() not in text
            assert repr(key) not in text
            assert repr(key)[2:-1] not in text
