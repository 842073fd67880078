"""The RSA session handshake between two people: RSA_INIT -> RSA_RESPONSE -> CONFIRM.

Alice (the initiator, Role.CREATOR) and Bob (the responder, Role.JOINER) each hold their own
identity key and the other's pinned public key. A fake link hands every SendPacket to the
other side; ``tamper`` sees each packet on the way, as the relay would. Mallory has a valid
key of her own but not Alice's or Bob's.
"""

from __future__ import annotations

import re

import msgpack
import pytest

from messenger.protocol.channel import Direction
from messenger.protocol.errors import (
    AuthenticationFailedError,
    LocalProtocolError,
    RemoteProtocolError,
)
from messenger.protocol.packets import PACKET_VERSION, PacketKind, make_packet
from messenger.protocol.password_handshake import HandshakeComplete, Role, SendPacket
from messenger.protocol.rsa_handshake import RsaHandshake, rsa_safety_number
from tests.unit.handshakes import converse

SESSION = "7"


def alice_to(keys, peer=None, session=SESSION, me=None):
    """Alice's side, inviting Bob (or ``peer``)."""
    me = me or keys.alice
    return RsaHandshake(Role.CREATOR, session, me, (peer or keys.bob).public)


def bob_from(keys, peer=None, session=SESSION, me=None):
    """Bob's side, expecting Alice (or ``peer``)."""
    me = me or keys.bob
    return RsaHandshake(Role.JOINER, session, me, (peer or keys.alice).public)


def run(initiator, responder, tamper=None):
    """Start the initiator and deliver packets both ways until nothing is in flight."""
    return converse(initiator, responder, initiator.start(), tamper=tamper)


def packet_of(events):
    (send,) = [e for e in events if isinstance(e, SendPacket)]
    return send.data


def edit_half(packet, **changes):
    """Change fields of an RSA_INIT or RSA_RESPONSE on the wire (a msgpack map after 2 bytes)."""
    fields = msgpack.unpackb(packet[2:], raw=False)
    fields.update(changes)
    return packet[:2] + msgpack.packb(fields, use_bin_type=True)


def field_of(packet, name):
    return msgpack.unpackb(packet[2:], raw=False)[name]


def flipped(data, index=0):
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)


# --- two honest people ------------------------------------------------------------------------


def test_alice_and_bob_complete_with_mirrored_keys(rsa_keys):
    alice, bob = run(alice_to(rsa_keys), bob_from(rsa_keys))
    assert (alice.error, bob.error) == (None, None)
    assert alice.keys.send_key == bob.keys.recv_key
    assert alice.keys.recv_key == bob.keys.send_key
    assert alice.keys.send_key != alice.keys.recv_key
    assert len(alice.keys.send_key) == len(alice.keys.recv_key) == 32
    assert alice.keys.send_direction is Direction.CREATOR_TO_JOINER
    assert bob.keys.send_direction is Direction.JOINER_TO_CREATOR


def test_both_see_the_same_sixty_digit_safety_number_from_the_two_fingerprints(rsa_keys):
    alice, bob = run(alice_to(rsa_keys), bob_from(rsa_keys))
    a_fp, b_fp = rsa_keys.alice.fingerprint, rsa_keys.bob.fingerprint
    assert alice.keys.safety == bob.keys.safety
    assert re.fullmatch(r"\d{5}( \d{5}){11}", alice.keys.safety)
    assert alice.keys.safety == rsa_safety_number(a_fp, b_fp) == rsa_safety_number(b_fp, a_fp)


def test_the_safety_number_is_the_same_every_session_but_differs_for_another_person(rsa_keys):
    first, _ = run(alice_to(rsa_keys, session="7"), bob_from(rsa_keys, session="7"))
    second, _ = run(alice_to(rsa_keys, session="12"), bob_from(rsa_keys, session="12"))
    assert first.keys.safety == second.keys.safety
    assert first.keys.send_key != second.keys.send_key
    with_mallory = rsa_safety_number(rsa_keys.alice.fingerprint, rsa_keys.mallory.fingerprint)
    assert with_mallory != first.keys.safety


