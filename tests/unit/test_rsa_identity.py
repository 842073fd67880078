"""Identity keys: key files, signatures, wrapped secrets and fingerprints.

RSA-3072 generation takes 0.2–3 s and each passphrase-protected save or load runs scrypt for
about 0.4 s, so one key is generated and the encrypted file made once per module; the second
key comes from a vector file.
"""

import json
import re
from pathlib import Path

import pytest
from Crypto.IO import PEM
from Crypto.PublicKey import RSA
from Crypto.Util.asn1 import DerSequence
from hypothesis import given, settings
from hypothesis import strategies as st

from messenger.crypto.errors import AuthenticationError, CryptoError
from messenger.crypto.rsa import (
    FINGERPRINT_HEX_LEN,
    MAX_WRAP_SIZE,
    MODULUS_SIZE,
    IdentityKey,
    KeyFileError,
    PublicKey,
    format_fingerprint,
    parse_fingerprint,
)

# Contains a ligature and a non-Latin-1 character: NFKC and UTF-8 must both be applied.
PASSPHRASE = "correct horse ﬁne 🐴 battery"
PASSPHRASE_NFKC = "correct horse fine 🐴 battery"

VECTORS = Path(__file__).parent.parent / "vectors" / "wycheproof"
OTHER_KEY_FILE = VECTORS / "rsa_oaep_3072_sha256_mgf1sha256_test.json"

FAST = settings(max_examples=50, deadline=None)


@pytest.fixture(scope="module")
def identity() -> IdentityKey:
    return IdentityKey.generate()


@pytest.fixture(scope="module")
def other() -> IdentityKey:
    """A second valid key, taken from the Wycheproof OAEP file to spare a slow generation."""
    data = json.loads(OTHER_KEY_FILE.read_text(encoding="utf-8"))
    return IdentityKey.from_pem(data["testGroups"][0]["privateKeyPem"].encode())


@pytest.fixture(scope="module")
def encrypted_pem(identity: IdentityKey) -> bytes:
    return identity.to_pem(PASSPHRASE)


@pytest.fixture(scope="module")
def small_key() -> RSA.RsaKey:
    """A 2048-bit key, which Messenger must refuse even though it is otherwise fine."""
    return RSA.generate(2048)


def _flip(data: bytes, index: int) -> bytes:
    """Flip the low bit of one byte, the smallest possible tampering."""
    changed = bytearray(data)
    changed[index] ^= 0x01
    return bytes(changed)


# --- Key files --------------------------------------------------------------------------------


def test_key_error_is_a_crypto_error() -> None:
    assert issubclass(KeyFileError, CryptoError)


def test_pem_round_trip_without_passphrase(identity: IdentityKey) -> None:
    pem = identity.to_pem()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    loaded = IdentityKey.from_pem(pem)
    assert loaded.fingerprint == identity.fingerprint
    assert loaded.public == identity.public
    identity.public.verify(b"hello", loaded.sign(b"hello"))


def test_pem_round_trip_with_passphrase(identity: IdentityKey, encrypted_pem: bytes) -> None:
    assert encrypted_pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    loaded = IdentityKey.from_pem(encrypted_pem, PASSPHRASE)
    assert loaded.fingerprint == identity.fingerprint
    assert loaded.unwrap(identity.public.wrap(b"s" * 32)) == b"s" * 32


def test_passphrase_is_nfkc_normalised(identity: IdentityKey, encrypted_pem: bytes) -> None:
    assert IdentityKey.from_pem(encrypted_pem, PASSPHRASE_NFKC).public == identity.public


def test_encrypted_pem_is_not_plaintext(identity: IdentityKey, encrypted_pem: bytes) -> None:
    assert b"BEGIN PRIVATE KEY" not in encrypted_pem
    assert b"BEGIN RSA PRIVATE KEY" not in encrypted_pem
    clear_body = identity.to_pem().splitlines()[1:-1]
    assert not any(line in encrypted_pem for line in clear_body)


def test_wrong_passphrase_is_refused(encrypted_pem: bytes) -> None:
    with pytest.raises(KeyFileError, match="passphrase"):
        IdentityKey.from_pem(encrypted_pem, "not the passphrase")


@pytest.mark.parametrize("missing", [None, ""])
def test_encrypted_file_without_passphrase_asks_for_one(
    encrypted_pem: bytes, missing: str | None
) -> None:
    with pytest.raises(KeyFileError, match="passphrase"):
        IdentityKey.from_pem(encrypted_pem, missing)


