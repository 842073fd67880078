"""The profile's encrypted database: contacts, pins, conversations, history, outbox, settings.

One SQLCipher file, ``profile.db`` (0600, like its ``-wal`` and ``-shm``), keyed with the
profile's 32-byte database key as a raw key (``PRAGMA key = "x'…'"``: no key derivation
runs, the key is already random; see ``db_key``). Every page, the write-ahead log and the
full-text index are encrypted; temporary tables stay in memory.

- Journal: WAL with ``synchronous=NORMAL``: a commit has reached the kernel before it
  returns, so killing the app loses nothing committed; a power cut may lose the last
  commits, never consistency (as for the relay's mailbox, docs/decisions.md).
- Foreign keys on: forgetting a contact takes their conversation, history and outbox along.
- Transactions: ``with db.transaction():`` makes one transaction of everything inside,
  however deeply nested; every write method joins the one that is open. An inner block that
  raises undoes its own writes (a savepoint); the outermost block commits, or rolls back
  everything if the exception reaches it.
- Threads: one connection, guarded by a lock, so any thread may call in; the asyncio side
  goes through ``worker.DatabaseWorker`` so that the loop never waits on the disk.

Every method blocks. Failures are ``ProfileError``s (``errors``): ``UnknownContactError``
for a row that names no contact, ``DatabaseKeyError`` when the key does not open the file.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlcipher3

from messenger.store.errors import ProfileError, UnknownContactError
from messenger.store.records import (
    OUTGOING_STATUSES,
    ContactRecord,
    ConversationRecord,
    ConversationSummary,
    MessageRecord,
    MessageStatus,
    OutboxEntry,
    VerifiedBy,
)
from messenger.store.schema import MIGRATIONS
from messenger.store.sqlcipher import SqlCipherConnection, changed

__all__ = ["DATABASE_FILE", "Arrival", "ProfileDatabase", "fts_query"]

DATABASE_FILE = "profile.db"

_ID = re.compile(r"[0-9a-f]{64}")
_CONTACT = "id, name, local_name, key_der, verified, verified_by, pinned_at, key_change_note"
_CONVERSATION = (
    "contact_id, ratchet, send_token, recv_token, send_hint, recv_hint, created_at, "
    "last_activity, unread"
)
_MESSAGE = "id, contact_id, msg_id, outgoing, kind, body, sent_at, stored_at, status, meta"
_OUTBOX = "seq, contact_id, msg_id, envelope, created_at, attempts, last_error"
_RANK_SQL = "CASE status WHEN 'delivered' THEN 2 WHEN 'sent' THEN 1 ELSE 0 END"


def _columns(columns: str, alias: str) -> str:
    return ", ".join(f"{alias}.{name.strip()}" for name in columns.split(","))


#: The conversation list: each contact's last message is found by one step down the
#: (contact_id, id) index, so the cost grows with the contacts, not with the history.
CONVERSATIONS_SQL = (
    f"SELECT {_columns(_CONTACT, 'c')}, v.unread, v.last_activity, {_columns(_MESSAGE, 'm')} "
    "FROM contacts AS c "
    "LEFT JOIN conversations AS v ON v.contact_id = c.id "
    "LEFT JOIN messages AS m ON m.id = (SELECT id FROM messages "
    "WHERE contact_id = c.id ORDER BY id DESC LIMIT 1) "
    "WHERE (v.contact_id IS NOT NULL OR m.id IS NOT NULL)"
)


_INSERT_MESSAGE = (
    "INSERT INTO messages (contact_id, msg_id, outgoing, kind, body, sent_at, stored_at, "
    "status, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (contact_id, outgoing, msg_id) DO NOTHING"
)


#: Rows per multi-row insert in ``add_arrivals``: 8 parameters each stays far below
#: SQLite's 32,766 host parameters a statement.
_ARRIVALS_PER_STATEMENT = 500


@functools.lru_cache(maxsize=8)
def _insert_arrivals(rows: int) -> str:
    """``rows`` incoming messages in one statement that names the ones it stored."""
    values = ", ".join(["(?, ?, 0, ?, ?, ?, ?, ?, ?)"] * rows)
    return (
        "INSERT INTO messages (contact_id, msg_id, outgoing, kind, body, sent_at, stored_at, "
        f"status, meta) VALUES {values} "
        "ON CONFLICT (contact_id, outgoing, msg_id) DO NOTHING RETURNING msg_id"
    )


@dataclass(frozen=True, slots=True)
class Arrival:
    """An incoming message as ``add_arrivals`` stores it."""

    msg_id: str
    body: str
    sent_at: float
    kind: str = "text"
    meta: str | None = None


class ProfileDatabase:
    """An open profile database. Use ``open``; ``close`` when done (safe twice)."""

    def __init__(self, sql: SqlCipherConnection) -> None:
        self._sql = sql
        self.path = sql.path

    @classmethod
    def open(
        cls,
        folder: str | os.PathLike[str],
        key: bytes,
        *,
        clock: Callable[[], float] = time.time,
    ) -> ProfileDatabase:
        """Open ``folder``/profile.db with ``key``, creating it (0600) and bringing its
        schema up to date. A key that does not open the file raises DatabaseKeyError."""
        path = Path(folder) / DATABASE_FILE
        return cls(SqlCipherConnection.open(path, key, MIGRATIONS, clock))

    def close(self) -> None:
        self._sql.close()

    @property
    def closed(self) -> bool:
        return self._sql.closed

    def now(self) -> float:
        """The database's clock (``time.time`` unless a test gave another)."""
        return self._sql.clock()

    def schema_version(self) -> int:
        return self._sql.schema_version()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction for everything inside (see the module docstring)."""
        with self._sql.writing():
            yield

    # -- contacts ---------------------------------------------------------------------------

    def contact(self, contact_id: str) -> ContactRecord | None:
        with self._sql.reading() as conn:
            row = conn.execute(
                f"SELECT {_CONTACT} FROM contacts WHERE id = ?", (contact_id,)
            ).fetchone()
        return _contact(row) if row else None

    def contacts(self) -> list[ContactRecord]:
        """Everyone, sorted by the name we show (our own name for them first), ignoring case."""
        with self._sql.reading() as conn:
            rows = conn.execute(f"SELECT {_CONTACT} FROM contacts").fetchall()
        return sorted(map(_contact, rows), key=lambda c: (c.display_name.casefold(), c.id))

    def upsert_contact(self, record: ContactRecord) -> None:
        """Add or update a contact in place (their conversation and history stay)."""
        if not _ID.fullmatch(record.id):
            raise ValueError("A contact id is 64 lowercase hexadecimal digits")
        with self._sql.writing() as conn:
            conn.execute(
                f"INSERT INTO contacts ({_CONTACT}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
                "local_name = excluded.local_name, key_der = excluded.key_der, "
                "verified = excluded.verified, verified_by = excluded.verified_by, "
                "pinned_at = excluded.pinned_at, key_change_note = excluded.key_change_note",
                (
                    record.id,
                    record.name,
                    record.local_name,
                    record.key_der or None,
                    int(record.verified),
                    record.verified_by.value if record.verified_by else None,
                    record.pinned_at,
                    record.key_change_note,
                ),
            )

    def set_verified(self, contact_id: str, verified: bool, by: VerifiedBy | None = None) -> bool:
        """Mark a contact (un)verified, and how; False if there is no such contact."""
        how = VerifiedBy(by).value if verified and by is not None else None
        with self._sql.writing() as conn:
            cursor = conn.execute(
                "UPDATE contacts SET verified = ?, verified_by = ? WHERE id = ?",
                (int(verified), how, contact_id),
            )
            return changed(cursor)

    def set_local_name(self, contact_id: str, name: str | None) -> bool:
        """Our own name for a contact (None or blank: show theirs); False if unknown."""
        name = name.strip() if name else None
        with self._sql.writing() as conn:
            cursor = conn.execute(
                "UPDATE contacts SET local_name = ? WHERE id = ?", (name or None, contact_id)
            )
            return changed(cursor)

    def forget_contact(self, contact_id: str) -> bool:
        """Delete a contact with their conversation, history and outbox; False if unknown."""
        with self._sql.writing() as conn:
            conn.execute("DELETE FROM trusted_keys WHERE id = ?", (contact_id,))
            cursor = conn.execute("DELETE FROM contacts WHERE id = ?", (contact_id,))
            return changed(cursor)

    def trust_key(self, contact_id: str) -> None:
        """Remember that the person accepted this key (``messenger-cli trust ID``)."""
        with self._sql.writing() as conn:
            conn.execute(
                "INSERT INTO trusted_keys VALUES (?, ?) ON CONFLICT (id) DO NOTHING",
                (contact_id, self._sql.clock()),
            )

    def is_trusted_key(self, contact_id: str) -> bool:
        with self._sql.reading() as conn:
            row = conn.execute("SELECT 1 FROM trusted_keys WHERE id = ?", (contact_id,))
            return row.fetchone() is not None

    def clear_trusted_key(self, contact_id: str) -> None:
        with self._sql.writing() as conn:
            conn.execute("DELETE FROM trusted_keys WHERE id = ?", (contact_id,))

    # -- relays -----------------------------------------------------------------------------

    def server_pin(self, address: str) -> str | None:
        with self._sql.reading() as conn:
            row = conn.execute(
                "SELECT fingerprint FROM known_servers WHERE address = ?", (address,)
            ).fetchone()
        return str(row[0]) if row else None

    def pin_server(self, address: str, fingerprint: str, *, pinned_at: float | None = None) -> None:
        with self._sql.writing() as conn:
            conn.execute(
                "INSERT INTO known_servers VALUES (?, ?, ?) ON CONFLICT (address) DO UPDATE "
                "SET fingerprint = excluded.fingerprint, pinned_at = excluded.pinned_at",
                (address, fingerprint, self._sql.clock() if pinned_at is None else pinned_at),
            )

    # -- conversations ----------------------------------------------------------------------

    def conversation(self, contact_id: str) -> ConversationRecord | None:
        with self._sql.reading() as conn:
            row = conn.execute(
                f"SELECT {_CONVERSATION} FROM conversations WHERE contact_id = ?", (contact_id,)
            ).fetchone()
        return _conversation(row) if row else None

    def conversation_by_hint(self, recv_hint: bytes) -> ConversationRecord | None:
        """The conversation an incoming envelope belongs to, by the hint it carries."""
        with self._sql.reading() as conn:
            row = conn.execute(
                f"SELECT {_CONVERSATION} FROM conversations WHERE recv_hint = ?", (recv_hint,)
            ).fetchone()
        return _conversation(row) if row else None

    def save_conversation(self, record: ConversationRecord) -> None:
        """Add or replace the conversation with ``record.contact_id`` (who must be a contact)."""
        with self._sql.writing(record.contact_id) as conn:
            conn.execute(
                f"INSERT INTO conversations ({_CONVERSATION}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (contact_id) DO UPDATE SET ratchet = excluded.ratchet, "
                "send_token = excluded.send_token, recv_token = excluded.recv_token, "
                "send_hint = excluded.send_hint, recv_hint = excluded.recv_hint, "
                "created_at = excluded.created_at, last_activity = excluded.last_activity, "
                "unread = excluded.unread",
                (
                    record.contact_id,
                    record.ratchet,
                    record.send_token,
                    record.recv_token,
                    record.send_hint,
                    record.recv_hint,
                    record.created_at,
                    record.last_activity,
                    record.unread,
                ),
            )

    def save_ratchet(
        self, contact_id: str, ratchet: bytes, last_activity: float | None = None
    ) -> None:
        """Replace a conversation's ratchet state (and its last activity, if given)."""
        with self._sql.writing(contact_id) as conn:
            cursor = conn.execute(
                "UPDATE conversations SET ratchet = ?, "
                "last_activity = COALESCE(?, last_activity) WHERE contact_id = ?",
                (ratchet, last_activity, contact_id),
            )
            if cursor.rowcount == 0:
                raise UnknownContactError(
                    f"There is no conversation with {contact_id[:16]}\u2026 to save."
                )

    def bump_unread(self, contact_id: str, n: int = 1) -> None:
        with self._sql.writing(contact_id) as conn:
            conn.execute(
                "UPDATE conversations SET unread = MAX(0, unread + ?) WHERE contact_id = ?",
                (n, contact_id),
            )

    def clear_unread(self, contact_id: str) -> None:
        with self._sql.writing(contact_id) as conn:
            conn.execute("UPDATE conversations SET unread = 0 WHERE contact_id = ?", (contact_id,))

    def conversations(self, contact_id: str | None = None) -> list[ConversationSummary]:
        """The app's conversation list, most recent first: everyone with a conversation or
        a message, with their last message and unread count, in one query. With
        ``contact_id``, that contact's entry alone (to refresh one row of the list)."""
        sql, parameters = CONVERSATIONS_SQL, tuple[str, ...]()
        if contact_id is not None:
            sql, parameters = f"{sql} AND c.id = ?", (contact_id,)
        with self._sql.reading() as conn:
            rows = conn.execute(sql, parameters).fetchall()
        summaries = []
        for row in rows:
            contact = _contact(row[:8])
            last = _message(row[10:]) if row[10] is not None else None
            activity = max(row[9] or 0.0, last.stored_at if last else 0.0)
            summaries.append(ConversationSummary(contact, last, int(row[8] or 0), activity))
        summaries.sort(key=lambda s: (-s.last_activity, s.contact.display_name.casefold()))
        return summaries

    # -- messages ---------------------------------------------------------------------------

    def add_message(
        self,
        contact_id: str,
        msg_id: str,
        *,
        outgoing: bool,
        body: str,
        sent_at: float,
        status: MessageStatus | str | None = None,
        kind: str = "text",
        meta: str | None = None,
        stored_at: float | None = None,
    ) -> bool:
        """Store a message once: False, and nothing changed, if this contact's message with
        this id (in this direction) is already stored. Status defaults to ``received`` for
        incoming and ``pending`` for outgoing messages."""
        if status is None:
            status = MessageStatus.PENDING if outgoing else MessageStatus.RECEIVED
        status = MessageStatus(status)
        if (status in OUTGOING_STATUSES) != outgoing:
            raise ValueError(f"{status.value!r} is not a status of an {_direction(outgoing)}")
        stored = self._sql.clock() if stored_at is None else stored_at
        row = (contact_id, msg_id, int(outgoing), kind, body, sent_at, stored, status.value, meta)
        with self._sql.writing(contact_id) as conn:
            return changed(conn.execute(_INSERT_MESSAGE, row))

    def add_arrivals(
        self, contact_id: str, arrivals: Sequence[Arrival], stored_at: float
    ) -> list[bool]:
        """Store a slice of incoming messages: which of them were new (one seen before, or
        twice in the slice, is not stored again). A backlog of thousands arrives this way.

        One multi-row ``INSERT … RETURNING`` per ``_ARRIVALS_PER_STATEMENT`` rows rather
        than a statement each: the full-text index (FTS5) flushes its pending terms to a
        new segment at every statement's savepoint, so a statement per row cost ~40 us a
        row in index segments and merges alone, and handed the interpreter lock back and
        forth with the event loop once per row (``python -m tests.bench.queue_e2e``)."""
        received = MessageStatus.RECEIVED.value
        stored: Counter[str] = Counter()
        with self._sql.writing(contact_id) as conn:
            for start in range(0, len(arrivals), _ARRIVALS_PER_STATEMENT):
                part = arrivals[start : start + _ARRIVALS_PER_STATEMENT]
                values = [
                    value
                    for a in part
                    for value in (
                        contact_id, a.msg_id, a.kind, a.body, a.sent_at, stored_at, received,
                        a.meta,
                    )
                ]  # fmt: skip
                rows = conn.execute(_insert_arrivals(len(part)), values).fetchall()
                stored.update(msg_id for (msg_id,) in rows)
        new = []
        for a in arrivals:  # the first of two with one id is the one stored
            new.append(stored[a.msg_id] > 0)
            stored[a.msg_id] -= 1
        return new

    def message(self, contact_id: str, msg_id: str, *, outgoing: bool) -> MessageRecord | None:
        with self._sql.reading() as conn:
            row = conn.execute(
                f"SELECT {_MESSAGE} FROM messages "
                "WHERE contact_id = ? AND outgoing = ? AND msg_id = ?",
                (contact_id, int(outgoing), msg_id),
            ).fetchone()
        return _message(row) if row else None

    def set_status(self, contact_id: str, msg_id: str, status: MessageStatus | str) -> bool:
        """Move an outgoing message on (pending/failed -> sent -> delivered), never back:
        a late ``sent`` after ``delivered`` changes nothing. True if the status changed."""
        status = MessageStatus(status)
        if status not in OUTGOING_STATUSES:
            raise ValueError(f"{status.value!r} is not a status of an outgoing message")
        with self._sql.writing(contact_id) as conn:
            cursor = conn.execute(
                "UPDATE messages SET status = ? WHERE contact_id = ? AND outgoing = 1 "
                f"AND msg_id = ? AND status != ? AND {_RANK_SQL} <= ?",
                (status.value, contact_id, msg_id, status.value, status.rank),
            )
            return changed(cursor)

    def history(
        self, contact_id: str, *, limit: int, before_id: int | None = None
    ) -> list[MessageRecord]:
        """Up to ``limit`` messages with a contact, oldest first: the newest page, or the one
        just before message ``before_id`` (pass the first id of a page to get the previous)."""
        if limit < 1:
            return []
        with self._sql.reading() as conn:
            rows = conn.execute(
                f"SELECT {_MESSAGE} FROM messages WHERE contact_id = ? AND id < ? "
                "ORDER BY id DESC LIMIT ?",
                (contact_id, before_id if before_id is not None else 2**63 - 1, limit),
            ).fetchall()
        return [_message(row) for row in reversed(rows)]

    def history_after(self, contact_id: str, *, after_id: int, limit: int) -> list[MessageRecord]:
        """Up to ``limit`` messages with a contact just after message ``after_id``, oldest
        first: the way back down after a jump into the middle of a history (search)."""
        if limit < 1:
            return []
        with self._sql.reading() as conn:
            rows = conn.execute(
                f"SELECT {_MESSAGE} FROM messages WHERE contact_id = ? AND id > ? "
                "ORDER BY id LIMIT ?",
                (contact_id, after_id, limit),
            ).fetchall()
        return [_message(row) for row in rows]

    def set_meta(self, contact_id: str, msg_id: str, *, outgoing: bool, meta: str) -> bool:
        """Replace what a message's ``meta`` says (a file card's state moves on); False if
        there is no such message."""
        with self._sql.writing(contact_id) as conn:
            cursor = conn.execute(
                "UPDATE messages SET meta = ? WHERE contact_id = ? AND outgoing = ? AND msg_id = ?",
                (meta, contact_id, int(outgoing), msg_id),
            )
            return changed(cursor)

    def search(
        self, query: str, *, limit: int, contact_id: str | None = None
    ) -> list[MessageRecord]:
        """Messages containing every word of ``query`` (as word prefixes, case and accents
        ignored), newest first. The words are quoted, so no query is FTS syntax; a query
        with no words, or any the index refuses, finds nothing rather than raising."""
        words = fts_query(query)
        if words is None or limit < 1:
            return []
        match = f"body : ({words})"
        if contact_id is not None:
            if not _ID.fullmatch(contact_id):
                return []
            match = f'contact_id : "{contact_id}" AND {match}'
        # Ordered by the index's own rowid, newest first: FTS5 then walks its matches in that
        # order and stops at the limit, instead of sorting every match.
        sql = (
            f"SELECT {_columns(_MESSAGE, 'm')} FROM messages_fts "
            "JOIN messages AS m ON m.id = messages_fts.rowid WHERE messages_fts MATCH ? "
            "ORDER BY messages_fts.rowid DESC LIMIT ?"
        )
        args = (match, limit)
        with self._sql.reading() as conn:
            try:
                rows = conn.execute(sql, args).fetchall()
            except sqlcipher3.OperationalError:  # the index refused the query
                return []
        return [_message(row) for row in rows]

    # -- outbox -----------------------------------------------------------------------------

    def add_outbox(
        self, contact_id: str, msg_id: str, envelope: bytes, *, created_at: float | None = None
    ) -> int:
        """Queue a sealed envelope; returns its sequence number (which orders the outbox)."""
        created = self._sql.clock() if created_at is None else created_at
        with self._sql.writing(contact_id) as conn:
            cursor = conn.execute(
                "INSERT INTO outbox (contact_id, msg_id, envelope, created_at) VALUES (?, ?, ?, ?)",
                (contact_id, msg_id, envelope, created),
            )
            seq = cursor.lastrowid
        assert seq is not None
        return int(seq)

    def outbox(self, contact_id: str | None = None) -> list[OutboxEntry]:
        """Waiting envelopes, oldest first (everyone's, or one contact's)."""
        with self._sql.reading() as conn:
            if contact_id is None:
                rows = conn.execute(f"SELECT {_OUTBOX} FROM outbox ORDER BY seq").fetchall()
            else:
                rows = conn.execute(
                    f"SELECT {_OUTBOX} FROM outbox WHERE contact_id = ? ORDER BY seq",
                    (contact_id,),
                ).fetchall()
        return [OutboxEntry(*row) for row in rows]

    def remove_outbox(self, seq: int) -> bool:
        with self._sql.writing() as conn:
            return changed(conn.execute("DELETE FROM outbox WHERE seq = ?", (seq,)))

    def note_outbox_failure(self, seq: int, error: str) -> bool:
        """Count a failed attempt and keep its reason; False if the entry is gone."""
        with self._sql.writing() as conn:
            cursor = conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE seq = ?",
                (error, seq),
            )
            return changed(cursor)

    # -- settings ---------------------------------------------------------------------------

    def setting(self, key: str, default: Any = None) -> Any:
        """A private setting (JSON value), or ``default`` if it was never saved."""
        with self._sql.reading() as conn:
            row = conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        if row is None:
            return default
        try:
            return json.loads(row[0])
        except ValueError:
            raise ProfileError(f"The setting {key!r} in {self.path} is damaged.") from None

    def save_setting(self, key: str, value: Any) -> None:
        """Save a private setting; ``value`` must be JSON (TypeError otherwise)."""
        text = json.dumps(value, sort_keys=True)
        with self._sql.writing() as conn:
            conn.execute(
                "INSERT INTO settings VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, text),
            )


