"""RSA-3072 identity keys: PSS signatures prove who is speaking, OAEP wraps secrets to a peer.

Only one configuration exists: 3072-bit moduli (about 128-bit security, matching AES-256-GCM's
practical margin and X25519), public exponent 65537, SHA-256 everywhere, MGF1 with SHA-256 and
a 32-byte PSS salt. Keys of any other shape are refused on import, so a peer cannot talk us
into a weaker key and two encodings of one key cannot produce two fingerprints.

A fingerprint is the SHA-256 of the public key's canonical SubjectPublicKeyInfo DER; users
compare it out of band, so it is shown as 16 groups of four hex digits.
"""

import re
import unicodedata

from Crypto.Cipher import PKCS1_OAEP
from Crypto.Hash import SHA256
from Crypto.IO import PEM
from Crypto.PublicKey import RSA
from Crypto.PublicKey.RSA import RsaKey
from Crypto.Signature import pss

from messenger.crypto.errors import AuthenticationError, CryptoError

RSA_BITS = 3072
PUBLIC_EXPONENT = 65537
MODULUS_SIZE = RSA_BITS // 8
"""Length in bytes of every signature and wrapped secret."""

PSS_SALT_SIZE = 32
_SHA256_SIZE = 32
MAX_WRAP_SIZE = MODULUS_SIZE - 2 * _SHA256_SIZE - 2
"""Longest secret RSA-OAEP with SHA-256 can wrap under a 3072-bit key (RFC 8017 7.1.1)."""

FINGERPRINT_HEX_LEN = 64
_FINGERPRINT_GROUP = 4

# A 3072-bit SubjectPublicKeyInfo is 422 bytes and a PKCS#8 private key PEM (encrypted or not)
# about 2.6 KB; the caps leave room for both while keeping hostile inputs away from the parser.
_MAX_DER_SIZE = 4096
_MAX_PEM_SIZE = 16384

