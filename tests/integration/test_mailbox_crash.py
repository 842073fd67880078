"""kill -9 at random moments loses no confirmed envelope and duplicates none.

A child process (``tests.integration.mailbox_child``) puts envelopes through the real
group-commit mailbox, printing each id only after its ``put`` returned. The test SIGKILLs it
at a random point, reopens the same database, and checks: every printed envelope is there,
under the printed id, exactly once; nothing is there twice; the per-recipient totals the
triggers keep still match the rows; the file passes SQLite's integrity check. Then the next
round runs on the same file, so each round also starts from a crashed database.

The seed is in every failure message; set MAILBOX_CRASH_SEED to replay a run.
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

from server.mailbox import SqliteMailbox
from tests.integration.mailbox_child import QUOTAS
from tests.support import SOON, _Lines

ROOT = Path(__file__).resolve().parents[2]
RECIPIENT = "b0b" * 21 + "b"
ROUNDS = 10
PER_ROUND = 3000


def _child(db: Path, round_: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.integration.mailbox_child",
            *(str(db), RECIPIENT, str(round_), str(PER_ROUND)),
        ],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _check(db: Path, confirmed: dict[str, int], started: int, context: str) -> int:
    """Compare the database with what was confirmed; returns the number of rows."""
    with sqlite3.connect(db) as plain:  # opening runs WAL recovery, as a restarted relay would
        assert plain.execute("PRAGMA integrity_check").fetchone() == ("ok",), context
        rows = plain.execute("SELECT id, data FROM envelopes").fetchall()
        totals = plain.execute(
            "SELECT count, bytes FROM queues WHERE recipient = ?", (RECIPIENT,)
        ).fetchone()
        actual = plain.execute(
            "SELECT COUNT(*), SUM(length(data)) FROM envelopes WHERE recipient = ?", (RECIPIENT,)
        ).fetchone()
    plain.close()
    markers = {envelope_id: data.split(b"|", 1)[0].decode() for envelope_id, data in rows}
    lost = {m: i for m, i in confirmed.items() if markers.get(i) != m}
    assert not lost, f"{context}: {len(lost)} confirmed envelopes missing, e.g. {list(lost)[:5]}"
    twice = [m for m, n in Counter(markers.values()).items() if n > 1]
    assert not twice, f"{context}: stored more than once: {twice[:5]}"
    assert len(rows) <= started, context
    assert (totals or (0, None)) == (actual if actual[0] else (0, None)), (
        f"{context}: queue totals {totals} do not match the rows {actual}"
    )
    return len(rows)


def test_kill_9_at_random_points_loses_no_confirmed_envelope_and_duplicates_none(
    tmp_path: Path,
) -> None:
    seed = int(os.environ.get("MAILBOX_CRASH_SEED") or int.from_bytes(os.urandom(4), "big"))
    rng = random.Random(seed)
    db = tmp_path / "mailbox.sqlite3"
    confirmed: dict[str, int] = {}
    mid_run_kills = 0
    for round_ in range(ROUNDS):
        context = f"seed {seed}, round {round_}"
        kill_after = rng.randrange(0, PER_ROUND * 3 // 4)
        child = _child(db, round_)
        stdout, stderr = _Lines(child.stdout), _Lines(child.stderr)
        try:
            ready = stdout.wait_until(lambda lines: "ready" in lines, SOON)
            assert ready, f"{context}: child not ready; stderr: {stderr.snapshot()[-10:]}"
            stdout.wait_until(
                lambda lines, after=kill_after: len(lines) > after or "done" in lines, SOON
            )
        finally:
            child.kill()  # SIGKILL, to this one process id only
            child.wait(SOON)
        stdout.join(SOON)
        lines = stdout.snapshot()
        mid_run_kills += "done" not in lines
        for line in lines:
            if line not in ("ready", "done"):
                marker, envelope_id = line.split()
                confirmed[marker] = int(envelope_id)
        _check(db, confirmed, started=(round_ + 1) * PER_ROUND, context=context)
    assert mid_run_kills >= ROUNDS // 2, f"seed {seed}: the child finished before most kills"

    async def reopen() -> tuple[int, list[int]]:
        mailbox = await SqliteMailbox.open(db, quotas=QUOTAS)
        try:
            waiting: list[int] = []
            while page := await mailbox.pending(RECIPIENT, waiting[-1] if waiting else 0, 5000):
                waiting += [e.id for e in page]
            return await mailbox.put(RECIPIENT, b"after the crashes"), waiting
        finally:
            await mailbox.close()

    new_id, waiting = asyncio.run(reopen())
    assert waiting == sorted(waiting) and set(confirmed.values()) <= set(waiting), seed
    assert new_id > max(waiting), f"seed {seed}: an id was reused after the crashes"