def test_legacy_encrypted_pkcs1_without_passphrase_asks_for_one(identity: IdentityKey) -> None:
    clear = RSA.import_key(identity.to_pem())
    legacy = clear.export_key(format="PEM", pkcs=1, passphrase=b"legacy")
    assert legacy.startswith(b"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED")
    with pytest.raises(KeyFileError, match="passphrase"):
        IdentityKey.from_pem(legacy)
    assert IdentityKey.from_pem(legacy, "legacy").public == identity.public


def test_pkcs1_pem_is_accepted(identity: IdentityKey) -> None:
    pkcs1 = RSA.import_key(identity.to_pem()).export_key(format="PEM", pkcs=1)
    assert pkcs1.startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    assert IdentityKey.from_pem(pkcs1).public == identity.public


def test_empty_passphrase_is_refused_on_save(identity: IdentityKey) -> None:
    with pytest.raises(ValueError, match="passphrase"):
        identity.to_pem("")


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"not a key",
        b"\xff\xfe\x00garbage",
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        b"-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n",
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        b"-----BEGIN PRIVATE KEY-----\n" + b"A" * 20000 + b"\n-----END PRIVATE KEY-----\n",
    ],
    ids=["empty", "text", "binary", "short-body", "bad-base64", "certificate", "oversized"],
)
def test_garbage_is_refused(garbage: bytes) -> None:
    with pytest.raises(KeyFileError):
        IdentityKey.from_pem(garbage)


def test_public_key_pem_is_not_an_identity(identity: IdentityKey) -> None:
    with pytest.raises(KeyFileError):
        IdentityKey.from_pem(identity.public.to_pem())


def test_truncated_key_file_is_refused(identity: IdentityKey) -> None:
    lines = identity.to_pem().splitlines(keepends=True)
    truncated = b"".join(lines[:5] + lines[-1:])
    with pytest.raises(KeyFileError):
        IdentityKey.from_pem(truncated)


def test_2048_bit_private_key_is_refused(small_key: RSA.RsaKey) -> None:
    for pkcs in (1, 8):
        with pytest.raises(KeyFileError, match="3072"):
            IdentityKey.from_pem(small_key.export_key(format="PEM", pkcs=pkcs))


def test_2048_bit_public_key_is_refused(small_key: RSA.RsaKey) -> None:
    public = small_key.public_key()
    with pytest.raises(KeyFileError, match="3072"):
        PublicKey.from_der(public.export_key(format="DER"))
    with pytest.raises(KeyFileError, match="3072"):
        PublicKey.from_pem(public.export_key(format="PEM"))


def test_other_public_exponent_is_refused(identity: IdentityKey) -> None:
    modulus = RSA.import_key(identity.public.der).n
    weak = RSA.construct((modulus, 3))
    with pytest.raises(KeyFileError, match="65537"):
        PublicKey.from_der(weak.export_key(format="DER"))


@FAST
@given(data=st.binary(max_size=600))
def test_random_bytes_only_ever_raise_key_file_error(data: bytes) -> None:
    for load in (PublicKey.from_der, PublicKey.from_pem, IdentityKey.from_pem):
        with pytest.raises(KeyFileError):
            load(data)


@FAST
@given(
    body=st.binary(max_size=600),
    marker=st.sampled_from(["PUBLIC KEY", "PRIVATE KEY", "RSA PRIVATE KEY"]),
)
def test_random_pem_bodies_only_ever_raise_key_file_error(body: bytes, marker: str) -> None:
    """Well-formed PEM around random DER reaches the ASN.1 parser: it must still only refuse."""
    pem = PEM.encode(b"\x30" + body, marker).encode("ascii")
    for load in (PublicKey.from_pem, IdentityKey.from_pem):
        with pytest.raises(KeyFileError):
            load(pem)
    with pytest.raises(KeyFileError):
        PublicKey.from_der(b"\x30" + body)


def test_passphrase_for_an_unencrypted_file_is_ignored(identity: IdentityKey) -> None:
    assert IdentityKey.from_pem(identity.to_pem(), "unused").public == identity.public


# --- Public keys ------------------------------------------------------------------------------


def test_public_key_der_and_pem_round_trip(identity: IdentityKey) -> None:
    public = identity.public
    assert public.der.startswith(b"\x30")
    assert PublicKey.from_der(public.der) == public
    pem = public.to_pem()
    assert pem.startswith(b"-----BEGIN PUBLIC KEY-----")
    assert PublicKey.from_pem(pem) == public
    assert len({public, PublicKey.from_pem(pem), PublicKey.from_der(public.der)}) == 1


