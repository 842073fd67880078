"""The profile folder: the identity key file, pinned relays and pinned people.

Key generation is replaced by a fixture key (the file handling is what is under test), and
the passphrase-protected file is written once per module, since scrypt runs ~0.5 s per use.
Relays and people are pinned in a profile database of their own per test; unlocking,
passphrases and the move from the JSON files are in test_profile_unlock.py.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from messenger.crypto.rsa import IdentityKey, format_fingerprint
from messenger.protocol.errors import (
    ErrorCode,
    PeerKeyChangedError,
    ServerKeyChangedError,
    UnknownServerError,
    error_from_code,
)
from messenger.store import contacts as contacts_module
from messenger.store.contacts import Contacts, names_clash
from messenger.store.database import ProfileDatabase
from messenger.store.db_key import new_key
from messenger.store.files import ProfileError
from messenger.store.known_servers import KnownServers
from messenger.store.profile import Profile
from messenger.store.records import VerifiedBy

ADDRESS = "relay.example.org:7777"
PASSPHRASE = "orbit lantern"

#: Dummy fingerprints (64 hex digits), where no real key is needed.
OLD_FP = "ab" * 32
NEW_FP = "cd" * 32
ALICE_ID = "a" * 64
ALICE_2_ID = "a2" * 32
BOB_ID = "b" * 64
CAROL_ID = "c" * 64


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def generated(monkeypatch, rsa_keys):
    """Make IdentityKey.generate hand out alice's key, and count the calls."""
    calls = []

    def generate():
        calls.append(1)
        return rsa_keys.alice

    monkeypatch.setattr(IdentityKey, "generate", generate)
    return calls


@pytest.fixture(scope="module")
def encrypted_profile(tmp_path_factory, rsa_keys) -> Profile:
    profile = Profile.open(tmp_path_factory.mktemp("encrypted") / "profile")
    profile.identity_path.write_bytes(rsa_keys.alice.to_pem(PASSPHRASE))
    return profile


# --- the folder and the identity key ----------------------------------------------------------


def test_opening_a_profile_creates_a_private_folder(tmp_path):
    profile = Profile.open(tmp_path / "profile")
    assert profile.path.is_dir()
    assert mode_of(profile.path) == 0o700
    assert not profile.has_identity()


def test_a_profile_path_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "profile").write_text("not a folder")
    with pytest.raises(ProfileError) as raised:
        Profile.open(tmp_path / "profile")
    assert str(tmp_path / "profile") in str(raised.value)


def test_settings_are_merged_and_unchanged_values_are_not_rewritten(tmp_path):
    profile = Profile.open(tmp_path / "p")
    profile.save_settings(name="Alice", server="relay.example.org:5555")
    settings_file = tmp_path / "p" / "settings.json"
    written = settings_file.stat()

    profile.save_settings(server="relay.example.org:5555")  # as on every reconnect
    assert settings_file.stat().st_ino == written.st_ino, "rewritten for nothing"

    profile.save_settings(geometry="AAAA")
    assert settings_file.stat().st_ino != written.st_ino
    assert Profile.open(tmp_path / "p").settings() == {
        "name": "Alice",
        "server": "relay.example.org:5555",
        "geometry": "AAAA",
    }


def test_the_first_load_creates_a_private_identity_file(tmp_path, generated, rsa_keys):
    profile = Profile.open(tmp_path / "profile")
    key = profile.load_or_create_identity()
    assert key.fingerprint == rsa_keys.alice.fingerprint
    assert generated == [1]
    assert profile.has_identity()
    assert mode_of(profile.identity_path) == 0o600
    assert not profile.identity_is_encrypted()


def test_the_next_load_reads_the_same_key_from_the_file(tmp_path, generated, rsa_keys):
    first = Profile.open(tmp_path / "profile").load_or_create_identity()
    again = Profile.open(tmp_path / "profile").load_or_create_identity()
    assert generated == [1]  # the second one came from identity.pem
    assert again.fingerprint == first.fingerprint == rsa_keys.alice.fingerprint


