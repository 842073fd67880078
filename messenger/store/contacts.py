"""Pinned people (trust on first use), and the peer-key check.

A person's id is the SHA-256 fingerprint of their identity key, so an id cannot be claimed
with another key: a relay that hands us a key whose fingerprint is not the id it names is
caught at once. What *can* happen is that someone we know by name shows up with a different
key: Alice reinstalled, or someone else calls themselves "alice". Both look the same from
here, so both are refused (``peer_key_changed``) until the person checks and runs
``trust ID``; the new key then replaces the old one for that name. See docs/decisions.md.

"The same name" means a name that could be taken for it (``names.look_alike``): "Bob ",
"BOB" and "Bоb" with a Cyrillic "о" are all Bob here.

The contacts live in the profile database (``database.ProfileDatabase``); this class keeps
the trust rules in one place on top of it.
"""

from __future__ import annotations

import dataclasses

from messenger.crypto.rsa import format_fingerprint
from messenger.protocol.errors import PeerKeyChangedError
from messenger.store.database import ProfileDatabase
from messenger.store.names import look_alike, skeletons
from messenger.store.records import ContactRecord, VerifiedBy

__all__ = ["Contact", "Contacts", "names_clash"]

#: A pinned person. (The JSON-era name for the database's row.)
Contact = ContactRecord


def names_clash(a: str, b: str) -> bool:
    """Whether two display names would be taken for the same person (a look-alike,
    UTS #39 skeletons: case, spaces and confusable characters do not tell them apart).

    The one place names are compared for the peer-key check.
    """
    return bool(a and b) and look_alike(a, b)


class Contacts:
    def __init__(self, db: ProfileDatabase) -> None:
        self.db = db

    def all(self) -> list[Contact]:
        return self.db.contacts()

    def get(self, person_id: str) -> Contact | None:
        return self.db.contact(person_id)

    def check(self, peer_id: str, peer_name: str, key_fingerprint: str) -> None:
        """Refuse a peer whose key does not match what we pinned (see the module docstring)."""
        if key_fingerprint != peer_id:
            raise PeerKeyChangedError(
                f"The server presented key {format_fingerprint(key_fingerprint)} for "
                f"{peer_id[:16]}…, which is not that person's key. Someone may be "
                "intercepting; the session was refused.",
                peer_id=peer_id,
            )
        if not peer_name or self.db.is_trusted_key(peer_id):
            return
        other = self.look_alike_of(peer_name, peer_id)
        if other is not None:
            raise PeerKeyChangedError(
                f"{peer_name!r} now has key {format_fingerprint(peer_id)}, but the "
                f"{other.name!r} you know has key {format_fingerprint(other.id)}. Check the "
                f"new key with them (compare safety numbers), then run "
                f"`messenger-cli trust {peer_id}` to accept it.",
                peer_id=peer_id,
                known_id=other.id,
            )

    def _retire(self, old: ContactRecord) -> None:
        """Keep a replaced key's contact and history under a name that says what it is."""
        suffix = " (old key)"
        self.db.upsert_contact(
            dataclasses.replace(
                old,
                name=old.name + suffix,
                local_name=(old.local_name + suffix) if old.local_name else None,
            )
        )

    def look_alike_of(self, name: str, person_id: str) -> Contact | None:
        """The contact (someone other than ``person_id``) whose name ``name`` could pass
        for, if any: the person a newcomer may be posing as."""
        return next(
            (c for c in self.db.contacts() if c.id != person_id and names_clash(c.name, name)),
            None,
        )

    def who_is_who(
        self, people: list[tuple[str, str]]
    ) -> dict[str, tuple[Contact | None, Contact | None]]:
        """For each (person id, name) someone online shows: their contact if we have one,
        else the contact whose name theirs could pass for (``look_alike_of``), if any.

        One read of the contacts and one skeleton per name for the whole list, where
        ``get`` and ``look_alike_of`` per person read every contact each time."""
        contacts = self.db.contacts()
        by_id = {c.id: c for c in contacts}
        by_skeleton: dict[str, list[Contact]] = {}
        for known in contacts:
            if known.name:
                for folded in skeletons(known.name):
                    by_skeleton.setdefault(folded, []).append(known)
        answer: dict[str, tuple[Contact | None, Contact | None]] = {}
        for person_id, name in people:
            contact = by_id.get(person_id)
            clash: Contact | None = None
            if contact is None and name:
                near = {c.id for folded in skeletons(name) for c in by_skeleton.get(folded, ())}
                near.discard(person_id)
                if near:  # the first in the contacts' order, as ``look_alike_of`` answers
                    clash = next(c for c in contacts if c.id in near)
            answer[person_id] = (contact, clash)
        return answer

    def pin(
        self,
        peer_id: str,
        peer_name: str,
        key_der: bytes = b"",
        verified_by: VerifiedBy | None = None,
    ) -> bool:
        """Remember this person after a successful session; True if they are new.

        A trusted new key replaces older contacts with the same name: they are kept, with
        their history, under the name "… (old key)", so the names no longer clash and
        nothing the person wrote or read is lost.
        ``key_der`` is kept when given; ``verified_by`` marks the contact verified that way
        (a pairing code), and None leaves their verification as it was.
        """
        with self.db.transaction():
            existing = self.db.contact(peer_id)
            note = existing.key_change_note if existing else None
            if peer_name and self.db.is_trusted_key(peer_id):
                for other in self.db.contacts():
                    if other.id != peer_id and names_clash(other.name, peer_name):
                        self._retire(other)
                        note = f"Replaces the key {format_fingerprint(other.id)}."
                self.db.clear_trusted_key(peer_id)
            self.db.upsert_contact(
                ContactRecord(
                    id=peer_id,
                    name=peer_name,
                    pinned_at=existing.pinned_at if existing else self.db.now(),
                    local_name=existing.local_name if existing else None,
                    key_der=key_der or (existing.key_der if existing else b""),
                    verified=verified_by is not None or bool(existing and existing.verified),
                    verified_by=verified_by or (existing.verified_by if existing else None),
                    key_change_note=note,
                )
            )
        return existing is None

    def trust(self, peer_id: str) -> None:
        """The person checked this key: accept it even if its name belongs to a pinned key."""
        self.db.trust_key(peer_id)

    def mark_verified(
        self,
        peer_id: str,
        verified: bool = True,
        by: VerifiedBy = VerifiedBy.SAFETY_NUMBER,
    ) -> None:
        """The person compared safety numbers (or took the mark back); unknown ids pin nobody."""
        self.db.set_verified(peer_id, verified, by)
