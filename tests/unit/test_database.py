"""The profile database: SQLCipher at rest, transactions, and each table's rules.

Every test opens a fresh profile.db in its own folder with a random key and a fake clock.
"""

from __future__ import annotations

import sqlite3
import stat
import threading
from pathlib import Path

import pytest
import sqlcipher3

from messenger.store import database
from messenger.store.database import CONVERSATIONS_SQL, Arrival, ProfileDatabase, fts_query
from messenger.store.db_key import new_key
from messenger.store.errors import (
    DatabaseKeyError,
    ProfileError,
    ProfileLockedError,
    UnknownContactError,
)
from messenger.store.records import (
    ContactRecord,
    ConversationRecord,
    MessageStatus,
    VerifiedBy,
)
from messenger.store.schema import LATEST_VERSION

ALICE = "a" * 64
BOB = "b" * 64
CAROL = "c" * 64
MARKER = "zebra-quartz-7731"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def key() -> bytes:
    return new_key()


@pytest.fixture
def db(tmp_path, key, clock):
    database = ProfileDatabase.open(tmp_path, key, clock=clock)
    yield database
    database.close()


def contact(person_id: str, name: str, **fields) -> ContactRecord:
    return ContactRecord(id=person_id, name=name, pinned_at=fields.pop("pinned_at", 1.0), **fields)


def conversation(person_id: str, hint: bytes, **fields) -> ConversationRecord:
    values = {
        "ratchet": b"ratchet-" + hint,
        "send_token": b"send-token",
        "recv_token": b"recv-token",
        "send_hint": b"send-" + hint,
        "recv_hint": hint,
        "created_at": 10.0,
        "last_activity": 10.0,
    }
    values.update(fields)
    return ConversationRecord(contact_id=person_id, **values)


@pytest.fixture
def people(db):
    """alice, bob and carol are contacts."""
    for person_id, name in ((ALICE, "alice"), (BOB, "bob"), (CAROL, "carol")):
        db.upsert_contact(contact(person_id, name))
    return db


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def raw_connection(path: Path, key: bytes) -> sqlcipher3.Connection:
    """A second connection, the way any SQLCipher tool would open the file."""
    conn = sqlcipher3.connect(str(path), isolation_level=None)
    conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
    return conn


# --- at rest ----------------------------------------------------------------------------------


def test_the_database_and_its_journal_files_are_private(people, tmp_path):
    people.add_message(ALICE, "m1", outgoing=False, body="hi", sent_at=1.0)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["profile.db", "profile.db-shm", "profile.db-wal"]
    assert all(mode_of(tmp_path / name) == 0o600 for name in files)


def test_nothing_a_person_wrote_is_readable_in_the_folder(tmp_path, key, clock):
    db = ProfileDatabase.open(tmp_path, key, clock=clock)
    db.upsert_contact(contact(ALICE, f"alice {MARKER}", local_name=f"Al {MARKER}"))
    db.save_conversation(conversation(ALICE, MARKER.encode()))
    for n in range(300):
        db.add_message(
            ALICE, f"in-{n}", outgoing=False, body=f"{n} {MARKER} said", sent_at=1.0, meta=MARKER
        )
        db.add_message(ALICE, f"out-{n}", outgoing=True, body=f"{MARKER} {n}", sent_at=1.0)
    db.add_outbox(ALICE, "out-1", MARKER.encode() * 4)
    db.save_setting("draft", {ALICE: MARKER})
    assert db.search(MARKER, limit=1), "the marker is in the database"

    def readable() -> list[str]:
        return [
            p.name
            for p in tmp_path.iterdir()
            if any(
                form in p.read_bytes()
                for form in (MARKER.encode(), MARKER.encode("utf-16-le"), b"zebra")
            )
        ]

    assert (tmp_path / "profile.db-wal").stat().st_size > 0
    assert readable() == [], "readable while open (in the write-ahead log)"
    db.close()
    assert readable() == [], "readable after closing"


def test_the_key_is_sqlciphers_raw_key_so_no_kdf_stands_between(people, tmp_path, key):
    people.add_message(ALICE, "m1", outgoing=False, body="hi", sent_at=1.0)
    conn = raw_connection(tmp_path / "profile.db", key)
    assert conn.execute("SELECT body FROM messages").fetchall() == [("hi",)]
    conn.close()


