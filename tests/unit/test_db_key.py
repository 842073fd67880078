"""The database key and its file, db.key: sealed with a passphrase, in a keyring, or raw.

Most tests seal with scrypt at N=2**14 (a few ms); one checks that new files get the full
cost by default. Keyrings are fakes (tests/unit/fake_keyring.py): nothing here touches the
keyring of the machine running the tests.
"""

from __future__ import annotations

import pytest

from messenger.store import db_key
from messenger.store.db_key import KEYRING_SERVICE, KeyFile, KeyLocation, new_key
from messenger.store.errors import (
    KeyringError,
    PassphraseNeededError,
    ProfileError,
    WrongPassphraseError,
)
from tests.unit.fake_keyring import FakeKeyring

PASSPHRASE = "orbit lantern"
CHEAP = 14


@pytest.fixture(scope="module")
def key() -> bytes:
    return new_key()


@pytest.fixture(scope="module")
def sealed(key) -> KeyFile:
    return KeyFile.for_passphrase(key, PASSPHRASE, log2_n=CHEAP)


def test_a_new_key_is_32_random_bytes():
    first, second = new_key(), new_key()
    assert len(first) == len(second) == 32
    assert first != second


def test_a_sealed_key_opens_with_its_passphrase_and_the_file_does_not_hold_it(sealed, key):
    assert sealed.location is KeyLocation.PASSPHRASE
    assert key not in sealed.data
    assert KeyFile.parse(sealed.data).open(PASSPHRASE, None) == key


def test_a_wrong_passphrase_is_refused_as_such(sealed):
    with pytest.raises(WrongPassphraseError, match="passphrase is wrong"):
        sealed.open("orbit lanterns", None)


def test_no_passphrase_for_a_sealed_key_asks_for_one(sealed):
    with pytest.raises(PassphraseNeededError, match="protected by a passphrase"):
        sealed.open(None, None)


def test_the_same_passphrase_typed_another_way_opens_the_key(key):
    composed = KeyFile.for_passphrase(key, "caf\u00e9 \ufb01ne", log2_n=CHEAP)
    assert composed.open("cafe\u0301 fine", None) == key


def test_sealing_twice_gives_different_files(key):
    first = KeyFile.for_passphrase(key, PASSPHRASE, log2_n=CHEAP)
    second = KeyFile.for_passphrase(key, PASSPHRASE, log2_n=CHEAP)
    assert first.data != second.data  # fresh salt and nonce


def test_new_files_get_the_full_scrypt_cost(monkeypatch, key):
    costs = []
    real = db_key.scrypt

    def spy(password, salt, key_len, N, r, p):
        costs.append((N, r, p))
        return real(password, salt, key_len, N=2**CHEAP, r=r, p=p)

    monkeypatch.setattr(db_key, "scrypt", spy)
    KeyFile.for_passphrase(key, PASSPHRASE)
    assert costs == [(2**17, 8, 1)]


def test_an_empty_passphrase_is_refused(key):
    with pytest.raises(ValueError, match="empty passphrase"):
        KeyFile.for_passphrase(key, "")


@pytest.mark.parametrize("index", [0, 9, 10, 13, 40, -20, -1])
def test_a_damaged_file_is_told_apart_from_a_wrong_passphrase(sealed, index):
    damaged = bytearray(sealed.data)
    damaged[index] ^= 0x01
    with pytest.raises(ValueError):
        KeyFile.parse(bytes(damaged))


@pytest.mark.parametrize(
    "data",
    [b"", b"MSGDBKEY", b"-----BEGIN PRIVATE KEY-----\n" + b"A" * 80, b"\x00" * 89],
)
def test_what_is_not_a_key_file_is_refused(data):
    with pytest.raises(ValueError):
        KeyFile.parse(data)


def test_a_file_from_a_newer_version_says_so(sealed):
    newer = sealed.data[:8] + b"\x02" + sealed.data[9:]
    with pytest.raises(ValueError, match="newer"):
        KeyFile.parse(newer)


