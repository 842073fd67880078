"""Conversations that outlive connections, end to end: real relay processes, real
messenger-cli processes, profiles that persist between commands.

Alice and Bob meet once by code; from then on they write to each other whether the other
is online or not, through relay restarts (kill -9 included), and each message is shown
once, in order, and kept in an encrypted history.
"""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest

from tests.integration.conftest import CliProcess, Person, finished, start_waiting
from tests.support import SOON, RelayProcess, event

pytestmark = pytest.mark.timeout(120)

MARK = "zq-conversation-marker"


def meet(relay: RelayProcess, alice: Person, bob: Person) -> None:
    """Bob makes a code, Alice joins: they are contacts; both exit at stdin EOF."""
    bob_chat = bob.cli(relay.addr, "create")
    code = bob_chat.wait_for(event("code"))["code"]
    alice_chat = alice.cli(relay.addr, "join", code)
    for side in (alice_chat, bob_chat):
        side.wait_for(event("ready"))
    for side in (alice_chat, bob_chat):
        side.close_stdin()
        assert side.wait_exit() == 0, side.describe()


def run(person: Person, relay: RelayProcess, *args: str) -> CliProcess:
    cli = person.cli(relay.addr, *args)
    cli.close_stdin()
    return finished(cli)


def texts(cli: CliProcess) -> list[str]:
    return [e["text"] for e in cli.of("message")]


def grep(root: Path, needle: bytes) -> list[str]:
    return [
        str(p) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()
    ]


def test_a_code_meeting_makes_each_the_others_verified_contact(relay, make_person):
    alice, bob = make_person("alice"), make_person("bob")
    meet(relay, alice, bob)

    (contact,) = finished(alice.local("contacts")).of("contact")
    assert contact["id"] == bob.id and contact["name"] == "bob"
    assert contact["verified"] is True and contact["verified_by"] == "code"
    (contact,) = finished(bob.local("contacts")).of("contact")
    assert contact["id"] == alice.id


def test_messages_to_an_offline_contact_wait_at_the_relay_and_arrive_once_in_order(
    relay, make_person
):
    alice, bob = make_person("alice"), make_person("bob")
    meet(relay, alice, bob)

    sent = [run(alice, relay, "send", bob.id, f"offline {i}").of("sent") for i in range(3)]
    assert [len(s) for s in sent] == [1, 1, 1]
    assert all(s[0]["to"] == bob.id for s in sent)

    inbox = run(bob, relay, "inbox")
    assert texts(inbox) == ["offline 0", "offline 1", "offline 2"]
    assert {e["from"] for e in inbox.of("message")} == {alice.id}
    assert [e["count"] for e in inbox.of("caught_up")] == [3], "all three, whatever slices"
    assert texts(run(bob, relay, "inbox")) == [], "a second inbox shows nothing again"

    receipts = run(alice, relay, "inbox").of("delivered")
    assert {r["id"] for r in receipts} == {s[0]["id"] for s in sent}


def test_the_history_keeps_both_sides_and_the_profiles_hold_no_text(relay, make_person):
    alice, bob = make_person("alice"), make_person("bob")
    meet(relay, alice, bob)
    run(alice, relay, "send", bob.id, f"to bob {MARK}")
    run(bob, relay, "inbox")
    run(bob, relay, "send", alice.id, f"to alice {MARK}")
    run(alice, relay, "inbox")
    run(bob, relay, "inbox")

    history = finished(alice.local("history", bob.id)).of("history")
    assert [(h["from"], h["text"]) for h in history] == [
        ("me", f"to bob {MARK}"),
        (bob.id, f"to alice {MARK}"),
    ]
    assert [h["status"] for h in history] == ["delivered", "received"]
    for person in (alice, bob):
        assert grep(person.profile, MARK.encode()) == []
    assert grep(relay.data_dir, MARK.encode()) == []


def test_a_killed_relay_loses_no_confirmed_message_and_a_replayed_one_is_never_shown(
    make_relay, make_person, tmp_path
):
    relay = make_relay()
    alice, bob = make_person("alice"), make_person("bob")
    meet(relay, alice, bob)
    run(alice, relay, "send", bob.id, "before the crash")
    os.kill(relay.proc.pid, signal.SIGKILL)
    relay.proc.wait(SOON)
    snapshot = tmp_path / "relay-snapshot"
    shutil.copytree(relay.data_dir, snapshot)
    relay = make_relay_on(make_relay, relay.data_dir, relay.port)

    assert texts(run(bob, relay, "inbox")) == ["before the crash"]

    os.kill(relay.proc.pid, signal.SIGKILL)
    relay.proc.wait(SOON)
    shutil.rmtree(relay.data_dir)
    shutil.copytree(snapshot, relay.data_dir)
    relay = make_relay_on(make_relay, relay.data_dir, relay.port)
    replayed = run(bob, relay, "inbox")
    assert texts(replayed) == []
    assert [e["reason"] for e in replayed.of("dropped")] == ["replayed"]


def make_relay_on(make_relay, data_dir: Path, port: int) -> RelayProcess:
    """A relay again on the same data folder and port (clients pinned host:port)."""
    return make_relay("--port", str(port), data_dir=data_dir)


def test_send_to_someone_who_is_not_a_contact_says_so(relay, make_person):
    alice, bob = make_person("alice"), make_person("bob")
    cli = alice.cli(relay.addr, "send", bob.id, "hello?")
    assert cli.wait_for(event("error"))["code"] == "unknown_contact"
    assert cli.wait_exit() == 1


