"""A pinned person's name turning up with a new key: refused (``peer_key_changed``) in both
directions until the person runs ``trust ID``; then the new key replaces the old pin.

Three pool identities: alice's first key (A1), bob, and a second key also named "alice" (A2):
a reinstalled alice, or someone else calling herself alice. Both look the same to bob.
"""

from __future__ import annotations

import pytest

from tests.integration.conftest import exchange, finished, rsa_session, start_waiting
from tests.support import event

pytestmark = pytest.mark.timeout(60)


def end(*clis) -> None:
    """Close stdin on both sides of a session and wait until both have left cleanly."""
    for cli in clis:
        cli.close_stdin()
    for cli in clis:
        assert cli.wait_exit() == 0, cli.describe()


def contacts_of(person) -> list[tuple[str, str, str]]:
    """(id, name, grouped fingerprint) of everyone ``person`` has pinned."""
    return [
        (c["id"], c["name"], c["fingerprint"])
        for c in finished(person.local("contacts")).of("contact")
    ]


def never_ready(cli) -> None:
    """The CLI's session ended (an error or peer_left) without ever becoming ready."""
    ended = cli.wait_for(lambda e: e["event"] in ("error", "peer_left", "ready"), what="end")
    assert ended["event"] != "ready", cli.describe()
    cli.wait_exit()
    assert not cli.of("ready") and not cli.of("message"), cli.describe()


def refused_as_a_changed_key(cli, old, new) -> None:
    """``cli`` never got ready: it ended with a peer_key_changed error that names the pinned
    key, the new one and the ``trust`` command that would accept it."""
    failure = cli.wait_for(event("error"))
    assert failure["code"] == "peer_key_changed", failure
    assert old.fingerprint in failure["message"], failure["message"]
    assert new.fingerprint in failure["message"], failure["message"]
    assert f"trust {new.id}" in failure["message"], failure["message"]
    assert cli.wait_exit() != 0
    assert not cli.of("ready")


@pytest.fixture
def people(relay, make_person):
    """alice (A1) and bob after one RSA session: each has pinned the other."""
    alice, bob, new_alice = make_person("alice"), make_person("bob"), make_person("alice")
    end(*rsa_session(relay, alice, bob))
    return alice, bob, new_alice


def test_inviting_a_new_key_under_a_pinned_name_is_refused_until_trusted(relay, people):
    alice, bob, new_alice = people
    waiting = start_waiting(relay, new_alice)

    inviting = bob.cli(relay.addr, "invite", new_alice.id)

    refused_as_a_changed_key(inviting, alice, new_alice)
    never_ready(waiting)
    assert contacts_of(bob) == [(alice.id, "alice", alice.fingerprint)], "refusing pins nothing"

    trusted = finished(bob.local("trust", new_alice.id))
    assert trusted.of("trusted") == [{"event": "trusted", "id": new_alice.id}]
    waiting = start_waiting(relay, new_alice)
    inviting = bob.cli(relay.addr, "invite", new_alice.id)

    bob_ready = inviting.wait_for(event("ready"))
    waiting.wait_for(event("ready"))
    assert (bob_ready["peer_id"], bob_ready["peer_name"]) == (new_alice.id, "alice")
    exchange(inviting, waiting, "welcome back, alice")
    end(inviting, waiting)
    assert sorted(contacts_of(bob)) == sorted(
        [
            (new_alice.id, "alice", new_alice.fingerprint),
            (alice.id, "alice (old key)", alice.fingerprint),
        ]
    ), "the old key stays, with its history, under a name that says what it is"


def test_a_new_key_under_a_pinned_name_inviting_is_refused_by_the_waiting_side(relay, people):
    alice, bob, new_alice = people
    waiting = start_waiting(relay, bob)

    inviting = new_alice.cli(relay.addr, "invite", bob.id)

    refused_as_a_changed_key(waiting, alice, new_alice)
    assert inviting.wait_for(event("error"))["code"] == "declined"
    never_ready(inviting)
    assert contacts_of(bob) == [(alice.id, "alice", alice.fingerprint)]