def test_a_damaged_identity_file_is_an_error_and_is_left_alone(tmp_path, generated):
    profile = Profile.open(tmp_path / "profile")
    profile.identity_path.write_bytes(b"-----BEGIN PRIVATE KEY-----\ngarbage\n")
    with pytest.raises(ProfileError, match=r"identity\.pem"):
        profile.load_or_create_identity()
    assert generated == []
    assert profile.identity_path.read_bytes() == b"-----BEGIN PRIVATE KEY-----\ngarbage\n"


def test_a_passphrase_protected_identity_says_so(encrypted_profile):
    assert encrypted_profile.identity_is_encrypted()
    assert b"ENCRYPTED" in encrypted_profile.identity_path.read_bytes()


def test_a_passphrase_protected_identity_is_written_encrypted(tmp_path, generated):
    # Writes with the real passphrase KDF: ~0.5 s.
    profile = Profile.open(tmp_path / "profile")
    profile.load_or_create_identity(PASSPHRASE)
    assert profile.identity_is_encrypted()
    assert mode_of(profile.identity_path) == 0o600


def test_a_protected_identity_without_the_passphrase_asks_for_it(encrypted_profile):
    with pytest.raises(ProfileError, match="passphrase") as raised:
        encrypted_profile.load_or_create_identity()
    assert str(encrypted_profile.identity_path) in str(raised.value)


def test_a_protected_identity_with_a_wrong_passphrase_says_so(encrypted_profile):
    with pytest.raises(ProfileError, match="Wrong passphrase"):
        encrypted_profile.load_or_create_identity("orbit lanterns")


def test_a_protected_identity_opens_with_the_right_passphrase(encrypted_profile, rsa_keys):
    key = encrypted_profile.load_or_create_identity(PASSPHRASE)
    assert key.fingerprint == rsa_keys.alice.fingerprint


# --- pinned relays ----------------------------------------------------------------------------


@pytest.fixture
def db(tmp_path):
    database = ProfileDatabase.open(tmp_path, new_key())
    yield database
    database.close()


@pytest.fixture
def servers(db):
    return KnownServers(db)


def test_the_first_connection_pins_the_relay_key(servers):
    assert servers.check(ADDRESS, OLD_FP) is True
    assert servers.get(ADDRESS) == OLD_FP


def test_the_same_key_again_is_accepted_quietly(servers):
    servers.check(ADDRESS, OLD_FP)
    assert servers.check(ADDRESS, OLD_FP) is False
    assert servers.check(ADDRESS, OLD_FP, require_known=True) is False


def test_pins_are_per_host_and_port(servers):
    servers.check(ADDRESS, OLD_FP)
    assert servers.check("relay.example.org:7778", NEW_FP) is True
    assert servers.get(ADDRESS) == OLD_FP


def test_a_changed_relay_key_is_refused_with_both_fingerprints_and_what_to_do(servers):
    servers.check(ADDRESS, OLD_FP)
    with pytest.raises(ServerKeyChangedError) as raised:
        servers.check(ADDRESS, NEW_FP)
    message = str(raised.value)
    assert format_fingerprint(OLD_FP) in message
    assert format_fingerprint(NEW_FP) in message
    assert ADDRESS in message
    assert "--server-fingerprint" in message
    assert servers.get(ADDRESS) == OLD_FP  # the pin is kept


def test_only_known_relays_refuses_an_unpinned_one_and_pins_nothing(servers):
    with pytest.raises(UnknownServerError) as raised:
        servers.check(ADDRESS, OLD_FP, require_known=True)
    assert format_fingerprint(OLD_FP) in str(raised.value)
    assert "--server-fingerprint" in str(raised.value)
    assert servers.get(ADDRESS) is None


def test_an_expected_fingerprint_that_matches_pins_it(servers):
    assert servers.check(ADDRESS, OLD_FP, require_known=True, expected=OLD_FP) is True
    assert servers.get(ADDRESS) == OLD_FP
    assert servers.check(ADDRESS, OLD_FP, expected=OLD_FP) is False


