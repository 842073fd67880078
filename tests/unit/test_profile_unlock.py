"""Unlocking a profile: identity key and database together, passphrases, keyrings, and the
move of JSON-era profiles into the database.

Key generation is replaced by a fixture key, the keyring by a fake (or none), and db.key's
scrypt runs at N=2**14; identity.pem still runs pycryptodome's full scrypt (~0.4 s) wherever
a passphrase is involved, so those tests take a second or two each.
"""

from __future__ import annotations

import json
import multiprocessing
import stat
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from messenger.crypto.rsa import IdentityKey, KeyFileError
from messenger.store import db_key
from messenger.store import profile as profile_module
from messenger.store.database import ProfileDatabase
from messenger.store.db_key import KeyLocation
from messenger.store.errors import (
    KeyringError,
    PassphraseNeededError,
    ProfileError,
    ProfileLockedError,
    WrongPassphraseError,
)
from messenger.store.profile import Profile
from messenger.store.records import VerifiedBy
from tests.unit.fake_keyring import FakeKeyring

OLD = "orbit lantern"
NEW = "seven quiet harbours"
ALICE_ID = "a" * 64
BOB_ID = "b" * 64
CAROL_ID = "c" * 64
RELAY = "relay.example.org:7777"


@pytest.fixture(autouse=True)
def cheap_db_key(monkeypatch):
    monkeypatch.setattr(db_key, "SCRYPT_LOG2_N", 14)


@pytest.fixture
def generated(monkeypatch, rsa_keys):
    """IdentityKey.generate hands out alice's key; the list counts the calls."""
    calls = []

    def generate():
        calls.append(1)
        return rsa_keys.alice

    monkeypatch.setattr(IdentityKey, "generate", generate)
    return calls


