"""AES-256-GCM sealing and opening: the only cipher Messenger uses for message content.

Only 256-bit keys, 96-bit nonces and 128-bit tags are accepted. Other GCM nonce lengths are
run through GHASH and have a history of implementation bugs; shorter keys and tags only lower
the margin, so refusing them keeps every caller on the one well-analysed configuration.
"""

import struct

from Crypto.Cipher import AES
from Crypto.Random import get_random_bytes

from messenger.crypto.errors import AuthenticationError

try:  # OpenSSL through `cryptography` (a dependency of spake2, and of ours): see GcmKey
    from cryptography.exceptions import InvalidTag as _InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM as _OpenSslGcm
except ImportError:  # pragma: no cover - only without `cryptography`
    _OpenSslGcm = None  # type: ignore[assignment,misc]
#: ``encrypt_into`` (cryptography 45 and later) seals straight into a frame buffer; below
#: this size a plain ``encrypt`` and one concatenation cost less than the buffer set-up.
_HAS_INTO = _OpenSslGcm is not None and hasattr(_OpenSslGcm, "encrypt_into")
_INTO_FROM = 64 * 1024

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


class GcmKey:
    """One AES-256-GCM key whose key schedule is made once, for a link that seals many
    frames under it: the client<->relay transport (``messenger.protocol.transport``).

    ``seal``/``open_sealed`` above build a new pycryptodome cipher per call, and that set-up
    (the AES key schedule and the GHASH tables) is most of the cost of a small frame: about
    30-70 us against 1-2 us to seal 256 bytes here. This class keeps the key schedule and is
    served by OpenSSL through ``cryptography`` (``backend == "openssl"``), which
    ``python -m tests.bench.crypto_paths`` measured 13x (1 MiB) to 100x (small frames) faster
    than pycryptodome in the same run: see docs/decisions.md. The end-to-end layer (the
    ratchet, file transfer frames) keeps using ``seal``/``open_sealed``. Same sizes, same
    checks and the same single ``AuthenticationError`` as they have; the Wycheproof AES-GCM
    vectors run through both backends (tests/unit/test_crypto_vectors.py).
    """

    __slots__ = ("_cipher", "_key", "backend")

    _cipher: "_OpenSslGcm | None"

    def __init__(self, key: bytes, *, backend: str | None = None) -> None:
        if len(key) != KEY_SIZE:
            raise ValueError(f"AES-GCM key must be {KEY_SIZE} bytes")
        if backend is None:
            backend = "openssl" if _OpenSslGcm is not None else "pycryptodome"
        if backend == "openssl":
            if _OpenSslGcm is None:
                raise ValueError("the OpenSSL backend needs the `cryptography` package")
            self._cipher = _OpenSslGcm(bytes(key))
            self._key = b""
        elif backend == "pycryptodome":
            self._cipher = None
            self._key = bytes(key)
        else:
            raise ValueError(f"unknown AES-GCM backend {backend!r}")
        self.backend = backend

    def seal(self, nonce: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
        """ciphertext || tag, like ``seal``; the nonce must never repeat under this key."""
        if len(nonce) != NONCE_SIZE:
            raise ValueError(f"AES-GCM nonce must be {NONCE_SIZE} bytes")
        if self._cipher is None:
            return seal(self._key, nonce, plaintext, aad)
        sealed: bytes = self._cipher.encrypt(nonce, plaintext, aad or None)
        return sealed

    def seal_after(self, prefix: bytes, nonce: bytes, plaintext: bytes) -> bytes | bytearray:
        """``prefix || seal(nonce, plaintext)`` (no associated data), built in one buffer:
        a frame's length prefix and its sealed body without copying a big body twice."""
        if len(nonce) != NONCE_SIZE:
            raise ValueError(f"AES-GCM nonce must be {NONCE_SIZE} bytes")
        if self._cipher is None or len(plaintext) < _INTO_FROM or not _HAS_INTO:
            return prefix + self.seal(nonce, plaintext)
        out = bytearray(len(prefix) + len(plaintext) + TAG_SIZE)
        out[: len(prefix)] = prefix
        with memoryview(out) as view:
            self._cipher.encrypt_into(nonce, plaintext, None, view[len(prefix) :])
        return out

    def open(self, nonce: bytes, sealed: bytes, aad: bytes = b"") -> bytes:
        """The plaintext of ciphertext || tag, like ``open_sealed``: any failure is the same
        ``AuthenticationError``."""
        if len(nonce) != NONCE_SIZE:
            raise ValueError(f"AES-GCM nonce must be {NONCE_SIZE} bytes")
        if self._cipher is None:
            return open_sealed(self._key, nonce, sealed, aad)
        if len(sealed) < TAG_SIZE:
            raise AuthenticationError(AuthenticationError.__doc__)
        try:
            plaintext: bytes = self._cipher.decrypt(nonce, sealed, aad or None)
        except _InvalidTag:
            raise AuthenticationError(AuthenticationError.__doc__) from None
        return plaintext

    def __repr__(self) -> str:
        return f"GcmKey(backend={self.backend})"


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