def test_the_file_is_not_plain_sqlite(people, tmp_path):
    with sqlite3.connect(tmp_path / "profile.db") as plain, pytest.raises(sqlite3.DatabaseError):
        plain.execute("SELECT * FROM sqlite_master").fetchall()


def test_a_wrong_key_is_refused_and_the_file_left_alone(people, tmp_path, key):
    people.add_message(ALICE, "m1", outgoing=False, body="hi", sent_at=1.0)
    people.close()
    before = (tmp_path / "profile.db").read_bytes()
    with pytest.raises(DatabaseKeyError, match="does not open"):
        ProfileDatabase.open(tmp_path, new_key())
    assert (tmp_path / "profile.db").read_bytes() == before
    reopened = ProfileDatabase.open(tmp_path, key)
    assert [m.body for m in reopened.history(ALICE, limit=5)] == ["hi"]
    reopened.close()


def test_a_file_that_is_no_database_is_refused(tmp_path, key):
    (tmp_path / "profile.db").write_bytes(b"not a database " * 500)
    with pytest.raises(DatabaseKeyError):
        ProfileDatabase.open(tmp_path, key)


def test_a_key_of_the_wrong_size_is_refused(tmp_path):
    with pytest.raises(ValueError, match="32 bytes"):
        ProfileDatabase.open(tmp_path, b"short")


def test_a_new_database_has_the_latest_schema_and_reopening_keeps_it(db, tmp_path, key):
    assert db.schema_version() == LATEST_VERSION
    db.close()
    again = ProfileDatabase.open(tmp_path, key)
    assert again.schema_version() == LATEST_VERSION
    again.close()


def test_a_database_from_a_newer_messenger_is_refused(db, tmp_path, key):
    db.close()
    conn = raw_connection(tmp_path / "profile.db", key)
    conn.execute("INSERT INTO schema_migrations VALUES (?, 0)", (LATEST_VERSION + 1,))
    conn.close()
    with pytest.raises(ProfileError, match="newer version"):
        ProfileDatabase.open(tmp_path, key)


def test_closing_twice_is_fine_and_a_closed_database_says_so(db):
    db.close()
    db.close()
    assert db.closed
    with pytest.raises(ProfileLockedError, match="closed"):
        db.contacts()
    with pytest.raises(ProfileLockedError):
        db.upsert_contact(contact(ALICE, "alice"))


# --- transactions ---------------------------------------------------------------------------


def test_a_transaction_that_raises_leaves_nothing(people):
    with pytest.raises(RuntimeError), people.transaction():
        people.add_message(ALICE, "m1", outgoing=False, body="one", sent_at=1.0)
        people.save_conversation(conversation(ALICE, b"h1"))
        people.set_local_name(BOB, "Bobby")
        raise RuntimeError("crash")
    assert people.history(ALICE, limit=5) == []
    assert people.conversation(ALICE) is None
    assert people.contact(BOB).local_name is None


def test_nested_transactions_commit_once_at_the_outermost_exit(people, tmp_path, key):
    other = raw_connection(tmp_path / "profile.db", key)

    def seen() -> int:
        return other.execute("SELECT count(*) FROM messages").fetchone()[0]

    with people.transaction():
        with people.transaction():
            people.add_message(ALICE, "m1", outgoing=False, body="one", sent_at=1.0)
        people.add_message(ALICE, "m2", outgoing=False, body="two", sent_at=1.0)
        assert seen() == 0, "committed before the outermost block ended"
    assert seen() == 2
    other.close()


def test_an_inner_block_that_raises_undoes_only_its_own_writes(people):
    with people.transaction():
        people.add_message(ALICE, "m1", outgoing=False, body="kept", sent_at=1.0)
        with pytest.raises(ValueError), people.transaction():
            people.add_message(ALICE, "m2", outgoing=False, body="undone", sent_at=1.0)
            raise ValueError("inner")
        people.add_message(ALICE, "m3", outgoing=False, body="also kept", sent_at=1.0)
    assert [m.body for m in people.history(ALICE, limit=5)] == ["kept", "also kept"]