def folder_state(folder: Path) -> dict[str, bytes]:
    """Every file in the folder with its contents: what "nothing changed" compares."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def open_profile(path: Path, keyring=None) -> Profile:
    return Profile.open(path, keyring=keyring)


# --- first unlock and after -----------------------------------------------------------------


def test_the_first_unlock_makes_a_private_identity_key_file_and_database(
    tmp_path, generated, rsa_keys
):
    profile = open_profile(tmp_path / "p")
    identity = profile.unlock()
    profile.contacts.pin(ALICE_ID, "alice")
    assert identity.fingerprint == rsa_keys.alice.fingerprint
    assert generated == [1]
    assert {"identity.pem", "db.key", "profile.db", "profile.lock"} <= set(
        folder_state(profile.path)
    )
    assert all(mode_of(p) == 0o600 for p in profile.path.iterdir())
    assert profile.key_location() is KeyLocation.FILE
    assert not profile.needs_passphrase()
    profile.close()


def test_the_profile_is_locked_until_unlocked(tmp_path):
    profile = open_profile(tmp_path / "p")
    for use in (lambda: profile.db, lambda: profile.contacts, lambda: profile.known_servers):
        with pytest.raises(ProfileLockedError, match="locked"):
            use()
    assert not profile.is_unlocked
    assert profile.key_location() is None


def test_a_closed_profile_is_locked_again_and_unlocks_to_the_same_data(tmp_path, generated):
    profile = open_profile(tmp_path / "p")
    profile.unlock()
    profile.known_servers.pin(RELAY, "ab" * 32)
    profile.close()
    profile.close()
    with pytest.raises(ProfileLockedError):
        profile.known_servers.get(RELAY)
    again = open_profile(tmp_path / "p")
    again.unlock()
    assert again.known_servers.get(RELAY) == "ab" * 32
    assert generated == [1]
    again.close()


def test_unlocking_an_unlocked_profile_gives_its_identity(tmp_path, generated):
    profile = open_profile(tmp_path / "p")
    first = profile.unlock()
    assert profile.unlock("anything") is first
    profile.close()


def test_without_a_passphrase_the_database_key_goes_to_the_keyring(tmp_path, generated):
    keyring = FakeKeyring()
    profile = open_profile(tmp_path / "p", keyring)
    profile.unlock()
    profile.db.save_setting("x", 1)
    profile.close()
    assert profile.key_location() is KeyLocation.KEYRING
    [stored] = keyring.entries.values()
    assert bytes.fromhex(stored) not in (profile.path / "db.key").read_bytes()
    again = open_profile(tmp_path / "p", keyring)
    again.unlock()
    assert again.db.setting("x") == 1
    again.close()


def test_when_the_keyring_fails_the_key_goes_to_a_private_file(tmp_path, generated):
    profile = open_profile(tmp_path / "p", FakeKeyring(fail_set=True))
    profile.unlock()
    assert profile.key_location() is KeyLocation.FILE
    assert mode_of(profile.key_path) == 0o600
    profile.close()


def test_a_keyring_entry_that_is_gone_stops_the_unlock_and_changes_nothing(tmp_path, generated):
    keyring = FakeKeyring()
    profile = open_profile(tmp_path / "p", keyring)
    profile.unlock()
    profile.close()
    keyring.entries.clear()
    before = folder_state(profile.path)
    with pytest.raises(KeyringError, match="gone"):
        open_profile(tmp_path / "p", keyring).unlock()
    assert folder_state(profile.path) == before


def test_a_database_whose_key_file_is_missing_is_not_replaced(tmp_path, generated):
    profile = open_profile(tmp_path / "p")
    profile.unlock()
    profile.close()
    profile.key_path.unlink()
    before = folder_state(profile.path)
    with pytest.raises(ProfileError, match=r"db\.key is missing"):
        open_profile(tmp_path / "p").unlock()
    assert folder_state(profile.path) == before


def test_a_damaged_key_file_stops_the_unlock(tmp_path, generated):
    profile = open_profile(tmp_path / "p")
    profile.unlock()
    profile.close()
    profile.key_path.write_bytes(b"MSGDBKEY\x01\x03" + b"\x00" * 48)
    with pytest.raises(ProfileError, match="damaged"):
        open_profile(tmp_path / "p").unlock()


# --- passphrases ----------------------------------------------------------------------------


@pytest.fixture
def protected(tmp_path, generated) -> Path:
    """A profile made with passphrase OLD (identity.pem and db.key), with one contact."""
    profile = open_profile(tmp_path / "p")
    profile.unlock(OLD)
    profile.contacts.pin(ALICE_ID, "alice")
    profile.close()
    return profile.path


def test_a_passphrase_protects_the_identity_key_and_the_database_key(protected):
    profile = open_profile(protected)
    assert profile.identity_is_encrypted()
    assert profile.key_location() is KeyLocation.PASSPHRASE
    assert profile.needs_passphrase()
    profile.unlock(OLD)
    assert profile.contacts.get(ALICE_ID).name == "alice"
    profile.close()


def test_a_wrong_passphrase_is_refused_and_nothing_changes(protected):
    before = folder_state(protected)
    profile = open_profile(protected)
    with pytest.raises(WrongPassphraseError, match="passphrase is wrong"):
        profile.unlock("orbit lanterns")
    assert folder_state(protected) == before
    assert not profile.is_unlocked


def test_no_passphrase_for_a_protected_profile_asks_for_one(protected):
    before = folder_state(protected)
    with pytest.raises(PassphraseNeededError, match="protected by a passphrase"):
        open_profile(protected).unlock()
    assert folder_state(protected) == before


def test_an_old_protected_identity_with_a_wrong_passphrase_makes_no_database(tmp_path, rsa_keys):
    folder = tmp_path / "p"
    folder.mkdir(mode=0o700)
    (folder / "identity.pem").write_bytes(rsa_keys.alice.to_pem(OLD))
    with pytest.raises(WrongPassphraseError, match=r"identity\.pem"):
        open_profile(folder).unlock("wrong")
    assert sorted(folder_state(folder)) == ["identity.pem", "profile.lock"]
    profile = open_profile(folder)
    assert profile.unlock(OLD).fingerprint == rsa_keys.alice.fingerprint
    assert profile.key_location() is KeyLocation.PASSPHRASE, "db.key takes the same passphrase"
    profile.close()


def test_an_identity_file_that_the_proven_passphrase_cannot_open_is_called_damaged(
    protected, rsa_keys
):
    (protected / "identity.pem").write_bytes(rsa_keys.bob.to_pem("another passphrase"))
    with pytest.raises(ProfileError, match="Cannot open the identity key") as raised:
        open_profile(protected).unlock(OLD)
    assert not isinstance(raised.value, WrongPassphraseError)


def test_changing_the_passphrase_rewraps_both_files(protected, rsa_keys):
    before = folder_state(protected)
    profile = open_profile(protected)
    profile.unlock(OLD)
    profile.change_passphrase(OLD, NEW)
    profile.close()

    after = folder_state(protected)
    assert after["identity.pem"] != before["identity.pem"]
    assert after["db.key"] != before["db.key"]
    assert sorted(after) == sorted(before), "no temporary file left behind"
    with pytest.raises(WrongPassphraseError):
        open_profile(protected).unlock(OLD)
    with pytest.raises(KeyFileError):
        IdentityKey.from_pem(after["identity.pem"], OLD)
    profile = open_profile(protected)
    assert profile.unlock(NEW).fingerprint == rsa_keys.alice.fingerprint
    assert profile.contacts.get(ALICE_ID) is not None
    profile.close()


def test_a_wrong_old_passphrase_changes_nothing(protected):
    profile = open_profile(protected)
    profile.unlock(OLD)
    before = folder_state(protected)
    with pytest.raises(WrongPassphraseError):
        profile.change_passphrase("not it", NEW)
    with pytest.raises(PassphraseNeededError):
        profile.change_passphrase(None, NEW)
    assert folder_state(protected) == before
    profile.close()


def test_removing_the_passphrase_puts_the_key_in_the_keyring(protected):
    keyring = FakeKeyring()
    profile = open_profile(protected, keyring)
    profile.unlock(OLD)
    profile.change_passphrase(OLD, None)
    profile.close()
    assert not profile.identity_is_encrypted()
    assert profile.key_location() is KeyLocation.KEYRING
    again = open_profile(protected, keyring)
    again.unlock()
    assert again.contacts.get(ALICE_ID) is not None
    again.close()


def test_adding_a_passphrase_takes_the_key_out_of_the_keyring(tmp_path, generated):
    keyring = FakeKeyring()
    profile = open_profile(tmp_path / "p", keyring)
    profile.unlock()
    with pytest.raises(WrongPassphraseError, match="no passphrase"):
        profile.change_passphrase("guess", NEW)
    profile.change_passphrase(None, NEW)
    profile.close()
    assert keyring.entries == {}, "the keyring entry was removed"
    assert profile.identity_is_encrypted()
    assert profile.key_location() is KeyLocation.PASSPHRASE
    open_profile(tmp_path / "p", keyring).unlock(NEW)


def test_an_empty_new_passphrase_is_refused(protected):
    profile = open_profile(protected)
    profile.unlock(OLD)
    with pytest.raises(ValueError, match="empty"):
        profile.change_passphrase(OLD, "")
    profile.close()


def test_changing_the_passphrase_needs_an_unlocked_profile(protected):
    with pytest.raises(ProfileLockedError):
        open_profile(protected).change_passphrase(OLD, NEW)


def test_a_change_cut_short_after_both_files_were_written_is_finished_at_the_next_open(
    protected, monkeypatch
):
    profile = open_profile(protected)
    profile.unlock(OLD)
    monkeypatch.setattr(profile_module, "_finish_passphrase_change", lambda folder: None)
    profile.change_passphrase(OLD, NEW)  # "dies" before the renames
    profile.close()
    monkeypatch.undo()
    assert {"identity.pem.new", "db.key.new"} <= set(folder_state(protected))

    reopened = open_profile(protected)
    assert not {"identity.pem.new", "db.key.new"} & set(folder_state(protected))
    reopened.unlock(NEW)
    reopened.close()


def test_a_change_cut_short_before_it_was_decided_is_dropped(protected, monkeypatch):
    profile = open_profile(protected)
    profile.unlock(OLD)
    real_write = profile_module.write_private

    def write_then_die(path, data):
        if path.name == "db.key.new":
            raise KeyboardInterrupt  # the process stops before db.key.new exists
        real_write(path, data)

    monkeypatch.setattr(profile_module, "write_private", write_then_die)
    with pytest.raises(KeyboardInterrupt):
        profile.change_passphrase(OLD, NEW)
    profile.close()
    monkeypatch.undo()
    assert "identity.pem.new" in folder_state(protected)

    reopened = open_profile(protected)
    assert "identity.pem.new" not in folder_state(protected)
    reopened.unlock(OLD)
    reopened.close()


# --- profiles from before the database ------------------------------------------------------


def write_old_profile(folder: Path, rsa_keys) -> None:
    """What the JSON-era code wrote (see git history of messenger/store/contacts.py)."""
    folder.mkdir(mode=0o700)
    (folder / "identity.pem").write_bytes(rsa_keys.alice.to_pem())
    contacts = {
        "people": {
            BOB_ID: {
                "fingerprint": BOB_ID,
                "name": "bob",
                "pinned_at": 1700000000,
                "verified": True,
            },
            CAROL_ID: {
                "fingerprint": CAROL_ID,
                "name": "carol",
                "pinned_at": 1700000100,
                "verified": False,
            },
        },
        "trusted": [ALICE_ID],
    }
    servers = {
        RELAY: {"fingerprint": "ab" * 32, "pinned_at": 1700000200},
        "embedded": {"fingerprint": "cd" * 32, "pinned_at": 1700000300},
    }
    (folder / "contacts.json").write_text(json.dumps(contacts, indent=2, sort_keys=True) + "\n")
    (folder / "known_servers.json").write_text(json.dumps(servers, indent=2) + "\n")
    (folder / "settings.json").write_text(json.dumps({"name": "Alice", "server": RELAY}))


def test_an_old_profile_moves_into_the_database_at_its_first_unlock(tmp_path, rsa_keys):
    folder = tmp_path / "p"
    write_old_profile(folder, rsa_keys)
    profile = open_profile(folder)
    profile.unlock()

    assert sorted(folder_state(folder)) == [
        "db.key",
        "identity.pem",
        "profile.db",
        "profile.db-shm",
        "profile.db-wal",
        "profile.lock",
        "settings.json",
    ]
    bob, carol = profile.contacts.all()
    assert (bob.id, bob.name, bob.pinned_at, bob.verified, bob.verified_by) == (
        BOB_ID,
        "bob",
        1700000000.0,
        True,
        VerifiedBy.SAFETY_NUMBER,
    )
    assert (carol.name, carol.verified, carol.verified_by) == ("carol", False, None)
    assert profile.db.is_trusted_key(ALICE_ID)
    assert profile.known_servers.get(RELAY) == "ab" * 32
    assert profile.known_servers.get("embedded") == "cd" * 32
    assert profile.settings() == {"name": "Alice", "server": RELAY}
    profile.close()


@pytest.mark.parametrize(
    ("file", "damage"),
    [
        ("contacts.json", "{not json"),
        ("contacts.json", "[]"),
        ("contacts.json", '{"people": {"bob": {"name": "bob"}}}'),
        ("contacts.json", '{"people": {"' + BOB_ID + '": {"name": 7}}}'),
        ("contacts.json", '{"people": {}, "trusted": ["nobody"]}'),
        ("known_servers.json", '"a string"'),
        ("known_servers.json", '{"relay:1": {"fingerprint": "not hex"}}'),
        ("known_servers.json", '{"relay:1": "ab"}'),
    ],
)
def test_a_damaged_old_file_stops_the_unlock_before_anything_is_written(
    tmp_path, rsa_keys, file, damage
):
    folder = tmp_path / "p"
    write_old_profile(folder, rsa_keys)
    (folder / file).write_text(damage)
    profile = open_profile(folder)
    before = folder_state(folder)
    with pytest.raises(ProfileError, match=f"{file} is damaged"):
        profile.unlock()
    assert folder_state(folder) == before


def test_the_move_is_one_transaction(tmp_path, rsa_keys, monkeypatch):
    folder = tmp_path / "p"
    write_old_profile(folder, rsa_keys)

    def disk_full(self, *args, **kwargs):
        raise ProfileError("disk full")

    monkeypatch.setattr(ProfileDatabase, "pin_server", disk_full)
    with pytest.raises(ProfileError, match="disk full"):
        open_profile(folder).unlock()
    monkeypatch.undo()
    assert {"contacts.json", "known_servers.json"} <= set(folder_state(folder))

    profile = open_profile(folder)
    profile.unlock()
    assert [c.name for c in profile.contacts.all()] == ["bob", "carol"]
    profile.close()


def test_a_move_repeated_after_a_crash_keeps_what_the_database_has(tmp_path, rsa_keys):
    folder = tmp_path / "p"
    write_old_profile(folder, rsa_keys)
    copies = {
        name: (folder / name).read_bytes() for name in ("contacts.json", "known_servers.json")
    }
    profile = open_profile(folder)
    profile.unlock()
    profile.contacts.pin(BOB_ID, "bob (new laptop)")
    profile.known_servers.pin(RELAY, "ef" * 32)
    profile.close()
    for name, data in copies.items():  # as if the files had not been removed
        (folder / name).write_bytes(data)

    again = open_profile(folder)
    again.unlock()
    assert [c.name for c in again.contacts.all()] == ["bob (new laptop)", "carol"]
    assert again.known_servers.get(RELAY) == "ef" * 32
    assert "contacts.json" not in folder_state(folder)
    again.close()


# --- several processes ----------------------------------------------------------------------


def unlock_and_note(folder: str, n: int) -> str:
    """In a child process: unlock, write one setting, close; the database key's location."""
    profile = Profile.open(folder, keyring=None)
    profile.unlock()
    profile.db.save_setting(f"process {n}", n)
    profile.close()
    return str(profile.key_location())


def test_processes_unlocking_a_new_profile_at_once_share_one_database(tmp_path, rsa_keys):
    folder = tmp_path / "p"
    folder.mkdir(mode=0o700)
    (folder / "identity.pem").write_bytes(rsa_keys.alice.to_pem())
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=6, mp_context=context) as pool:
        locations = list(pool.map(unlock_and_note, [str(folder)] * 6, range(6)))
    assert locations == ["file"] * 6
    profile = open_profile(folder)
    profile.unlock()
    assert [profile.db.setting(f"process {n}") for n in range(6)] == list(range(6))
    profile.close()
