"""Key rotation in RSA sessions: every ROTATE carries a fresh X25519 share.

Channels are paired the way an RSA session pairs them: with ``ratchet=`` set to each side's
handshake share and the other's public share. Most tests make the two shares directly (cheap);
one runs a real RsaHandshake. Unlike password sessions, the next key cannot be computed from
the old key alone: it also needs the receiver's private share.
"""

from __future__ import annotations

import os
import random
from collections import deque
from dataclasses import dataclass

import pytest

from messenger.crypto.aead import counter_nonce, open_sealed
from messenger.crypto.errors import AuthenticationError
from messenger.crypto.x25519 import EphemeralKey
from messenger.protocol import ratchet
from messenger.protocol.channel import (
    ROTATE_HEADER,
    ROTATE_HEADER_SIZE,
    Direction,
    SecureChannel,
    next_epoch_key,
)
from messenger.protocol.errors import ReplayedError, TamperedError
from messenger.protocol.packets import PacketKind
from messenger.protocol.password_handshake import HandshakeComplete, Role, SendPacket
from messenger.protocol.ratchet import DhRatchet
from messenger.protocol.rsa_handshake import RsaHandshake

SESSION = "7"
#: Where the fields of a ROTATE header sit: version:1 kind:1 epoch:4 seq:8 ref:4 share:32.
REF_AT = 14
SHARE_AT = 18


@dataclass
class Pair:
    alice: SecureChannel  # the creator
    bob: SecureChannel  # the joiner
    alice_eph: EphemeralKey
    bob_eph: EphemeralKey
    c2j: bytes
    j2c: bytes


def rsa_pair(session=SESSION) -> Pair:
    alice_eph, bob_eph = EphemeralKey.generate(), EphemeralKey.generate()
    c2j, j2c = os.urandom(32), os.urandom(32)
    alice = SecureChannel(
        session, c2j, j2c, Direction.CREATOR_TO_JOINER, ratchet=(alice_eph, bob_eph.public_bytes)
    )
    bob = SecureChannel(
        session, j2c, c2j, Direction.JOINER_TO_CREATOR, ratchet=(bob_eph, alice_eph.public_bytes)
    )
    return Pair(alice, bob, alice_eph, bob_eph, c2j, j2c)


def rotate_fields(record):
    """(epoch, seq, ref, share) of a ROTATE record."""
    _version, kind, epoch, seq, ref, share = ROTATE_HEADER.unpack_from(record)
    assert kind == PacketKind.ROTATE
    return epoch, seq, ref, share


def with_byte_flipped(record, index):
    out = bytearray(record)
    out[index] ^= 0x01
    return bytes(out)


def exchange(sender, receiver, text):
    return receiver.open(sender.seal(text))


# --- what a ROTATE carries --------------------------------------------------------------------


def test_a_rotation_in_an_rsa_session_carries_a_fresh_32_byte_share():
    pair = rsa_pair()
    first, second = pair.alice.rotate_send(), pair.alice.rotate_send()
    (e1, s1, ref1, share1), (e2, s2, ref2, share2) = rotate_fields(first), rotate_fields(second)
    assert (e1, s1, ref1) == (1, 0, 0)
    assert (e2, s2, ref2) == (2, 1, 0)  # bob has announced nothing newer than his handshake share
    assert len(share1) == len(share2) == 32
    assert bytes(32) not in (share1, share2)
    assert share1 != share2
    assert pair.alice_eph.public_bytes not in (share1, share2)


def test_the_receiver_follows_a_rotation_and_keeps_reading():
    pair = rsa_pair()
    assert exchange(pair.alice, pair.bob, b"before") == b"before"
    assert pair.bob.open(pair.alice.rotate_send()) is None
    assert (pair.alice.send_epoch, pair.bob.recv_epoch) == (1, 1)
    assert exchange(pair.alice, pair.bob, b"after") == b"after"
    assert exchange(pair.bob, pair.alice, b"and back") == b"and back"


def test_the_new_key_is_the_old_key_mixed_with_a_fresh_agreement():
    pair = rsa_pair()
    record = pair.alice.rotate_send()
    epoch, seq, _ref, share = rotate_fields(record)
    mix = pair.bob_eph.agree(share)
    nonce = counter_nonce(Direction.CREATOR_TO_JOINER, seq)
    aad = record[:ROTATE_HEADER_SIZE] + SESSION.encode()
    body = record[ROTATE_HEADER_SIZE:]
    assert open_sealed(next_epoch_key(pair.c2j, epoch, mix), nonce, body, aad)
    # The password-mode derivation (no mix) does not give this key.
    with pytest.raises(AuthenticationError):
        open_sealed(next_epoch_key(pair.c2j, epoch), nonce, body, aad)


def test_a_rotation_from_an_rsa_session_does_not_open_in_a_password_session():
    pair = rsa_pair()
    password_bob = SecureChannel(SESSION, pair.j2c, pair.c2j, Direction.JOINER_TO_CREATOR)
    with pytest.raises(TamperedError):
        password_bob.open(pair.alice.rotate_send())