def test_an_expected_fingerprint_that_matches_replaces_an_old_pin(servers):
    servers.check(ADDRESS, OLD_FP)
    assert servers.check(ADDRESS, NEW_FP, expected=NEW_FP) is False
    assert servers.get(ADDRESS) == NEW_FP
    assert servers.check(ADDRESS, NEW_FP) is False


def test_an_expected_fingerprint_that_does_not_match_is_refused(servers):
    with pytest.raises(ServerKeyChangedError) as raised:
        servers.check(ADDRESS, NEW_FP, expected=OLD_FP)
    assert format_fingerprint(OLD_FP) in str(raised.value)
    assert format_fingerprint(NEW_FP) in str(raised.value)
    assert servers.get(ADDRESS) is None


def test_an_expected_fingerprint_wins_over_a_pin_the_server_matches(servers):
    servers.check(ADDRESS, OLD_FP)
    with pytest.raises(ServerKeyChangedError):
        servers.check(ADDRESS, OLD_FP, expected=NEW_FP)
    assert servers.get(ADDRESS) == OLD_FP


# --- pinned people ----------------------------------------------------------------------------


@pytest.fixture
def contacts(db):
    return Contacts(db)


def test_someone_new_passes_the_check(contacts):
    contacts.check(ALICE_ID, "alice", ALICE_ID)
    assert contacts.all() == []


def test_a_key_whose_fingerprint_is_not_the_claimed_id_is_refused(contacts, rsa_keys):
    with pytest.raises(PeerKeyChangedError) as raised:
        contacts.check(rsa_keys.alice.fingerprint, "alice", rsa_keys.mallory.fingerprint)
    assert format_fingerprint(rsa_keys.mallory.fingerprint) in str(raised.value)


def test_a_pinned_person_passes_the_check_again(contacts):
    assert contacts.pin(ALICE_ID, "alice") is True
    contacts.check(ALICE_ID, "alice", ALICE_ID)
    assert contacts.pin(ALICE_ID, "alice") is False


def test_a_pin_remembers_name_fingerprint_and_time(contacts):
    contacts.pin(ALICE_ID, "alice")
    contact = contacts.get(ALICE_ID)
    assert (contact.id, contact.name, contact.fingerprint) == (ALICE_ID, "alice", ALICE_ID)
    assert contact.pinned_at > 0
    assert contact.verified is False
    assert contacts.get(BOB_ID) is None


def test_a_new_key_under_a_pinned_name_is_refused_naming_both_keys_and_trust(contacts):
    contacts.pin(ALICE_ID, "alice")
    with pytest.raises(PeerKeyChangedError) as raised:
        contacts.check(ALICE_2_ID, "alice", ALICE_2_ID)
    message = str(raised.value)
    assert format_fingerprint(ALICE_ID) in message
    assert format_fingerprint(ALICE_2_ID) in message
    assert f"trust {ALICE_2_ID}" in message


def test_a_refused_new_key_names_both_ids_as_data_not_only_in_words(contacts):
    contacts.pin(ALICE_ID, "alice")
    with pytest.raises(PeerKeyChangedError) as raised:
        contacts.check(ALICE_2_ID, "alice", ALICE_2_ID)
    assert (raised.value.peer_id, raised.value.known_id) == (ALICE_2_ID, ALICE_ID)
    assert raised.value.code is ErrorCode.PEER_KEY_CHANGED


def test_a_key_that_is_not_the_claimed_id_names_no_contact_to_trust_instead(contacts, rsa_keys):
    contacts.pin(ALICE_ID, "alice")
    with pytest.raises(PeerKeyChangedError) as raised:
        contacts.check(rsa_keys.alice.fingerprint, "alice", rsa_keys.mallory.fingerprint)
    assert raised.value.peer_id == rsa_keys.alice.fingerprint
    assert raised.value.known_id == "", "an interception is never offered for trust"


def test_a_changed_key_error_from_the_wire_keeps_its_code_and_message_and_names_nobody():
    rebuilt = error_from_code("peer_key_changed", "someone else")
    assert isinstance(rebuilt, PeerKeyChangedError)
    assert (rebuilt.code.value, str(rebuilt)) == ("peer_key_changed", "someone else")
    assert (rebuilt.peer_id, rebuilt.known_id) == ("", "")


