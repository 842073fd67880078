"""X25519 agreement: both sides get the same secret, and hostile shares are refused.

The low-order list is the one libsodium and Bernstein's Curve25519 page use: points of order
1, 2, 4 and 8 and their encodings with the top bit set (which RFC 7748 masks away). Each forces
the all-zero secret, which an attacker would know without any private key.
"""

import pytest

from messenger.crypto.errors import AuthenticationError
from messenger.crypto.x25519 import PRIVATE_SIZE, PUBLIC_SIZE, EphemeralKey

_ORDER_8_A = "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"
_ORDER_8_B = "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"
_P_MINUS_1 = "ec" + "ff" * 30 + "7f"
_P = "ed" + "ff" * 30 + "7f"
_P_PLUS_1 = "ee" + "ff" * 30 + "7f"


def _top_bit(hex_le: str) -> str:
    """Set the bit RFC 7748 ignores, giving a second encoding of the same point."""
    raw = bytearray.fromhex(hex_le)
    raw[31] |= 0x80
    return raw.hex()


LOW_ORDER = {
    "zero": "00" * 32,
    "one": "01" + "00" * 31,
    "order8-a": _ORDER_8_A,
    "order8-b": _ORDER_8_B,
    "p-1": _P_MINUS_1,
    "p": _P,
    "p+1": _P_PLUS_1,
}
LOW_ORDER |= {f"{name}-topbit": _top_bit(value) for name, value in list(LOW_ORDER.items())}


def test_public_bytes_is_32_bytes() -> None:
    key = EphemeralKey.generate()
    assert isinstance(key.public_bytes, bytes)
    assert len(key.public_bytes) == PUBLIC_SIZE == 32


def test_agreement_is_symmetric() -> None:
    alice, bob = EphemeralKey.generate(), EphemeralKey.generate()
    shared = alice.agree(bob.public_bytes)
    assert isinstance(shared, bytes)
    assert len(shared) == 32
    assert shared == bob.agree(alice.public_bytes)
    assert shared != bytes(32)


def test_different_peers_give_different_secrets() -> None:
    alice, bob, carol = EphemeralKey.generate(), EphemeralKey.generate(), EphemeralKey.generate()
    assert alice.agree(bob.public_bytes) != alice.agree(carol.public_bytes)
    assert alice.agree(bob.public_bytes) != bob.agree(carol.public_bytes)


def test_fresh_keys_differ() -> None:
    assert EphemeralKey.generate().public_bytes != EphemeralKey.generate().public_bytes


def test_rfc7748_section_6_1() -> None:
    """Known answer from RFC 7748 6.1, so the wrapper uses X25519 itself and not a variant."""
    from Crypto.Protocol import DH

    alice = EphemeralKey(
        DH.import_x25519_private_key(
            bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
        )
    )
    bob_public = bytes.fromhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
    assert alice.public_bytes.hex() == (
        "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
    )
    assert alice.agree(bob_public).hex() == (
        "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
    )


@pytest.mark.parametrize("size", [0, 1, 31, 33, 64])
def test_wrong_length_is_refused(size: int) -> None:
    with pytest.raises(AuthenticationError):
        EphemeralKey.generate().agree(b"\x09" * size)


@pytest.mark.parametrize("point", list(LOW_ORDER.values()), ids=list(LOW_ORDER))
def test_low_order_points_are_refused(point: str) -> None:
    with pytest.raises(AuthenticationError):
        EphemeralKey.generate().agree(bytes.fromhex(point))


def test_repr_shows_only_the_public_share() -> None:
    key = EphemeralKey.generate()
    shown = repr(key)
    assert shown == f"EphemeralKey(public={key.public_bytes.hex()})"
    private = key._key  # the test may look; the repr may not
    assert private.seed.hex() not in shown
    assert format(int(private.d), "x") not in shown


def test_a_private_key_survives_export_and_import() -> None:
    key, peer = EphemeralKey.generate(), EphemeralKey.generate()
    raw = key.private_bytes()
    assert isinstance(raw, bytes)
    assert len(raw) == PRIVATE_SIZE == 32
    again = EphemeralKey.from_private_bytes(raw)
    assert again.public_bytes == key.public_bytes
    assert again.agree(peer.public_bytes) == key.agree(peer.public_bytes)
    assert EphemeralKey.from_private_bytes(bytearray(raw)).public_bytes == key.public_bytes


def test_an_imported_rfc7748_private_key_gives_the_published_public_key() -> None:
    alice = EphemeralKey.from_private_bytes(
        bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
    )
    assert alice.public_bytes.hex() == (
        "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
    )
    assert alice.private_bytes().hex() == (
        "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"
    )


@pytest.mark.parametrize("size", [0, 31, 33, 64])
def test_a_private_key_of_the_wrong_length_is_refused(size: int) -> None:
    with pytest.raises(ValueError):
        EphemeralKey.from_private_bytes(b"\x01" * size)


def test_repr_does_not_show_the_exported_private_key() -> None:
    key = EphemeralKey.generate()
    assert key.private_bytes().hex() not in repr(key)
