"""One SQLCipher connection opened with a raw key, shared safely between threads.

``SqlCipherConnection`` is the part of the profile database that is not about any table:
creating the file private, keying it, checking the key, the pragmas, nested transactions,
turning SQLite errors into ``ProfileError``s, and running the schema's migrations.
``database.ProfileDatabase`` builds the tables' API on it.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import sqlcipher3

from messenger.store.errors import (
    DatabaseKeyError,
    ProfileError,
    ProfileLockedError,
    UnknownContactError,
)

__all__ = ["KEY_SIZE", "SqlCipherConnection", "changed"]

KEY_SIZE = 32
#: How long a write waits for another process holding the file (the CLI beside the app).
BUSY_TIMEOUT_MS = 5000

Migrations = Sequence[tuple[int, Sequence[str]]]


class SqlCipherConnection:
    """An open, keyed connection. Use ``open``; ``close`` when done (safe twice).

    One lock guards it, so any thread may use it; ``writing`` and ``transaction`` hold the
    lock until the outermost block ends, so another thread's writes never interleave.
    """

    def __init__(
        self, connection: sqlcipher3.Connection, path: Path, clock: Callable[[], float]
    ) -> None:
        self._conn: sqlcipher3.Connection | None = connection
        self.path = path
        self.clock = clock
        self._lock = threading.RLock()
        self._depth = 0

    @classmethod
    def open(
        cls, path: Path, key: bytes, migrations: Migrations, clock: Callable[[], float]
    ) -> SqlCipherConnection:
        """Open (or create, 0600) the file at ``path`` with ``key`` and run ``migrations``.

        A key that does not open the file raises DatabaseKeyError.
        """
        if len(key) != KEY_SIZE:
            raise ValueError(f"A database key is {KEY_SIZE} bytes")
        _make_private(path)
        try:
            connection = sqlcipher3.connect(
                str(path), isolation_level=None, check_same_thread=False
            )
        except sqlcipher3.Error as exc:
            raise ProfileError(f"Cannot open {path}: {exc}.") from None
        try:
            # SQLCipher logs a failed page check (a wrong key) to stderr; we report it.
            connection.execute("PRAGMA cipher_log_level = NONE")
            # A raw key: SQLCipher uses these 32 bytes as the AES key, no KDF runs.
            connection.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
            connection.execute("PRAGMA cipher_compatibility = 4")
            try:
                connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except sqlcipher3.DatabaseError:
                raise DatabaseKeyError(
                    f"{path} does not open with this profile's database key: the file, or "
                    "db.key beside it, was replaced or damaged."
                ) from None
            for pragma in (
                "PRAGMA journal_mode = WAL",
                "PRAGMA synchronous = NORMAL",
                "PRAGMA foreign_keys = ON",
                "PRAGMA temp_store = MEMORY",
                f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}",
            ):
                connection.execute(pragma)
            opened = cls(connection, path, clock)
            opened._migrate(migrations)
        except sqlcipher3.Error as exc:
            connection.close()
            raise ProfileError(f"Cannot open {path}: {exc}.") from None
        except BaseException:
            connection.close()
            raise
        return opened

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    @property
    def closed(self) -> bool:
        return self._conn is None

    @contextlib.contextmanager
    def writing(self, contact_id: str | None = None) -> Iterator[sqlcipher3.Connection]:
        """A transaction, or a savepoint inside the one already open on this thread.

        ``contact_id`` only makes a foreign-key failure's message name that contact.
        """
        with self._lock:
            conn = self._connection()
            savepoint = f"nested_{self._depth}" if self._depth else None
            with self._errors(contact_id):
                conn.execute(f"SAVEPOINT {savepoint}" if savepoint else "BEGIN IMMEDIATE")
            self._depth += 1
            try:
                with self._errors(contact_id):
                    yield conn
            except BaseException:
                self._depth -= 1
                with contextlib.suppress(sqlcipher3.Error):
                    if savepoint:
                        conn.execute(f"ROLLBACK TO {savepoint}")
                        conn.execute(f"RELEASE {savepoint}")
                    else:
                        conn.execute("ROLLBACK")
                raise
            self._depth -= 1
            try:
                with self._errors(contact_id):
                    conn.execute(f"RELEASE {savepoint}" if savepoint else "COMMIT")
            except BaseException:
                if not savepoint:
                    with contextlib.suppress(sqlcipher3.Error):
                        conn.execute("ROLLBACK")
                raise

    @contextlib.contextmanager
    def reading(self) -> Iterator[sqlcipher3.Connection]:
        with self._lock:
            conn = self._connection()
            with self._errors(None):
                yield conn

    def _connection(self) -> sqlcipher3.Connection:
        if self._conn is None:
            raise ProfileLockedError("The profile's database is closed.")
        return self._conn

    @contextlib.contextmanager
    def _errors(self, contact_id: str | None) -> Iterator[None]:
        try:
            yield
        except sqlcipher3.IntegrityError as exc:
            if "FOREIGN KEY" in str(exc):
                who = f"{contact_id[:16]}\u2026 " if contact_id else ""
                raise UnknownContactError(f"There is no contact {who}in this profile.") from None
            raise ProfileError(f"The profile database refused a change: {exc}.") from exc
        except sqlcipher3.Error as exc:
            raise ProfileError(f"The profile database {self.path} failed: {exc}.") from exc

    def _migrate(self, migrations: Migrations) -> None:
        """Run the migrations this file has not had, all in one transaction."""
        latest = max(version for version, _ in migrations)
        with self.writing() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
            )
            (current,) = conn.execute(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"
            ).fetchone()
            if current > latest:
                raise ProfileError(
                    f"{self.path} was written by a newer version of Messenger "
                    f"(schema {current}; this one knows {latest}): update Messenger."
                )
            for version, statements in migrations:
                if version > current:
                    for statement in statements:
                        conn.execute(statement)
                    conn.execute(
                        "INSERT INTO schema_migrations VALUES (?, ?)", (version, self.clock())
                    )

    def schema_version(self) -> int:
        with self.reading() as conn:
            (version,) = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
            return int(version)


def changed(cursor: Any) -> bool:
    """Whether the statement just run on ``cursor`` changed a row."""
    return int(cursor.rowcount) > 0


def _make_private(path: Path) -> None:
    """Create the database file empty and 0600 before SQLite opens it: SQLite makes new files
    0644 (less umask), and gives the -wal and -shm files the database's mode."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except OSError as exc:
        raise ProfileError(f"Cannot create {path}: {exc.strerror}.") from None
    else:
        os.close(fd)
    for extra in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(f"{path}{extra}", 0o600)
