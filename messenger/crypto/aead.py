"""AES-256-GCM sealing and opening: the only cipher Messenger uses for message content.

Only 256-bit keys, 96-bit nonces and 128-bit tags are accepted. Other GCM nonce lengths are
run through GHASH and have a history of implementation bugs; shorter keys and tags only lower
the margin, so refusing them keeps every caller on the one well-analysed configuration.
"""

import struct

from Crypto.Cipher import AES
from Crypto.Random import get_random_bytes

from messenger.crypto.errors import AuthenticationError

KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16

_MAX_DIRECTION = 2**32 - 1
_MAX_COUNTER = 2**64 - 1


def _check_parameters(key: bytes, nonce: bytes) -> None:
    """Refuse unsupported sizes before touching the cipher, so misuse fails loudly, not weakly."""
    if len(key) != KEY_SIZE:
        raise ValueError(f"AES-GCM key must be {KEY_SIZE} bytes")
    if len(nonce) != NONCE_SIZE:
        raise ValueError(f"AES-GCM nonce must be {NONCE_SIZE} bytes")


def seal(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
    """Encrypt and authenticate plaintext (and authenticate aad), returning ciphertext||tag.

    The nonce must never repeat under one key: a repeat reveals the XOR of two plaintexts and
    the GHASH key, which is why callers derive it with counter_nonce.
    """
    _check_parameters(key, nonce)
    cipher = AES.new(key, AES.MODE_GCM, nonce=nonce, mac_len=TAG_SIZE)
    cipher.update(aad)
    ciphertext, tag = cipher.encrypt_and_digest(plaintext)
    return ciphertext + tag


def open_sealed(key: bytes, nonce: bytes, sealed: bytes, aad: bytes = b"") -> bytes:
    """Verify and decrypt ciphertext||tag, so no unauthenticated byte ever reaches the caller.

    Any failure (too short, wrong tag, wrong key, nonce or aad) raises the same
    AuthenticationError, so an attacker learns nothing about which check failed.
    """
    _check_parameters(key, nonce)
    if len(sealed) < TAG_SIZE:
        raise AuthenticationError(AuthenticationError.__doc__)
    ciphertext, tag = sealed[:-TAG_SIZE], sealed[-TAG_SIZE:]
    cipher = AES.new(key, AES.MODE_GCM, nonce=nonce, mac_len=TAG_SIZE)
    cipher.update(aad)
    try:
        return cipher.decrypt_and_verify(ciphertext, tag)
    except ValueError:
        raise AuthenticationError(AuthenticationError.__doc__) from None


def counter_nonce(direction: int, counter: int) -> bytes:
    """Build a 12-byte nonce: 4-byte big-endian direction, then 8-byte big-endian counter.

    Nonce uniqueness comes from the counter never repeating under one key; the direction
    keeps the two parties' counters apart if they ever share a key.
    """
    if not 0 <= direction <= _MAX_DIRECTION:
        raise ValueError("nonce direction must fit in 32 bits")
    if not 0 <= counter <= _MAX_COUNTER:
        raise ValueError("nonce counter must fit in 64 bits")
    return struct.pack(">IQ", direction, counter)


def random_bytes(n: int) -> bytes:
    """Return n bytes from the OS CSPRNG, for keys, salts and random nonces."""
    if n < 0:
        raise ValueError("cannot produce a negative number of bytes")
    return get_random_bytes(n)