def test_after_trust_the_new_key_passes_and_replaces_the_old_one_for_that_name(contacts):
    contacts.pin(ALICE_ID, "alice")
    contacts.pin(BOB_ID, "bob")
    contacts.trust(ALICE_2_ID)
    contacts.check(ALICE_2_ID, "alice", ALICE_2_ID)
    assert contacts.pin(ALICE_2_ID, "alice") is True
    assert sorted((c.id, c.name) for c in contacts.all()) == [
        (ALICE_2_ID, "alice"),
        (ALICE_ID, "alice (old key)"),
        (BOB_ID, "bob"),
    ]


def test_trust_lets_in_only_the_key_that_was_trusted(contacts):
    contacts.pin(ALICE_ID, "alice")
    contacts.trust(ALICE_2_ID)
    with pytest.raises(PeerKeyChangedError):
        contacts.check(CAROL_ID, "alice", CAROL_ID)
    contacts.pin(ALICE_2_ID, "alice")
    with pytest.raises(PeerKeyChangedError):
        contacts.check(CAROL_ID, "alice", CAROL_ID)


def test_people_without_a_name_never_collide(contacts):
    contacts.pin(ALICE_ID, "")
    contacts.check(BOB_ID, "", BOB_ID)
    contacts.pin(BOB_ID, "")
    assert {c.id for c in contacts.all()} == {ALICE_ID, BOB_ID}


def test_a_known_contact_taking_another_contacts_name_is_refused(contacts):
    contacts.pin(ALICE_ID, "alice")
    contacts.pin(CAROL_ID, "carol")
    with pytest.raises(PeerKeyChangedError):
        contacts.check(CAROL_ID, "alice", CAROL_ID)


@pytest.mark.parametrize(
    "look_alike",
    ["alice ", " Alice", "ALICE", "\u0430lice", "\u0410lice", "al\u0456ce", "a\u200blice"],
    ids=[
        "trailing-space",
        "leading-space-capital",
        "capitals",
        "cyrillic-a",
        "cyrillic-A",
        "ukrainian-i",
        "zero-width-space",
    ],
)
def test_a_new_key_under_a_look_alike_of_a_pinned_name_is_refused(contacts, look_alike):
    contacts.pin(ALICE_ID, "alice")
    with pytest.raises(PeerKeyChangedError) as raised:
        contacts.check(ALICE_2_ID, look_alike, ALICE_2_ID)
    assert format_fingerprint(ALICE_ID) in str(raised.value)


def test_the_look_alike_check_names_the_contact_a_name_passes_for(contacts):
    contacts.pin(ALICE_ID, "alice")
    contacts.pin(BOB_ID, "bob")
    assert contacts.look_alike_of("B\u043eb", CAROL_ID) == contacts.get(BOB_ID)
    assert contacts.look_alike_of("bob", BOB_ID) is None, "their own name is no clash"
    assert contacts.look_alike_of("carol", CAROL_ID) is None
    assert contacts.look_alike_of("", CAROL_ID) is None


def test_who_is_who_answers_for_a_whole_list_as_get_and_look_alike_of_do_one_by_one(contacts):
    contacts.pin(ALICE_ID, "alice")
    contacts.pin(BOB_ID, "bob")
    online = [
        (ALICE_ID, "alice"), (BOB_ID, "Bob the builder"), (CAROL_ID, "B\u043eb"),
        (ALICE_2_ID, "a\u200blice"), ("d" * 64, "dave"), ("e" * 64, ""),
    ]  # fmt: skip
    answer = contacts.who_is_who(online)
    assert answer == {
        person_id: (contacts.get(person_id), None)
        if contacts.get(person_id)
        else (None, contacts.look_alike_of(name, person_id))
        for person_id, name in online
    }
    assert answer[CAROL_ID] == (None, contacts.get(BOB_ID))
    assert answer[ALICE_2_ID] == (None, contacts.get(ALICE_ID))
    assert answer["d" * 64] == (None, None)