def fts_query(text: str) -> str | None:
    """Turn what a person typed into an FTS5 query that cannot be a syntax error.

    Each whitespace-separated word becomes a quoted string (inner quotes doubled) marked as
    a prefix, and words are ANDed; words with no letter or digit are dropped (they would
    tokenize to nothing). None if nothing is left.
    """
    terms = [
        '"' + word.replace('"', '""') + '"*'
        for word in text.split()
        if any(ch.isalnum() for ch in word)
    ]
    return " ".join(terms) if terms else None


def _direction(outgoing: bool) -> str:
    return "outgoing message" if outgoing else "incoming message"


def _contact(row: tuple[Any, ...]) -> ContactRecord:
    return ContactRecord(
        id=row[0],
        name=row[1],
        local_name=row[2],
        key_der=bytes(row[3] or b""),
        verified=bool(row[4]),
        verified_by=VerifiedBy(row[5]) if row[5] else None,
        pinned_at=float(row[6]),
        key_change_note=row[7],
    )


def _conversation(row: tuple[Any, ...]) -> ConversationRecord:
    return ConversationRecord(*row)


def _message(row: tuple[Any, ...]) -> MessageRecord:
    return MessageRecord(
        id=row[0],
        contact_id=row[1],
        msg_id=row[2],
        outgoing=bool(row[3]),
        kind=row[4],
        body=row[5],
        sent_at=row[6],
        stored_at=row[7],
        status=MessageStatus(row[8]),
        meta=row[9],
    )