_PRIVATE_MARKERS = ("PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "RSA PRIVATE KEY")
_PEM_BEGIN = re.compile(r"\s*-----BEGIN ([A-Z0-9 ]+)-----")
_LEGACY_ENCRYPTION = re.compile(r"^Proc-Type:\s*4\s*,\s*ENCRYPTED", re.MULTILINE)
_PASSPHRASE_PROTECTION = "scryptAndAES256-GCM"

_FINGERPRINT_SEPARATORS = re.compile(r"[\s:]+")
_FINGERPRINT_DIGITS = re.compile(r"[0-9a-fA-F]+")

_BAD_SIGNATURE = "The signature does not match this key and message."
_BAD_WRAPPED = "The wrapped secret was modified or is not for this key: it was not opened."


class KeyFileError(CryptoError):
    """The key file could not be read: wrong passphrase, or not a key we understand."""


def _mgf1_sha256(seed: bytes, length: int) -> bytes:
    """MGF1 over SHA-256, named so OAEP and PSS provably use the same mask function."""
    return pss.MGF1(seed, length, SHA256)


def _check_shape(key: RsaKey) -> None:
    """Refuse any key but RSA_BITS/65537, so a peer cannot downgrade us to a weaker key."""
    if key.size_in_bits() != RSA_BITS or key.e != PUBLIC_EXPONENT:
        raise KeyFileError(
            f"Not an RSA-{RSA_BITS} key with public exponent {PUBLIC_EXPONENT}; "
            "Messenger accepts no other size"
        )


def _encode_passphrase(passphrase: str) -> bytes:
    """NFKC-normalise and UTF-8 encode, so the same typed passphrase opens the file anywhere.

    pycryptodome would encode a str as Latin-1 (failing on most scripts), and two keyboards
    can produce different code points for the same visible text; see kdf.stretch_password.
    """
    return unicodedata.normalize("NFKC", passphrase).encode("utf-8")


def _pem_text(pem: bytes, what: str) -> tuple[str, str]:
    """Return (text, marker) of a PEM block, refusing oversized or non-ASCII input early."""
    if len(pem) > _MAX_PEM_SIZE:
        raise KeyFileError(f"The file is too large to be {what}")
    try:
        text = pem.decode("ascii")
    except UnicodeDecodeError:
        raise KeyFileError(f"The file is not {what} in PEM form") from None
    match = _PEM_BEGIN.match(text)
    if match is None:
        raise KeyFileError(f"The file is not {what} in PEM form")
    return text, match.group(1)


class PublicKey:
    """An RSA-3072 public key: verifies a peer's signatures and wraps secrets only it can open.

    Equality and hashing follow the canonical DER, so a key is the same key however it arrived.
    """

    __slots__ = ("_der", "_fingerprint", "_key")

    def __init__(self, key: RsaKey) -> None:
        """Wrap a pycryptodome key; use from_der or from_pem, which check the encoding too."""
        _check_shape(key)
        self._key = key.public_key()
        self._der: bytes = self._key.export_key(format="DER")
        self._fingerprint = SHA256.new(self._der).hexdigest()

    @classmethod
    def from_der(cls, der: bytes) -> "PublicKey":
        """Load a SubjectPublicKeyInfo DER, as received from a peer.

        Only the canonical encoding is accepted (what to_pem/der would produce), so the
        fingerprint is a function of the key alone; PKCS#1, certificates and PEM are refused.
        """
        if len(der) > _MAX_DER_SIZE:
            raise KeyFileError("The data is too large to be an RSA public key")
        if der[:1] != b"\x30":
            raise KeyFileError("The data is not a DER SubjectPublicKeyInfo")
        try:
            key = RSA.import_key(der)
        except (ValueError, IndexError, TypeError):
            raise KeyFileError("The data is not an RSA public key") from None
        if key.has_private():
            raise KeyFileError("Expected a public key, but the data holds a private key")
        public = cls(key)
        if public.der != der:
            raise KeyFileError("The public key is not in canonical SubjectPublicKeyInfo DER")
        return public

    @classmethod
    def from_pem(cls, pem: bytes) -> "PublicKey":
        """Load a "PUBLIC KEY" PEM block, with the same checks as from_der."""
        text, marker = _pem_text(pem, "an RSA public key")
        if marker != "PUBLIC KEY":
            raise KeyFileError("The file is not a PEM public key")
        try:
            der, _marker, encrypted = PEM.decode(text)
        except ValueError:
            raise KeyFileError("The file is not a well-formed PEM public key") from None
        if encrypted:
            raise KeyFileError("A public key file is never encrypted")
        return cls.from_der(der)

    @property
    def der(self) -> bytes:
        """The canonical SubjectPublicKeyInfo DER: what goes on the wire and into fingerprints."""
        return self._der

    def to_pem(self) -> bytes:
        """Return the key as a "PUBLIC KEY" PEM block, for files a user may copy around."""
        return PEM.encode(self._der, "PUBLIC KEY").encode("ascii")

    @property
    def fingerprint(self) -> str:
        """Lowercase hex SHA-256 of der (64 characters), which users compare out of band."""
        return self._fingerprint

    def wrap(self, secret: bytes, label: bytes = b"") -> bytes:
        """Encrypt a short secret with RSA-OAEP (SHA-256, MGF1-SHA-256) for the key's owner.

        The label is authenticated, not encrypted: unwrap succeeds only with the same label, so
        callers bind the context (protocol, direction) to the wrapped secret with it.
        """
        if len(secret) > MAX_WRAP_SIZE:
            raise ValueError(f"RSA-OAEP can wrap at most {MAX_WRAP_SIZE} bytes")
        cipher = PKCS1_OAEP.new(self._key, hashAlgo=SHA256, mgfunc=_mgf1_sha256, label=label)
        return cipher.encrypt(secret)

    def verify(self, message: bytes, signature: bytes) -> None:
        """Check an RSA-PSS signature (SHA-256, MGF1-SHA-256, 32-byte salt) over message.

        Returns nothing on success; any failure, including a signature of the wrong length or
        one made with another scheme or salt length, raises AuthenticationError.
        """
        if len(signature) != MODULUS_SIZE:
            raise AuthenticationError(_BAD_SIGNATURE)
        verifier = pss.new(self._key, mask_func=_mgf1_sha256, salt_bytes=PSS_SALT_SIZE)
        try:
            verifier.verify(SHA256.new(message), signature)
        except (ValueError, TypeError):
            raise AuthenticationError(_BAD_SIGNATURE) from None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PublicKey):
            return NotImplemented
        return self._der == other._der

    def __hash__(self) -> int:
        return hash(self._der)

    def __repr__(self) -> str:
        return f"PublicKey(fingerprint={self._fingerprint})"


