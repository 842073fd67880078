"""kill -9 at any point loses nothing and shows nothing twice: the receiver killed while it
takes in its queue, the sender killed while it posts. Each kill lands after a random number
of printed events (a condition, not a pause), with a seed printed on failure."""

from __future__ import annotations

import os
import random
import signal

import pytest

from tests.integration.conftest import CliProcess, Person
from tests.integration.test_conversations import meet, run, texts
from tests.support import RelayProcess

pytestmark = pytest.mark.timeout(240)

COUNT = 30
#: Enough for several slices of the receiver's intake (128 each), so kills land between
#: opening and committing, not only after everything is in.
MANY = 300
SEED = int(os.environ.get("CRASH_SEED", random.randrange(1 << 30)))


def killed_after(cli: CliProcess, name: str, count: int) -> list[dict]:
    """SIGKILL ``cli`` once it printed ``count`` ``name`` events (or ended by itself)."""
    enough = cli._stdout.wait_until(  # None when it ended first: that is fine too
        lambda evs: sum(e.get("event") == name for e in evs) >= count, timeout=60
    )
    if enough and cli.running:
        os.killpg(cli.proc.pid, signal.SIGKILL)
    cli.proc.wait(10)
    return cli.events


def history_of(person: Person, other: Person) -> list[dict]:
    history = person.local("history", other.id, "--limit", "1000")
    history.close_stdin()
    assert history.wait_exit() == 0, history.describe()
    return history.of("history")


def test_a_receiver_killed_while_taking_in_loses_nothing_and_shows_nothing_twice(
    relay: RelayProcess, make_person
):
    rng = random.Random(SEED)
    alice, bob = make_person("alice"), make_person("bob")
    meet(relay, alice, bob)
    sender = alice.cli(relay.addr, "send", bob.id)
    for i in range(MANY):
        sender.send(f"crash test {i}")
    sender.close_stdin()
    assert sender.wait_exit(60) == 0, sender.describe()

    shown: list[str] = []
    for _round in range(4):
        inbox = bob.cli(relay.addr, "inbox")
        shown += [e["text"] for e in killed_after(inbox, "message", rng.randrange(1, MANY - 20))
                  if e.get("event") == "message"]  # fmt: skip
    shown += texts(run(bob, relay, "inbox"))

    want = [f"crash test {i}" for i in range(MANY)]
    assert len(shown) == len(set(shown)), f"shown twice (seed {SEED}): {shown}"
    assert set(shown) <= set(want), shown
    received = [h["text"] for h in history_of(bob, alice) if h["from"] == alice.id]
    assert received == want, f"seed {SEED}"


def test_a_sender_killed_while_posting_loses_nothing_it_committed(relay, make_person):
    rng = random.Random(SEED + 1)
    alice, bob = make_person("alice"), make_person("bob")
    meet(relay, alice, bob)
    sender = alice.cli(relay.addr, "send", bob.id)
    for i in range(COUNT):
        sender.send(f"half sent {i}")
    sender.close_stdin()
    killed_after(sender, "sent", rng.randrange(1, COUNT - 1))
    run(alice, relay, "send", bob.id, "after the crash")  # posts what waited, then this

    committed = [h["text"] for h in history_of(alice, bob) if h["from"] == "me"]
    got = texts(run(bob, relay, "inbox"))
    assert got == committed, f"seed {SEED + 1}: {got} != {committed}"
    assert committed[-1] == "after the crash" and len(committed) >= 2
