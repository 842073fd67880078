"""Active attackers between alice's CLI and the relay.

On the wire, the sealed client-relay transport stops a network attacker at the first
modified frame. Behind it, a relay that has turned hostile (played here by a proxy holding
the relay's key) sees every ``relay`` message; the end-to-end layer must still catch a
flipped bit, a replay or a drop, and nothing the attacker touched may be shown.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from messenger.protocol import wire
from messenger.protocol.packets import PACKET_VERSION, PacketKind
from tests.integration.conftest import (
    DOWN,
    UP,
    NextFrame,
    ended_by_the_attack,
    exchange,
    pair,
    relay_closed_a_tampered_connection,
)
from tests.support import event

pytestmark = pytest.mark.timeout(60)

RECORD_PREFIX = bytes((PACKET_VERSION, PacketKind.RECORD))


class RecordAttack:
    """A proxy hook that lets alice's sealed records pass, except the ``nth`` (1-based) one,
    which ``attack`` replaces with a list of relay bodies (modified, doubled or none)."""

    def __init__(self, nth: int, attack: Callable[[wire.Relay], list[wire.Relay]]) -> None:
        self.nth = nth
        self.attack = attack
        self.seen = 0
        self.fired = threading.Event()

    def __call__(self, direction: str, body: bytes) -> list[bytes] | None:
        if direction != UP:
            return None
        message = wire.decode(body)
        if not isinstance(message, wire.Relay) or not message.data.startswith(RECORD_PREFIX):
            return None  # hello, join, handshake packets, pings: not sealed records
        self.seen += 1
        if self.seen != self.nth:
            return None
        self.fired.set()
        return [wire.encode(replacement) for replacement in self.attack(message)]


def flip_last_bit(record: wire.Relay) -> list[wire.Relay]:
    data = bytearray(record.data)
    data[-1] ^= 0x01  # inside the GCM tag
    return [wire.Relay(session=record.session, data=bytes(data))]


def send_twice(record: wire.Relay) -> list[wire.Relay]:
    return [record, record]


def swallow(record: wire.Relay) -> list[wire.Relay]:
    return []


def pair_through_proxy(relay, make_cli, make_proxy, hook, terminate=True):
    """bob talks to the relay directly; alice (the joiner) goes through the proxy."""
    proxy = make_proxy(relay.port, hook, terminate=terminate)
    alice, bob = pair(make_cli, relay.addr, proxy.addr)
    return proxy, alice, bob


def test_a_flipped_bit_in_a_sealed_record_ends_the_session_as_tampered(relay, make_cli, make_proxy):
    attack = RecordAttack(2, flip_last_bit)
    proxy, alice, bob = pair_through_proxy(relay, make_cli, make_proxy, attack)
    exchange(alice, bob, "first, untouched")

    alice.send("second, tampered with")

    ended_by_the_attack(bob, "tampered", attack, proxy)
    assert bob.texts() == ["first, untouched"]
    assert len(alice.of("delivered")) == 1, "the tampered message must not be confirmed"


def test_a_replayed_record_ends_the_session_as_replayed_and_shows_the_text_once(
    relay, make_cli, make_proxy
):
    attack = RecordAttack(2, send_twice)
    proxy, alice, bob = pair_through_proxy(relay, make_cli, make_proxy, attack)
    exchange(alice, bob, "first")

    alice.send("second, sent twice by the attacker")

    ended_by_the_attack(bob, "replayed", attack, proxy)
    assert bob.texts() in (["first"], ["first", "second, sent twice by the attacker"])


def test_a_dropped_record_is_detected_as_reordering_at_the_next_one(relay, make_cli, make_proxy):
    attack = RecordAttack(2, swallow)
    proxy, alice, bob = pair_through_proxy(relay, make_cli, make_proxy, attack)
    exchange(alice, bob, "first")

    alice.send("second, swallowed by the attacker")
    alice.send("third, after the gap")

    ended_by_the_attack(bob, "replayed", attack, proxy)
    assert bob.texts() == ["first"], "nothing after the gap may be shown"


# -- the network attacker: sealed transport frames ----------------------------------------------


def flip_the_last_bit(body: bytes) -> list[bytes]:
    return [body[:-1] + bytes([body[-1] ^ 0x01])]


def test_a_flipped_bit_on_the_way_to_the_relay_closes_alices_connection(
    relay, make_cli, make_proxy
):
    attack = NextFrame(UP, flip_the_last_bit)
    proxy, alice, bob = pair_through_proxy(relay, make_cli, make_proxy, attack, terminate=False)
    exchange(alice, bob, "first, untouched")
    attack.armed.set()

    alice.send("second, tampered with on the wire")

    ended_by_the_attack(alice, "tampered", attack, proxy)
    bob.wait_for(event("peer_left"))
    assert bob.texts() == ["first, untouched"]
    relay_closed_a_tampered_connection(relay)


def test_a_flipped_bit_on_the_way_from_the_relay_ends_alices_session_as_tampered(
    relay, make_cli, make_proxy
):
    attack = NextFrame(DOWN, flip_the_last_bit)
    proxy, alice, bob = pair_through_proxy(relay, make_cli, make_proxy, attack, terminate=False)
    exchange(bob, alice, "first, untouched")
    attack.armed.set()

    bob.send("second, tampered with on the wire")

    ended_by_the_attack(alice, "tampered", attack, proxy)
    assert alice.texts() == ["first, untouched"]
    bob.wait_for(event("peer_left"))
