"""Profiles from before the database: contacts.json and known_servers.json move in once.

``LegacyStores.read`` checks both files completely before anything is written, so a
damaged file is a ProfileError with nothing half-moved; ``move_into`` copies everything in
one transaction and removes the files only after it committed. If removing fails (or the
app is killed in between), the next unlock moves them again: rows already in the database
win, so nothing is duplicated or overwritten.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from messenger.store.database import ProfileDatabase
from messenger.store.errors import ProfileError
from messenger.store.files import read_json
from messenger.store.records import ContactRecord, VerifiedBy

__all__ = ["LEGACY_FILES", "LegacyStores"]

log = logging.getLogger("messenger.store")

CONTACTS_FILE = "contacts.json"
KNOWN_SERVERS_FILE = "known_servers.json"
LEGACY_FILES = (CONTACTS_FILE, KNOWN_SERVERS_FILE)

_ID = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class PinnedServer:
    address: str
    fingerprint: str
    pinned_at: float


@dataclass(frozen=True, slots=True)
class LegacyStores:
    """What the JSON files held, checked, and which of them exist."""

    contacts: tuple[ContactRecord, ...]
    trusted: tuple[str, ...]
    servers: tuple[PinnedServer, ...]
    files: tuple[Path, ...]

    @classmethod
    def read(cls, folder: Path) -> LegacyStores:
        """Read and check both files (absent ones are empty); ProfileError if damaged."""
        contacts_path = folder / CONTACTS_FILE
        servers_path = folder / KNOWN_SERVERS_FILE
        contacts, trusted = _read_contacts(contacts_path)
        servers = _read_servers(servers_path)
        files = tuple(path for path in (contacts_path, servers_path) if path.exists())
        return cls(contacts, trusted, servers, files)

    def move_into(self, db: ProfileDatabase) -> None:
        """Copy everything into ``db`` (one transaction), then remove the files."""
        if not self.files:
            return
        with db.transaction():
            for contact in self.contacts:
                if db.contact(contact.id) is None:
                    db.upsert_contact(contact)
            for person_id in self.trusted:
                db.trust_key(person_id)
            for server in self.servers:
                if db.server_pin(server.address) is None:
                    db.pin_server(server.address, server.fingerprint, pinned_at=server.pinned_at)
        for path in self.files:
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                log.warning("moved %s into the database but could not remove it: %s", path, exc)
        log.info("moved %s into the profile database", ", ".join(p.name for p in self.files))


def _damaged(path: Path, what: str) -> ProfileError:
    return ProfileError(f"{path} is damaged ({what}); fix or remove it.")


def _read_contacts(path: Path) -> tuple[tuple[ContactRecord, ...], tuple[str, ...]]:
    data: dict[str, Any] = read_json(path, {})
    people = data.get("people", {})
    trusted = data.get("trusted", [])
    if not isinstance(people, dict) or not isinstance(trusted, list):
        raise _damaged(path, "unexpected contents")
    contacts = []
    for person_id, entry in people.items():
        if not _ID.fullmatch(person_id) or not isinstance(entry, dict):
            raise _damaged(path, f"an entry for {person_id[:20]!r} is not a person")
        name = entry.get("name", "")
        pinned_at = entry.get("pinned_at", 0)
        verified = entry.get("verified", False)
        if (
            not isinstance(name, str)
            or not isinstance(pinned_at, int | float)
            or not isinstance(verified, bool)
        ):
            raise _damaged(path, f"the entry for {person_id[:16]}… is not a person")
        contacts.append(
            ContactRecord(
                id=person_id,
                name=name,
                pinned_at=float(pinned_at),
                verified=verified,
                # Before the database, the safety-number dialog was the only way to verify.
                verified_by=VerifiedBy.SAFETY_NUMBER if verified else None,
            )
        )
    if not all(isinstance(person_id, str) and _ID.fullmatch(person_id) for person_id in trusted):
        raise _damaged(path, "a trusted key is not a person id")
    return tuple(contacts), tuple(dict.fromkeys(trusted))


def _read_servers(path: Path) -> tuple[PinnedServer, ...]:
    data: dict[str, Any] = read_json(path, {})
    servers = []
    for address, entry in data.items():
        fingerprint = entry.get("fingerprint") if isinstance(entry, dict) else None
        pinned_at = entry.get("pinned_at", 0) if isinstance(entry, dict) else None
        if (
            not isinstance(fingerprint, str)
            or not _ID.fullmatch(fingerprint)
            or not isinstance(pinned_at, int | float)
        ):
            raise _damaged(path, f"the pin for {address[:40]!r} is not a fingerprint")
        servers.append(PinnedServer(address, fingerprint, float(pinned_at)))
    return tuple(servers)
