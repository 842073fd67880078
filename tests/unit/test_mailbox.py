"""The relay's mailbox: order, ownership, delivery tokens, quotas, expiry, group commit, and
what its files (do not) contain.

Each test runs its own event loop (``asyncio.run``) against a fresh database file. Time is
a hand-moved clock wherever age matters; nothing sleeps.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
import stat
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from messenger.crypto.aead import seal
from messenger.protocol.errors import (
    ErrorCode,
    LocalProtocolError,
    QueueFullError,
    ServerError,
    error_from_code,
)
from server.mailbox import MAILBOX_FILE, Quotas, SqliteMailbox, mailbox_path

T = TypeVar("T")
DAY = 24 * 3600.0
BOB, CAROL = "b0b" * 21 + "b", "ca201" * 12 + "ca2a"  # 64-character person ids


class Clock:
    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def run(test: Callable[[SqliteMailbox], Awaitable[T]], path: Path, **options: Any) -> T:
    """Open a mailbox at ``path``, run ``test`` with it, close it (also on failure)."""

    async def main() -> T:
        mailbox = await SqliteMailbox.open(path, **options)
        try:
            return await test(mailbox)
        finally:
            await mailbox.close()

    return asyncio.run(main())


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return mailbox_path(tmp_path)


def token(n: int) -> bytes:
    return hashlib.sha256(b"token %d" % n).digest()


# --- order and ownership --------------------------------------------------------------------


def test_envelopes_come_back_per_recipient_in_the_order_they_were_put(db: Path) -> None:
    async def test(mailbox: SqliteMailbox) -> None:
        for i in range(6):
            await mailbox.put(BOB if i % 2 == 0 else CAROL, b"envelope %d" % i)
        bobs = await mailbox.pending(BOB)
        assert [e.data for e in bobs] == [b"envelope 0", b"envelope 2", b"envelope 4"]
        assert [e.id for e in bobs] == sorted(e.id for e in bobs)
        assert [e.data for e in await mailbox.pending(CAROL)] == [
            b"envelope 1",
            b"envelope 3",
            b"envelope 5",
        ]
        page = await mailbox.pending(BOB, after_id=bobs[0].id, limit=1)
        assert [e.data for e in page] == [b"envelope 2"]

    run(test, db)


def test_concurrent_puts_get_ids_in_the_order_they_were_made(db: Path) -> None:
    async def test(mailbox: SqliteMailbox) -> None:
        ids = await asyncio.gather(*(mailbox.put(BOB, b"%d" % i) for i in range(300)))
        assert ids == sorted(ids)
        assert [e.data for e in await mailbox.pending(BOB, limit=1000)] == [
            b"%d" % i for i in range(300)
        ]

    run(test, db)


def test_ids_never_repeat_even_after_the_newest_is_deleted_and_the_file_reopened(
    db: Path,
) -> None:
    async def first(mailbox: SqliteMailbox) -> int:
        newest = await mailbox.put(BOB, b"newest")
        assert await mailbox.delete(BOB, [newest]) == 1
        return newest

    async def second(mailbox: SqliteMailbox) -> int:
        return await mailbox.put(BOB, b"next")

    newest = run(first, db)
    assert run(second, db) > newest


def test_delete_removes_only_the_recipients_own_envelopes(db: Path) -> None:
    async def test(mailbox: SqliteMailbox) -> None:
        carols = [await mailbox.put(CAROL, b"for carol %d" % i) for i in range(3)]
        bobs = [await mailbox.put(BOB, b"for bob")]
        assert await mailbox.delete(BOB, carols + bobs) == 1
        assert await mailbox.pending(BOB) == []
        assert [e.id for e in await mailbox.pending(CAROL)] == carols
        assert await mailbox.delete(CAROL, [*carols[:2], 10**9]) == 2
        assert [e.id for e in await mailbox.pending(CAROL)] == carols[2:]

    run(test, db)


def test_requests_out_of_bounds_are_refused(db: Path) -> None:
    async def test(mailbox: SqliteMailbox) -> None:
        for bad in ("", "x" * 129):
            with pytest.raises(LocalProtocolError):
                await mailbox.put(bad, b"data")
        for limit in (0, 10_001):
            with pytest.raises(LocalProtocolError):
                await mailbox.pending(BOB, limit=limit)
        with pytest.raises(LocalProtocolError):
            await mailbox.delete(BOB, range(10_001))

    run(test, db)


# --- delivery tokens ------------------------------------------------------------------------


def test_a_registered_token_allows_posting_to_its_recipient_only(db: Path) -> None:
    async def test(mailbox: SqliteMailbox) -> None:
        await mailbox.register_tokens(BOB, [token(1), token(2)])
        assert await mailbox.token_allows(BOB, token(1))
        assert await mailbox.token_allows(BOB, token(2))
        assert not await mailbox.token_allows(BOB, token(3))  # unknown
        assert not await mailbox.token_allows(CAROL, token(1))  # someone else's
        assert not await mailbox.token_allows(BOB, b"short")
        assert not await mailbox.token_allows(BOB, token(1) * 3)

    run(test, db)


def test_a_revoked_token_is_refused(db: Path) -> None:
    async def test(mailbox: SqliteMailbox) -> None:
        await mailbox.register_tokens(BOB, [token(1), token(2)])
        await mailbox.revoke_tokens(BOB, [token(1), token(9)])  # token 9 was never known
        assert not await mailbox.token_allows(BOB, token(1))
        assert await mailbox.token_allows(BOB, token(2))

    run(test, db)


def test_only_the_sha256_of_a_token_is_stored(db: Path) -> None:
    secret = os.urandom(32)

    async def test(mailbox: SqliteMailbox) -> None:
        await mailbox.register_tokens(BOB, [secret])

    run(test, db)
    with sqlite3.connect(db) as plain:
        rows = plain.execute("SELECT recipient, token_sha256 FROM delivery_tokens").fetchall()
    assert rows == [(BOB, hashlib.sha256(secret).digest())]
    assert secret not in db.read_bytes()


def test_tokens_per_recipient_are_bounded_and_sized(db: Path) -> None:
    async def test(mailbox: SqliteMailbox) -> None:
        await mailbox.register_tokens(BOB, [token(i) for i in range(3)])
        await mailbox.register_tokens(BOB, [token(0), token(1)])  # again: no new ones
        with pytest.raises(LocalProtocolError, match="At most 3"):
            await mailbox.register_tokens(BOB, [token(3)])
        assert not await mailbox.token_allows(BOB, token(3))
        await mailbox.register_tokens(CAROL, [token(3)])  # the bound is per recipient
        for size in (15, 65):
            with pytest.raises(LocalProtocolError):
                await mailbox.register_tokens(CAROL, [b"t" * size])

    run(test, db, quotas=Quotas(max_tokens=3))


# --- quotas ---------------------------------------------------------------------------------


def test_a_put_over_the_count_quota_is_refused_as_queue_full(db: Path) -> None:
    async def test(mailbox: SqliteMailbox) -> None:
        ids = [await mailbox.put(BOB, b"m") for _ in range(3)]
        with pytest.raises(QueueFullError) as refused:
            await mailbox.put(BOB, b"one too many")
        assert refused.value.code == ErrorCode.QUEUE_FULL == "queue_full"
        assert isinstance(error_from_code("queue_full"), QueueFullError)
        assert len(await mailbox.pending(BOB)) == 3
        await mailbox.put(CAROL, b"other queues are not affected")
        await mailbox.delete(BOB, ids[:1])
        await mailbox.put(BOB, b"room again")

    run(test, db, quotas=Quotas(max_messages=3))


def test_a_put_over_the_byte_quota_is_refused_as_queue_full(db: Path) -> None:
    async def test(mailbox: SqliteMailbox) -> None:
        await mailbox.put(BOB, bytes(600))
        await mailbox.put(BOB, bytes(400))  # exactly 1000
        with pytest.raises(QueueFullError):
            await mailbox.put(BOB, b"x")
        assert sum(len(e.data) for e in await mailbox.pending(BOB)) == 1000

    run(test, db, quotas=Quotas(max_bytes=1000))


def test_an_envelope_over_the_size_bound_is_refused(db: Path) -> None:
    async def test(mailbox: SqliteMailbox) -> None:
        await mailbox.put(BOB, bytes(100))
        with pytest.raises(LocalProtocolError, match="at most 100 bytes"):
            await mailbox.put(BOB, bytes(101))

    run(test, db, quotas=Quotas(max_envelope=100))


def test_the_default_quotas_let_10000_messages_wait_and_no_more(db: Path) -> None:
    assert Quotas() == Quotas(10_000, 64 * 1024 * 1024, 30 * DAY, 256 * 1024, 1024)

    async def test(mailbox: SqliteMailbox) -> None:
        envelope = bytes(600)  # a padded short text, sealed, with its headers
        await asyncio.gather(*(mailbox.put(BOB, envelope) for _ in range(10_000)))
        with pytest.raises(QueueFullError):
            await mailbox.put(BOB, envelope)
        waiting = await mailbox.pending(BOB, limit=10_000)
        assert len(waiting) == 10_000

    run(test, db)


def test_expired_envelopes_are_not_delivered_and_are_purged(db: Path) -> None:
    clock = Clock()

    async def test(mailbox: SqliteMailbox) -> None:
        await mailbox.put(BOB, b"old")
        clock.now += 10 * DAY
        await mailbox.put(BOB, b"newer")
        clock.now += 20 * DAY  # "old" is exactly 30 days old: still there
        assert [e.data for e in await mailbox.pending(BOB)] == [b"old", b"newer"]
        clock.now += 1
        assert [e.data for e in await mailbox.pending(BOB)] == [b"newer"]
        assert await mailbox.purge_expired() == 1
        assert await mailbox.purge_expired(clock.now + 20 * DAY) == 1
        assert await mailbox.pending(BOB) == []

    run(test, db, now=clock, quotas=Quotas(max_age=30 * DAY))


def test_a_full_queue_makes_room_by_dropping_its_expired_envelopes(db: Path) -> None:
    clock = Clock()

    async def test(mailbox: SqliteMailbox) -> None:
        await mailbox.put(BOB, b"old 1")
        await mailbox.put(BOB, b"old 2")
        clock.now += 2 * DAY
        await mailbox.put(BOB, b"recent")  # full now, but two are past the age limit
        clock.now += 1
        await mailbox.put(BOB, b"fits")
        assert [e.data for e in await mailbox.pending(BOB)] == [b"recent", b"fits"]

    run(test, db, now=clock, quotas=Quotas(max_messages=3, max_age=DAY))


# --- group commit ---------------------------------------------------------------------------


def test_concurrent_puts_share_commits_and_each_resolves_only_after_its_commit(
    db: Path,
) -> None:
    seen_by_another_connection: list[bool] = []

    async def test(mailbox: SqliteMailbox) -> None:
        other = sqlite3.connect(db)  # sees committed rows only

        async def put_and_look(i: int) -> None:
            envelope_id = await mailbox.put(BOB, b"%d" % i)
            row = other.execute("SELECT data FROM envelopes WHERE id = ?", (envelope_id,))
            seen_by_another_connection.append(row.fetchone() == (b"%d" % i,))

        try:
            await asyncio.gather(*(put_and_look(i) for i in range(500)))
        finally:
            other.close()
        assert mailbox.commits < 50, f"{mailbox.commits} commits for 500 concurrent puts"

    run(test, db)
    assert seen_by_another_connection == [True] * 500


async def _one_batch(mailbox: SqliteMailbox, requests: Callable[[], list[Awaitable[Any]]]):
    """Hold the worker on a gate, queue ``requests``, open the gate: they form one batch.

    Returns their results (or exceptions) and the number of commits they took.
    """
    entered, gate = threading.Event(), threading.Event()

    def hold(store: Any) -> None:
        entered.set()
        gate.wait(10)

    commits = mailbox.commits
    held = mailbox._call(hold)
    assert entered.wait(10), "the worker never took the gate"  # blocks this loop: intended
    queued = [asyncio.ensure_future(request) for request in requests()]
    await asyncio.sleep(0)  # one pass of the loop: every task queues its request
    gate.set()
    await held
    results = await asyncio.gather(*queued, return_exceptions=True)
    return results, mailbox.commits - commits - 1  # the gate's own batch committed once


def test_a_refused_put_does_not_fail_the_others_in_its_batch(db: Path) -> None:
    async def test(mailbox: SqliteMailbox) -> None:
        results, commits = await _one_batch(
            mailbox,
            lambda: [
                mailbox.put(BOB, b"fine"),
                mailbox.put(BOB, bytes(200)),  # over the envelope size
                mailbox.put(BOB, b"fine too"),
            ],
        )
        assert commits == 1
        assert isinstance(results[1], LocalProtocolError)
        assert [e.data for e in await mailbox.pending(BOB)] == [b"fine", b"fine too"]

    run(test, db, quotas=Quotas(max_envelope=100))


def test_a_storage_failure_fails_only_its_own_request_after_a_rollback(db: Path) -> None:
    def broken(store: Any) -> None:
        store.put(BOB, b"written, then rolled back", 0.0)
        raise sqlite3.OperationalError("disk I/O error")

    async def test(mailbox: SqliteMailbox) -> None:
        results, _ = await _one_batch(
            mailbox,
            lambda: [
                mailbox.put(BOB, b"before"),
                mailbox._call(broken),
                mailbox.put(BOB, b"after"),
            ],
        )
        assert isinstance(results[1], ServerError)
        assert isinstance(results[1].__cause__, sqlite3.OperationalError)
        assert [e.data for e in await mailbox.pending(BOB)] == [b"before", b"after"]

    run(test, db)


def test_close_finishes_queued_work_is_safe_twice_and_refuses_later_calls(db: Path) -> None:
    async def main() -> None:
        mailbox = await SqliteMailbox.open(db)
        puts = [asyncio.ensure_future(mailbox.put(BOB, b"%d" % i)) for i in range(50)]
        await asyncio.sleep(0)  # let every put queue its request
        await mailbox.close()
        await mailbox.close()
        assert all(p.done() and not p.exception() for p in puts)
        with pytest.raises(RuntimeError):
            await mailbox.put(BOB, b"too late")

    asyncio.run(main())
    with sqlite3.connect(db) as plain:
        assert plain.execute("SELECT COUNT(*) FROM envelopes").fetchone() == (50,)


def test_a_database_of_an_unknown_version_is_refused(db: Path) -> None:
    with sqlite3.connect(db) as plain:
        plain.execute("PRAGMA user_version = 99")
    with pytest.raises(ServerError, match="version 99"):
        run(lambda mailbox: asyncio.sleep(0), db)


# --- what the files hold --------------------------------------------------------------------


def test_the_files_never_hold_the_sender_or_the_plaintext(db: Path) -> None:
    """The relay never receives the sender's id (it is inside the sealed envelope, which the
    relay cannot open), so neither can its files; the recipient's id is there, as a control
    that the search would find an id."""
    sender = "a11ce" * 12 + "a11c"
    marker = b"PLAINTEXT-MARKER-7f3a"
    key = os.urandom(32)

    def envelope(i: int) -> bytes:
        inner = sender.encode() + b"|" + marker + b" %d" % i
        return seal(key, i.to_bytes(12, "big"), inner)

    def files() -> list[Path]:
        return [p for p in db.parent.iterdir() if p.name.startswith(MAILBOX_FILE)]

    async def test(mailbox: SqliteMailbox) -> None:
        await asyncio.gather(*(mailbox.put(BOB, envelope(i)) for i in range(200)))
        await mailbox.register_tokens(BOB, [token(1)])
        assert any(p.name.endswith("-wal") for p in files())  # look while the WAL is live
        check_files()

    def check_files() -> None:
        contents = b"".join(p.read_bytes() for p in files())
        assert BOB.encode() in contents
        assert sender.encode() not in contents
        assert marker not in contents
        assert token(1) not in contents

    run(test, db)
    check_files()
    with sqlite3.connect(db) as plain:
        tables = [
            row[0] for row in plain.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        columns = {t: [row[1] for row in plain.execute(f"PRAGMA table_info({t})")] for t in tables}
    assert columns["envelopes"] == ["id", "recipient", "arrival", "data"]
    for table, names in columns.items():
        for name in names:
            assert not any(word in name.lower() for word in ("sender", "from", "author")), (
                f"{table}.{name}"
            )


def test_the_database_files_are_private_to_the_relay(db: Path) -> None:
    async def test(mailbox: SqliteMailbox) -> None:
        await mailbox.put(BOB, b"x")
        for path in db.parent.iterdir():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name

    run(test, db)
