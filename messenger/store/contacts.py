"""Pinned people (trust on first use), and the peer-key check.

A person's id is the SHA-256 fingerprint of their identity key, so an id cannot be claimed
with another key: a relay that hands us a key whose fingerprint is not the id it names is
caught at once. What *can* happen is that someone we know by name shows up with a different
key: Alice reinstalled, or someone else calls themselves "alice". Both look the same from
here, so both are refused (``peer_key_changed``) until the person checks and runs
``trust ID``; the new key then replaces the old one for that name. See docs/decisions.md.

"The same name" means a name that could be taken for it (``names.look_alike``): "Bob ",
"BOB" and "Bоb" with a Cyrillic "о" are all Bob here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from messenger.crypto.rsa import format_fingerprint
from messenger.protocol.errors import PeerKeyChangedError
from messenger.store.files import read_json, write_json
from messenger.store.names import skeletons


@dataclass(frozen=True, slots=True)
class Contact:
    id: str
    name: str
    fingerprint: str
    pinned_at: int
    verified: bool = False


class Contacts:
    def __init__(self, path: Path) -> None:
        self.path = path

    def _load(self) -> dict[str, Any]:
        data: dict[str, Any] = read_json(self.path, {})
        data.setdefault("people", {})
        data.setdefault("trusted", [])
        return data

    def all(self) -> list[Contact]:
        people = self._load()["people"]
        return sorted(
            (_contact(pid, entry) for pid, entry in people.items()),
            key=lambda c: (c.name.lower(), c.id),
        )

    def get(self, person_id: str) -> Contact | None:
        entry = self._load()["people"].get(person_id)
        return _contact(person_id, entry) if isinstance(entry, dict) else None

    def check(self, peer_id: str, peer_name: str, key_fingerprint: str) -> None:
        """Refuse a peer whose key does not match what we pinned (see the module docstring)."""
        if key_fingerprint != peer_id:
            raise PeerKeyChangedError(
                f"The server presented key {format_fingerprint(key_fingerprint)} for "
                f"{peer_id[:16]}…, which is not that person's key. Someone may be "
                "intercepting; the session was refused."
            )
        data = self._load()
        if peer_id in data["trusted"] or not peer_name:
            return
        known = _look_alike_in(data["people"], peer_name, peer_id)
        if known is not None:
            other_id, known_name = known
            raise PeerKeyChangedError(
                f"{peer_name!r} now has key {format_fingerprint(peer_id)}, but the "
                f"{known_name!r} you know has key {format_fingerprint(other_id)}. Check the "
                f"new key with them (compare safety numbers), then run "
                f"`messenger-cli trust {peer_id}` to accept it."
            )

    def look_alike_of(self, name: str, person_id: str) -> Contact | None:
        """The pinned contact (someone other than ``person_id``) whose name ``name`` could
        pass for, if any: the person a newcomer may be posing as."""
        people = self._load()["people"]
        known = _look_alike_in(people, name, person_id)
        return _contact(known[0], people[known[0]]) if known is not None else None

    def pin(self, peer_id: str, peer_name: str) -> bool:
        """Remember this person after a successful session; True if they are new.

        A trusted new key replaces older entries with the same name.
        """
        data = self._load()
        people = data["people"]
        is_new = peer_id not in people
        if peer_id in data["trusted"] and peer_name:
            while (known := _look_alike_in(people, peer_name, peer_id)) is not None:
                del people[known[0]]
            data["trusted"].remove(peer_id)
        entry = people.setdefault(peer_id, {"pinned_at": int(time.time()), "verified": False})
        entry["name"] = peer_name
        entry["fingerprint"] = peer_id
        write_json(self.path, data)
        return is_new

    def trust(self, peer_id: str) -> None:
        """The person checked this key: accept it even if its name belongs to a pinned key."""
        data = self._load()
        if peer_id not in data["trusted"]:
            data["trusted"].append(peer_id)
        write_json(self.path, data)

    def mark_verified(self, peer_id: str, verified: bool = True) -> None:
        data = self._load()
        if peer_id in data["people"]:
            data["people"][peer_id]["verified"] = verified
            write_json(self.path, data)


def _look_alike_in(people: dict[str, Any], name: str, person_id: str) -> tuple[str, str] | None:
    """(id, name) of someone other than ``person_id`` whose pinned name looks like ``name``."""
    if not name:
        return None
    wanted = skeletons(name)
    for other_id, entry in people.items():
        other_name = str(entry.get("name") or "")
        if other_id != person_id and other_name and wanted & skeletons(other_name):
            return other_id, other_name
    return None


def _contact(person_id: str, entry: dict) -> Contact:
    return Contact(
        id=person_id,
        name=str(entry.get("name", "")),
        fingerprint=str(entry.get("fingerprint", person_id)),
        pinned_at=int(entry.get("pinned_at", 0)),
        verified=bool(entry.get("verified", False)),
    )
