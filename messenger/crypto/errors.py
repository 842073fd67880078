"""Exceptions raised by the crypto layer.

They carry no key material or plaintext, so callers may log them safely; a single base class
lets the protocol layer treat every cryptographic refusal the same way.
"""


class CryptoError(Exception):
    """Base for every refusal by the crypto layer, so callers can catch them in one clause."""


class AuthenticationError(CryptoError):
    """The data was modified or does not belong to this key: it was not opened."""


class PaddingError(CryptoError):
    """Decrypted data did not carry valid length-hiding padding, so it cannot be trusted."""
