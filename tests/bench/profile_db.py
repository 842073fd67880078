"""The profile database at the size issue 11 names: 50 contacts with 10,000 messages each.

    .venv/bin/python -m tests.bench.profile_db [--contacts 50] [--messages 10000] [--dir DIR]

Fills a fresh SQLCipher profile.db under DIR (default: a temporary folder on the same disk as
the working directory, not /tmp, which may be a RAM disk), then times what the app does most:

- storing messages: one transaction per message (a receipt: message + ratchet state), and
  a batch of 1,000 per transaction (the fill itself);
- the conversation list (``conversations``), a history page (newest and deep), a full-text
  search, and setting a status.

Not a test: it prints a table and asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from messenger.store.database import ProfileDatabase
from messenger.store.db_key import new_key
from messenger.store.records import ContactRecord, ConversationRecord

WORDS = [
    *("orbit", "lantern", "harbour", "seven", "quiet", "meadow", "copper", "rain"),
    *("window", "letter", "morning", "tea", "train", "station", "bridge", "garden"),
    *("river", "paper", "stone", "cloud"),
]


def sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 15)))


def timed(what: str, runs: int, fn) -> tuple[str, int, float]:
    started = time.perf_counter()
    for _ in range(runs):
        fn()
    return what, runs, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=50)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--dir", type=Path, default=Path.cwd())
    args = parser.parse_args()
    rng = random.Random(7)
    rows: list[tuple[str, int, float]] = []
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench-profile-") as folder:
        db = ProfileDatabase.open(folder, new_key())
        ids = [f"{n:064x}" for n in range(args.contacts)]
        started = time.perf_counter()
        for person in ids:
            db.upsert_contact(ContactRecord(id=person, name=f"person {person[-3:]}", pinned_at=1))
            db.save_conversation(
                ConversationRecord(person, b"r" * 2000, b"s", b"t", b"h" + person.encode(),
                                   person.encode(), 1.0, 1.0)
            )  # fmt: skip
            for first in range(0, args.messages, 1000):
                with db.transaction():
                    for n in range(first, min(first + 1000, args.messages)):
                        db.add_message(
                            person, f"m{n}", outgoing=n % 2 == 0, body=sentence(rng), sent_at=n
                        )
        total = args.contacts * args.messages
        rows.append(("fill, 1,000 messages per transaction", total, time.perf_counter() - started))

        alice = ids[0]
        counter = iter(range(10**9))

        def receive() -> None:
            n = next(counter)
            with db.transaction():
                db.add_message(alice, f"new{n}", outgoing=False, body="hello", sent_at=n)
                db.save_ratchet(alice, b"r" * 2000, last_activity=float(n))

        rows.append(timed("receive: message + ratchet, one transaction", 1000, receive))
        rows.append(timed("conversation list", 100, db.conversations))
        rows.append(timed("newest history page (50)", 1000, lambda: db.history(alice, limit=50)))
        deep = db.history(alice, limit=1, before_id=args.messages // 2)[0].id
        rows.append(
            timed(
                "deep history page (50)", 1000, lambda: db.history(alice, limit=50, before_id=deep)
            )
        )
        rows.append(
            timed("search 'orbit lant' (50)", 100, lambda: db.search("orbit lant", limit=50))
        )

        newest = ids[-1]
        rows.append(
            timed(
                "search 'orbit' in the newest conversation",
                100,
                lambda: db.search("orbit", limit=50, contact_id=newest),
            )
        )
        rows.append(
            timed(
                "search 'orbit' in the oldest conversation",
                10,
                lambda: db.search("orbit", limit=50, contact_id=alice),
            )
        )
        rows.append(
            timed("search a word no message has", 100, lambda: db.search("zebra", limit=50))
        )

        def mark_sent() -> None:
            db.set_status(alice, f"m{rng.randrange(0, args.messages, 2)}", "sent")

        rows.append(timed("set_status sent", 1000, mark_sent))
        size = sum(p.stat().st_size for p in Path(folder).iterdir())
        db.close()
    print(f"{args.contacts} contacts x {args.messages} messages; files {size / 2**20:.0f} MiB")
    width = max(len(what) for what, _, _ in rows) + 2
    print(f"{'':<{width}}{'runs':>8}{'ms each':>10}{'per second':>13}")
    for what, runs, seconds in rows:
        print(f"{what:<{width}}{runs:>8}{1000 * seconds / runs:>10.3f}{runs / seconds:>13,.0f}")


if __name__ == "__main__":
    main()
