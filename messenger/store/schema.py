"""The profile database's schema, as an ordered list of migrations.

Each migration runs once, in its own transaction, and is recorded in ``schema_migrations``;
the database's version is the highest one recorded. A database with a version we do not
know was written by a newer Messenger and is refused rather than guessed at. To change the
schema, append a migration; never edit one that has shipped.
"""

from __future__ import annotations

MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (
        1,
        (
            """
            CREATE TABLE contacts (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                local_name TEXT,
                key_der BLOB,
                verified INTEGER NOT NULL DEFAULT 0,
                verified_by TEXT CHECK (verified_by IN ('code', 'safety_number')),
                pinned_at REAL NOT NULL,
                key_change_note TEXT
            )
            """,
            # Keys a person accepted with `trust ID` before (or without) meeting them: a
            # new key may then take a pinned name (see contacts.py).
            """
            CREATE TABLE trusted_keys (
                id TEXT PRIMARY KEY,
                trusted_at REAL NOT NULL
            )
            """,
            """
            CREATE TABLE known_servers (
                address TEXT PRIMARY KEY,
                fingerprint TEXT NOT NULL,
                pinned_at REAL NOT NULL
            )
            """,
            """
            CREATE TABLE conversations (
                contact_id TEXT PRIMARY KEY REFERENCES contacts(id) ON DELETE CASCADE,
                ratchet BLOB NOT NULL,
                send_token BLOB NOT NULL,
                recv_token BLOB NOT NULL,
                send_hint BLOB NOT NULL,
                recv_hint BLOB NOT NULL UNIQUE,
                created_at REAL NOT NULL,
                last_activity REAL NOT NULL,
                unread INTEGER NOT NULL DEFAULT 0
            )
            """,
            """
            CREATE TABLE messages (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                contact_id TEXT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
                msg_id TEXT NOT NULL,
                outgoing INTEGER NOT NULL,
                kind TEXT NOT NULL DEFAULT 'text',
                body TEXT NOT NULL,
                sent_at REAL NOT NULL,
                stored_at REAL NOT NULL,
                status TEXT NOT NULL
                    CHECK (status IN ('pending', 'sent', 'delivered', 'received', 'failed')),
                meta TEXT,
                UNIQUE (contact_id, outgoing, msg_id)
            )
            """,
            "CREATE INDEX messages_by_contact ON messages (contact_id, id)",
            # Full-text search over the bodies; the index lives in the same encrypted file.
            # External content: the text is stored once (in messages), triggers keep the
            # index in step, including deletes cascaded from contacts. The contact is
            # indexed too, so a search within one conversation is a match in the index
            # rather than a filter over every match.
            """
            CREATE VIRTUAL TABLE messages_fts USING fts5 (
                body,
                contact_id,
                content = 'messages',
                content_rowid = 'id',
                tokenize = 'unicode61 remove_diacritics 2'
            )
            """,
            """
            CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
                INSERT INTO messages_fts (rowid, body, contact_id)
                    VALUES (new.id, new.body, new.contact_id);
            END
            """,
            """
            CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
                INSERT INTO messages_fts (messages_fts, rowid, body, contact_id)
                    VALUES ('delete', old.id, old.body, old.contact_id);
            END
            """,
            """
            CREATE TRIGGER messages_fts_update AFTER UPDATE OF body, contact_id ON messages
            BEGIN
                INSERT INTO messages_fts (messages_fts, rowid, body, contact_id)
                    VALUES ('delete', old.id, old.body, old.contact_id);
                INSERT INTO messages_fts (rowid, body, contact_id)
                    VALUES (new.id, new.body, new.contact_id);
            END
            """,
            """
            CREATE TABLE outbox (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                contact_id TEXT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
                msg_id TEXT NOT NULL,
                envelope BLOB NOT NULL,
                created_at REAL NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                last_error TEXT
            )
            """,
            "CREATE INDEX outbox_by_contact ON outbox (contact_id, seq)",
            """
            CREATE TABLE settings (
                key TEXT PRIMARY KEY,
                value TEXT NOT NULL
            )
            """,
        ),
    ),
)

LATEST_VERSION = MIGRATIONS[-1][0]
