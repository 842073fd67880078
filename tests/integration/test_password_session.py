"""Password sessions end to end: a real relay and two (or three) real messenger-cli processes."""

from __future__ import annotations

import time

import pytest

from tests.integration.conftest import exchange, pair
from tests.support import event, free_port

pytestmark = pytest.mark.timeout(60)


def test_create_and_join_by_code_pairs_with_the_same_safety_string(relay, make_cli):
    bob = make_cli(relay.addr, "create", name="bob")
    code_event = bob.wait_for(event("code"))
    assert code_event["code"].startswith(code_event["session"] + "-"), code_event
    alice = make_cli(relay.addr, "join", code_event["code"], name="alice")

    alice_ready = alice.wait_for(event("ready"))
    bob_ready = bob.wait_for(event("ready"))

    assert alice_ready["mode"] == bob_ready["mode"] == "password"
    assert alice_ready["session"] == bob_ready["session"] == code_event["session"]
    assert alice_ready["safety"] and alice_ready["safety"] == bob_ready["safety"]


def test_messages_flow_both_ways_and_each_sender_gets_a_receipt_per_message(relay, make_cli):
    alice, bob = pair(make_cli, relay.addr)

    for i in range(3):
        alice.send(f"alice says {i}")
        bob.send(f"bob says {i}")

    for receiver, sender, prefix in ((bob, alice, "alice says"), (alice, bob, "bob says")):
        received = receiver.wait_count("message", 3)
        assert [e["text"] for e in received] == [f"{prefix} {i}" for i in range(3)]
        receipts = sender.wait_count("delivered", 3)
        assert sorted(e["id"] for e in receipts) == sorted(e["id"] for e in received)


def test_join_by_session_number_and_password(relay, make_cli):
    bob = make_cli(relay.addr, "create", "--password", "correct horse battery", name="bob")
    code_event = bob.wait_for(event("code"))
    assert code_event["code"] == code_event["session"], "with --password the code is the number"
    alice = make_cli(
        relay.addr, "join", code_event["session"], "--password", "correct horse battery"
    )

    assert alice.wait_for(event("ready"))["safety"] == bob.wait_for(event("ready"))["safety"]
    exchange(alice, bob, "joined by number")


def test_lines_typed_before_the_peer_joins_are_delivered_after_ready(relay, make_cli):
    bob = make_cli(relay.addr, "create", name="bob")
    code = bob.wait_for(event("code"))["code"]
    early = [f"early {i}" for i in range(4)]
    for line in early:
        bob.send(line)

    alice = make_cli(relay.addr, "join", code, name="alice")

    alice.wait_count("message", len(early))
    assert alice.texts() == early
    bob.wait_count("delivered", len(early))
    names = [e["event"] for e in bob.events]
    assert names.index("ready") < names.index("delivered")


@pytest.mark.timeout(45)
def test_rotation_every_second_loses_reorders_and_duplicates_nothing(make_relay, make_cli):
    relay = make_relay(rotate_interval=1)
    alice, bob = pair(make_cli, relay.addr)

    count = 30
    for i in range(count):
        alice.send(f"a2b {i}")
        bob.send(f"b2a {i}")
        time.sleep(0.1)  # pacing: spread the stream over ~3 s so it spans several rotations

    for side in (alice, bob):
        side.wait_count("message", count)
        side.wait_count("delivered", count)
        side.wait_count("rotated", 2)

    assert bob.texts() == [f"a2b {i}" for i in range(count)]
    assert alice.texts() == [f"b2a {i}" for i in range(count)]
    for side in (alice, bob):
        epochs = [e["epoch"] for e in side.of("rotated")]
        assert epochs == sorted(set(epochs)) and epochs[0] >= 1, epochs
        assert len(side.of("delivered")) == count, "one receipt per message, no more"
        assert not side.of("error")


def test_slash_rotate_renews_both_sides_keys_and_messages_keep_flowing(relay, make_cli):
    """``/rotate`` asks the other side to announce a fresh ratchet key and announces ours:
    within one round trip both sides took a fresh X25519 step."""
    alice, bob = pair(make_cli, relay.addr)
    exchange(alice, bob, "before rotating")
    before = {side: len(side.of("rotated")) for side in (alice, bob)}

    alice.send("/rotate")
    alice.wait_until(lambda evs: sum(e["event"] == "rotated" for e in evs) > before[alice])
    bob.wait_until(lambda evs: sum(e["event"] == "rotated" for e in evs) > before[bob])
    exchange(alice, bob, "after rotating")
    exchange(bob, alice, "reply after rotating")
    assert "/rotate" not in bob.texts(), "/rotate is a command, not a message"
    for side in (alice, bob):
        epochs = [e["epoch"] for e in side.of("rotated")]
        assert epochs == sorted(set(epochs)), epochs