def test_each_side_emits_exactly_the_expected_events(rsa_keys):
    alice, bob = alice_to(rsa_keys), bob_from(rsa_keys)
    init_events = alice.start()
    assert [type(e) for e in init_events] == [SendPacket]
    assert init_events[0].data[:2] == bytes((PACKET_VERSION, PacketKind.RSA_INIT))

    response_events = bob.receive(init_events[0].data)
    assert [type(e) for e in response_events] == [SendPacket]
    assert response_events[0].data[:2] == bytes((PACKET_VERSION, PacketKind.RSA_RESPONSE))

    confirm_events = alice.receive(response_events[0].data)
    assert [type(e) for e in confirm_events] == [SendPacket, HandshakeComplete]
    assert confirm_events[0].data[:2] == bytes((PACKET_VERSION, PacketKind.CONFIRM))

    done_events = bob.receive(confirm_events[0].data)
    assert [type(e) for e in done_events] == [HandshakeComplete]
    assert done_events[0].keys.send_key == confirm_events[1].keys.recv_key


def test_the_fake_link_sees_init_response_confirm(rsa_keys):
    alice, bob = run(alice_to(rsa_keys), bob_from(rsa_keys))
    assert alice.seen == ["RSA_INIT", "CONFIRM", "complete"]
    assert bob.seen == ["RSA_RESPONSE", "complete"]


def test_states_progress_from_idle_to_confirmed(rsa_keys):
    alice, bob = alice_to(rsa_keys), bob_from(rsa_keys)
    assert (alice.state, alice.done, bob.state, bob.done) == ("idle", False, "idle", False)
    init = packet_of(alice.start())
    assert (alice.state, alice.done) == ("sent_init", False)
    response = packet_of(bob.receive(init))
    assert (bob.state, bob.done) == ("sent_response", False)
    confirm = packet_of(alice.receive(response))
    assert (alice.state, alice.done) == ("confirmed", True)
    bob.receive(confirm)
    assert (bob.state, bob.done) == ("confirmed", True)


def test_both_sides_get_matching_x25519_shares_to_start_the_rotation_ratchet(rsa_keys):
    alice, bob = run(alice_to(rsa_keys), bob_from(rsa_keys))
    a_mine, a_peer = alice.keys.ratchet
    b_mine, b_peer = bob.keys.ratchet
    assert a_mine.public_bytes == b_peer
    assert b_mine.public_bytes == a_peer
    assert a_mine.agree(a_peer) == b_mine.agree(b_peer)


def test_the_ratchet_shares_come_from_the_handshake_messages(rsa_keys):
    alice, bob = alice_to(rsa_keys), bob_from(rsa_keys)
    init = packet_of(alice.start())
    response = packet_of(bob.receive(init))
    _, complete = alice.receive(response)
    assert complete.keys.ratchet[1] == field_of(response, "eph")
    assert complete.keys.ratchet[0].public_bytes == field_of(init, "eph")


# --- someone else's key -----------------------------------------------------------------------


def test_an_init_signed_by_mallory_is_refused_by_bob_who_expects_alice(rsa_keys):
    from_mallory = alice_to(rsa_keys, me=rsa_keys.mallory)
    init = packet_of(from_mallory.start())
    bob = bob_from(rsa_keys)
    with pytest.raises(AuthenticationFailedError):
        bob.receive(init)
    assert bob.state == "failed"


def test_a_response_signed_by_mallory_is_refused_by_alice_who_expects_bob(rsa_keys):
    alice = alice_to(rsa_keys)
    alice.start()
    # mallory answers with a genuine response of her own, from a handshake alice had with her.
    mallory = bob_from(rsa_keys, me=rsa_keys.mallory)
    init_for_mallory = packet_of(alice_to(rsa_keys, peer=rsa_keys.mallory).start())
    response_from_mallory = packet_of(mallory.receive(init_for_mallory))
    with pytest.raises(AuthenticationFailedError):
        alice.receive(response_from_mallory)
    assert alice.state == "failed"


