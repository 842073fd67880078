"""Wycheproof vectors for RSA-OAEP and RSA-PSS, run through messenger.crypto.rsa.

Every case goes through IdentityKey.unwrap or PublicKey.verify, so a wrong hash, mask function,
salt length or a missing length check in the wrappers fails here. The vector keys are loaded
with the same strict loaders a peer's key goes through, which also shows those loaders accept
a 3072-bit, e = 65537 key produced by another implementation.

'acceptable' cases (none in the current files) may pass or fail: Wycheproof uses the label for
legal but discouraged inputs. If one passes, OAEP must still return the expected message.
"""

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest

from messenger.crypto.errors import AuthenticationError
from messenger.crypto.rsa import PUBLIC_EXPONENT, RSA_BITS, IdentityKey, PublicKey

VECTORS = Path(__file__).parent.parent / "vectors" / "wycheproof"


def _load(name: str) -> dict[str, Any]:
    """Read one Wycheproof file, so every test works from the copy kept in the repository."""
    with (VECTORS / name).open(encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
    return data


def _cases(data: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    """Flatten groups into (group index, test) pairs, so each case is a separate test."""
    return [
        (index, test) for index, group in enumerate(data["testGroups"]) for test in group["tests"]
    ]


def _params(data: dict[str, Any]) -> list[Any]:
    """One pytest param per case, named by tcId and expected result."""
    return [
        pytest.param(index, test, id=f"tc{test['tcId']}-{test['result']}")
        for index, test in _cases(data)
    ]


def _check_group_key(group: dict[str, Any]) -> None:
    """The wrappers only take RSA_BITS/65537 keys; a group with another key would be untestable."""
    key = group.get("privateKey") or group["publicKey"]
    assert group["keySize"] == RSA_BITS
    assert int(key["publicExponent"], 16) == PUBLIC_EXPONENT
    assert (group["sha"], group["mgf"], group["mgfSha"]) == ("SHA-256", "MGF1", "SHA-256")


# --- RSA-OAEP ---------------------------------------------------------------------------------

OAEP = _load("rsa_oaep_3072_sha256_mgf1sha256_test.json")
OAEP_KEYS = [IdentityKey.from_pem(group["privateKeyPem"].encode()) for group in OAEP["testGroups"]]
OAEP_CASES = _params(OAEP)


def test_oaep_vectors_loaded() -> None:
    results = [test["result"] for _, test in _cases(OAEP)]
    assert len(OAEP_CASES) == OAEP["numberOfTests"] > 0
    assert results.count("valid") > 0
    assert results.count("invalid") > 0
    assert any(test["label"] for _, test in _cases(OAEP)), "no case exercises the label"
    for group in OAEP["testGroups"]:
        _check_group_key(group)


@pytest.mark.parametrize(("group_index", "case"), OAEP_CASES)
def test_oaep_wycheproof(group_index: int, case: dict[str, Any]) -> None:
    key = OAEP_KEYS[group_index]
    ct, label, msg = (bytes.fromhex(case[name]) for name in ("ct", "label", "msg"))
    if case["result"] == "valid":
        assert key.unwrap(ct, label) == msg, f"tcId {case['tcId']}"
    elif case["result"] == "invalid":
        with pytest.raises(AuthenticationError):
            key.unwrap(ct, label)
    else:
        with contextlib.suppress(AuthenticationError):
            assert key.unwrap(ct, label) == msg, f"tcId {case['tcId']}"


def test_oaep_failures_are_indistinguishable() -> None:
    """Manger's attack needs to tell padding failures apart; every refusal must look alike."""
    messages = set()
    for index, case in _cases(OAEP):
        if case["result"] != "invalid":
            continue
        ct, label = bytes.fromhex(case["ct"]), bytes.fromhex(case["label"])
        with pytest.raises(AuthenticationError) as refused:
            OAEP_KEYS[index].unwrap(ct, label)
        messages.add((type(refused.value), str(refused.value), refused.value.__cause__))
    assert len(messages) == 1


# --- RSA-PSS ----------------------------------------------------------------------------------

PSS = _load("rsa_pss_3072_sha256_mgf1_32_test.json")
PSS_KEYS = [PublicKey.from_der(bytes.fromhex(group["publicKeyDer"])) for group in PSS["testGroups"]]
PSS_CASES = _params(PSS)


def test_pss_vectors_loaded() -> None:
    results = [test["result"] for _, test in _cases(PSS)]
    assert len(PSS_CASES) == PSS["numberOfTests"] > 0
    assert results.count("valid") > 0
    assert results.count("invalid") > 0
    for group in PSS["testGroups"]:
        _check_group_key(group)
        assert group["sLen"] == 32


def test_pss_group_keys_load_from_pem_too() -> None:
    for key, group in zip(PSS_KEYS, PSS["testGroups"], strict=True):
        assert PublicKey.from_pem(group["publicKeyPem"].encode()) == key
        assert key.der.hex() == group["publicKeyDer"]


@pytest.mark.parametrize(("group_index", "case"), PSS_CASES)
def test_pss_wycheproof(group_index: int, case: dict[str, Any]) -> None:
    key = PSS_KEYS[group_index]
    msg, sig = bytes.fromhex(case["msg"]), bytes.fromhex(case["sig"])
    if case["result"] == "valid":
        key.verify(msg, sig)
    elif case["result"] == "invalid":
        with pytest.raises(AuthenticationError):
            key.verify(msg, sig)
    else:
        with contextlib.suppress(AuthenticationError):
            key.verify(msg, sig)
