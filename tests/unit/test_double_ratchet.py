"""The double ratchet: messages flow both ways from the start, in any order within the bounds,
exactly once; keys are forgotten once used; a stolen state stops working once both sides have
stepped; anything modified, replayed or out of bounds is refused and changes nothing.

Alice is the initiator (ratchet key A0), Bob the responder (B0); both keys and the shared
secret come from their first meeting. Every test that expects a refusal also checks that the
refusing side's saved state is byte for byte what it was.
"""

from __future__ import annotations

import itertools
import os
import struct
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from messenger.crypto.aead import TAG_SIZE
from messenger.crypto.kdf import hkdf_sha256
from messenger.crypto.mac import hmac_sha512
from messenger.crypto.x25519 import EphemeralKey
from messenger.protocol import double_ratchet_state as saved
from messenger.protocol.double_ratchet import (
    HEADER,
    HEADER_SIZE,
    Header,
    Ratchet,
    RatchetLimits,
    kdf_ck,
    kdf_rk,
    message_cipher_keys,
)
from messenger.protocol.errors import (
    DamagedStateError,
    LocalProtocolError,
    RemoteProtocolError,
    ReplayedError,
    TamperedError,
    TooFarAheadError,
)
from messenger.protocol.skipped_keys import SkippedKey, SkippedKeys

AD = b"alice-fingerprint|bob-fingerprint"
DAY = 24 * 3600.0


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def meet(
    clock: Callable[[], float] | None = None, limits: RatchetLimits | None = None
) -> tuple[Ratchet, Ratchet]:
    """A first meeting: a shared secret and the two initial ratchet keys, then both sides."""
    sk = os.urandom(32)
    a0, b0 = EphemeralKey.generate(), EphemeralKey.generate()
    now = clock or Clock()
    alice = Ratchet.initiator(sk, a0, b0.public_bytes, now=now, limits=limits)
    bob = Ratchet.responder(sk, b0, a0.public_bytes, now=now, limits=limits)
    return alice, bob


def refused_without_change(
    side: Ratchet, message: bytes, error: type[Exception], ad: bytes = AD
) -> None:
    before = side.to_bytes()
    with pytest.raises(error):
        side.decrypt(message, ad)
    assert side.to_bytes() == before


def with_header(message: bytes, **fields: int | bytes) -> bytes:
    version, key, pn, n = HEADER.unpack_from(message)
    values = {"version": version, "key": key, "pn": pn, "n": n} | fields
    return (
        HEADER.pack(values["version"], values["key"], values["pn"], values["n"])
        + message[HEADER_SIZE:]
    )


def header_of(message: bytes) -> Header:
    return Header.parse(message)


# --- construction ------------------------------------------------------------------------


def test_the_kdfs_are_the_documented_hkdf_and_hmac_constructions() -> None:
    rk, dh, ck, mk = (os.urandom(32) for _ in range(4))
    both = hkdf_sha256(dh, 64, salt=rk, info=b"messenger v3 ratchet root")
    assert kdf_rk(rk, dh) == (both[:32], both[32:])
    chain = hmac_sha512(ck, b"\x01")
    assert kdf_ck(ck) == (chain[:32], chain[32:])
    assert message_cipher_keys(mk, 7) == (mk, b"MSG1" + (7).to_bytes(8, "big"))


def test_the_header_is_version_ratchet_key_pn_and_n_in_41_bytes() -> None:
    alice, _bob = meet()
    message = alice.encrypt(b"hi", AD)
    assert HEADER_SIZE == 41
    assert message[0] == 1
    assert struct.unpack(">II", message[33:41]) == (0, 0)
    assert header_of(alice.encrypt(b"again", AD)).n == 1


