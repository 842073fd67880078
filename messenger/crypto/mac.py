"""HMAC-SHA256 and a constant-time comparison for authenticating data outside AEAD."""

import hmac

from Crypto.Hash import HMAC, SHA256, SHA512


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    """Return the 32-byte HMAC-SHA256 of data, so key confirmation and transcripts share one MAC."""
    return HMAC.new(key, data, digestmod=SHA256).digest()


def hmac_sha512(key: bytes, data: bytes) -> bytes:
    """Return the 64-byte HMAC-SHA512 of data: one call where a KDF needs two keys."""
    return HMAC.new(key, data, digestmod=SHA512).digest()


def macs_equal(a: bytes, b: bytes) -> bool:
    """Compare two MACs in constant time, so timing never reveals how many bytes matched."""
    return hmac.compare_digest(a, b)