def test_a_rotation_without_a_share_is_refused_in_an_rsa_session():
    # The relay cannot downgrade an RSA session to password-style rotation.
    pair = rsa_pair()
    password_alice = SecureChannel(SESSION, pair.c2j, pair.j2c, Direction.CREATOR_TO_JOINER)
    with pytest.raises(TamperedError):
        pair.bob.open(password_alice.rotate_send())


def test_a_rotation_refers_to_the_newest_share_the_peer_announced():
    pair = rsa_pair()
    for _ in range(3):
        pair.alice.open(pair.bob.rotate_send())
    _, _, ref, _ = rotate_fields(pair.alice.rotate_send())
    assert ref == 3


# --- both directions, in any order ------------------------------------------------------------


def test_both_sides_rotating_at_the_same_moment_still_works_both_ways():
    pair = rsa_pair()
    from_alice = pair.alice.rotate_send()
    from_bob = pair.bob.rotate_send()  # before bob has seen alice's
    assert rotate_fields(from_alice)[2] == rotate_fields(from_bob)[2] == 0
    assert pair.bob.open(from_alice) is None
    assert pair.alice.open(from_bob) is None
    assert exchange(pair.alice, pair.bob, b"hi bob") == b"hi bob"
    assert exchange(pair.bob, pair.alice, b"hi alice") == b"hi alice"
    # ... and again, each now referring to the other's crossing share.
    from_alice, from_bob = pair.alice.rotate_send(), pair.bob.rotate_send()
    assert rotate_fields(from_alice)[2] == rotate_fields(from_bob)[2] == 1
    assert pair.bob.open(from_alice) is None
    assert pair.alice.open(from_bob) is None
    assert exchange(pair.alice, pair.bob, b"still") == b"still"
    assert exchange(pair.bob, pair.alice, b"fine") == b"fine"


def test_rotations_in_flight_while_the_other_side_rotates_several_times():
    pair = rsa_pair()
    from_alice = [pair.alice.rotate_send(), pair.alice.seal(b"a1"), pair.alice.rotate_send()]
    from_bob = [pair.bob.rotate_send(), pair.bob.rotate_send(), pair.bob.seal(b"b1")]
    assert [pair.bob.open(r) for r in from_alice] == [None, b"a1", None]
    assert [pair.alice.open(r) for r in from_bob] == [None, None, b"b1"]
    assert exchange(pair.alice, pair.bob, b"a2") == b"a2"
    assert exchange(pair.bob, pair.alice, b"b2") == b"b2"


def test_fifty_rotations_interleaved_with_messages_both_ways():
    pair = rsa_pair()
    rng = random.Random(20240607)
    to_bob, to_alice = deque(), deque()
    sent = {"alice": [], "bob": []}
    got = {"alice": [], "bob": []}
    rotations = 0
    for step in range(400):
        action = rng.choice(["alice says", "bob says", "alice rotates", "bob rotates", "deliver"])
        if action == "alice says":
            sent["alice"].append(f"a{step}".encode())
            to_bob.append(pair.alice.seal(sent["alice"][-1]))
        elif action == "bob says":
            sent["bob"].append(f"b{step}".encode())
            to_alice.append(pair.bob.seal(sent["bob"][-1]))
        elif action == "alice rotates":
            to_bob.append(pair.alice.rotate_send())
            rotations += 1
        elif action == "bob rotates":
            to_alice.append(pair.bob.rotate_send())
            rotations += 1
        for queue, receiver, name in ((to_bob, pair.bob, "bob"), (to_alice, pair.alice, "alice")):
            for _ in range(rng.randint(0, 2) if action == "deliver" else 0):
                if queue:
                    payload = receiver.open(queue.popleft())
                    if payload is not None:
                        got[name].append(payload)
    for queue, receiver, name in ((to_bob, pair.bob, "bob"), (to_alice, pair.alice, "alice")):
        while queue:
            payload = receiver.open(queue.popleft())
            if payload is not None:
                got[name].append(payload)
    assert rotations >= 50
    assert got["bob"] == sent["alice"]
    assert got["alice"] == sent["bob"]
    assert pair.bob.recv_epoch == pair.alice.send_epoch
    assert pair.alice.recv_epoch == pair.bob.send_epoch


def test_a_real_rsa_handshake_sets_up_the_rotation_ratchet(rsa_keys):
    alice = RsaHandshake(Role.CREATOR, SESSION, rsa_keys.alice, rsa_keys.bob.public)
    bob = RsaHandshake(Role.JOINER, SESSION, rsa_keys.bob, rsa_keys.alice.public)
    (init,) = alice.start()
    (response,) = bob.receive(init.data)
    confirm, alice_done = alice.receive(response.data)
    (bob_done,) = bob.receive(confirm.data)
    assert isinstance(confirm, SendPacket)
    assert isinstance(alice_done, HandshakeComplete) and isinstance(bob_done, HandshakeComplete)

    def channel(keys):
        return SecureChannel(
            SESSION, keys.send_key, keys.recv_key, keys.send_direction, ratchet=keys.ratchet
        )

    a, b = channel(alice_done.keys), channel(bob_done.keys)
    for n in range(5):
        assert b.open(a.rotate_send()) is None
        assert exchange(a, b, f"to bob {n}".encode()) == f"to bob {n}".encode()
        assert a.open(b.rotate_send()) is None
        assert exchange(b, a, f"to alice {n}".encode()) == f"to alice {n}".encode()
    assert (a.send_epoch, b.recv_epoch, b.send_epoch, a.recv_epoch) == (5, 5, 5, 5)