def test_a_file_demanding_too_much_scrypt_work_is_refused(key):
    greedy = KeyFile.for_passphrase(key, PASSPHRASE, log2_n=CHEAP).data
    body = bytearray(greedy[:-16])
    body[10] = 24  # N = 2**24: 16 GiB with r = 8
    with pytest.raises(ValueError, match="scrypt"):
        KeyFile.parse(bytes(body) + db_key._check(bytes(body)))


def test_reading_a_damaged_db_key_is_a_profile_error_naming_it(tmp_path):
    path = tmp_path / "db.key"
    path.write_bytes(b"garbage")
    with pytest.raises(ProfileError, match=r"db\.key is damaged"):
        KeyFile.read(path)
    assert KeyFile.read(tmp_path / "absent") is None


# --- without a passphrase -----------------------------------------------------------------


def test_without_a_passphrase_the_key_goes_to_the_keyring(key):
    keyring = FakeKeyring()
    stored = KeyFile.without_passphrase(key, keyring)
    assert stored.location is KeyLocation.KEYRING
    assert key not in stored.data and key.hex().encode() not in stored.data
    [(service, entry)] = keyring.entries
    assert service == KEYRING_SERVICE and stored.keyring_entry == entry
    assert KeyFile.parse(stored.data).open(None, keyring) == key


def test_each_profile_gets_its_own_keyring_entry(key):
    keyring = FakeKeyring()
    first = KeyFile.without_passphrase(key, keyring)
    second = KeyFile.without_passphrase(new_key(), keyring)
    assert first.keyring_entry != second.keyring_entry
    assert first.open(None, keyring) == key


def test_a_passphrase_given_for_a_keyring_key_is_ignored(key):
    keyring = FakeKeyring()
    assert KeyFile.without_passphrase(key, keyring).open("anything", keyring) == key


@pytest.mark.parametrize(
    "keyring",
    [FakeKeyring(fail_set=True), FakeKeyring(forgets=True), None],
    ids=["keyring raises", "keyring forgets", "no keyring"],
)
def test_without_a_usable_keyring_the_key_goes_to_the_file(key, keyring):
    stored = KeyFile.without_passphrase(key, keyring)
    assert stored.location is KeyLocation.FILE
    assert stored.keyring_entry is None
    assert KeyFile.parse(stored.data).open(None, None) == key


def test_a_keyring_that_forgot_the_key_is_asked_to_drop_the_entry(key):
    keyring = FakeKeyring(forgets=True)
    KeyFile.without_passphrase(key, keyring)
    assert len(keyring.deleted) == 1


def test_a_key_gone_from_the_keyring_is_a_keyring_error_naming_the_entry(key):
    keyring = FakeKeyring()
    stored = KeyFile.without_passphrase(key, keyring)
    keyring.entries.clear()
    with pytest.raises(KeyringError, match=stored.keyring_entry):
        stored.open(None, keyring)


def test_a_keyring_that_fails_when_read_is_a_keyring_error(key):
    keyring = FakeKeyring()
    stored = KeyFile.without_passphrase(key, keyring)
    keyring.fail_get = True
    with pytest.raises(KeyringError, match="locked"):
        stored.open(None, keyring)
    with pytest.raises(KeyringError, match="no keyring"):
        stored.open(None, None)


def test_a_damaged_key_in_the_keyring_is_a_keyring_error(key):
    keyring = FakeKeyring()
    stored = KeyFile.without_passphrase(key, keyring)
    keyring.entries[(KEYRING_SERVICE, stored.keyring_entry)] = "not hex"
    with pytest.raises(KeyringError, match="damaged"):
        stored.open(None, keyring)


def test_discarding_removes_the_keyring_entry(key):
    keyring = FakeKeyring()
    stored = KeyFile.without_passphrase(key, keyring)
    stored.discard(keyring)
    assert keyring.entries == {}


def test_a_key_file_never_shows_the_key_in_its_repr(key):
    stored = KeyFile.without_passphrase(key, None)
    assert key.hex() not in repr(stored) and repr(key) not in repr(stored)
    assert repr(stored) == "KeyFile(location=file)"
