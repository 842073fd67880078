"""Active attackers between alice's CLI and the relay.

On the wire, the sealed client-relay transport stops a network attacker at the first
modified frame. Behind it, a relay that has turned hostile (played here by a proxy holding
the relay's key) sees every ``relay`` message; the end-to-end layer must still catch a
flipped bit, a replay or a drop, and nothing the attacker touched may be shown.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable

import pytest

from messenger.protocol import wire
from tests.integration.conftest import (
    DOWN,
    UP,
    NextFrame,
    TcpProxy,
    exchange,
    pair,
    reconnected_after_the_attack,
    relay_closed_a_tampered_connection,
)
from tests.support import event

pytestmark = pytest.mark.timeout(60)

class EnvelopeAttack:
    """A proxy hook that lets alice's envelopes (``post``) pass, except the ``nth`` (1-based)
    one, which ``attack`` replaces with a list of posts (modified, doubled or none)."""

    def __init__(self, nth: int, attack: Callable[[wire.Post], list[wire.Post]]) -> None:
        self.nth = nth
        self.attack = attack
        self.seen = 0
        self.fired = threading.Event()

    def __call__(self, direction: str, body: bytes) -> list[bytes] | None:
        if direction != UP:
            return None
        message = wire.decode(body)
        if not isinstance(message, wire.Post):
            return None  # hello, join, handshake packets, pings, acks: not envelopes
        self.seen += 1
        if self.seen != self.nth:
            return None
        self.fired.set()
        return [wire.encode(replacement) for replacement in self.attack(message)]


def flip_last_bit(post: wire.Post) -> list[wire.Post]:
    data = bytearray(post.data)
    data[-1] ^= 0x01  # inside the GCM tag
    return [dataclasses.replace(post, data=bytes(data))]


def send_twice(post: wire.Post) -> list[wire.Post]:
    return [post, dataclasses.replace(post, ref=post.ref + 100_000)]


def swallow(post: wire.Post) -> list[wire.Post]:
    return []


_OPEN_PROXIES: list[TcpProxy] = []


@pytest.fixture(autouse=True)
def _close_terminating_proxies():
    yield
    while _OPEN_PROXIES:
        _OPEN_PROXIES.pop().close()


def pair_through_proxy(relay, make_cli, make_proxy, hook, terminate=True, keys=None):
    """bob talks to the relay directly; alice (the joiner) goes through the proxy. A
    terminating proxy speaks to the relay with alice's own key (pool identity 1, as
    ``make_cli`` gives the second CLI), so what others post to alice reaches her."""
    if terminate:
        assert keys is not None, "a terminating proxy needs the pool keys"
        proxy = TcpProxy(relay.port, hook, relay_key=keys.relay, identity=keys.identity(1))
        _OPEN_PROXIES.append(proxy)
    else:
        proxy = make_proxy(relay.port, hook)
    alice, bob = pair(make_cli, relay.addr, proxy.addr)
    return proxy, alice, bob


def test_a_flipped_bit_in_an_envelope_is_dropped_and_never_shown(
    relay, make_cli, make_proxy, keys
):
    attack = EnvelopeAttack(2, flip_last_bit)
    proxy, alice, bob = pair_through_proxy(relay, make_cli, make_proxy, attack, keys=keys)
    exchange(alice, bob, "first, untouched")

    alice.send("second, tampered with")

    assert bob.wait_for(event("dropped"))["reason"] == "tampered"
    assert attack.fired.is_set() and not proxy.errors
    exchange(alice, bob, "third, after the attack")
    assert bob.texts() == ["first, untouched", "third, after the attack"]
    assert len(alice.of("delivered")) == 2, "the tampered message must not be confirmed"


def test_a_replayed_envelope_is_shown_once(relay, make_cli, make_proxy, keys):
    attack = EnvelopeAttack(2, send_twice)
    proxy, alice, bob = pair_through_proxy(relay, make_cli, make_proxy, attack, keys=keys)
    exchange(alice, bob, "first")

    alice.send("second, sent twice by the attacker")

    assert bob.wait_for(event("dropped"))["reason"] == "replayed"
    assert bob.texts() == ["first", "second, sent twice by the attacker"]
    assert attack.fired.is_set() and not proxy.errors


def test_a_dropped_envelope_is_never_confirmed_and_the_next_one_still_arrives(
    relay, make_cli, make_proxy, keys
):
    """A relay that swallows a message can delay or drop it (availability is not ours to
    promise), but not hide that it did: no receipt comes back for it."""
    attack = EnvelopeAttack(2, swallow)
    proxy, alice, bob = pair_through_proxy(relay, make_cli, make_proxy, attack, keys=keys)
    exchange(alice, bob, "first")

    alice.send("second, swallowed by the attacker")
    exchange(alice, bob, "third, after the gap")

    assert bob.texts() == ["first", "third, after the gap"]
    confirmed = {e["id"] for e in alice.of("delivered")}
    assert len(confirmed) == 2 and attack.fired.is_set() and not proxy.errors


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

    reconnected_after_the_attack(alice, "tampered", attack, proxy)
    bob.wait_for(event("peer_left"))
    assert bob.texts() == ["first, untouched"]
    relay_closed_a_tampered_connection(relay)


def test_a_flipped_bit_on_the_way_from_the_relay_costs_alice_the_connection_only(
    relay, make_cli, make_proxy
):
    attack = NextFrame(DOWN, flip_the_last_bit)
    proxy, alice, bob = pair_through_proxy(relay, make_cli, make_proxy, attack, terminate=False)
    exchange(bob, alice, "first, untouched")
    attack.armed.set()

    bob.send("second, tampered with on the wire")

    reconnected_after_the_attack(alice, "tampered", attack, proxy)
    assert alice.texts() == ["first, untouched"]
    bob.wait_for(event("peer_left"))
