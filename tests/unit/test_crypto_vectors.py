"""Known-answer tests for the crypto wrappers: RFC vectors and Project Wycheproof.

They run through our wrappers, not pycryptodome directly, so a wrong argument order, a dropped
salt or a missing size check in the wrappers fails here.
"""

import json
from pathlib import Path
from typing import Any

import pytest

from messenger.crypto.aead import GcmKey, open_sealed, seal
from messenger.crypto.errors import AuthenticationError
from messenger.crypto.kdf import (
    PASSWORD_ITERATIONS,
    hkdf_sha256,
    pbkdf2_sha256,
    stretch_password,
)
from messenger.crypto.mac import hmac_sha256, hmac_sha512, macs_equal

VECTORS = Path(__file__).parent.parent / "vectors" / "wycheproof"

# PBKDF2 cases above this many iterations would take more than about 2 s each; none of the
# current vectors come close (the largest is 80,000), so nothing is skipped today.
MAX_TEST_ITERATIONS = 10_000_000


def _load(name: str) -> dict[str, Any]:
    """Read one Wycheproof file, so every test works from the copy kept in the repository."""
    with (VECTORS / name).open(encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
    return data


def _cases(data: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Flatten groups into (group, test) pairs, so each case can be a separate test."""
    return [(group, test) for group in data["testGroups"] for test in group["tests"]]


def _raises_value_error(call: Any, *args: Any) -> bool:
    """Tell whether call refused its arguments, so loop failures can name the tcId."""
    try:
        call(*args)
    except ValueError:
        return True
    return False


# --- PBKDF2-HMAC-SHA256: RFC 7914 section 11 ------------------------------------------------


@pytest.mark.parametrize(
    ("password", "salt", "iterations", "expected"),
    [
        (
            b"passwd",
            b"salt",
            1,
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
            "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783",
        ),
        (
            b"Password",
            b"NaCl",
            80000,
            "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
            "a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d",
        ),
    ],
    ids=["rfc7914-c1", "rfc7914-c80000"],
)
def test_pbkdf2_rfc7914(password: bytes, salt: bytes, iterations: int, expected: str) -> None:
    assert pbkdf2_sha256(password, salt, iterations, 64).hex() == expected


# --- HKDF-SHA256: RFC 5869 appendix A.1-A.3 --------------------------------------------------


@pytest.mark.parametrize(
    ("ikm", "salt", "info", "length", "expected"),
    [
        (
            bytes([0x0B] * 22),
            bytes(range(0x00, 0x0D)),
            bytes(range(0xF0, 0xFA)),
            42,
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
        ),
        (
            bytes(range(0x00, 0x50)),
            bytes(range(0x60, 0xB0)),
            bytes(range(0xB0, 0x100)),
            82,
            "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
            "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
            "cc30c58179ec3e87c14c01d5c1f3434f1d87",
        ),
        (
            bytes([0x0B] * 22),
            b"",
            b"",
            42,
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
        ),
    ],
    ids=["rfc5869-1", "rfc5869-2", "rfc5869-3"],
)
def test_hkdf_rfc5869(ikm: bytes, salt: bytes, info: bytes, length: int, expected: str) -> None:
    assert hkdf_sha256(ikm, length, salt=salt, info=info).hex() == expected


# --- HMAC-SHA256: RFC 4231 test cases 1 and 2 -------------------------------------------------


@pytest.mark.parametrize(
    ("key", "data", "expected"),
    [
        (
            bytes([0x0B] * 20),
            b"Hi There",
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
        ),
        (
            b"Jefe",
            b"what do ya want for nothing?",
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        ),
    ],
    ids=["rfc4231-1", "rfc4231-2"],
)
def test_hmac_rfc4231(key: bytes, data: bytes, expected: str) -> None:
    tag = hmac_sha256(key, data)
    assert tag.hex() == expected
    assert macs_equal(tag, bytes.fromhex(expected))
    assert not macs_equal(tag, bytes(32))


# --- HMAC-SHA512: RFC 4231 test cases 1 and 2, and the same as pycryptodome's -----------------


@pytest.mark.parametrize(
    ("key", "data", "expected"),
    [
        (
            bytes([0x0B] * 20),
            b"Hi There",
            "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
            "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
        ),
        (
            b"Jefe",
            b"what do ya want for nothing?",
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
            "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
        ),
    ],
    ids=["rfc4231-1", "rfc4231-2"],
)
def test_hmac_sha512_rfc4231(key: bytes, data: bytes, expected: str) -> None:
    assert hmac_sha512(key, data).hex() == expected


@pytest.mark.parametrize("length", [0, 1, 32, 64, 127, 128, 129, 1000])
def test_hmacs_match_pycryptodomes_for_every_key_length(length: int) -> None:
    """The standard library's HMAC (the fast path) and pycryptodome's give the same bytes,
    keys longer than the hash's block included (they are hashed first)."""
    from Crypto.Hash import HMAC, SHA256, SHA512

    key, data = bytes(range(256))[:length], b"chain key step" * length
    assert hmac_sha256(key, data) == HMAC.new(key, data, digestmod=SHA256).digest()
    assert hmac_sha512(key, data) == HMAC.new(key, data, digestmod=SHA512).digest()


# --- Wycheproof AES-GCM -----------------------------------------------------------------------

AES_GCM = _load("aes_gcm_test.json")


def _gcm_supported(group: dict[str, Any]) -> bool:
    """The wrapper supports exactly AES-256 with 96-bit nonces and 128-bit tags."""
    return (group["keySize"], group["ivSize"], group["tagSize"]) == (256, 96, 128)


GCM_SUPPORTED = [
    pytest.param(test, id=f"tc{test['tcId']}-{test['result']}")
    for group, test in _cases(AES_GCM)
    if _gcm_supported(group)
]
GCM_UNSUPPORTED = [
    pytest.param(group, id=f"key{group['keySize']}-iv{group['ivSize']}-tag{group['tagSize']}")
    for group in AES_GCM["testGroups"]
    if not _gcm_supported(group)
]


def test_aes_gcm_vectors_loaded() -> None:
    supported = [case for group, case in _cases(AES_GCM) if _gcm_supported(group)]
    results = {case["result"] for case in supported}
    assert len(supported) > 0
    assert {"valid", "invalid"} <= results
    assert len(_cases(AES_GCM)) == AES_GCM["numberOfTests"]
    assert len(GCM_UNSUPPORTED) > 0


@pytest.mark.parametrize("case", GCM_SUPPORTED)
def test_aes_gcm_wycheproof_supported(case: dict[str, Any]) -> None:
    key, iv, aad, msg, ct, tag = (
        bytes.fromhex(case[name]) for name in ("key", "iv", "aad", "msg", "ct", "tag")
    )
    if case["result"] in ("valid", "acceptable"):
        assert seal(key, iv, msg, aad) == ct + tag, f"tcId {case['tcId']}: seal mismatch"
        assert open_sealed(key, iv, ct + tag, aad) == msg, f"tcId {case['tcId']}: open mismatch"
    else:
        with pytest.raises(AuthenticationError):
            open_sealed(key, iv, ct + tag, aad)


@pytest.mark.parametrize("group", GCM_UNSUPPORTED)
def test_aes_gcm_wycheproof_unsupported_sizes_refused(group: dict[str, Any]) -> None:
    count = 0
    for case in group["tests"]:
        key, iv, aad, msg, ct, tag = (
            bytes.fromhex(case[name]) for name in ("key", "iv", "aad", "msg", "ct", "tag")
        )
        assert _raises_value_error(seal, key, iv, msg, aad), f"tcId {case['tcId']}: seal accepted"
        assert _raises_value_error(open_sealed, key, iv, ct + tag, aad), (
            f"tcId {case['tcId']}: open_sealed accepted"
        )
        count += 1
    assert count > 0


#: The transport's AEAD (``GcmKey``) passes the same vectors with either backend.
GCM_BACKENDS = ["openssl", "pycryptodome"]


@pytest.mark.parametrize("backend", GCM_BACKENDS)
@pytest.mark.parametrize("case", GCM_SUPPORTED)
def test_aes_gcm_wycheproof_supported_by_the_transport_key(
    case: dict[str, Any], backend: str
) -> None:
    key, iv, aad, msg, ct, tag = (
        bytes.fromhex(case[name]) for name in ("key", "iv", "aad", "msg", "ct", "tag")
    )
    gcm = GcmKey(key, backend=backend)
    if case["result"] in ("valid", "acceptable"):
        assert gcm.seal(iv, msg, aad) == ct + tag, f"tcId {case['tcId']}: seal mismatch"
        assert gcm.open(iv, ct + tag, aad) == msg, f"tcId {case['tcId']}: open mismatch"
    else:
        with pytest.raises(AuthenticationError):
            gcm.open(iv, ct + tag, aad)


@pytest.mark.parametrize("backend", GCM_BACKENDS)
@pytest.mark.parametrize("group", GCM_UNSUPPORTED)
def test_aes_gcm_wycheproof_unsupported_sizes_refused_by_the_transport_key(
    group: dict[str, Any], backend: str
) -> None:
    for case in group["tests"]:
        key, iv, aad, msg, ct, tag = (
            bytes.fromhex(case[name]) for name in ("key", "iv", "aad", "msg", "ct", "tag")
        )
        if len(key) != 32:
            assert _raises_value_error(GcmKey, key), f"tcId {case['tcId']}: key accepted"
            continue
        gcm = GcmKey(key, backend=backend)
        assert _raises_value_error(gcm.seal, iv, msg, aad), f"tcId {case['tcId']}: seal accepted"
        assert _raises_value_error(gcm.open, iv, ct + tag, aad), (
            f"tcId {case['tcId']}: open accepted"
        )


def test_the_transport_key_is_served_by_openssl() -> None:
    assert GcmKey(bytes(32)).backend == "openssl"


def test_a_transport_key_refuses_a_short_sealed_frame_like_open_sealed() -> None:
    for backend in GCM_BACKENDS:
        with pytest.raises(AuthenticationError):
            GcmKey(bytes(32), backend=backend).open(bytes(12), b"short")


# --- Wycheproof HKDF-SHA256 -------------------------------------------------------------------

HKDF = _load("hkdf_sha256_test.json")
HKDF_CASES = [pytest.param(test, id=f"tc{test['tcId']}") for _, test in _cases(HKDF)]


def test_hkdf_vectors_loaded() -> None:
    assert len(HKDF_CASES) == HKDF["numberOfTests"] > 0
    assert any(test["result"] == "invalid" for _, test in _cases(HKDF))


@pytest.mark.parametrize("case", HKDF_CASES)
def test_hkdf_wycheproof(case: dict[str, Any]) -> None:
    ikm, salt, info = (bytes.fromhex(case[name]) for name in ("ikm", "salt", "info"))
    if case["result"] in ("valid", "acceptable"):
        okm = hkdf_sha256(ikm, case["size"], salt=salt, info=info)
        assert okm.hex() == case["okm"], f"tcId {case['tcId']}"
    else:
        with pytest.raises(ValueError):
            hkdf_sha256(ikm, case["size"], salt=salt, info=info)


@pytest.mark.parametrize("length", [0, -1, 255 * 32 + 1])
def test_hkdf_refuses_bad_length(length: int) -> None:
    with pytest.raises(ValueError):
        hkdf_sha256(b"k" * 32, length)


# --- Wycheproof PBKDF2-HMAC-SHA256 ------------------------------------------------------------

PBKDF2_VECTORS = _load("pbkdf2_hmacsha256_test.json")
PBKDF2_CASES = [
    pytest.param(
        test,
        id=f"tc{test['tcId']}",
        marks=(
            [pytest.mark.skip(reason="iteration count too large for a unit test")]
            if test["iterationCount"] > MAX_TEST_ITERATIONS
            else []
        ),
    )
    for _, test in _cases(PBKDF2_VECTORS)
]


def test_pbkdf2_vectors_loaded() -> None:
    assert len(PBKDF2_CASES) == PBKDF2_VECTORS["numberOfTests"] > 0


@pytest.mark.parametrize("case", PBKDF2_CASES)
def test_pbkdf2_wycheproof(case: dict[str, Any]) -> None:
    password, salt = bytes.fromhex(case["password"]), bytes.fromhex(case["salt"])
    args = (password, salt, case["iterationCount"], case["dkLen"])
    if case["result"] in ("valid", "acceptable"):
        assert pbkdf2_sha256(*args).hex() == case["dk"], f"tcId {case['tcId']}"
    else:
        with pytest.raises(ValueError):
            pbkdf2_sha256(*args)


@pytest.mark.parametrize(("iterations", "length"), [(0, 32), (-1, 32), (1, 0), (1, -5)])
def test_pbkdf2_refuses_degenerate_parameters(iterations: int, length: int) -> None:
    with pytest.raises(ValueError):
        pbkdf2_sha256(b"password", b"salt", iterations, length)


# --- stretch_password -------------------------------------------------------------------------


def test_stretch_password_normalises_to_nfkc() -> None:
    salt = bytes(16)
    composed = stretch_password("caf\u00e9", salt, iterations=2)
    decomposed = stretch_password("cafe\u0301", salt, iterations=2)
    assert composed == decomposed == pbkdf2_sha256("caf\u00e9".encode(), salt, 2, 32)
    assert len(composed) == 32


def test_stretch_password_default_iterations() -> None:
    salt = bytes(range(16))
    expected = pbkdf2_sha256(b"correct horse", salt, PASSWORD_ITERATIONS, 32)
    assert stretch_password("correct horse", salt) == expected
