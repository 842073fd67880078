"""The mailbox's SQLite tables and the synchronous operations on them.

Everything here runs on the mailbox's one worker thread (see ``server.mailbox``), inside a
transaction that thread opens and commits; nothing here commits by itself.

Tables::

    envelopes        id INTEGER PRIMARY KEY AUTOINCREMENT, recipient, arrival, data
    queues           recipient -> count, bytes      kept by triggers, for O(1) quota checks
    delivery_tokens  (recipient, token_sha256)      never the token itself

There is no sender column anywhere: the relay is never told who wrote an envelope, only whom
it is for. ``AUTOINCREMENT`` makes ids strictly increasing for the life of the file (SQLite
never reuses one, even after the newest row is deleted), so a client's "after id" cursor
cannot skip a message.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from messenger.protocol.errors import LocalProtocolError, QueueFullError, ServerError

SCHEMA_VERSION = 1
MAX_RECIPIENT_LEN = 128
MIN_TOKEN_LEN = 16
MAX_TOKEN_LEN = 64
#: Most envelopes one ``pending`` or ``delete`` call handles.
MAX_PAGE = 10_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS envelopes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient TEXT NOT NULL,
    arrival REAL NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS envelopes_by_recipient ON envelopes (recipient, id);
CREATE INDEX IF NOT EXISTS envelopes_by_arrival ON envelopes (arrival);
CREATE TABLE IF NOT EXISTS queues (
    recipient TEXT PRIMARY KEY,
    count INTEGER NOT NULL,
    bytes INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS envelope_added AFTER INSERT ON envelopes BEGIN
    INSERT INTO queues (recipient, count, bytes) VALUES (new.recipient, 1, length(new.data))
    ON CONFLICT (recipient) DO UPDATE SET count = count + 1, bytes = bytes + length(new.data);
END;
CREATE TRIGGER IF NOT EXISTS envelope_removed AFTER DELETE ON envelopes BEGIN
    UPDATE queues SET count = count - 1, bytes = bytes - length(old.data)
        WHERE recipient = old.recipient;
    DELETE FROM queues WHERE recipient = old.recipient AND count = 0;
END;
CREATE TABLE IF NOT EXISTS delivery_tokens (
    recipient TEXT NOT NULL,
    token_sha256 BLOB NOT NULL,
    PRIMARY KEY (recipient, token_sha256)
) WITHOUT ROWID;
"""


@dataclass(frozen=True, slots=True)
class Envelope:
    """One sealed message waiting for its recipient. The relay cannot read ``data``."""

    id: int
    data: bytes
    arrival: float

    def __repr__(self) -> str:
        return f"Envelope(id={self.id}, {len(self.data)} bytes, arrival={self.arrival})"


@dataclass(frozen=True)
class Quotas:
    """What one recipient's queue may hold, and the limits on what may be put in it."""

    #: Envelopes waiting per recipient. 10,000 must fit: a week away from a busy group.
    max_messages: int = 10_000
    #: Bytes waiting per recipient.
    max_bytes: int = 64 * 1024 * 1024
    #: Seconds an envelope waits before it is dropped unread.
    max_age: float = 30 * 24 * 3600.0
    #: One envelope: a 64 KiB text pads to a 128 KiB bucket, plus headers; files never queue.
    max_envelope: int = 256 * 1024
    #: Delivery tokens a recipient may register (one or a few per contact).
    max_tokens: int = 1024


def token_hash(token: bytes) -> bytes:
    """SHA-256 of a delivery token: what the database keeps, so a leaked copy cannot post."""
    return hashlib.sha256(token).digest()


def check_recipient(recipient: str) -> None:
    if not isinstance(recipient, str) or not 0 < len(recipient) <= MAX_RECIPIENT_LEN:
        raise LocalProtocolError("A recipient is a person id of 1 to 128 characters.")