def test_a_write_that_fails_inside_a_transaction_rolls_it_all_back(people):
    with pytest.raises(UnknownContactError), people.transaction():
        people.add_message(ALICE, "m1", outgoing=False, body="one", sent_at=1.0)
        people.add_message("d" * 64, "m2", outgoing=False, body="to nobody", sent_at=1.0)
    assert people.history(ALICE, limit=5) == []


def test_threads_can_share_the_database_and_transactions_stay_whole(people):
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            for n in range(100):
                with people.transaction():
                    people.add_message(ALICE, f"{name}-{n}", outgoing=False, body=name, sent_at=1.0)
                    people.bump_unread(ALICE, 1) if people.conversation(ALICE) else None
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    people.save_conversation(conversation(ALICE, b"h"))
    threads = [threading.Thread(target=writer, args=(f"t{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(people.history(ALICE, limit=1000)) == 400
    assert people.conversation(ALICE).unread == 400


# --- contacts -------------------------------------------------------------------------------


def test_a_contact_keeps_every_field(db):
    record = contact(
        ALICE,
        "alice",
        local_name="Al",
        key_der=b"\x30\x82der",
        verified=True,
        verified_by=VerifiedBy.CODE,
        pinned_at=123.5,
        key_change_note="new key on Monday",
    )
    db.upsert_contact(record)
    assert db.contact(ALICE) == record
    assert db.contact(BOB) is None


def test_updating_a_contact_keeps_their_conversation_and_history(people):
    people.save_conversation(conversation(ALICE, b"h"))
    people.add_message(ALICE, "m1", outgoing=False, body="hi", sent_at=1.0)
    people.upsert_contact(contact(ALICE, "alice 2"))
    assert people.contact(ALICE).name == "alice 2"
    assert people.conversation(ALICE) is not None
    assert len(people.history(ALICE, limit=5)) == 1


def test_a_contact_id_must_be_a_fingerprint(db):
    with pytest.raises(ValueError, match="64"):
        db.upsert_contact(contact("alice", "alice"))


def test_contacts_are_sorted_by_the_name_shown_ignoring_case(people):
    people.set_local_name(CAROL, "Aunt Carol")
    people.upsert_contact(contact("d" * 64, "Bea"))
    assert [c.display_name for c in people.contacts()] == ["alice", "Aunt Carol", "Bea", "bob"]


def test_a_local_name_can_be_set_and_cleared(people):
    assert people.set_local_name(ALICE, "  Al  ") is True
    assert people.contact(ALICE).display_name == "Al"
    people.set_local_name(ALICE, "   ")
    assert people.contact(ALICE).local_name is None
    assert people.contact(ALICE).display_name == "alice"
    assert people.set_local_name("d" * 64, "nobody") is False


def test_verification_records_how_and_unverifying_forgets_it(people):
    assert people.set_verified(ALICE, True, VerifiedBy.SAFETY_NUMBER) is True
    assert (people.contact(ALICE).verified, people.contact(ALICE).verified_by) == (
        True,
        VerifiedBy.SAFETY_NUMBER,
    )
    people.set_verified(ALICE, False, VerifiedBy.CODE)
    assert (people.contact(ALICE).verified, people.contact(ALICE).verified_by) == (False, None)
    assert people.set_verified("d" * 64, True, VerifiedBy.CODE) is False


def test_forgetting_a_contact_takes_conversation_history_outbox_and_search_along(people):
    for person in (ALICE, BOB):
        people.save_conversation(conversation(person, person.encode()))
        people.add_message(person, "m1", outgoing=False, body=f"lantern {person[0]}", sent_at=1.0)
        people.add_outbox(person, "m2", b"sealed")
    people.trust_key(ALICE)

    assert people.forget_contact(ALICE) is True

    assert people.contact(ALICE) is None
    assert people.conversation(ALICE) is None
    assert people.history(ALICE, limit=5) == []
    assert people.outbox(ALICE) == []
    assert not people.is_trusted_key(ALICE)
    assert [m.contact_id for m in people.search("lantern", limit=5)] == [BOB]
    assert people.conversation(BOB) is not None and len(people.outbox()) == 1
    assert people.forget_contact(ALICE) is False
    with people._sql.reading() as conn:  # the index and the table agree
        conn.execute("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')")


def test_trusted_keys_are_remembered_until_cleared(db):
    assert not db.is_trusted_key(ALICE)
    db.trust_key(ALICE)
    db.trust_key(ALICE)
    assert db.is_trusted_key(ALICE)
    db.clear_trusted_key(ALICE)
    assert not db.is_trusted_key(ALICE)


# --- relays ---------------------------------------------------------------------------------


def test_a_relay_pin_is_kept_per_address_and_can_be_replaced(db):
    assert db.server_pin("relay:7777") is None
    db.pin_server("relay:7777", "ab" * 32)
    db.pin_server("relay:7778", "cd" * 32)
    db.pin_server("relay:7777", "ef" * 32)
    assert (db.server_pin("relay:7777"), db.server_pin("relay:7778")) == ("ef" * 32, "cd" * 32)


# --- conversations --------------------------------------------------------------------------


def test_a_conversation_is_saved_whole_and_found_by_contact_or_hint(people):
    record = conversation(ALICE, b"hint-a", unread=2)
    people.save_conversation(record)
    assert people.conversation(ALICE) == record
    assert people.conversation_by_hint(b"hint-a") == record
    assert people.conversation_by_hint(b"hint-b") is None
    assert people.conversation(BOB) is None


def test_saving_a_conversation_again_replaces_it(people):
    people.save_conversation(conversation(ALICE, b"hint-a"))
    people.save_conversation(conversation(ALICE, b"hint-a2", ratchet=b"newer"))
    assert people.conversation(ALICE).ratchet == b"newer"
    assert people.conversation_by_hint(b"hint-a") is None


def test_two_conversations_cannot_share_a_receive_hint(people):
    people.save_conversation(conversation(ALICE, b"same"))
    with pytest.raises(ProfileError):
        people.save_conversation(conversation(BOB, b"same"))
    assert people.conversation(BOB) is None


def test_a_conversation_needs_a_contact(db):
    with pytest.raises(UnknownContactError, match="aaaaaaaaaaaaaaaa"):
        db.save_conversation(conversation(ALICE, b"h"))


def test_saving_the_ratchet_replaces_it_and_optionally_the_activity(people):
    people.save_conversation(conversation(ALICE, b"h"))
    people.save_ratchet(ALICE, b"step 1")
    assert (people.conversation(ALICE).ratchet, people.conversation(ALICE).last_activity) == (
        b"step 1",
        10.0,
    )
    people.save_ratchet(ALICE, b"step 2", last_activity=20.0)
    assert (people.conversation(ALICE).ratchet, people.conversation(ALICE).last_activity) == (
        b"step 2",
        20.0,
    )
    with pytest.raises(UnknownContactError, match="no conversation"):
        people.save_ratchet(BOB, b"nothing to replace")


def test_unread_counts_go_up_and_back_to_zero_never_below(people):
    people.save_conversation(conversation(ALICE, b"h"))
    people.bump_unread(ALICE, 3)
    people.bump_unread(ALICE, 1)
    assert people.conversation(ALICE).unread == 4
    people.clear_unread(ALICE)
    assert people.conversation(ALICE).unread == 0
    people.bump_unread(ALICE, -5)
    assert people.conversation(ALICE).unread == 0


def test_the_conversation_list_is_most_recent_first_with_previews(people, clock):
    people.save_conversation(conversation(ALICE, b"a", last_activity=50.0, unread=2))
    people.save_conversation(conversation(BOB, b"b", last_activity=5.0))
    clock.now = 30.0
    people.add_message(BOB, "m1", outgoing=False, body="first", sent_at=1.0)
    clock.now = 60.0
    people.add_message(BOB, "m2", outgoing=True, body="second line one\nline two", sent_at=2.0)

    summaries = people.conversations()

    assert [s.contact.id for s in summaries] == [BOB, ALICE]  # carol has nothing
    bob, alice = summaries
    assert (bob.last_message.msg_id, bob.preview, bob.last_activity) == (
        "m2",
        "second line one",
        60.0,
    )
    assert (alice.last_message, alice.preview, alice.unread, alice.last_activity) == (
        None,
        "",
        2,
        50.0,
    )


def test_someone_with_history_but_no_conversation_is_listed(people):
    people.add_message(CAROL, "m1", outgoing=False, body="from a live session", sent_at=1.0)
    [carol] = people.conversations()
    assert (carol.contact.id, carol.unread, carol.preview) == (CAROL, 0, "from a live session")


def test_a_long_preview_is_cut(people):
    people.add_message(ALICE, "m1", outgoing=False, body="x" * 500, sent_at=1.0)
    [alice] = people.conversations()
    assert len(alice.preview) == 80 and alice.preview.endswith("\u2026")


def test_the_conversation_list_never_scans_the_whole_history(people):
    with people._sql.reading() as conn:
        rows = conn.execute("EXPLAIN QUERY PLAN " + CONVERSATIONS_SQL).fetchall()
    plan = " | ".join(row[-1] for row in rows)
    assert "SCAN m" not in plan and "SCAN messages" not in plan, plan
    assert "messages_by_contact" in plan, plan


def test_one_conversations_entry_is_read_alone_and_equals_its_entry_in_the_list(people, clock):
    people.save_conversation(conversation(ALICE, b"a", last_activity=50.0, unread=2))
    people.add_message(BOB, "m1", outgoing=False, body="from a live session", sent_at=1.0)
    everyone = {s.contact.id: s for s in people.conversations()}
    assert people.conversations(ALICE) == [everyone[ALICE]]
    assert people.conversations(BOB) == [everyone[BOB]]
    assert people.conversations(CAROL) == []  # a contact with nothing to list
    assert people.conversations("f" * 64) == []
    with people._sql.reading() as conn:
        rows = conn.execute(
            "EXPLAIN QUERY PLAN " + CONVERSATIONS_SQL + " AND c.id = ?", (ALICE,)
        ).fetchall()
    plan = " | ".join(row[-1] for row in rows)
    assert "SCAN c" not in plan and "SCAN contacts" not in plan, plan


def test_the_conversation_list_is_right_with_many_contacts_and_messages(db, clock):
    for c in range(50):
        person = f"{c:064x}"
        db.upsert_contact(contact(person, f"person {c}"))
        with db.transaction():
            for n in range(200):
                clock.now = 1_000.0 + c * 1_000 + n
                db.add_message(person, f"m{n}", outgoing=n % 2 == 0, body=f"{c}/{n}", sent_at=1.0)
    summaries = db.conversations()
    assert len(summaries) == 50
    assert [s.preview for s in summaries] == [f"{c}/199" for c in reversed(range(50))]


# --- messages -------------------------------------------------------------------------------


def test_a_message_is_stored_once_and_a_duplicate_changes_nothing(people, clock):
    assert people.add_message(ALICE, "m1", outgoing=False, body="original", sent_at=1.0) is True
    clock.now = 2_000.0
    assert people.add_message(ALICE, "m1", outgoing=False, body="replayed", sent_at=9.0) is False
    [stored] = people.history(ALICE, limit=5)
    assert (stored.body, stored.sent_at, stored.stored_at) == ("original", 1.0, 1_000.0)


def test_a_slice_of_arrivals_is_stored_once_each_and_says_which_were_new(people):
    people.add_message(ALICE, "m2", outgoing=False, body="already here", sent_at=1.0)
    added = people.add_arrivals(
        ALICE,
        [Arrival("m1", "one", 1.0), Arrival("m2", "replayed", 2.0),
         Arrival("m3", "XLMW", 3.0, "puzzle", "caesar"), Arrival("m1", "again", 4.0)],
        stored_at=50.0,
    )  # fmt: skip
    assert added == [True, False, True, False]
    stored = {m.msg_id: m for m in people.history(ALICE, limit=10)}
    assert stored["m2"].body == "already here" and stored["m1"].body == "one"
    puzzle = stored["m3"]
    assert (puzzle.kind, puzzle.meta, puzzle.status, puzzle.outgoing, puzzle.stored_at) == (
        "puzzle", "caesar", MessageStatus.RECEIVED, False, 50.0,
    )  # fmt: skip


def test_a_backlog_longer_than_one_statement_is_stored_once_and_can_be_searched(people):
    """add_arrivals inserts many rows per statement: the rows past the first statement, a
    duplicate split across two statements, and the full-text index must all still hold."""
    count = 2 * database._ARRIVALS_PER_STATEMENT + 7
    arrivals = [Arrival(f"b{i}", f"backlog word{i}", float(i)) for i in range(count)]
    arrivals.append(Arrival("b3", "a replay in a later statement", 9.0))
    added = people.add_arrivals(ALICE, arrivals, stored_at=50.0)
    assert added == [True] * count + [False]
    assert len(people.history(ALICE, limit=count + 10)) == count
    last = count - 1
    assert [m.body for m in people.search(f"word{last}", limit=5)] == [f"backlog word{last}"]
    assert people.search("replay", limit=5) == []


def test_the_same_message_id_in_the_other_direction_or_from_someone_else_is_another_message(
    people,
):
    assert people.add_message(ALICE, "m1", outgoing=False, body="from alice", sent_at=1.0)
    assert people.add_message(ALICE, "m1", outgoing=True, body="to alice", sent_at=1.0)
    assert people.add_message(BOB, "m1", outgoing=False, body="from bob", sent_at=1.0)
    assert len(people.history(ALICE, limit=5)) == 2


def test_a_message_has_every_field_and_sensible_status_defaults(people):
    people.add_message(
        ALICE, "m1", outgoing=False, body="hi", sent_at=1.5, kind="file", meta='{"size": 3}'
    )
    people.add_message(ALICE, "m2", outgoing=True, body="hello", sent_at=2.5)
    incoming = people.message(ALICE, "m1", outgoing=False)
    outgoing = people.message(ALICE, "m2", outgoing=True)
    assert (incoming.kind, incoming.meta, incoming.status, incoming.outgoing) == (
        "file",
        '{"size": 3}',
        MessageStatus.RECEIVED,
        False,
    )
    assert (outgoing.kind, outgoing.status, outgoing.stored_at) == (
        "text",
        MessageStatus.PENDING,
        1_000.0,
    )
    assert people.message(ALICE, "m2", outgoing=False) is None


def test_a_status_that_does_not_fit_the_direction_is_refused(people):
    with pytest.raises(ValueError):
        people.add_message(ALICE, "m1", outgoing=True, body="x", sent_at=1.0, status="received")
    with pytest.raises(ValueError):
        people.add_message(ALICE, "m1", outgoing=False, body="x", sent_at=1.0, status="sent")
    with pytest.raises(ValueError):
        people.add_message(ALICE, "m1", outgoing=False, body="x", sent_at=1.0, status="read")
    assert people.history(ALICE, limit=5) == []


def test_a_message_needs_a_contact(db):
    with pytest.raises(UnknownContactError):
        db.add_message(ALICE, "m1", outgoing=False, body="x", sent_at=1.0)


def test_a_message_repr_keeps_the_text_out_of_logs(people):
    people.add_message(ALICE, "m1", outgoing=False, body=MARKER, sent_at=1.0)
    [message] = people.history(ALICE, limit=1)
    assert MARKER not in repr(message)


def status_of(db, msg_id: str) -> MessageStatus:
    return db.message(ALICE, msg_id, outgoing=True).status


def test_an_outgoing_status_moves_forward(people):
    people.add_message(ALICE, "m1", outgoing=True, body="x", sent_at=1.0)
    assert people.set_status(ALICE, "m1", MessageStatus.SENT) is True
    assert status_of(people, "m1") is MessageStatus.SENT
    assert people.set_status(ALICE, "m1", "delivered") is True
    assert status_of(people, "m1") is MessageStatus.DELIVERED


def test_a_status_never_moves_back(people):
    people.add_message(ALICE, "m1", outgoing=True, body="x", sent_at=1.0)
    people.set_status(ALICE, "m1", MessageStatus.DELIVERED)  # the receipt overtook "sent"
    for late in (MessageStatus.SENT, MessageStatus.PENDING, MessageStatus.FAILED):
        assert people.set_status(ALICE, "m1", late) is False
    assert status_of(people, "m1") is MessageStatus.DELIVERED
    people.add_message(ALICE, "m2", outgoing=True, body="x", sent_at=1.0, status="sent")
    assert people.set_status(ALICE, "m2", MessageStatus.FAILED) is False
    assert status_of(people, "m2") is MessageStatus.SENT


def test_a_failed_message_can_be_retried(people):
    people.add_message(ALICE, "m1", outgoing=True, body="x", sent_at=1.0)
    assert people.set_status(ALICE, "m1", MessageStatus.FAILED) is True
    assert people.set_status(ALICE, "m1", MessageStatus.PENDING) is True
    assert people.set_status(ALICE, "m1", MessageStatus.SENT) is True


def test_set_status_touches_only_outgoing_messages(people):
    people.add_message(ALICE, "m1", outgoing=False, body="x", sent_at=1.0)
    assert people.set_status(ALICE, "m1", MessageStatus.DELIVERED) is False
    assert people.message(ALICE, "m1", outgoing=False).status is MessageStatus.RECEIVED
    with pytest.raises(ValueError):
        people.set_status(ALICE, "m1", MessageStatus.RECEIVED)
    assert people.set_status(ALICE, "unknown", MessageStatus.SENT) is False


def test_history_pages_backwards_oldest_first_within_a_page(people):
    for n in range(1, 26):
        people.add_message(ALICE, f"m{n}", outgoing=n % 3 == 0, body=str(n), sent_at=float(n))
        people.add_message(BOB, f"m{n}", outgoing=False, body=f"bob {n}", sent_at=float(n))

    pages = []
    before = None
    while page := people.history(ALICE, limit=10, before_id=before):
        pages.append([m.body for m in page])
        before = page[0].id

    assert pages == [
        [str(n) for n in range(16, 26)],
        [str(n) for n in range(6, 16)],
        [str(n) for n in range(1, 6)],
    ]
    assert people.history(ALICE, limit=0) == []


# --- search ---------------------------------------------------------------------------------


@pytest.fixture
def searchable(people):
    people.add_message(ALICE, "m1", outgoing=False, body="The orbit lantern is lit", sent_at=1.0)
    people.add_message(ALICE, "m2", outgoing=True, body="Lanterns at the Café", sent_at=2.0)
    people.add_message(BOB, "m1", outgoing=False, body="an orbit of the moon", sent_at=3.0)
    people.add_message(BOB, "m2", outgoing=False, body='she said "NEAR(" -x *', sent_at=4.0)
    return people


def found(db, query: str, **options) -> list[str]:
    return [m.body for m in db.search(query, limit=options.pop("limit", 10), **options)]


def test_search_finds_words_and_word_beginnings_newest_first(searchable):
    assert found(searchable, "lantern") == ["Lanterns at the Café", "The orbit lantern is lit"]
    assert found(searchable, "orb") == ["an orbit of the moon", "The orbit lantern is lit"]
    assert found(searchable, "orbit lantern") == ["The orbit lantern is lit"]
    assert found(searchable, "ORBIT", limit=1) == ["an orbit of the moon"]


def test_search_ignores_accents_and_case(searchable):
    assert found(searchable, "cafe") == ["Lanterns at the Café"]
    assert found(searchable, "CAFÉ") == ["Lanterns at the Café"]


def test_search_can_keep_to_one_contact(searchable):
    assert found(searchable, "orbit", contact_id=ALICE) == ["The orbit lantern is lit"]


def test_search_looks_at_what_was_written_not_at_who_wrote_it(searchable):
    assert found(searchable, ALICE[:12]) == []
    assert found(searchable, "orbit", contact_id="not an id") == []


def test_search_finds_nothing_for_words_that_are_not_there(searchable):
    assert found(searchable, "lantern moon") == []
    assert found(searchable, "zebra") == []


@pytest.mark.parametrize(
    "query",
    [
        '"',
        "*",
        "NEAR(",
        "-",
        "NEAR(orbit lantern, 2)",
        'orbit" OR "moon',
        "orbit AND",
        "NOT orbit",
        "body:orbit",
        "^orbit",
        "(orbit",
        "orbit)",
        "{body}: orbit",
        "'",
        '""""',
        "\\",
        "+",
        "\x00",
        "",
        "   ",
        "🐴",
    ],
)
def test_a_hostile_search_is_an_answer_never_an_exception(searchable, query):
    assert isinstance(searchable.search(query, limit=10), list)


def test_fts_syntax_in_a_search_is_taken_as_words(searchable):
    assert found(searchable, "NEAR(") == ['she said "NEAR(" -x *']
    assert found(searchable, '"orbit') == ["an orbit of the moon", "The orbit lantern is lit"]
    assert found(searchable, "orbit AND moon") == []  # "and" is a word, and no message has it
    assert found(searchable, "the AND") == []


def test_the_search_query_is_quoted_word_by_word():
    assert fts_query('say "hi" NEAR( - *') == '"say"* """hi"""* "NEAR("*'
    assert fts_query("  - * ") is None


def test_search_results_after_deleting_a_message_by_its_contact_are_gone(searchable):
    searchable.forget_contact(BOB)
    assert found(searchable, "orbit") == ["The orbit lantern is lit"]


# --- outbox ---------------------------------------------------------------------------------


def test_the_outbox_is_oldest_first_and_per_contact(people, clock):
    first = people.add_outbox(ALICE, "m1", b"sealed 1")
    clock.now = 2_000.0
    second = people.add_outbox(BOB, "m1", b"sealed 2")
    third = people.add_outbox(ALICE, "m2", b"sealed 3")
    assert first < second < third
    assert [(e.seq, e.msg_id, e.envelope) for e in people.outbox()] == [
        (first, "m1", b"sealed 1"),
        (second, "m1", b"sealed 2"),
        (third, "m2", b"sealed 3"),
    ]
    assert [e.seq for e in people.outbox(ALICE)] == [first, third]
    assert people.outbox(ALICE)[0].created_at == 1_000.0


def test_an_outbox_entry_counts_its_failures_and_goes_when_removed(people):
    seq = people.add_outbox(ALICE, "m1", b"sealed")
    assert people.note_outbox_failure(seq, "queue_full") is True
    assert people.note_outbox_failure(seq, "peer_offline") is True
    [entry] = people.outbox()
    assert (entry.attempts, entry.last_error) == (2, "peer_offline")
    assert people.remove_outbox(seq) is True
    assert people.outbox() == []
    assert people.remove_outbox(seq) is False
    assert people.note_outbox_failure(seq, "gone") is False


def test_an_outbox_entry_needs_a_contact(db):
    with pytest.raises(UnknownContactError):
        db.add_outbox(ALICE, "m1", b"sealed")


# --- settings -------------------------------------------------------------------------------


def test_settings_hold_json_values_and_give_the_default_otherwise(db):
    assert db.setting("theme", "light") == "light"
    db.save_setting("drafts", {ALICE: "unfinished", "n": [1, 2.5, None, True]})
    db.save_setting("theme", "dark")
    db.save_setting("theme", "auto")
    assert db.setting("drafts") == {ALICE: "unfinished", "n": [1, 2.5, None, True]}
    assert db.setting("theme", "light") == "auto"


def test_a_setting_must_be_json(db):
    with pytest.raises(TypeError):
        db.save_setting("bad", object())
    assert db.setting("bad") is None


# --- what the app's history view needs (issue 12) --------------------------------------------


def test_history_pages_forwards_after_a_message_oldest_first(people):
    for n in range(1, 26):
        people.add_message(ALICE, f"m{n}", outgoing=False, body=str(n), sent_at=float(n))
        people.add_message(BOB, f"m{n}", outgoing=False, body=f"bob {n}", sent_at=float(n))
    first = people.history(ALICE, limit=1, before_id=None)[0]
    start = people.history(ALICE, limit=25)[4]  # the fifth message

    pages = []
    after = start.id
    while page := people.history_after(ALICE, after_id=after, limit=10):
        pages.append([m.body for m in page])
        after = page[-1].id

    assert pages == [[str(n) for n in range(6, 16)], [str(n) for n in range(16, 26)]]
    assert first.body == "25"
    assert people.history_after(ALICE, after_id=0, limit=0) == []


def test_a_messages_meta_can_be_replaced_in_one_direction_only(people):
    people.add_message(ALICE, "t1", outgoing=True, body="a.txt", sent_at=1.0, kind="file",
                       meta='{"state": "waiting"}', status=MessageStatus.SENT)  # fmt: skip
    people.add_message(ALICE, "t1", outgoing=False, body="b.txt", sent_at=1.0, kind="file",
                       meta='{"state": "offered"}')  # fmt: skip

    assert people.set_meta(ALICE, "t1", outgoing=True, meta='{"state": "done"}')
    assert not people.set_meta(ALICE, "missing", outgoing=True, meta="{}")

    assert people.message(ALICE, "t1", outgoing=True).meta == '{"state": "done"}'
    assert people.message(ALICE, "t1", outgoing=False).meta == '{"state": "offered"}'