def test_the_responder_announces_a_fresh_key_and_the_initiator_keeps_a0() -> None:
    sk = os.urandom(32)
    a0, b0 = EphemeralKey.generate(), EphemeralKey.generate()
    alice = Ratchet.initiator(sk, a0, b0.public_bytes)
    bob = Ratchet.responder(sk, b0, a0.public_bytes)
    assert header_of(alice.encrypt(b"", AD)).ratchet_key == a0.public_bytes
    bob_key = header_of(bob.encrypt(b"", AD)).ratchet_key
    assert bob_key not in (a0.public_bytes, b0.public_bytes)


def test_a_shared_secret_of_the_wrong_length_is_refused() -> None:
    a0, b0 = EphemeralKey.generate(), EphemeralKey.generate()
    with pytest.raises(LocalProtocolError):
        Ratchet.initiator(bytes(31), a0, b0.public_bytes)


def test_a_low_order_initial_peer_key_is_refused() -> None:
    with pytest.raises(RemoteProtocolError):
        Ratchet.responder(os.urandom(32), EphemeralKey.generate(), bytes(32))


# --- honest traffic ----------------------------------------------------------------------


def test_messages_flow_both_ways_from_the_start() -> None:
    alice, bob = meet()
    to_bob = alice.encrypt(b"hello bob", AD)
    to_alice = bob.encrypt(b"hello alice", AD)
    assert alice.decrypt(to_alice, AD) == b"hello alice"
    assert bob.decrypt(to_bob, AD) == b"hello bob"
    for turn in range(5):
        assert bob.decrypt(alice.encrypt(b"a%d" % turn, AD), AD) == b"a%d" % turn
        assert alice.decrypt(bob.encrypt(b"b%d" % turn, AD), AD) == b"b%d" % turn


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_two_first_messages_each_way_open_in_any_interleaving(order: tuple[int, ...]) -> None:
    alice, bob = meet()
    sent = [
        (bob, alice.encrypt(b"a1", AD), b"a1"),
        (alice, bob.encrypt(b"b1", AD), b"b1"),
        (bob, alice.encrypt(b"a2", AD), b"a2"),
        (alice, bob.encrypt(b"b2", AD), b"b2"),
    ]
    for index in order:
        receiver, message, text = sent[index]
        assert receiver.decrypt(message, AD) == text
    # And the conversation goes on after that.
    assert bob.decrypt(alice.encrypt(b"a3", AD), AD) == b"a3"
    assert alice.decrypt(bob.encrypt(b"b3", AD), AD) == b"b3"


