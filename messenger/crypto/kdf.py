"""Key derivation: PBKDF2-HMAC-SHA256 for passwords, HKDF-SHA256 for high-entropy secrets.

Passwords are stretched with many PBKDF2 iterations because they are guessable; shared secrets
that are already uniform only need HKDF to be split into independent keys.
"""

import unicodedata

from Crypto.Hash import SHA256
from Crypto.Protocol.KDF import HKDF, PBKDF2

PASSWORD_ITERATIONS = 600_000
"""OWASP's 2023 recommendation for PBKDF2-HMAC-SHA256."""

_SHA256_SIZE = 32
_HKDF_MAX_LENGTH = 255 * _SHA256_SIZE
_PBKDF2_MAX_LENGTH = (2**32 - 1) * _SHA256_SIZE


def pbkdf2_sha256(password: bytes, salt: bytes, iterations: int, length: int = 32) -> bytes:
    """Derive length bytes from a password, slowly, so each offline guess costs an attacker.

    Zero iterations or an empty output would silently give no protection, and RFC 8018
    section 5.2 caps the output at (2**32 - 1) blocks, so all three are refused.
    """
    if iterations < 1:
        raise ValueError("PBKDF2 needs at least one iteration")
    if length < 1 or length > _PBKDF2_MAX_LENGTH:
        raise ValueError("PBKDF2 output length is out of range")
    return PBKDF2(password, salt, dkLen=length, count=iterations, hmac_hash_module=SHA256)


def stretch_password(password: str, salt: bytes, iterations: int = PASSWORD_ITERATIONS) -> bytes:
    """Turn a typed password into a 32-byte key.

    The text is NFKC-normalised before UTF-8 encoding because the same typed password on two
    operating systems (or keyboards) may arrive as different code points, e.g. a precomposed
    "é" versus "e" plus a combining accent; both must give the same key.
    """
    normalised = unicodedata.normalize("NFKC", password)
    return pbkdf2_sha256(normalised.encode("utf-8"), salt, iterations, 32)


def hkdf_sha256(ikm: bytes, length: int, *, salt: bytes = b"", info: bytes = b"") -> bytes:
    """Expand a high-entropy secret into length bytes bound to info, per RFC 5869.

    RFC 5869 limits the output to 255 hash blocks; longer outputs would repeat the counter
    byte and let distinct requests collide, so they are refused along with empty outputs.
    """
    if length < 1 or length > _HKDF_MAX_LENGTH:
        raise ValueError("HKDF output length is out of range")
    # With num_keys=1 pycryptodome returns a single bytes object, not a list.
    key: bytes = HKDF(ikm, length, salt, SHA256, num_keys=1, context=info)
    return key
