"""Store and forward throughput: the relay's mailbox beside plain SQLite, in the same run.

    .venv/bin/python -m tests.bench.queue [--envelopes 20000] [--size 600] [--dir DIR]

Rows, each on a fresh database file under DIR (default: a temporary folder on the same disk
as the working directory, not /tmp, which may be a RAM disk where fsync costs nothing):

(a) ``SqliteMailbox.put`` through its async group-commit facade, with many puts in flight
    (as a busy relay has), at ``synchronous=NORMAL`` (the default) and ``FULL``; and one put
    at a time (each awaited before the next: the cost of a commit per envelope).
(b) A plain sqlite3 loop into a table of the same shape in WAL mode: one transaction per
    row (NORMAL and FULL), and every row in one big transaction (the ceiling).
(c) A returning recipient with 10,000 waiting envelopes: ``pending`` in pages of 1,000 and
    ``delete`` of each page, until the queue is empty.
(d) End to end (``tests.bench.queue_e2e``): 10,000 messages posted by a client to a real
    relay process for an offline contact, then that contact comes back and takes them in
    (ratchet decrypt, commit to the encrypted history, acknowledgement, one event each).
    Goal for the second row: under 2 s.

Envelopes are SIZE random bytes (600: a short text padded to 256 bytes, sealed, with the
ratchet and envelope headers). Not a test: it prints a table and asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from server.mailbox import Quotas, SqliteMailbox
from tests.bench import queue_e2e

RECIPIENT = "b0b" * 21 + "b"
UNLIMITED = Quotas(max_messages=10**9, max_bytes=2**50)
IN_FLIGHT = 1000

Row = tuple[str, int, float]  # what, envelopes, seconds


@contextlib.contextmanager
def fresh_db(base: Path) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(dir=base, prefix="bench-queue-") as folder:
        yield Path(folder) / "mailbox.sqlite3"


async def mailbox_puts(db: Path, count: int, size: int, synchronous: str, in_flight: int) -> float:
    mailbox = await SqliteMailbox.open(db, quotas=UNLIMITED, synchronous=synchronous)
    envelopes = [os.urandom(size) for _ in range(count)]
    numbers = iter(range(count))

    async def worker() -> None:
        for i in numbers:
            await mailbox.put(RECIPIENT, envelopes[i])

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    elapsed = time.perf_counter() - started
    await mailbox.close()
    return elapsed


def plain_inserts(db: Path, count: int, size: int, synchronous: str, per_row: bool) -> float:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute(
        "CREATE TABLE envelopes (id INTEGER PRIMARY KEY AUTOINCREMENT, recipient TEXT NOT NULL,"
        " arrival REAL NOT NULL, data BLOB NOT NULL)"
    )
    envelopes = [os.urandom(size) for _ in range(count)]
    insert = "INSERT INTO envelopes (recipient, arrival, data) VALUES (?, ?, ?)"
    started = time.perf_counter()
    if not per_row:
        conn.execute("BEGIN")
    for data in envelopes:
        if per_row:
            conn.execute("BEGIN")
        conn.execute(insert, (RECIPIENT, time.time(), data))
        if per_row:
            conn.execute("COMMIT")
    if not per_row:
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


async def drain(db: Path, count: int, size: int) -> float:
    """A returning recipient takes ``count`` waiting envelopes: pending + delete per page."""
    mailbox = await SqliteMailbox.open(db, quotas=UNLIMITED)
    await asyncio.gather(*(mailbox.put(RECIPIENT, os.urandom(size)) for _ in range(count)))
    started = time.perf_counter()
    taken = 0
    while page := await mailbox.pending(RECIPIENT, 0, 1000):
        taken += len(page)
        await mailbox.delete(RECIPIENT, [e.id for e in page])
    elapsed = time.perf_counter() - started
    await mailbox.close()
    assert taken == count
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envelopes", type=int, default=20_000)
    parser.add_argument("--size", type=int, default=600)
    parser.add_argument("--dir", type=Path, default=Path.cwd())
    args = parser.parse_args()
    n, size, base = args.envelopes, args.size, args.dir
    slow_n = max(n // 10, 200)  # the fsync-per-row rows: fewer, or they take minutes
    rows: list[Row] = []

    def measure(what: str, count: int, run: object) -> None:
        with fresh_db(base) as db:
            seconds = run(db) if callable(run) else 0.0
        rows.append((what, count, seconds))
        print(f"  {what}: {count / seconds:,.0f}/s", flush=True)

    print(f"{n} envelopes of {size} bytes, under {base}")
    for sync in ("NORMAL", "FULL"):
        measure(
            f"mailbox.put, {IN_FLIGHT} in flight, group commit, {sync}",
            n,
            lambda db, s=sync: asyncio.run(mailbox_puts(db, n, size, s, IN_FLIGHT)),
        )
    for sync in ("NORMAL", "FULL"):
        measure(
            f"mailbox.put, one at a time, {sync}",
            slow_n,
            lambda db, s=sync: asyncio.run(mailbox_puts(db, slow_n, size, s, 1)),
        )
    for sync in ("NORMAL", "FULL"):
        measure(
            f"plain sqlite3, a transaction per row, {sync}",
            slow_n,
            lambda db, s=sync: plain_inserts(db, slow_n, size, s, per_row=True),
        )
    measure(
        "plain sqlite3, one transaction for all, NORMAL",
        n,
        lambda db: plain_inserts(db, n, size, "NORMAL", per_row=False),
    )
    measure(
        "pending + delete (pages of 1,000), 10,000 waiting",
        10_000,
        lambda db: asyncio.run(drain(db, 10_000, size)),
    )

    print("  end to end (a relay process, two clients)...", flush=True)
    sent, taken = queue_e2e.measure(10_000)
    rows.append(("10,000 messages posted to an offline contact (end to end)", 10_000, sent))
    rows.append(("10,000 waiting messages reach a returning client (end to end)", 10_000, taken))

    width = max(len(what) for what, _, _ in rows) + 2
    print()
    print(f"{'':<{width}}{'envelopes':>10}{'seconds':>10}{'per second':>13}")
    for what, count, seconds in rows:
        print(f"{what:<{width}}{count:>10}{seconds:>10.3f}{count / seconds:>13,.0f}")


if __name__ == "__main__":
    main()