class IdentityKey:
    """A user's long-term RSA-3072 private key: signs handshakes and opens wrapped secrets.

    Its repr shows only the public fingerprint, so logging one by mistake leaks nothing.
    """

    __slots__ = ("_key", "_public")

    def __init__(self, key: RsaKey) -> None:
        """Wrap a pycryptodome private key; use generate or from_pem instead."""
        if not key.has_private():
            raise KeyFileError("Expected a private key, but the key has no private half")
        self._public = PublicKey(key)
        self._key = key

    @classmethod
    def generate(cls) -> "IdentityKey":
        """Create a fresh RSA_BITS key with e = 65537.

        Blocking: the prime search usually takes 0.2–3 s (median about 1.4 s on a 2-core VM)
        and, being luck, sometimes over 5 s, so callers on an event loop run it in an executor.
        """
        return cls(RSA.generate(RSA_BITS, e=PUBLIC_EXPONENT))

    @classmethod
    def from_pem(cls, pem: bytes, passphrase: str | None = None) -> "IdentityKey":
        """Load a PKCS#8 (encrypted or not) or PKCS#1 PEM private key of the one accepted shape.

        Blocking when encrypted (the passphrase KDF runs; ~0.4 s for files from to_pem).
        A passphrase given for an unencrypted file is ignored. pycryptodome 4 caps the KDF cost
        a file may demand (about a minute of CPU, 256 MiB), bounding what a hostile file costs.
        """
        text, marker = _pem_text(pem, "an RSA private key")
        if marker not in _PRIVATE_MARKERS:
            raise KeyFileError("The file is not a PEM RSA private key (PKCS#8 or PKCS#1)")
        encrypted = marker == "ENCRYPTED PRIVATE KEY" or bool(_LEGACY_ENCRYPTION.search(text))
        if encrypted and not passphrase:
            raise KeyFileError(
                "The key file is protected by a passphrase: enter it to open the key"
            )
        secret = _encode_passphrase(passphrase) if passphrase else None
        try:
            key = RSA.import_key(text, secret)
        except (ValueError, IndexError, TypeError):
            if encrypted:
                raise KeyFileError("Wrong passphrase, or the key file is damaged") from None
            raise KeyFileError("The file does not hold an RSA private key we can read") from None
        return cls(key)

    def to_pem(self, passphrase: str | None = None) -> bytes:
        """Return the key as PKCS#8 PEM; with a passphrase, encrypted with scrypt and AES-256-GCM.

        Blocking: with a passphrase, scrypt runs for about 0.5 s on purpose, so each guess at
        a stolen file costs as much. An empty passphrase is refused rather than silently
        writing the key in the clear; pass None to mean "unencrypted".
        """
        if passphrase is None:
            return self._key.export_key(format="PEM", pkcs=8)
        if not passphrase:
            raise ValueError("An empty passphrase protects nothing; pass None for no passphrase")
        return self._key.export_key(
            format="PEM",
            pkcs=8,
            passphrase=_encode_passphrase(passphrase),
            protection=_PASSPHRASE_PROTECTION,
        )

    @property
    def public(self) -> PublicKey:
        """The matching public key, which is what peers see and pin."""
        return self._public

    @property
    def fingerprint(self) -> str:
        """The public key's fingerprint, so a user can read out their own."""
        return self._public.fingerprint

    def sign(self, message: bytes) -> bytes:
        """Sign message with RSA-PSS (SHA-256, MGF1-SHA-256, 32-byte salt).

        PSS rather than PKCS#1 v1.5 because it has a security proof and randomised output;
        pycryptodome checks the result with the public key, so a fault cannot leak the key.
        """
        signer = pss.new(self._key, mask_func=_mgf1_sha256, salt_bytes=PSS_SALT_SIZE)
        return signer.sign(SHA256.new(message))

    def unwrap(self, wrapped: bytes, label: bytes = b"") -> bytes:
        """Open a secret made by PublicKey.wrap with the same label.

        Every failure (wrong length, out-of-range value, bad padding, wrong label or key)
        raises the same AuthenticationError, so an attacker cannot run Manger's attack by
        telling the checks apart.
        """
        cipher = PKCS1_OAEP.new(self._key, hashAlgo=SHA256, mgfunc=_mgf1_sha256, label=label)
        try:
            return cipher.decrypt(wrapped)
        except (ValueError, TypeError):
            raise AuthenticationError(_BAD_WRAPPED) from None

    def __repr__(self) -> str:
        return f"IdentityKey(fingerprint={self.fingerprint})"


def format_fingerprint(fingerprint: str) -> str:
    """Show a fingerprint as 16 space-separated groups of 4 hex digits, easy to read aloud."""
    digits = parse_fingerprint(fingerprint)
    return " ".join(
        digits[i : i + _FINGERPRINT_GROUP] for i in range(0, len(digits), _FINGERPRINT_GROUP)
    )


def parse_fingerprint(text: str) -> str:
    """Turn a typed or pasted fingerprint into the canonical 64 lowercase hex digits.

    Spaces, line breaks and colons are ignored and case does not matter, so grouped,
    colon-separated and upper-case forms compare equal; anything else is refused.
    """
    compact = _FINGERPRINT_SEPARATORS.sub("", text)
    if len(compact) != FINGERPRINT_HEX_LEN or not _FINGERPRINT_DIGITS.fullmatch(compact):
        raise ValueError(
            f"A fingerprint is {FINGERPRINT_HEX_LEN} hexadecimal digits "
            "(0-9, a-f), optionally grouped with spaces or colons"
        )
    return compact.lower()
