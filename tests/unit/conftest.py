"""Unit-test fixtures shared by the RSA tests.

RSA-3072 generation takes 0.2–3 s per key, so the keys are made once per test run and every
module reuses them: the relay's key and three people. Mallory, the one who should always
fail, gets the key from the Wycheproof OAEP vector file, which saves a generation and suits
her: anyone could have that private key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import pytest

from messenger.crypto.rsa import IdentityKey

_PUBLIC_TEST_KEY = (
    Path(__file__).parent.parent
    / "vectors"
    / "wycheproof"
    / "rsa_oaep_3072_sha256_mgf1sha256_test.json"
)


class RsaKeys(NamedTuple):
    server: IdentityKey
    alice: IdentityKey
    bob: IdentityKey
    mallory: IdentityKey


@pytest.fixture(scope="session")
def rsa_keys() -> RsaKeys:
    vectors = json.loads(_PUBLIC_TEST_KEY.read_text(encoding="utf-8"))
    mallory = IdentityKey.from_pem(vectors["testGroups"][0]["privateKeyPem"].encode())
    return RsaKeys(IdentityKey.generate(), IdentityKey.generate(), IdentityKey.generate(), mallory)


# -- file transfers --------------------------------------------------------------------------


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """Where the sender's files are."""
    return tmp_path / "outbox"


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    """Where the receiver saves."""
    return tmp_path / "inbox"


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> int:
    """Offers cut files into 64 KiB chunks: many chunks (and acks) in a small file."""
    from messenger import files

    monkeypatch.setattr(files, "CHUNK_SIZE", 64 * 1024)
    return 64 * 1024
