"""The relay's own key files: server_key.pem (private, 0600) and server_key.pub.pem.

IdentityKey.generate is replaced by a fixture key: the file handling is under test, and a
real generation takes seconds.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from messenger.crypto.rsa import IdentityKey
from server import identity
from server.identity import ServerKeyError


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def generated(monkeypatch, rsa_keys):
    """IdentityKey.generate hands out the server key, then mallory's; returns the calls."""
    keys = [rsa_keys.server, rsa_keys.mallory]
    calls = []

    def generate():
        calls.append(keys[len(calls)])
        return calls[-1]

    monkeypatch.setattr(IdentityKey, "generate", generate)
    return calls


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "relay-data"


def test_keygen_writes_a_private_key_file_and_a_public_one(data_dir, generated, rsa_keys):
    key = identity.generate(data_dir)
    assert key.fingerprint == rsa_keys.server.fingerprint
    private, public = data_dir / identity.PRIVATE_NAME, data_dir / identity.PUBLIC_NAME
    assert mode_of(data_dir) == 0o700
    assert mode_of(private) == 0o600
    assert mode_of(public) == 0o644
    assert b"PRIVATE KEY" in private.read_bytes()
    assert b"ENCRYPTED" not in private.read_bytes()  # the relay starts unattended
    assert public.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")


def test_keygen_refuses_to_replace_an_existing_key_and_mentions_force(data_dir, generated):
    identity.generate(data_dir)
    before = (data_dir / identity.PRIVATE_NAME).read_bytes()
    with pytest.raises(ServerKeyError, match="--force"):
        identity.generate(data_dir)
    assert (data_dir / identity.PRIVATE_NAME).read_bytes() == before
    assert len(generated) == 1


def test_keygen_with_overwrite_replaces_both_files(data_dir, generated, rsa_keys):
    identity.generate(data_dir)
    identity.generate(data_dir, overwrite=True)
    assert identity.load(data_dir).fingerprint == rsa_keys.mallory.fingerprint
    assert identity.load_public(data_dir).fingerprint == rsa_keys.mallory.fingerprint


def test_starting_the_relay_reuses_the_key_it_has(data_dir, generated, rsa_keys):
    first = identity.load_or_generate(data_dir)
    again = identity.load_or_generate(data_dir)
    assert again.fingerprint == first.fingerprint == rsa_keys.server.fingerprint
    assert len(generated) == 1


def test_the_fingerprint_is_read_from_the_public_file_alone(data_dir, generated, rsa_keys):
    identity.generate(data_dir)
    (data_dir / identity.PRIVATE_NAME).unlink()
    assert identity.load_public(data_dir).fingerprint == rsa_keys.server.fingerprint


def test_without_a_public_file_the_fingerprint_comes_from_the_private_key(
    data_dir, generated, rsa_keys
):
    identity.generate(data_dir)
    (data_dir / identity.PUBLIC_NAME).unlink()
    assert identity.load_public(data_dir).fingerprint == rsa_keys.server.fingerprint


def test_a_damaged_public_file_falls_back_to_the_private_key(data_dir, generated, rsa_keys):
    identity.generate(data_dir)
    (data_dir / identity.PUBLIC_NAME).write_bytes(b"not a key")
    assert identity.load_public(data_dir).fingerprint == rsa_keys.server.fingerprint


def test_loading_with_no_key_says_to_run_keygen(data_dir):
    with pytest.raises(ServerKeyError, match="keygen") as raised:
        identity.load(data_dir)
    assert str(data_dir) in str(raised.value)
    with pytest.raises(ServerKeyError, match="keygen"):
        identity.load_public(data_dir)


def test_a_damaged_private_key_file_is_an_error_naming_the_file(data_dir):
    data_dir.mkdir()
    (data_dir / identity.PRIVATE_NAME).write_bytes(b"-----BEGIN PRIVATE KEY-----\nxx\n")
    with pytest.raises(ServerKeyError, match=identity.PRIVATE_NAME):
        identity.load(data_dir)
    with pytest.raises(ServerKeyError):
        identity.load_or_generate(data_dir)