_OPS = st.lists(
    st.tuples(
        st.sampled_from(["send", "deliver", "heal", "replay"]),
        st.sampled_from(["alice", "bob"]),
        st.integers(min_value=0, max_value=1000),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(ops=_OPS)
def test_random_interleavings_and_delays_deliver_every_message_exactly_once(ops) -> None:
    alice, bob = meet()
    sides = {"alice": alice, "bob": bob}
    peer = {"alice": "bob", "bob": "alice"}
    in_flight: dict[str, list[tuple[bytes, bytes]]] = {"alice": [], "bob": []}  # to that side
    delivered: dict[str, list[bytes]] = {"alice": [], "bob": []}
    sent: dict[str, Counter[bytes]] = {"alice": Counter(), "bob": Counter()}  # to that side
    received: dict[str, Counter[bytes]] = {"alice": Counter(), "bob": Counter()}
    counter = itertools.count()

    def deliver(name: str, index: int) -> None:
        message, text = in_flight[name].pop(index)
        assert sides[name].decrypt(message, AD) == text
        received[name][text] += 1
        delivered[name].append(message)

    for op, name, pick in ops:
        side, other = sides[name], peer[name]
        if op == "send":
            text = f"{name} {next(counter)}".encode()
            in_flight[other].append((side.encrypt(text, AD), text))
            sent[other][text] += 1
        elif op == "heal" and side.needs_announce:
            in_flight[other].append((side.encrypt(b"", AD), b""))
            sent[other][b""] += 1
            assert not side.needs_announce
        elif op == "deliver" and in_flight[name]:
            deliver(name, pick % len(in_flight[name]))
        elif op == "replay" and delivered[name]:
            refused_without_change(
                side, delivered[name][pick % len(delivered[name])], ReplayedError
            )
    for name in ("alice", "bob"):
        while in_flight[name]:
            deliver(name, len(in_flight[name]) // 2)
    assert received == sent
    assert alice.skipped_count == bob.skipped_count == 0
    for name in ("alice", "bob"):
        for message in delivered[name]:
            refused_without_change(sides[name], message, ReplayedError)


def test_messages_out_of_order_within_a_chain_open_once_each() -> None:
    alice, bob = meet()
    messages = [alice.encrypt(b"m%d" % i, AD) for i in range(10)]
    for i in (9, 3, 0, 7, 1, 2, 8, 4, 6, 5):
        assert bob.decrypt(messages[i], AD) == b"m%d" % i
    assert bob.skipped_count == 0


def test_late_messages_of_a_previous_chain_open_after_the_peer_stepped() -> None:
    alice, bob = meet()
    early = [alice.encrypt(b"early %d" % i, AD) for i in range(3)]
    assert alice.decrypt(bob.encrypt(b"turn", AD), AD) == b"turn"  # Alice steps
    later = alice.encrypt(b"later", AD)
    assert header_of(later).pn == 3
    assert bob.decrypt(later, AD) == b"later"  # Bob skips early 0..2 by PN, then steps
    assert bob.skipped_count == 3
    for i in (2, 0, 1):
        assert bob.decrypt(early[i], AD) == b"early %d" % i
    assert bob.skipped_count == 0


# --- bounds ------------------------------------------------------------------------------


def test_skipping_exactly_max_skip_keys_is_allowed() -> None:
    alice, bob = meet(limits=RatchetLimits(max_skip=50))
    messages = [alice.encrypt(b"%d" % i, AD) for i in range(51)]
    assert bob.decrypt(messages[50], AD) == b"50"
    assert bob.skipped_count == 50
    assert bob.decrypt(messages[0], AD) == b"0"


def test_a_message_beyond_max_skip_in_the_current_chain_is_refused_without_state_change() -> None:
    alice, bob = meet()
    assert bob.decrypt(alice.encrypt(b"first", AD), AD) == b"first"
    for _ in range(1000):
        alice.encrypt(b"lost", AD)
    too_far = alice.encrypt(b"too far", AD)  # n = 1001: 1000 skipped would be fine, 1001 not
    assert header_of(too_far).n == 1001
    with pytest.raises(TooFarAheadError, match="1000"):
        bob.decrypt(with_header(too_far, n=1002), AD)
    refused_without_change(bob, with_header(too_far, n=1002), TooFarAheadError)
    assert bob.decrypt(too_far, AD) == b"too far"  # exactly max_skip keys skipped: allowed


def test_a_new_chain_asking_to_skip_too_many_is_refused_without_state_change() -> None:
    alice, bob = meet(limits=RatchetLimits(max_skip=10))
    first = bob.encrypt(b"b", AD)
    far_in_new_chain = with_header(first, n=11)
    refused_without_change(alice, far_in_new_chain, TooFarAheadError)
    assert alice.decrypt(first, AD) == b"b"
    # A step whose PN claims too many unseen messages in the chain it closes.
    assert bob.decrypt(alice.encrypt(b"a", AD), AD) == b"a"
    step = bob.encrypt(b"after the step", AD)
    refused_without_change(alice, with_header(step, pn=12), TooFarAheadError)


def test_skipped_keys_expire_by_age() -> None:
    clock = Clock()
    alice, bob = meet(clock, RatchetLimits(max_skipped_age=30 * DAY))
    messages = [alice.encrypt(b"%d" % i, AD) for i in range(4)]
    assert bob.decrypt(messages[3], AD) == b"3"
    assert bob.skipped_count == 3
    clock.now += 30 * DAY  # exactly at the limit: still kept
    assert bob.decrypt(messages[0], AD) == b"0"
    clock.now += 1
    refused_without_change(bob, messages[1], ReplayedError)  # its key is gone for good
    assert bob.decrypt(alice.encrypt(b"4", AD), AD) == b"4"  # the next change drops them
    assert bob.skipped_count == 0
    refused_without_change(bob, messages[2], ReplayedError)


def test_expired_skipped_keys_are_dropped_when_the_state_is_loaded() -> None:
    clock = Clock()
    alice, bob = meet(clock)
    messages = [alice.encrypt(b"%d" % i, AD) for i in range(3)]
    bob.decrypt(messages[2], AD)
    saved_state = bob.to_bytes()
    clock.now += 31 * DAY
    loaded = Ratchet.from_bytes(saved_state, now=clock)
    assert loaded.skipped_count == 0
    refused_without_change(loaded, messages[0], ReplayedError)


def test_skipped_keys_beyond_the_total_bound_drop_the_oldest() -> None:
    clock = Clock()
    alice, bob = meet(clock, RatchetLimits(max_skip=10, max_skipped=15))
    first = [alice.encrypt(b"first %d" % i, AD) for i in range(11)]
    bob.decrypt(first[10], AD)  # keeps 0..9
    clock.now += 1
    second = [alice.encrypt(b"second %d" % i, AD) for i in range(8)]
    bob.decrypt(second[7], AD)  # keeps 11..17 (7 more): 17 > 15, so first 0 and 1 go
    assert bob.skipped_count == 15
    refused_without_change(bob, first[0], ReplayedError)
    refused_without_change(bob, first[1], ReplayedError)
    assert bob.decrypt(first[2], AD) == b"first 2"
    assert bob.decrypt(second[0], AD) == b"second 0"


def test_the_default_limits_are_the_documented_ones() -> None:
    limits = RatchetLimits()
    assert (limits.max_skip, limits.max_skipped, limits.max_skipped_age) == (1000, 2000, 30 * DAY)


def test_a_sending_chain_refuses_to_go_past_its_counter() -> None:
    alice, _bob = meet()
    alice._ns = 2**32 - 1  # reaching it honestly takes 4 billion messages
    with pytest.raises(LocalProtocolError):
        alice.encrypt(b"one too many", AD)


# --- forward secrecy and recovery ---------------------------------------------------------


def test_a_snapshot_taken_after_receiving_cannot_open_earlier_messages() -> None:
    alice, bob = meet()
    chain_one = [alice.encrypt(b"old %d" % i, AD) for i in range(3)]
    for message in chain_one:
        bob.decrypt(message, AD)
    alice.decrypt(bob.encrypt(b"turn", AD), AD)
    chain_two = [alice.encrypt(b"new %d" % i, AD) for i in range(3)]
    for message in chain_two:
        bob.decrypt(message, AD)
    stolen = Ratchet.from_bytes(bob.to_bytes())
    for message in chain_one + chain_two:
        with pytest.raises(ReplayedError):
            stolen.decrypt(message, AD)
    # Nor by forcing it: none of the stolen keys (root, chains, skipped) opens an old message.
    record = saved.decode(bob.to_bytes())
    assert record.skipped == b""
    for key in (record.root_key, record.send_chain, record.recv_chain):
        assert key is not None
        ck = key
        for _ in range(5):
            ck, mk = kdf_ck(ck)
            for message in chain_one + chain_two:
                with pytest.raises(TamperedError):
                    _open_with(mk, message)


def _open_with(mk: bytes, message: bytes) -> bytes:
    from messenger.protocol.double_ratchet import _open

    return _open(mk, message, AD)


def test_a_snapshot_still_opens_messages_whose_keys_were_skipped_and_only_those() -> None:
    clock = Clock()
    alice, bob = meet(clock)
    messages = [alice.encrypt(b"%d" % i, AD) for i in range(3)]
    bob.decrypt(messages[2], AD)
    bob.decrypt(messages[0], AD)
    stolen = Ratchet.from_bytes(bob.to_bytes(), now=clock)
    assert stolen.decrypt(messages[1], AD) == b"1"  # never arrived: its key is still kept
    for i in (0, 2):
        with pytest.raises(ReplayedError):
            stolen.decrypt(messages[i], AD)


class Eavesdropper:
    """Someone who copied Alice's whole state and sees every message on the wire.

    ``reader`` is the copy itself: it opens what Bob sends (it steps along when Bob steps,
    since it holds Alice's private ratchet key). ``mirror`` is the copy turned around so its
    receiving chain is Alice's sending chain: it opens what Alice sends. That is all a thief
    can compute from the state; the test asks, message by message, whether it was enough.
    """

    def __init__(self, stolen: bytes) -> None:
        self.reader = Ratchet.from_bytes(stolen)
        self.mirror = Ratchet.from_bytes(stolen)
        mirror = self.mirror
        mirror._dhr = mirror._dhs.public_bytes
        mirror._ckr = bytearray(mirror._cks)
        mirror._nr = mirror._ns

    def reads(self, message: bytes, sender: str) -> bool:
        side = self.mirror if sender == "alice" else self.reader
        try:
            side.decrypt(message, AD)
        except (TamperedError, ReplayedError):
            return False
        return True


def test_after_a_key_leak_the_thief_reads_only_until_both_sides_have_stepped() -> None:
    alice, bob = meet()
    bob.decrypt(alice.encrypt(b"a1", AD), AD)
    alice.decrypt(bob.encrypt(b"b1", AD), AD)  # Alice steps: new key A1, not yet sent
    eve = Eavesdropper(alice.to_bytes())  # the leak: everything Alice has, A1's private half
    seen: list[tuple[str, bool]] = []

    def talk(sender: Ratchet, receiver: Ratchet, name: str, text: bytes) -> None:
        message = sender.encrypt(text, AD)
        assert receiver.decrypt(message, AD) == text  # the two of them never notice
        seen.append((text.decode(), eve.reads(message, name)))

    talk(bob, alice, "bob", b"b2")  # Bob's chain from before the leak
    talk(alice, bob, "alice", b"a2")  # Alice's chain on A1, stolen; Bob steps to B2
    talk(bob, alice, "bob", b"b3")  # B2 with A1: A1 is stolen, so still readable
    talk(alice, bob, "alice", b"a3")  # Alice stepped to a fresh A2: locked out
    talk(bob, alice, "bob", b"b4")  # Bob stepped to a fresh B3 on A2: locked out
    talk(alice, bob, "alice", b"a4")
    talk(bob, alice, "bob", b"b5")
    assert seen == [
        ("b2", True),
        ("a2", True),
        ("b3", True),
        ("a3", False),
        ("b4", False),
        ("a4", False),
        ("b5", False),
    ]


def test_a_one_way_conversation_heals_when_the_quiet_side_announces() -> None:
    alice, bob = meet()
    for i in range(3):
        bob.decrypt(alice.encrypt(b"a%d" % i, AD), AD)
    assert bob.needs_announce and not alice.needs_announce
    stolen = alice.to_bytes()

    # Without a heal, a thief of Alice's state reads everything Alice goes on to write.
    alice_twin, bob_twin = Ratchet.from_bytes(stolen), Ratchet.from_bytes(bob.to_bytes())
    eve = Eavesdropper(stolen)
    for i in range(3, 6):
        message = alice_twin.encrypt(b"a%d" % i, AD)
        bob_twin.decrypt(message, AD)
        assert eve.reads(message, "alice")

    # With one: Bob's empty message on the tick carries his unannounced key; Alice steps.
    eve = Eavesdropper(stolen)
    heal = bob.encrypt(b"", AD)
    assert not bob.needs_announce
    assert alice.decrypt(heal, AD) == b""
    assert alice.sending_steps == 1 and alice.needs_announce
    message = alice.encrypt(b"a3", AD)
    assert bob.decrypt(message, AD) == b"a3"
    assert not eve.reads(message, "alice")
    assert bob.needs_announce  # Bob stepped on Alice's new key: his next tick heals again


def test_needs_announce_and_sending_steps_follow_the_dh_steps() -> None:
    alice, bob = meet()
    assert (alice.needs_announce, alice.sending_steps) == (False, 0)  # Bob knows A0
    assert (bob.needs_announce, bob.sending_steps) == (True, 0)  # Alice does not know B1
    bob.decrypt(alice.encrypt(b"x", AD), AD)  # same key A0: no step
    assert (bob.needs_announce, bob.sending_steps) == (True, 0)
    alice.decrypt(bob.encrypt(b"y", AD), AD)
    assert (bob.needs_announce, bob.sending_steps) == (False, 0)
    assert (alice.needs_announce, alice.sending_steps) == (True, 1)
    alice.decrypt(bob.encrypt(b"z", AD), AD)  # same key B1: no new step
    assert alice.sending_steps == 1
    bob.decrypt(alice.encrypt(b"w", AD), AD)
    assert (alice.needs_announce, bob.needs_announce, bob.sending_steps) == (False, True, 1)


# --- tampering and replays ----------------------------------------------------------------


def _bob_with_a_skipped_key() -> tuple[Ratchet, Ratchet, list[bytes]]:
    alice, bob = meet()
    messages = [alice.encrypt(b"m%d" % i, AD) for i in range(4)]
    bob.decrypt(messages[0], AD)
    bob.decrypt(messages[2], AD)  # message 1's key is kept
    return alice, bob, messages


_HEADER_TAMPERING = {
    "version": lambda m: with_header(m, version=2),
    "ratchet key (random)": lambda m: with_header(m, key=EphemeralKey.generate().public_bytes),
    "ratchet key (low order)": lambda m: with_header(m, key=bytes(32)),
    "pn": lambda m: with_header(m, pn=header_of(m).pn + 1),
    "n (ahead)": lambda m: with_header(m, n=header_of(m).n + 5),
    "n (onto a skipped slot)": lambda m: with_header(m, n=1),
}


@pytest.mark.parametrize("tamper", list(_HEADER_TAMPERING.values()), ids=list(_HEADER_TAMPERING))
def test_a_tampered_header_field_is_refused_without_state_change(tamper) -> None:
    _alice, bob, messages = _bob_with_a_skipped_key()
    genuine = messages[3]
    refused_without_change(bob, tamper(genuine), TamperedError)
    assert bob.decrypt(genuine, AD) == b"m3"
    assert bob.decrypt(messages[1], AD) == b"m1"  # the skipped key survived the attempt


def test_a_tampered_header_of_a_dh_step_is_refused_without_state_change() -> None:
    alice, bob = meet()
    bob.decrypt(alice.encrypt(b"a", AD), AD)
    alice.decrypt(bob.encrypt(b"b", AD), AD)
    step = alice.encrypt(b"new key", AD)  # Bob has not seen this ratchet key yet
    for forged in (
        with_header(step, pn=header_of(step).pn + 2),
        with_header(step, n=3),
        with_header(step, key=EphemeralKey.generate().public_bytes),
    ):
        refused_without_change(bob, forged, TamperedError)
    assert bob.decrypt(step, AD) == b"new key"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda m: m[:HEADER_SIZE] + bytes([m[HEADER_SIZE] ^ 1]) + m[HEADER_SIZE + 1 :],
        lambda m: m[:-1] + bytes([m[-1] ^ 0x80]),
        lambda m: m[:-1],
        lambda m: m[: HEADER_SIZE + TAG_SIZE - 1],
        lambda m: m[:20],
        lambda m: m + b"\x00",
    ],
    ids=[
        "ciphertext bit",
        "tag bit",
        "one byte short",
        "shorter than a tag",
        "half a header",
        "extra byte",
    ],
)
def test_a_tampered_body_is_refused_without_state_change(tamper) -> None:
    _alice, bob, messages = _bob_with_a_skipped_key()
    for genuine in (messages[3], messages[1]):  # a fresh key and a skipped one
        refused_without_change(bob, tamper(genuine), TamperedError)
        assert bob.decrypt(genuine, AD).startswith(b"m")


def test_other_associated_data_is_refused() -> None:
    alice, bob = meet()
    message = alice.encrypt(b"for this conversation", AD)
    refused_without_change(bob, message, TamperedError, ad=b"another conversation")
    assert bob.decrypt(message, AD) == b"for this conversation"


def test_a_replayed_message_is_refused_and_never_opens() -> None:
    alice, bob = meet()
    current = alice.encrypt(b"current chain", AD)
    assert bob.decrypt(current, AD) == b"current chain"
    refused_without_change(bob, current, ReplayedError)
    late = alice.encrypt(b"late", AD)
    ahead = alice.encrypt(b"ahead", AD)
    bob.decrypt(ahead, AD)
    assert bob.decrypt(late, AD) == b"late"  # opened from its skipped key, which is deleted
    refused_without_change(bob, late, ReplayedError)
    alice.decrypt(bob.encrypt(b"turn", AD), AD)
    bob.decrypt(alice.encrypt(b"new chain", AD), AD)
    for old in (current, late, ahead):  # chains Bob has left behind
        refused_without_change(bob, old, ReplayedError)


def test_a_replay_older_than_the_remembered_chains_is_refused_as_tampering() -> None:
    alice, bob = meet(limits=RatchetLimits(max_past_chains=1))
    old = alice.encrypt(b"old", AD)
    bob.decrypt(old, AD)
    for _turn in range(2):  # two full turns: Bob forgets A0
        alice.decrypt(bob.encrypt(b"b", AD), AD)
        bob.decrypt(alice.encrypt(b"a", AD), AD)
    refused_without_change(bob, old, TamperedError)


def test_one_of_our_own_messages_sent_back_is_refused() -> None:
    alice, bob = meet()
    mine = bob.encrypt(b"mine", AD)
    refused_without_change(bob, mine, TamperedError)
    assert alice.decrypt(mine, AD) == b"mine"


def test_a_message_on_the_initiators_unused_b0_is_refused() -> None:
    sk = os.urandom(32)
    a0, b0 = EphemeralKey.generate(), EphemeralKey.generate()
    alice = Ratchet.initiator(sk, a0, b0.public_bytes)
    bob = Ratchet.responder(sk, b0, a0.public_bytes)
    forged = with_header(bob.encrypt(b"x", AD), key=b0.public_bytes)
    refused_without_change(alice, forged, TamperedError)


# --- padding -------------------------------------------------------------------------------


def test_short_messages_have_equal_lengths_and_repeats_differ() -> None:
    alice, _bob = meet()
    hi, bye, hi_again = (alice.encrypt(text, AD) for text in (b"hi", b"bye", b"hi"))
    assert len(hi) == len(bye) == HEADER_SIZE + 256 + TAG_SIZE
    assert hi[HEADER_SIZE:] != hi_again[HEADER_SIZE:]


# --- saving -------------------------------------------------------------------------------


def test_the_state_survives_a_round_trip_mid_conversation_with_its_skipped_keys() -> None:
    clock = Clock()
    alice, bob = meet(clock)
    bob.decrypt(alice.encrypt(b"a0", AD), AD)
    alice.decrypt(bob.encrypt(b"b0", AD), AD)
    pending = [alice.encrypt(b"p%d" % i, AD) for i in range(4)]
    bob.decrypt(pending[3], AD)
    in_flight = bob.encrypt(b"in flight", AD)
    bob = Ratchet.from_bytes(bob.to_bytes(), now=clock)
    alice = Ratchet.from_bytes(alice.to_bytes(), now=clock)
    assert bob.skipped_count == 3
    assert bob.to_bytes() == Ratchet.from_bytes(bob.to_bytes(), now=clock).to_bytes()
    assert alice.decrypt(in_flight, AD) == b"in flight"
    for i in (1, 0, 2):
        assert bob.decrypt(pending[i], AD) == b"p%d" % i
    refused_without_change(bob, pending[3], ReplayedError)
    assert bob.decrypt(alice.encrypt(b"on", AD), AD) == b"on"
    assert alice.decrypt(bob.encrypt(b"and on", AD), AD) == b"and on"
    # Alice stepped on b0, in_flight and "and on"; Bob on p3 and "on".
    assert (alice.sending_steps, bob.sending_steps) == (3, 2)


def _damaged_states() -> dict[str, bytes]:
    alice, bob = meet()
    messages = [alice.encrypt(b"%d" % i, AD) for i in range(3)]
    bob.decrypt(messages[2], AD)
    good = bob.to_bytes()
    record = saved.decode(good)

    def variant(**changes: Any) -> bytes:
        import dataclasses

        return saved.encode(dataclasses.replace(record, **changes))

    skipped = record.skipped_keys()[0]
    return {
        "empty": b"",
        "truncated": good[: len(good) // 2],
        "garbage": os.urandom(len(good)),
        "not a map": b"\x93\x01\x02\x03",
        "another record type": good.replace(b"double_ratchet", b"double_rotchet"),
        "unknown version": variant(version=2),
        "short root key": variant(root_key=bytes(31)),
        "short private key": variant(own_private=bytes(33)),
        "negative counter": variant(received=-1),
        "counter too big": variant(sent=2**32),
        "cut skipped key": variant(skipped=record.skipped[:-1]),
        "cut earlier chain": variant(past_chains=bytes(31)),
        "timeless skipped key": variant(
            skipped=saved.pack_skipped(
                [SkippedRecord(skipped.ratchet_key, 0, skipped.key, float("nan"))]
            )
        ),
    }


SkippedRecord = saved.SkippedRecord
_DAMAGED = _damaged_states()


@pytest.mark.parametrize("data", list(_DAMAGED.values()), ids=list(_DAMAGED))
def test_damaged_or_unknown_state_is_refused(data: bytes) -> None:
    with pytest.raises(DamagedStateError):
        Ratchet.from_bytes(data)


def test_an_unknown_state_version_is_named_in_the_error() -> None:
    with pytest.raises(DamagedStateError, match="version 2"):
        Ratchet.from_bytes(_DAMAGED["unknown version"])


def test_no_key_appears_in_any_repr() -> None:
    alice, bob = meet()
    messages = [alice.encrypt(b"%d" % i, AD) for i in range(3)]
    bob.decrypt(messages[2], AD)
    record = saved.decode(bob.to_bytes())
    secrets = [record.own_private, record.root_key, record.send_chain, record.recv_chain]
    secrets += [s.key for s in record.skipped_keys()]
    shown = " ".join(
        [
            repr(bob),
            str(bob),
            repr(record),
            repr(bob._skipped),
            repr(SkippedKey(bytearray(b"k" * 32), 1.0)),
        ]
    )
    for secret in secrets:
        assert secret is not None
        assert secret.hex() not in shown
        assert repr(secret)[2:-1] not in shown
    assert "k" * 32 not in shown


def test_used_and_evicted_keys_are_overwritten_in_place() -> None:
    store = SkippedKeys(max_keys=1, max_age=DAY)
    store.add([(b"k", 0)], [b"\x11" * 32], now=0.0)
    first = store._keys[(b"k", 0)].key
    store.add([(b"k", 1)], [b"\x22" * 32], now=0.0)  # evicts the first
    second = store._keys[(b"k", 1)].key
    store.pop((b"k", 1))
    assert first == second == bytearray(32)


def test_replaced_chain_and_root_keys_are_overwritten_in_place() -> None:
    alice, bob = meet()
    sending, root = alice._cks, alice._rk
    bob.decrypt(alice.encrypt(b"x", AD), AD)
    assert sending == bytearray(32)  # the chain key before this message
    receiving = alice._ckr
    assert receiving is None  # the initiator has no receiving chain before Bob writes
    alice.decrypt(bob.encrypt(b"y", AD), AD)  # a DH step replaces the root key
    assert root == bytearray(32)
    assert alice._cks != bytearray(32)