def test_public_key_from_pem_refuses_private_pem(identity: IdentityKey) -> None:
    with pytest.raises(KeyFileError):
        PublicKey.from_pem(identity.to_pem())


def test_public_key_refuses_non_canonical_encodings(identity: IdentityKey) -> None:
    parsed = RSA.import_key(identity.public.der)
    pkcs1 = DerSequence([parsed.n, parsed.e]).encode()
    assert RSA.import_key(pkcs1) == parsed
    with pytest.raises(KeyFileError):
        PublicKey.from_der(pkcs1)
    with pytest.raises(KeyFileError):
        PublicKey.from_der(identity.public.der + b"\x00")
    with pytest.raises(KeyFileError):
        PublicKey.from_der(identity.public.to_pem())


def test_public_key_from_der_refuses_a_private_key(identity: IdentityKey) -> None:
    private_der = RSA.import_key(identity.to_pem()).export_key(format="DER", pkcs=8)
    with pytest.raises(KeyFileError):
        PublicKey.from_der(private_der)


def test_public_key_from_der_refuses_oversized_input() -> None:
    with pytest.raises(KeyFileError, match="too large"):
        PublicKey.from_der(b"\x30" + b"\x00" * 4096)


def test_truncated_public_der_is_refused(identity: IdentityKey) -> None:
    der = identity.public.der
    for length in (0, 1, 10, len(der) // 2, len(der) - 1):
        with pytest.raises(KeyFileError):
            PublicKey.from_der(der[:length])


def test_public_keys_compare_by_value(identity: IdentityKey, other: IdentityKey) -> None:
    assert identity.public != other.public
    assert identity.public != identity.public.der
    assert hash(identity.public) == hash(PublicKey.from_der(identity.public.der))


# --- Wrapping secrets -------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 32, MAX_WRAP_SIZE])
def test_wrap_unwrap_round_trip(identity: IdentityKey, size: int) -> None:
    secret = bytes(range(256)) * 2
    wrapped = identity.public.wrap(secret[:size])
    assert len(wrapped) == MODULUS_SIZE
    assert identity.unwrap(wrapped) == secret[:size]


def test_wrap_is_randomised(identity: IdentityKey) -> None:
    assert identity.public.wrap(b"k" * 32) != identity.public.wrap(b"k" * 32)


def test_wrap_refuses_oversized_secret(identity: IdentityKey) -> None:
    with pytest.raises(ValueError):
        identity.public.wrap(b"x" * (MAX_WRAP_SIZE + 1))


def test_wrap_label_must_match(identity: IdentityKey) -> None:
    wrapped = identity.public.wrap(b"k" * 32, label=b"context A")
    assert identity.unwrap(wrapped, label=b"context A") == b"k" * 32
    with pytest.raises(AuthenticationError):
        identity.unwrap(wrapped, label=b"context B")
    with pytest.raises(AuthenticationError):
        identity.unwrap(wrapped)


@pytest.mark.parametrize("index", [0, 1, MODULUS_SIZE // 2, MODULUS_SIZE - 1])
def test_unwrap_of_flipped_ciphertext_fails(identity: IdentityKey, index: int) -> None:
    wrapped = identity.public.wrap(b"k" * 32)
    with pytest.raises(AuthenticationError):
        identity.unwrap(_flip(wrapped, index))


def test_unwrap_of_wrong_length_fails(identity: IdentityKey) -> None:
    wrapped = identity.public.wrap(b"k" * 32)
    for bad in (b"", wrapped[:-1], wrapped + b"\x00", b"\x00" + wrapped):
        with pytest.raises(AuthenticationError):
            identity.unwrap(bad)


def test_unwrap_with_another_key_fails(identity: IdentityKey, other: IdentityKey) -> None:
    with pytest.raises(AuthenticationError):
        other.unwrap(identity.public.wrap(b"k" * 32))


# --- Signatures -------------------------------------------------------------------------------


def test_sign_verify(identity: IdentityKey) -> None:
    signature = identity.sign(b"handshake transcript")
    assert len(signature) == MODULUS_SIZE
    assert identity.public.verify(b"handshake transcript", signature) is None


def test_signatures_are_randomised(identity: IdentityKey) -> None:
    assert identity.sign(b"m") != identity.sign(b"m")


def test_verify_wrong_message_fails(identity: IdentityKey) -> None:
    signature = identity.sign(b"message")
    with pytest.raises(AuthenticationError):
        identity.public.verify(b"massage", signature)


@pytest.mark.parametrize("index", [0, MODULUS_SIZE // 2, MODULUS_SIZE - 1])
def test_verify_flipped_signature_fails(identity: IdentityKey, index: int) -> None:
    signature = identity.sign(b"message")
    with pytest.raises(AuthenticationError):
        identity.public.verify(b"message", _flip(signature, index))


def test_verify_truncated_or_extended_signature_fails(identity: IdentityKey) -> None:
    signature = identity.sign(b"message")
    for bad in (b"", signature[:-1], signature[1:], signature + b"\x00", b"\x00" + signature):
        with pytest.raises(AuthenticationError):
            identity.public.verify(b"message", bad)


def test_verify_signature_by_another_key_fails(identity: IdentityKey, other: IdentityKey) -> None:
    with pytest.raises(AuthenticationError):
        identity.public.verify(b"message", other.sign(b"message"))


# --- Fingerprints -----------------------------------------------------------------------------


def test_fingerprint_is_64_lowercase_hex(identity: IdentityKey) -> None:
    assert FINGERPRINT_HEX_LEN == 64
    assert re.fullmatch(r"[0-9a-f]{64}", identity.fingerprint)
    assert identity.fingerprint == identity.public.fingerprint


def test_fingerprint_is_stable_across_pem(identity: IdentityKey, encrypted_pem: bytes) -> None:
    assert IdentityKey.from_pem(identity.to_pem()).fingerprint == identity.fingerprint
    assert PublicKey.from_pem(identity.public.to_pem()).fingerprint == identity.fingerprint


def test_fingerprints_differ_between_keys(identity: IdentityKey, other: IdentityKey) -> None:
    assert identity.fingerprint != other.fingerprint


def test_format_fingerprint_groups(identity: IdentityKey) -> None:
    shown = format_fingerprint(identity.fingerprint)
    groups = shown.split(" ")
    assert len(groups) == 16
    assert all(len(group) == 4 for group in groups)
    assert "".join(groups) == identity.fingerprint
    assert parse_fingerprint(shown) == identity.fingerprint


def test_parse_fingerprint_accepts_common_forms(identity: IdentityKey) -> None:
    fingerprint = identity.fingerprint
    pairs = [fingerprint[i : i + 2] for i in range(0, 64, 2)]
    forms = [
        fingerprint,
        fingerprint.upper(),
        ":".join(pairs).upper(),
        " ".join(pairs),
        format_fingerprint(fingerprint).upper(),
        "  " + format_fingerprint(fingerprint).replace(" ", "\n", 3) + "\n",
    ]
    for form in forms:
        assert parse_fingerprint(form) == fingerprint, form


def test_parse_fingerprint_accepts_example() -> None:
    text = "AB:12:" + ":".join(["CD"] * 29) + ":EF"
    assert parse_fingerprint(text) == "ab12" + "cd" * 29 + "ef"


@pytest.mark.parametrize(
    "text",
    [
        "a" * 63,
        "a" * 65,
        "",
        "g" + "a" * 63,
        "0x" + "a" * 62,
        "a" * 62 + "-a",
        "a" * 62 + "_a",
        "٣" * 64,
        "ａ" * 64,
    ],
    ids=["63", "65", "empty", "non-hex", "0x", "dash", "underscore", "arabic-digit", "fullwidth"],
)
def test_parse_fingerprint_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="64 hexadecimal digits"):
        parse_fingerprint(text)


def test_format_fingerprint_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        format_fingerprint("ab" * 31)


# --- No key material in reprs -----------------------------------------------------------------


def test_repr_contains_no_key_material(identity: IdentityKey) -> None:
    pem = identity.to_pem()
    parsed = RSA.import_key(pem)
    shown = repr(identity)
    assert shown == f"IdentityKey(fingerprint={identity.fingerprint})"
    assert repr(identity.public) == f"PublicKey(fingerprint={identity.fingerprint})"
    for secret in (parsed.d, parsed.p, parsed.q):
        assert format(secret, "x")[:16] not in shown
        assert str(secret)[:16] not in shown
    for line in pem.splitlines()[1:-1]:
        assert line.decode()[:16] not in shown
    assert "PRIVATE" not in shown