def test_forget_deletes_the_conversation_and_its_history(relay, make_person):
    alice, bob = make_person("alice"), make_person("bob")
    meet(relay, alice, bob)
    run(alice, relay, "send", bob.id, "soon forgotten")
    assert finished(alice.local("forget", bob.id)).of("forgotten")
    assert finished(alice.local("contacts")).of("contact") == []
    history = alice.local("history", bob.id)
    assert history.wait_for(event("error"))["code"] == "unknown_contact"


def test_a_live_chat_carries_on_across_a_relay_restart(make_relay, make_person):
    """The relay goes away mid-chat: both CLIs reconnect on their own, the line typed
    meanwhile is delivered, and nothing is shown twice."""
    relay = make_relay()
    alice, bob = make_person("alice"), make_person("bob")
    bob_chat = bob.cli(relay.addr, "create")
    code = bob_chat.wait_for(event("code"))["code"]
    alice_chat = alice.cli(relay.addr, "join", code)
    for side in (alice_chat, bob_chat):
        side.wait_for(event("ready"))
    alice_chat.send("before")
    bob_chat.wait_for(event("message", text="before"))

    relay.stop()
    alice_chat.wait_for(event("reconnecting"))
    alice_chat.send("typed while the relay was away")
    relay = make_relay_on(make_relay, relay.data_dir, relay.port)

    bob_chat.wait_for(event("message", text="typed while the relay was away"), timeout=60)
    alice_chat.wait_for(lambda e: e.get("event") == "delivered" and e.get("to") == bob.id)
    assert texts(bob_chat).count("before") == 1


def test_a_full_queue_at_the_relay_is_a_clear_error_to_the_sender(make_relay, make_person):
    relay = make_relay("--queue-max-messages", "2")
    alice, bob = make_person("alice"), make_person("bob")
    meet(relay, alice, bob)
    run(alice, relay, "send", bob.id, "one")
    run(alice, relay, "send", bob.id, "two")

    refused = alice.cli(relay.addr, "send", bob.id, "three")
    refused.close_stdin()
    assert refused.wait_for(event("error"))["code"] == "queue_full"
    assert refused.wait_exit() == 1
    assert texts(run(bob, relay, "inbox")) == ["one", "two"]


def test_a_message_written_while_the_relay_is_away_waits_in_the_outbox(
    make_relay, make_person
):
    relay = make_relay()
    alice, bob = make_person("alice"), make_person("bob")
    meet(relay, alice, bob)
    port, data_dir = relay.port, relay.data_dir
    relay.stop()

    away = alice.cli(relay.addr, "send", bob.id, "written while the relay was away")
    away.close_stdin()
    assert away.wait_for(event("error"))["code"] == "server_unreachable"
    assert away.wait_for(event("outbox"))["waiting"] == 1
    assert away.wait_exit() == 1

    relay = make_relay_on(make_relay, data_dir, port)
    later = run(alice, relay, "send", bob.id, "and one more")
    assert len(later.of("sent")) == 2, "the waiting message went out too"
    assert texts(run(bob, relay, "inbox")) == [
        "written while the relay was away",
        "and one more",
    ]


def test_contacts_see_each_other_come_and_go_and_a_stranger_sees_neither(
    make_relay, make_person
):
    """Who sees whom (protocol 3): being listed is a choice, and ``listen`` does not make it,
    yet contacts hear each other come and go (the mailroom's watch, which needs the
    contact's token). A stranger asking the relay who is online sees only the one person
    who chose to be listed (Dave, waiting for invitations), never Alice or Bob."""
    relay = make_relay("--presence-interval", "0")
    alice, bob = make_person("alice"), make_person("bob")
    carol, dave = make_person("carol"), make_person("dave")
    meet(relay, alice, bob)

    alice_on = alice.cli(relay.addr, "listen")
    bob_on = bob.cli(relay.addr, "listen")
    alice_on.wait_for(event("presence", id=bob.id, online=True))
    bob_on.wait_for(event("presence", id=alice.id, online=True))
    start_waiting(relay, dave)

    seen = finished(carol.cli(relay.addr, "online")).of("person")
    assert [p["id"] for p in seen] == [dave.id]

    bob_on.stop()
    alice_on.wait_for(event("presence", id=bob.id, online=False))
    assert not [e for e in bob_on.of("presence") if e["id"] != alice.id]
    assert not [e for e in alice_on.of("presence") if e["id"] != bob.id]


def test_lines_typed_for_a_peer_who_leaves_at_once_are_confirmed_sent_before_the_chat_ends(
    relay, make_person
):
    """Alice leaves the moment the meeting is done; bob typed before it was. His chat ends
    with her ``peer_left``, but only once the relay has taken his lines (a ``sent`` each),
    so none is left pending, to be sent again (and refused as a replay) next time."""
    alice, bob = make_person("alice"), make_person("bob")
    creator = alice.cli(relay.addr, "create")
    code = creator.wait_for(event("code"))["code"]
    creator.close_stdin()  # nothing to say: alice leaves as soon as she is ready
    joiner = bob.cli(relay.addr, "join", code)
    lines = [f"before you go {i}" for i in range(3)]
    for line in lines:
        joiner.send(line)
    joiner.wait_for(event("peer_left"))
    finished(joiner)
    names = [e["event"] for e in joiner.events]
    assert names.count("sent") == len(lines), joiner.describe()
    assert names.index("peer_left") > max(i for i, n in enumerate(names) if n == "sent")
    statuses = [h["status"] for h in run(bob, relay, "history", alice.id).of("history")]
    assert len(statuses) == len(lines) and set(statuses) <= {"sent", "delivered"}, statuses
    finished(creator)
    inbox = run(alice, relay, "inbox")
    # Each line reached alice once: live, if it beat her leaving, or from her mailbox.
    assert texts(creator) + texts(inbox) == lines
    assert not inbox.of("dropped"), inbox.describe()