# --- a relay that changes a ROTATE ------------------------------------------------------------


@pytest.mark.parametrize("offset", [0, 15, 31])
def test_a_rotate_with_a_flipped_share_byte_is_tampered(offset):
    pair = rsa_pair()
    record = pair.alice.rotate_send()
    with pytest.raises(TamperedError):
        pair.bob.open(with_byte_flipped(record, SHARE_AT + offset))
    assert pair.bob.recv_epoch == 0
    assert pair.bob.open(record) is None  # the refusal changed nothing
    assert exchange(pair.alice, pair.bob, b"after") == b"after"


def test_a_rotate_referring_to_an_epoch_of_ours_that_never_existed_is_tampered():
    pair = rsa_pair()
    record = pair.alice.rotate_send()
    with pytest.raises(TamperedError):
        pair.bob.open(with_byte_flipped(record, REF_AT + 3))  # ref 0 -> 1: bob has no epoch 1


def test_a_rotate_replayed_after_it_was_followed_is_replayed():
    pair = rsa_pair()
    record = pair.alice.rotate_send()
    pair.bob.open(record)
    with pytest.raises(ReplayedError):
        pair.bob.open(record)


def test_a_rotate_from_another_rsa_session_is_tampered():
    stranger = rsa_pair().alice.rotate_send()
    with pytest.raises(TamperedError):
        rsa_pair().bob.open(stranger)


# --- the ratchet's private shares -------------------------------------------------------------


def test_our_older_shares_are_dropped_once_the_peer_refers_to_a_newer_one():
    peer = EphemeralKey.generate()
    dh = DhRatchet.from_handshake(EphemeralKey.generate(), peer.public_bytes)
    for epoch in (1, 2, 3):
        dh.next_send(epoch)
    assert sorted(dh.my_shares) == [0, 1, 2, 3]
    newer_peer_share = EphemeralKey.generate().public_bytes
    dh.commit_receive(peer_epoch=1, reference=2, peer_public=newer_peer_share)
    assert sorted(dh.my_shares) == [2, 3]
    assert (dh.peer_share, dh.peer_share_epoch) == (newer_peer_share, 1)
    with pytest.raises(TamperedError):
        dh.mix_for_receive(1, EphemeralKey.generate().public_bytes)


def test_a_share_the_peer_may_still_refer_to_is_kept():
    peer = EphemeralKey.generate()
    dh = DhRatchet.from_handshake(EphemeralKey.generate(), peer.public_bytes)
    dh.next_send(1)
    dh.commit_receive(peer_epoch=1, reference=0, peer_public=EphemeralKey.generate().public_bytes)
    assert sorted(dh.my_shares) == [0, 1]


def test_the_mix_for_receive_matches_the_senders_mix():
    alice_eph, bob_eph = EphemeralKey.generate(), EphemeralKey.generate()
    alice = DhRatchet.from_handshake(alice_eph, bob_eph.public_bytes)
    bob = DhRatchet.from_handshake(bob_eph, alice_eph.public_bytes)
    mix, reference, share = alice.next_send(1)
    assert reference == 0
    assert bob.mix_for_receive(reference, share) == mix
    with pytest.raises(TamperedError):
        bob.mix_for_receive(reference, bytes(32))  # a low-order share agrees on nothing


def test_kept_shares_are_bounded(monkeypatch):
    monkeypatch.setattr(ratchet, "MAX_KEPT_SHARES", 3)
    dh = DhRatchet.from_handshake(EphemeralKey.generate(), EphemeralKey.generate().public_bytes)
    for epoch in range(1, 11):
        dh.next_send(epoch)
        assert len(dh.my_shares) <= 3
    assert sorted(dh.my_shares) == [8, 9, 10]


def test_a_peer_that_lags_past_the_bound_is_refused_but_one_within_it_is_followed(monkeypatch):
    monkeypatch.setattr(ratchet, "MAX_KEPT_SHARES", 3)
    pair = rsa_pair()
    # bob has read alice's two rotations: his rotation refers to her epoch 2, still kept.
    for _ in range(2):
        pair.bob.open(pair.alice.rotate_send())
    assert pair.alice.open(pair.bob.rotate_send()) is None
    # Now alice rotates three more times before bob reads any: bob still refers to epoch 2,
    # which alice dropped to stay within the bound.
    lagging = [pair.alice.rotate_send() for _ in range(3)]
    with pytest.raises(TamperedError):
        pair.alice.open(pair.bob.rotate_send())
    assert [pair.bob.open(r) for r in lagging] == [None, None, None]