def test_an_init_for_bob_delivered_to_someone_else_is_refused(rsa_keys):
    init = packet_of(alice_to(rsa_keys).start())
    carol = bob_from(rsa_keys, me=rsa_keys.mallory)  # carol also expects alice
    with pytest.raises(AuthenticationFailedError):
        carol.receive(init)


def test_an_init_replayed_into_another_session_is_refused(rsa_keys):
    init = packet_of(alice_to(rsa_keys, session="7").start())
    with pytest.raises(AuthenticationFailedError):
        bob_from(rsa_keys, session="8").receive(init)


# --- tampering on the way ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["wrapped", "eph", "nonce", "signature"])
def test_a_flipped_byte_in_any_field_of_the_init_is_refused(rsa_keys, name):
    init = packet_of(alice_to(rsa_keys).start())
    tampered = edit_half(init, **{name: flipped(field_of(init, name), 5)})
    bob = bob_from(rsa_keys)
    with pytest.raises(AuthenticationFailedError):
        bob.receive(tampered)
    assert bob.state == "failed"


@pytest.mark.parametrize("name", ["wrapped", "eph", "nonce", "signature"])
def test_a_flipped_byte_in_any_field_of_the_response_is_refused(rsa_keys, name):
    def tamper(receiver, packet):
        if packet[1] != PacketKind.RSA_RESPONSE:
            return packet
        return edit_half(packet, **{name: flipped(field_of(packet, name), 5)})

    alice, bob = run(alice_to(rsa_keys), bob_from(rsa_keys), tamper=tamper)
    assert isinstance(alice.error, AuthenticationFailedError)
    assert alice.seen == ["RSA_INIT"]
    assert bob.seen == ["RSA_RESPONSE"]  # bob never completes without alice's CONFIRM
    assert bob.handshake.state == "sent_response"


@pytest.mark.parametrize(
    "change",
    [
        lambda mac: flipped(mac, -1),
        lambda mac: flipped(mac, 2),
        lambda mac: mac[:2],
        lambda mac: mac[:3],
        lambda mac: mac[:-1],
        lambda mac: mac + b"\x00",
    ],
    ids=["last byte flipped", "first byte flipped", "empty", "one byte", "31 bytes", "33 bytes"],
)
def test_a_tampered_or_truncated_confirm_is_refused(rsa_keys, change):
    def tamper(receiver, packet):
        return change(packet) if packet[1] == PacketKind.CONFIRM else packet

    _, bob = run(alice_to(rsa_keys), bob_from(rsa_keys), tamper=tamper)
    assert isinstance(bob.error, AuthenticationFailedError)
    assert bob.seen == ["RSA_RESPONSE"]
    assert bob.handshake.state == "failed"


def test_a_replayed_init_gets_a_response_but_the_replayer_cannot_complete(rsa_keys):
    alice, bob = alice_to(rsa_keys), bob_from(rsa_keys)
    init = packet_of(alice.start())
    confirm = packet_of(alice.receive(packet_of(bob.receive(init))))
    assert bob.receive(confirm)  # the real session completed

    # Later, the relay replays that init and that confirm to a fresh handshake of bob's.
    bob_again = bob_from(rsa_keys)
    response = bob_again.receive(init)
    assert [PacketKind(e.data[1]) for e in response] == [PacketKind.RSA_RESPONSE]
    with pytest.raises(AuthenticationFailedError):
        bob_again.receive(confirm)
    assert not bob_again.done


def test_a_replayed_init_with_a_made_up_confirm_is_refused(rsa_keys):
    init = packet_of(alice_to(rsa_keys).start())
    bob = bob_from(rsa_keys)
    bob.receive(init)
    with pytest.raises(AuthenticationFailedError):
        bob.receive(make_packet(PacketKind.CONFIRM, bytes(32)))