def test_a_wrong_guess_ends_the_guessers_attempt_and_the_code_stays_open_for_the_right_one(
    relay, make_cli
):
    bob = make_cli(relay.addr, "create", "--password", "correct horse", name="bob")
    session = bob.wait_for(event("code"))["session"]
    mallory = make_cli(relay.addr, "join", session, "--password", "wrong horse", name="mallory")

    failure = mallory.wait_for(lambda e: e["event"] in ("error", "ready"), what="error")
    assert failure["event"] == "error" and failure["code"] == "wrong_password", failure
    assert mallory.wait_exit() != 0
    told = bob.wait_for(lambda e: e["event"] in ("wrong_password", "error", "ready"))
    assert told == {"event": "wrong_password", "session": session, "tries_left": 2}, told
    assert bob.running

    carol = make_cli(relay.addr, "join", session, "--password", "correct horse", name="carol")
    for side in (carol, bob):
        side.wait_for(event("ready"))
    exchange(carol, bob, "the right person got in")
    assert not mallory.of("message") and not mallory.of("ready")


def test_three_wrong_guesses_burn_the_code_for_everyone(relay, make_cli):
    bob = make_cli(relay.addr, "create", "--password", "correct horse", name="bob")
    session = bob.wait_for(event("code"))["session"]

    for guess, tries_left in (("one", 2), ("two", 1)):
        guesser = make_cli(relay.addr, "join", session, "--password", guess, name=guess)
        assert guesser.wait_for(event("error"))["code"] == "wrong_password"
        bob.wait_for(event("wrong_password", tries_left=tries_left))
    last = make_cli(relay.addr, "join", session, "--password", "three", name="three")
    assert last.wait_for(event("error"))["code"] == "wrong_password"

    assert bob.wait_for(event("error"))["code"] == "session_burned"
    assert bob.wait_exit() != 0
    late = make_cli(relay.addr, "join", session, "--password", "correct horse", name="late")
    assert late.wait_for(event("error"))["code"] == "session_burned"


def test_a_code_that_was_already_used_is_reported_as_used_not_as_wrong(relay, make_cli):
    alice, bob = pair(make_cli, relay.addr)
    code = bob.wait_for(event("code"))["code"]
    alice.close_stdin()
    bob.wait_for(event("peer_left"))

    late = make_cli(relay.addr, "join", code, name="late")

    failure = late.wait_for(event("error"))
    assert failure["code"] == "code_used", failure
    assert "already used" in failure["message"]


def test_a_third_member_is_refused_with_session_full(relay, make_cli):
    alice, bob = pair(make_cli, relay.addr)
    code = bob.wait_for(event("code"))["code"]

    eve = make_cli(relay.addr, "join", code, name="eve")

    assert eve.wait_for(event("error"))["code"] == "session_full"
    assert eve.wait_exit() != 0
    assert not eve.of("ready")
    exchange(alice, bob, "still just the two of us")


def test_joining_an_unknown_session_gives_no_such_session(relay, make_cli):
    eve = make_cli(relay.addr, "join", "4242-orbit-lantern", name="eve")

    assert eve.wait_for(event("error"))["code"] == "no_such_session"
    assert eve.wait_exit() != 0


def test_an_unreachable_server_gives_a_clear_error_and_no_traceback(make_cli):
    address = f"127.0.0.1:{free_port()}"
    lost = make_cli(address, "create", name="lost")

    failure = lost.wait_for(event("error"))

    assert failure["code"] == "server_unreachable"
    assert address in failure["message"]
    assert lost.wait_exit() != 0
    assert "Traceback" not in lost.stderr, lost.stderr


def test_at_stdin_eof_the_cli_waits_for_receipts_then_exits_zero(relay, make_cli):
    bob = make_cli(relay.addr, "create", name="bob")
    code = bob.wait_for(event("code"))["code"]
    for i in range(3):
        bob.send(f"parting words {i}")
    bob.close_stdin()
    assert bob.running, "nothing is delivered yet, so bob must still be waiting"

    alice = make_cli(relay.addr, "join", code, name="alice")

    assert bob.wait_exit() == 0
    received = alice.wait_count("message", 3)
    assert {e["id"] for e in received} == {e["id"] for e in bob.of("delivered")}
    assert alice.texts() == [f"parting words {i}" for i in range(3)]
    alice.wait_for(event("peer_left"))
    assert not alice.of("error")
    assert alice.wait_exit() == 0


def test_when_the_peer_leaves_the_other_side_prints_peer_left(relay, make_cli):
    alice, bob = pair(make_cli, relay.addr)
    exchange(alice, bob, "goodbye soon")

    alice.close_stdin()

    assert alice.wait_exit() == 0
    bob.wait_for(event("peer_left"))
    assert bob.wait_exit() == 0
    assert not bob.of("error")


def test_unicode_text_round_trips_exactly(relay, make_cli):
    alice, bob = pair(make_cli, relay.addr)
    texts = [
        "emoji 😀🔐👩‍👩‍👧‍👦 🇺🇦",
        "CJK 你好，世界 こんにちは 안녕하세요",
        "RTL שלום עולם مرحبا بالعالم",
        "combining e\u0301 vs \u00e9, zero-width\u200bjoiner",
    ]

    for text in texts:
        alice.send(text)
    bob.wait_count("message", len(texts))

    assert bob.texts() == texts
