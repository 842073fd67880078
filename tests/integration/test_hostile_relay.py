"""A relay that has turned hostile lies in its control messages. Whatever it says, the
session runs the handshake the person asked for, with the person they asked for, or ends
with a clear error before any key is derived.

The hostile relay is the terminating proxy from conftest: it holds the relay's key (so the
clients' pins match), sees every control message in the clear and rewrites ``paired``.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable

import pytest

from messenger.protocol import wire
from tests.integration.conftest import DOWN, CliProcess, Person, TcpProxy, start_waiting
from tests.support import Keys, event

pytestmark = pytest.mark.timeout(90)


class RewritePaired:
    """Rewrites every ``paired`` going to a client with ``change(paired) -> paired``."""

    def __init__(self, change: Callable[[wire.Paired], wire.Paired]) -> None:
        self.change = change
        self.fired = threading.Event()

    def __call__(self, direction: str, body: bytes) -> list[bytes] | None:
        if direction != DOWN:
            return None
        message = wire.decode(body)
        if not isinstance(message, wire.Paired):
            return None
        self.fired.set()
        return [wire.encode(self.change(message))]


@pytest.fixture
def hostile_relay_for(relay, keys: Keys):
    """``hostile_relay_for(person, hook)``: a terminating proxy that speaks to the real relay
    with ``person``'s key, so the relay routes to and from that person as usual while the
    hook rewrites what the person's client is told."""
    proxies: list[TcpProxy] = []

    def start(person: Person, hook: RewritePaired) -> TcpProxy:
        proxy = TcpProxy(relay.port, hook, relay_key=keys.relay, identity=person.key)
        proxies.append(proxy)
        return proxy

    yield start
    for proxy in proxies:
        proxy.close()


def refused_before_ready(cli: CliProcess, code: str = "protocol") -> dict:
    """The CLI reports ``code``, exits non-zero, and never said ``ready``."""
    failure = cli.wait_for(event("error"))
    assert failure["code"] == code, failure
    assert cli.wait_exit() != 0
    assert not [e for e in cli.events if e.get("event") == "ready"], cli.describe()
    assert len([e for e in cli.events if e.get("event") == "error"]) == 1, cli.describe()
    return failure


def test_a_relay_that_turns_an_invitation_into_a_password_session_is_refused_by_both(
    relay, make_person, hostile_relay_for
):
    """The attack: Alice invites Bob, a pinned contact; the relay says mode=password to
    both and would run SPAKE2 with the empty password against each side, reading
    everything. Both sides must refuse: they asked for an RSA session."""
    alice, bob = make_person("alice"), make_person("bob")
    hook = RewritePaired(lambda p: dataclasses.replace(p, mode="password", peer_key=b""))
    to_alice, to_bob = hostile_relay_for(alice, hook), hostile_relay_for(bob, hook)

    waiting = start_waiting(relay, bob, server=to_bob.addr)
    inviting = alice.cli(to_alice.addr, "invite", bob.id)

    for side in (inviting, waiting):
        failure = refused_before_ready(side)
        assert "kind of session" in failure["message"], failure
    assert hook.fired.is_set() and not to_alice.errors and not to_bob.errors


def test_a_relay_that_turns_a_code_session_into_an_rsa_session_with_its_own_key_is_refused(
    relay, make_cli, make_proxy, keys
):
    """The attack: Bob creates a code and Alice joins; the relay says mode=rsa and hands
    each side its own key as the peer's. The password would never be used."""
    relay_as_peer = keys.identity(-1)
    hook = RewritePaired(
        lambda p: dataclasses.replace(
            p,
            mode="rsa",
            peer_id=relay_as_peer.fingerprint,
            peer_key=relay_as_peer.public.der,
        )
    )
    proxy = make_proxy(relay.port, hook, terminate=True)
    bob = make_cli(proxy.addr, "create", name="bob")
    code = bob.wait_for(event("code"))["code"]
    alice = make_cli(proxy.addr, "join", code, name="alice")

    for side in (alice, bob):
        failure = refused_before_ready(side)
        assert "kind of session" in failure["message"], failure
    assert hook.fired.is_set() and not proxy.errors


def test_a_relay_that_swaps_the_roles_of_a_code_session_is_refused(
    relay, make_cli, make_proxy
):
    """Both sides told "creator" would each wait for the other's first move (or, told
    "joiner", derive keys for the wrong direction): the joiner knows it joined."""
    hook = RewritePaired(lambda p: dataclasses.replace(p, role="creator"))
    proxy = make_proxy(relay.port, hook, terminate=True)
    bob = make_cli(proxy.addr, "create", name="bob")
    code = bob.wait_for(event("code"))["code"]
    alice = make_cli(proxy.addr, "join", code, name="alice")

    failure = refused_before_ready(alice)
    assert "role" in failure["message"], failure


def test_a_relay_that_pairs_the_inviter_with_someone_else_is_refused(
    relay, make_person, hostile_relay_for
):
    """Alice invites Bob; the relay pairs her with Carol (a real key, a real signature):
    she asked for Bob, so the session ends before any key is derived."""
    alice, bob, carol = make_person("alice"), make_person("bob"), make_person("carol")

    def to_carol(paired: wire.Paired) -> wire.Paired:
        if paired.peer_id != bob.id:
            return paired
        return dataclasses.replace(
            paired, peer_id=carol.id, peer_name="bob", peer_key=carol.key.public.der
        )

    hook = RewritePaired(to_carol)
    proxy = hostile_relay_for(alice, hook)
    start_waiting(relay, bob)
    inviting = alice.cli(proxy.addr, "invite", bob.id)

    refused_before_ready(inviting, code="peer_key_changed")
    assert hook.fired.is_set() and not proxy.errors


def test_in_a_code_session_ready_names_the_peer_the_code_proved_not_the_one_the_relay_named(
    relay, make_person, hostile_relay_for
):
    """A password session authenticates the peer's identity key through the introduction
    sealed under the code's keys: the relay's claim in ``paired`` counts for nothing."""
    alice, bob, carol = make_person("alice"), make_person("bob"), make_person("carol")
    hook = RewritePaired(
        lambda p: dataclasses.replace(p, peer_id=carol.id, peer_name="carol")
    )
    to_bob = hostile_relay_for(bob, hook)
    bob_cli = bob.cli(to_bob.addr, "create")
    code = bob_cli.wait_for(event("code"))["code"]
    alice_cli = alice.cli(relay.addr, "join", code)

    ready = bob_cli.wait_for(event("ready"))
    assert ready["mode"] == "password"
    assert (ready["peer_id"], ready["peer_name"]) == (alice.id, "alice"), ready
    assert alice_cli.wait_for(event("ready"))["peer_id"] == bob.id
    assert hook.fired.is_set()