# --- messages out of place --------------------------------------------------------------------


def test_a_response_before_any_init_is_a_protocol_error(rsa_keys):
    alice, bob = alice_to(rsa_keys), bob_from(rsa_keys)
    response = packet_of(bob.receive(packet_of(alice.start())))
    with pytest.raises(RemoteProtocolError):
        bob_from(rsa_keys).receive(response)
    with pytest.raises(RemoteProtocolError):
        alice_to(rsa_keys).receive(response)  # alice has not started


def test_a_confirm_at_the_initiator_is_a_protocol_error(rsa_keys):
    alice = alice_to(rsa_keys)
    alice.start()
    with pytest.raises(RemoteProtocolError):
        alice.receive(make_packet(PacketKind.CONFIRM, bytes(32)))
    assert alice.state == "failed"


def test_a_second_init_is_a_protocol_error(rsa_keys):
    init = packet_of(alice_to(rsa_keys).start())
    bob = bob_from(rsa_keys)
    bob.receive(init)
    with pytest.raises(RemoteProtocolError):
        bob.receive(init)
    assert bob.state == "failed"


def test_an_init_reflected_to_the_initiator_is_a_protocol_error(rsa_keys):
    alice = alice_to(rsa_keys)
    init = packet_of(alice.start())
    with pytest.raises(RemoteProtocolError):
        alice.receive(init)


def test_two_initiators_cannot_pair(rsa_keys):
    bob_initiating = RsaHandshake(Role.CREATOR, SESSION, rsa_keys.bob, rsa_keys.alice.public)
    alice, bob = run(alice_to(rsa_keys), bob_initiating)
    assert isinstance(bob.error, RemoteProtocolError)
    assert alice.seen == ["RSA_INIT"]
    assert bob.seen == []


def test_only_the_initiator_starts_and_only_once(rsa_keys):
    with pytest.raises(LocalProtocolError):
        bob_from(rsa_keys).start()
    alice = alice_to(rsa_keys)
    alice.start()
    with pytest.raises(LocalProtocolError):
        alice.start()


@pytest.mark.parametrize(
    "body",
    [b"", b"\xc1", b"garbage" * 5, msgpack.packb({"type": "rsa_half"}), bytes(3000)],
    ids=["empty", "invalid msgpack", "text", "missing fields", "oversized"],
)
def test_a_garbage_init_is_a_protocol_error(rsa_keys, body):
    bob = bob_from(rsa_keys)
    with pytest.raises(RemoteProtocolError):
        bob.receive(make_packet(PacketKind.RSA_INIT, body))
    assert bob.state == "failed"


@pytest.mark.parametrize(("name", "size"), [("eph", 31), ("eph", 33), ("nonce", 16), ("nonce", 33)])
def test_handshake_values_of_the_wrong_size_are_a_protocol_error(rsa_keys, name, size):
    init = packet_of(alice_to(rsa_keys).start())
    with pytest.raises(RemoteProtocolError):
        bob_from(rsa_keys).receive(edit_half(init, **{name: bytes(size)}))


def test_after_a_failure_every_further_packet_is_refused(rsa_keys):
    alice = alice_to(rsa_keys)
    init = packet_of(alice.start())
    bob = bob_from(rsa_keys)
    with pytest.raises(AuthenticationFailedError):
        bob.receive(edit_half(init, signature=flipped(field_of(init, "signature"))))
    with pytest.raises(LocalProtocolError):
        bob.receive(init)  # even the genuine init
    assert bob.state == "failed"


@pytest.mark.parametrize(
    "packet", [b"\x01", bytes((PACKET_VERSION, 0x7F)), bytes((9, PacketKind.RSA_INIT))]
)
def test_a_packet_of_unknown_kind_or_version_fails_the_handshake(rsa_keys, packet):
    bob = bob_from(rsa_keys)
    with pytest.raises(RemoteProtocolError):
        bob.receive(packet)
    assert bob.state == "failed"
