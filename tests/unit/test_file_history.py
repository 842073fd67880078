"""File transfers kept in the history: a row per transfer that its end fills in, so a
conversation shows its files after a restart (and a search finds them by name)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from messenger import events as ev
from messenger.file_history import FILE_KIND, FileHistory, FileMeta, FileState, file_meta
from messenger.store.database import ProfileDatabase
from messenger.store.db_key import new_key
from messenger.store.records import ContactRecord, ConversationRecord, MessageStatus
from messenger.store.worker import DatabaseWorker

BOB = "b" * 64


def with_history(tmp_path: Path, body) -> ProfileDatabase:
    """Run ``body(history)`` against a fresh database; returns the database, reopened."""
    key = new_key()

    async def main() -> None:
        db = ProfileDatabase.open(tmp_path, key)
        db.upsert_contact(ContactRecord(id=BOB, name="bob", pinned_at=1.0))
        db.save_conversation(ConversationRecord(BOB, b"r", b"s", b"t", b"h", b"i", 1.0, 1.0))
        worker = DatabaseWorker(db)
        body(FileHistory(worker, lambda: 50.0))
        await worker.close()  # lets every queued write finish
        db.close()

    asyncio.run(main())
    return ProfileDatabase.open(tmp_path, key)


def test_an_incoming_offer_is_a_row_that_counts_as_unread_and_ends_saved(tmp_path):
    def body(history: FileHistory) -> None:
        history.note(BOB, ev.FileOffered(BOB, "t1", "holiday.zip", 2048, "ab" * 32))
        history.note(BOB, ev.FileProgress(BOB, "t1", 1024, 2048, "in"))
        history.note(BOB, ev.FileCompleted(BOB, "t1", "/tmp/in/holiday.zip", "ab" * 32, "in"))

    db = with_history(tmp_path, body)
    (row,) = db.history(BOB, limit=10)
    assert (row.kind, row.body, row.outgoing, row.status) == (
        FILE_KIND, "holiday.zip", False, MessageStatus.RECEIVED,
    )  # fmt: skip
    assert file_meta(row) == FileMeta(2048, FileState.DONE, path="/tmp/in/holiday.zip")
    assert db.conversations()[0].unread == 1, "an offer counts as unread, like a message"
    assert [m.body for m in db.search("holiday", limit=5)] == ["holiday.zip"]
    db.close()


def test_our_offer_keeps_the_path_and_learns_why_it_stopped(tmp_path):
    def body(history: FileHistory) -> None:
        history.offered(BOB, "t2", Path("/home/a/notes.txt"), 10)
        history.note(BOB, ev.FileCancelled(BOB, "t2", "peer", "declined"))
        history.offered(BOB, "t3", Path("/home/a/big.iso"), 10**10)
        history.note(BOB, ev.FileFailed(BOB, "t3", "interrupted", "the session ended"))

    db = with_history(tmp_path, body)
    first, second = db.history(BOB, limit=10)
    assert (first.outgoing, first.status, first.body) == (True, MessageStatus.SENT, "notes.txt")
    assert file_meta(first) == FileMeta(
        10, FileState.CANCELLED, path="/home/a/notes.txt", by="peer", reason="declined"
    )
    assert file_meta(second).state is FileState.FAILED
    assert file_meta(second).size == 10**10, "sizes past 2 GiB survive"
    assert file_meta(second).reason == "the session ended"
    db.close()


def test_a_peer_offering_under_the_id_of_ours_cannot_rewrite_our_row(tmp_path):
    """A hostile peer reuses our transfer id for its own file: our finished row keeps its
    path and state, and theirs is a row of its own."""

    def body(history: FileHistory) -> None:
        history.offered(BOB, "x1", Path("/home/a/report.pdf"), 10)
        history.note(BOB, ev.FileCompleted(BOB, "x1", "/home/a/report.pdf", "ab" * 32, "out"))
        history.note(BOB, ev.FileOffered(BOB, "x1", "evil.pdf", 20, "cd" * 32))
        history.note(BOB, ev.FileCompleted(BOB, "x1", "/home/a/Downloads/evil.pdf", "cd" * 32,
                                           "in"))  # fmt: skip
        history.note(BOB, ev.FileCancelled(BOB, "x1", "peer", "gone"))

    db = with_history(tmp_path, body)
    rows = {m.outgoing: m for m in db.history(BOB, limit=10)}
    assert file_meta(rows[True]) == FileMeta(10, FileState.DONE, path="/home/a/report.pdf")
    assert rows[True].body == "report.pdf"
    theirs = file_meta(rows[False])
    assert (theirs.state, theirs.path) == (FileState.DONE, "/home/a/Downloads/evil.pdf")
    db.close()


def test_a_row_left_unfinished_reads_back_as_interrupted(tmp_path):
    def body(history: FileHistory) -> None:
        history.offered(BOB, "t4", Path("/home/a/photo.jpg"), 99)

    db = with_history(tmp_path, body)
    (row,) = db.history(BOB, limit=10)
    assert file_meta(row).as_stored(running=False).state is FileState.INTERRUPTED
    assert file_meta(row).as_stored(running=True).state is FileState.WAITING
    db.close()


def test_a_damaged_meta_reads_as_an_interrupted_file():
    assert FileMeta.from_json("not json").state is FileState.INTERRUPTED
    assert FileMeta.from_json('{"state": "exploded"}') == FileMeta(0, FileState.INTERRUPTED)
    assert FileMeta.from_json(None).state is FileState.INTERRUPTED
