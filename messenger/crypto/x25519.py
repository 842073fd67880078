"""X25519 ephemeral key agreement: the fresh share that gives RSA sessions forward secrecy.

Each session makes a new EphemeralKey and drops it afterwards, so a later theft of the identity
key cannot recover past session keys. The raw shared secret is not uniform; callers feed it to
kdf.hkdf_sha256, never use it as a key directly.

The double ratchet keeps its current key pair across restarts, so a key can be exported as
its raw 32-byte RFC 7748 scalar and imported again; that export is a secret and belongs only
in encrypted storage.
"""

import hmac

from Crypto.Protocol import DH
from Crypto.PublicKey import ECC
from Crypto.PublicKey.ECC import EccKey

from messenger.crypto.errors import AuthenticationError

PUBLIC_SIZE = 32
PRIVATE_SIZE = 32
SHARED_SIZE = 32

_BAD_PEER = "The peer's X25519 share is invalid or of low order: no secret was agreed."


def _raw_secret(shared: bytes) -> bytes:
    """Hand the X25519 output back unchanged (as bytes); HKDF is the caller's job."""
    return bytes(shared)


class EphemeralKey:
    """A single-session X25519 private key; its repr shows only the public share."""

    __slots__ = ("_key", "_public")

    def __init__(self, key: EccKey) -> None:
        """Wrap a pycryptodome Curve25519 private key; use generate instead."""
        if key.curve != "Curve25519" or not key.has_private():
            raise ValueError("EphemeralKey needs a Curve25519 private key")
        self._key = key
        self._public: bytes = key.public_key().export_key(format="raw")

    @classmethod
    def generate(cls) -> "EphemeralKey":
        """Make a fresh key from the OS CSPRNG; cheap (about 0.3 ms), so never reuse one."""
        return cls(ECC.generate(curve="Curve25519"))

    @classmethod
    def from_private_bytes(cls, raw: bytes) -> "EphemeralKey":
        """Rebuild a key from the 32 bytes ``private_bytes`` gave, e.g. from saved state.

        Any 32 bytes are a valid X25519 private key (RFC 7748 clamps the scalar), so only the
        length is checked; ValueError otherwise.
        """
        if len(raw) != PRIVATE_SIZE:
            raise ValueError(f"an X25519 private key is {PRIVATE_SIZE} bytes")
        return cls(DH.import_x25519_private_key(bytes(raw)))

    def private_bytes(self) -> bytes:
        """The raw 32-byte private key (RFC 7748 scalar, before clamping): a secret.

        Only for saving state that must survive a restart (the double ratchet's current key
        pair), into storage that is itself encrypted.
        """
        seed: bytes = self._key.seed
        return seed

    @property
    def public_bytes(self) -> bytes:
        """The 32-byte RFC 7748 public share, sent to the peer as is."""
        return self._public

    def agree(self, peer_public: bytes) -> bytes:
        """Return the 32-byte X25519 shared secret with the peer's public share.

        A share of the wrong length, one pycryptodome rejects, or one of low order (which forces
        an all-zero secret an attacker would know) raises AuthenticationError: RFC 7748
        section 6.1 lets parties abort on the all-zero output, and we always do.
        """
        if len(peer_public) != PUBLIC_SIZE:
            raise AuthenticationError(_BAD_PEER)
        try:
            peer = DH.import_x25519_public_key(bytes(peer_public))
            shared = DH.key_agreement(static_priv=self._key, static_pub=peer, kdf=_raw_secret)
        except ValueError:
            raise AuthenticationError(_BAD_PEER) from None
        if len(shared) != SHARED_SIZE or hmac.compare_digest(shared, bytes(SHARED_SIZE)):
            raise AuthenticationError(_BAD_PEER)
        return shared

    def __repr__(self) -> str:
        return f"EphemeralKey(public={self._public.hex()})"