def test_trusting_a_key_replaces_the_contact_whose_name_it_looks_like(contacts):
    contacts.pin(ALICE_ID, "alice")
    contacts.trust(ALICE_2_ID)
    contacts.check(ALICE_2_ID, "Alice ", ALICE_2_ID)
    contacts.pin(ALICE_2_ID, "Alice ")
    assert sorted((c.id, c.name) for c in contacts.all()) == [
        (ALICE_2_ID, "Alice "),
        (ALICE_ID, "alice (old key)"),
    ]


def test_a_contact_can_be_marked_verified_and_unverified(contacts):
    contacts.pin(ALICE_ID, "alice")
    contacts.mark_verified(ALICE_ID)
    assert contacts.get(ALICE_ID).verified is True
    contacts.mark_verified(ALICE_ID, False)
    assert contacts.get(ALICE_ID).verified is False


def test_marking_someone_unknown_verified_pins_nobody(contacts):
    contacts.mark_verified(ALICE_ID)
    assert contacts.get(ALICE_ID) is None
    assert contacts.all() == []


def test_all_contacts_are_sorted_by_name_ignoring_case(contacts):
    contacts.pin(CAROL_ID, "carol")
    contacts.pin(ALICE_ID, "Alice")
    contacts.pin(BOB_ID, "bob")
    contacts.pin(ALICE_2_ID, "alice")
    assert [c.name for c in contacts.all()] == ["alice", "Alice", "bob", "carol"]


def test_a_pin_keeps_the_key_and_how_the_person_was_verified(contacts):
    contacts.pin(ALICE_ID, "alice", key_der=b"\x30der", verified_by=VerifiedBy.CODE)
    alice = contacts.get(ALICE_ID)
    assert (alice.key_der, alice.verified, alice.verified_by) == (
        b"\x30der",
        True,
        VerifiedBy.CODE,
    )


def test_pinning_again_keeps_what_the_person_set(contacts):
    contacts.pin(ALICE_ID, "alice", key_der=b"\x30der")
    contacts.mark_verified(ALICE_ID)
    contacts.db.set_local_name(ALICE_ID, "Al")
    pinned_at = contacts.get(ALICE_ID).pinned_at

    assert contacts.pin(ALICE_ID, "alice (laptop)") is False

    alice = contacts.get(ALICE_ID)
    assert (alice.name, alice.local_name, alice.key_der, alice.pinned_at) == (
        "alice (laptop)",
        "Al",
        b"\x30der",
        pinned_at,
    )
    assert (alice.verified, alice.verified_by) == (True, VerifiedBy.SAFETY_NUMBER)


def test_a_trusted_new_key_replaces_the_old_contact_with_a_note(contacts):
    contacts.pin(ALICE_ID, "alice")
    contacts.db.set_local_name(ALICE_ID, "Al")
    contacts.db.add_message(ALICE_ID, "m1", outgoing=False, body="old key", sent_at=1.0)
    contacts.trust(ALICE_2_ID)
    contacts.pin(ALICE_2_ID, "alice")
    old = contacts.get(ALICE_ID)
    assert (old.name, old.local_name) == ("alice (old key)", "Al (old key)")
    assert [m.body for m in contacts.db.history(ALICE_ID, limit=5)] == ["old key"], (
        "the old key's history is kept"
    )
    assert format_fingerprint(ALICE_ID) in contacts.get(ALICE_2_ID).key_change_note
    assert not contacts.db.is_trusted_key(ALICE_2_ID), "the trust was used up"
    contacts.check(ALICE_2_ID, "alice", ALICE_2_ID)  # the retired name no longer clashes


def test_names_are_compared_in_one_place(contacts, monkeypatch):
    assert names_clash("alice", "Alice") and not names_clash("alice", "bob")
    contacts.pin(ALICE_ID, "alice")
    contacts.check(ALICE_2_ID, "bob", ALICE_2_ID)
    monkeypatch.setattr(contacts_module, "names_clash", lambda a, b: True)
    with pytest.raises(PeerKeyChangedError):
        contacts.check(ALICE_2_ID, "bob", ALICE_2_ID)