class SqliteStore:
    """The tables and their operations; one connection, used by one thread."""

    def __init__(self, path: Path, *, quotas: Quotas, synchronous: str = "NORMAL") -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError("synchronous must be NORMAL or FULL")
        self.quotas = quotas
        if not path.exists():
            # SQLite gives the -wal and -shm files the database file's permissions.
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        # isolation_level=None: we issue BEGIN and COMMIT ourselves, one per batch.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=True)
        try:
            self._prepare(synchronous)
        except BaseException:
            self._db.close()
            raise

    def _prepare(self, synchronous: str) -> None:
        db = self._db
        db.execute("PRAGMA busy_timeout = 5000")
        if db.execute("PRAGMA journal_mode = WAL").fetchone()[0] != "wal":
            raise ServerError("The mailbox database could not be switched to WAL mode.")
        db.execute(f"PRAGMA synchronous = {synchronous}")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            raise ServerError(
                f"The mailbox database is of version {version}; this relay reads version "
                f"{SCHEMA_VERSION}. Use a newer relay or another --data-dir."
            )
        db.execute("BEGIN IMMEDIATE")
        db.executescript(_SCHEMA + f"PRAGMA user_version = {SCHEMA_VERSION};")
        if db.in_transaction:  # executescript commits first; older Pythons differ
            db.execute("COMMIT")

    # -- transactions (the worker thread brackets each batch) -------------------------------

    def begin(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self._db.execute("COMMIT")

    def rollback(self) -> None:
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    def close(self) -> None:
        self._db.close()

    # -- envelopes --------------------------------------------------------------------------

    def put(self, recipient: str, data: bytes, arrival: float) -> int:
        check_recipient(recipient)
        quotas = self.quotas
        if len(data) > quotas.max_envelope:
            raise LocalProtocolError(
                f"An envelope may be at most {quotas.max_envelope} bytes; this one is {len(data)}."
            )
        if not self._has_room(recipient, len(data)):
            # Expired envelopes may still count until the next purge: drop them and look again.
            self._db.execute(
                "DELETE FROM envelopes WHERE recipient = ? AND arrival < ?",
                (recipient, arrival - quotas.max_age),
            )
            if not self._has_room(recipient, len(data)):
                raise QueueFullError()
        cursor = self._db.execute(
            "INSERT INTO envelopes (recipient, arrival, data) VALUES (?, ?, ?)",
            (recipient, arrival, bytes(data)),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def _has_room(self, recipient: str, size: int) -> bool:
        row = self._db.execute(
            "SELECT count, bytes FROM queues WHERE recipient = ?", (recipient,)
        ).fetchone()
        count, used = row if row is not None else (0, 0)
        return count < self.quotas.max_messages and used + size <= self.quotas.max_bytes

    def pending(self, recipient: str, after_id: int, limit: int, now: float) -> list[Envelope]:
        check_recipient(recipient)
        if not 0 < limit <= MAX_PAGE:
            raise LocalProtocolError(f"Ask for 1 to {MAX_PAGE} envelopes at a time.")
        rows = self._db.execute(
            "SELECT id, data, arrival FROM envelopes WHERE recipient = ? AND id > ? "
            "AND arrival >= ? ORDER BY id LIMIT ?",
            (recipient, after_id, now - self.quotas.max_age, limit),
        )
        return [Envelope(id_, data, arrival) for id_, data, arrival in rows]

    def delete(self, recipient: str, ids: Iterable[int]) -> int:
        check_recipient(recipient)
        wanted = sorted({int(i) for i in ids})
        if len(wanted) > MAX_PAGE:
            raise LocalProtocolError(f"Delete at most {MAX_PAGE} envelopes at a time.")
        cursor = self._db.executemany(
            "DELETE FROM envelopes WHERE recipient = ? AND id = ?",
            ((recipient, i) for i in wanted),
        )
        # rowcount sums sqlite3_changes(), which leaves out the triggers' rows.
        return cursor.rowcount

    def purge_expired(self, now: float) -> int:
        cursor = self._db.execute(
            "DELETE FROM envelopes WHERE arrival < ?", (now - self.quotas.max_age,)
        )
        return cursor.rowcount

    # -- delivery tokens ---------------------------------------------------------------------

    def register_tokens(self, recipient: str, tokens: Iterable[bytes]) -> None:
        check_recipient(recipient)
        hashes = {token_hash(_checked_token(t)) for t in tokens}
        known = {
            row[0]
            for row in self._db.execute(
                "SELECT token_sha256 FROM delivery_tokens WHERE recipient = ?", (recipient,)
            )
        }
        if len(known | hashes) > self.quotas.max_tokens:
            raise LocalProtocolError(
                f"At most {self.quotas.max_tokens} delivery tokens per person; revoke some first."
            )
        self._db.executemany(
            "INSERT OR IGNORE INTO delivery_tokens (recipient, token_sha256) VALUES (?, ?)",
            ((recipient, h) for h in hashes - known),
        )

    def revoke_tokens(self, recipient: str, tokens: Iterable[bytes]) -> None:
        check_recipient(recipient)
        self._db.executemany(
            "DELETE FROM delivery_tokens WHERE recipient = ? AND token_sha256 = ?",
            ((recipient, token_hash(t)) for t in tokens),
        )

    def token_allows(self, recipient: str, token: bytes) -> bool:
        """Whether ``token`` was registered by ``recipient``.

        The lookup is by SHA-256 of the token, never by the token: the database holds no
        token to compare against, and timing can at most reveal how a guess's hash sorts
        next to stored hashes, which says nothing about any token.
        """
        check_recipient(recipient)
        if not MIN_TOKEN_LEN <= len(token) <= MAX_TOKEN_LEN:
            return False
        row = self._db.execute(
            "SELECT 1 FROM delivery_tokens WHERE recipient = ? AND token_sha256 = ?",
            (recipient, token_hash(token)),
        ).fetchone()
        return row is not None


def _checked_token(token: bytes) -> bytes:
    if not isinstance(token, bytes | bytearray) or not (
        MIN_TOKEN_LEN <= len(token) <= MAX_TOKEN_LEN
    ):
        raise LocalProtocolError(
            f"A delivery token is {MIN_TOKEN_LEN} to {MAX_TOKEN_LEN} random bytes."
        )
    return bytes(token)
