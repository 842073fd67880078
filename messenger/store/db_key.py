"""The database key: 32 random bytes made once per profile, and where they are kept.

The key never leaves the machine and is never derived from anything: SQLCipher uses it as
the AES-256 key of profile.db directly. The file ``db.key`` in the profile folder always
exists once the profile has been unlocked, and says where the key is:

``passphrase``  the key sealed with the profile's passphrase: scrypt (N=2**17, r=8, p=1,
                the cost pycryptodome gives identity.pem, so neither file is the cheaper
                one to attack) derives a key-encryption key from the passphrase and a
                random salt; AES-256-GCM seals the database key under it with a random
                nonce, the file's header as associated data.
``keyring``     the key in the system keyring (service "messenger", an entry name chosen at
                random per profile and written in db.key, so a moved folder still finds it).
``file``        no passphrase and no usable keyring: the raw key in db.key (0600). It then
                protects nothing but a profile.db copied on its own; docs/security.md says so.

Layout of db.key (all versions start with the same 10 bytes)::

    b"MSGDBKEY" | version (1) | location (1) | body | check (16)
    passphrase body: log2(N) (1) | r (1) | p (1) | salt (16) | nonce (12) | sealed key (48)
    keyring body:    the entry name, UTF-8
    file body:       the 32-byte key

``check`` is the first 16 bytes of SHA-256 over everything before it. It is no secret and
protects nothing; it tells a damaged file ("db.key is damaged") apart from a wrong
passphrase (the file is intact, the GCM tag fails).

A keyring is injected (anything with keyring's get/set/delete_password), so tests use a
fake and the real module is imported only when a profile without a passphrase needs it.
"""

from __future__ import annotations

import logging
import secrets
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from Crypto.Hash import SHA256
from Crypto.Protocol.KDF import scrypt

from messenger.crypto import aead
from messenger.crypto.errors import AuthenticationError
from messenger.store.errors import (
    KeyringError,
    PassphraseNeededError,
    ProfileError,
    WrongPassphraseError,
)

__all__ = [
    "DB_KEY_FILE",
    "KEYRING_SERVICE",
    "KEY_SIZE",
    "KeyFile",
    "KeyLocation",
    "KeyringLike",
    "new_key",
    "system_keyring",
]

log = logging.getLogger("messenger.store")

DB_KEY_FILE = "db.key"
KEY_SIZE = 32
KEYRING_SERVICE = "messenger"

#: scrypt cost for new files: N = 2**17, r = 8, p = 1 (128 MiB, ~0.4 s), as for identity.pem.
SCRYPT_LOG2_N = 17
SCRYPT_R = 8
SCRYPT_P = 1
# Bounds for files we read: low enough to open what we wrote, high enough that a hostile
# db.key cannot make an unlock take minutes or gigabytes.
_MIN_LOG2_N = 14
_MAX_MEMORY = 256 * 2**20
_MAX_WORK = 2**22

_MAGIC = b"MSGDBKEY"
_VERSION = 1
_HEADER_SIZE = len(_MAGIC) + 2
_CHECK_SIZE = 16
_SALT_SIZE = 16
_SEALED_SIZE = KEY_SIZE + aead.TAG_SIZE
_PASSPHRASE_BODY = 3 + _SALT_SIZE + aead.NONCE_SIZE + _SEALED_SIZE
_MAX_ENTRY_SIZE = 200


class KeyLocation(StrEnum):
    """Where a profile's database key is kept (see the module docstring)."""

    PASSPHRASE = "passphrase"
    KEYRING = "keyring"
    FILE = "file"


_LOCATION_BYTE = {KeyLocation.PASSPHRASE: 1, KeyLocation.KEYRING: 2, KeyLocation.FILE: 3}
_BYTE_LOCATION = {value: location for location, value in _LOCATION_BYTE.items()}


class KeyringLike(Protocol):
    """The part of the ``keyring`` module we use; tests pass a fake."""

    def get_password(self, service_name: str, username: str) -> str | None: ...

    def set_password(self, service_name: str, username: str, password: str) -> None: ...

    def delete_password(self, service_name: str, username: str) -> None: ...


def system_keyring() -> KeyringLike:
    """The real keyring module, imported on first need (it loads its backends then).

    ``PYTHON_KEYRING_BACKEND=keyring.backends.fail.Keyring`` in the environment keeps
    Messenger (and the test suite) away from the person's keyring: keys then go to db.key.
    """
    import keyring

    module: KeyringLike = keyring
    return module


def new_key() -> bytes:
    """32 bytes from the OS CSPRNG: the AES-256 key of one profile's database."""
    return aead.random_bytes(KEY_SIZE)


def _passphrase_bytes(passphrase: str) -> bytes:
    """NFKC, then UTF-8, as for identity.pem: the same typed text opens both files anywhere."""
    return unicodedata.normalize("NFKC", passphrase).encode("utf-8")


def _header(location: KeyLocation) -> bytes:
    return _MAGIC + bytes([_VERSION, _LOCATION_BYTE[location]])


def _check(content: bytes) -> bytes:
    return SHA256.new(content).digest()[:_CHECK_SIZE]


def _file(location: KeyLocation, body: bytes) -> bytes:
    content = _header(location) + body
    return content + _check(content)


@dataclass(frozen=True, slots=True)
class KeyFile:
    """The contents of db.key: where the key is, and what is needed to get it."""

    location: KeyLocation
    data: bytes
    """The file's bytes, exactly as written."""

    def __repr__(self) -> str:
        # The FILE form holds the raw key: never put it in a log line or a traceback.
        return f"KeyFile(location={self.location.value})"

    # -- making one -------------------------------------------------------------------------

    @classmethod
    def for_passphrase(cls, key: bytes, passphrase: str, *, log2_n: int | None = None) -> KeyFile:
        """Seal ``key`` with ``passphrase``. Blocking: scrypt runs ~0.4 s on purpose.

        ``log2_n`` defaults to SCRYPT_LOG2_N (which tests lower, to save time)."""
        _check_key(key)
        log2_n = SCRYPT_LOG2_N if log2_n is None else log2_n
        if not passphrase:
            raise ValueError("An empty passphrase protects nothing; keep the key without one")
        salt = aead.random_bytes(_SALT_SIZE)
        nonce = aead.random_bytes(aead.NONCE_SIZE)
        prefix = _header(KeyLocation.PASSPHRASE) + bytes([log2_n, SCRYPT_R, SCRYPT_P])
        prefix += salt + nonce
        kek = _stretch(passphrase, salt, log2_n, SCRYPT_R, SCRYPT_P)
        sealed = aead.seal(kek, nonce, key, prefix)
        return cls(KeyLocation.PASSPHRASE, prefix + sealed + _check(prefix + sealed))

    @classmethod
    def without_passphrase(cls, key: bytes, keyring: KeyringLike | None) -> KeyFile:
        """Put ``key`` in the keyring if one works (read back to be sure), else in the file.

        ``keyring=None`` means "no keyring": the key goes to the file.
        """
        _check_key(key)
        if keyring is not None:
            entry = f"profile-db-{secrets.token_hex(8)}"
            try:
                keyring.set_password(KEYRING_SERVICE, entry, key.hex())
                stored = keyring.get_password(KEYRING_SERVICE, entry)
            except Exception as exc:  # any backend failure means "no usable keyring"
                log.info("no usable system keyring (%s); the database key goes to db.key", exc)
            else:
                if stored == key.hex():
                    return cls(KeyLocation.KEYRING, _file(KeyLocation.KEYRING, entry.encode()))
                log.info("the system keyring did not keep the key; it goes to db.key")
                _delete_entry(keyring, entry)
        return cls(KeyLocation.FILE, _file(KeyLocation.FILE, key))

    # -- reading one ------------------------------------------------------------------------

    @classmethod
    def read(cls, path: Path) -> KeyFile | None:
        """Parse db.key at ``path``; None if there is none. A damaged file is a ProfileError."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ProfileError(f"Cannot read {path}: {exc.strerror}.") from None
        try:
            return cls.parse(data)
        except ValueError as exc:
            raise ProfileError(
                f"{path} is damaged ({exc}); the profile's database cannot be opened."
            ) from None

    @classmethod
    def parse(cls, data: bytes) -> KeyFile:
        """Check the layout (ValueError if it is not one we wrote); opens nothing."""
        if len(data) < _HEADER_SIZE + _CHECK_SIZE or not data.startswith(_MAGIC):
            raise ValueError("not a Messenger database key file")
        if data[len(_MAGIC)] != _VERSION:
            raise ValueError(f"version {data[len(_MAGIC)]}, written by a newer Messenger")
        if _check(data[:-_CHECK_SIZE]) != data[-_CHECK_SIZE:]:
            raise ValueError("its contents do not match its checksum")
        location = _BYTE_LOCATION.get(data[len(_MAGIC) + 1])
        body = data[_HEADER_SIZE:-_CHECK_SIZE]
        if location is KeyLocation.PASSPHRASE:
            if len(body) != _PASSPHRASE_BODY:
                raise ValueError("a passphrase-sealed key of the wrong length")
            _check_cost(body[0], body[1], body[2])
        elif location is KeyLocation.KEYRING:
            if not 0 < len(body) <= _MAX_ENTRY_SIZE:
                raise ValueError("a keyring entry name of the wrong length")
            try:
                body.decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError("a keyring entry name that is not text") from None
        elif location is KeyLocation.FILE:
            if len(body) != KEY_SIZE:
                raise ValueError("a key of the wrong length")
        else:
            raise ValueError("an unknown key location")
        return cls(location, data)

    @property
    def keyring_entry(self) -> str | None:
        """The keyring entry name (``keyring`` location only)."""
        if self.location is not KeyLocation.KEYRING:
            return None
        return self._body.decode("utf-8")

    @property
    def _body(self) -> bytes:
        return self.data[_HEADER_SIZE:-_CHECK_SIZE]

    def open(self, passphrase: str | None, keyring: KeyringLike | None) -> bytes:
        """Return the database key. Blocking for ``passphrase`` (scrypt, ~0.4 s).

        Raises WrongPassphraseError or PassphraseNeededError for a sealed key, or
        KeyringError (the keyring cannot give the key); a passphrase given for a key that
        has none is ignored, as identity.pem does.
        """
        if self.location is KeyLocation.FILE:
            return self._body
        if self.location is KeyLocation.KEYRING:
            return self._from_keyring(keyring)
        if not passphrase:
            raise PassphraseNeededError()
        body = self._body
        log2_n, r, p = body[0], body[1], body[2]
        salt = body[3 : 3 + _SALT_SIZE]
        nonce = body[3 + _SALT_SIZE : 3 + _SALT_SIZE + aead.NONCE_SIZE]
        sealed = body[-_SEALED_SIZE:]
        prefix = self.data[: _HEADER_SIZE + len(body) - _SEALED_SIZE]
        kek = _stretch(passphrase, salt, log2_n, r, p)
        try:
            return aead.open_sealed(kek, nonce, sealed, prefix)
        except AuthenticationError:
            raise WrongPassphraseError() from None

    def _from_keyring(self, keyring: KeyringLike | None) -> bytes:
        entry = self.keyring_entry
        where = f'the system keyring (service "{KEYRING_SERVICE}", entry "{entry}")'
        if keyring is None:
            raise KeyringError(f"The database key is in {where}, but no keyring is in use.")
        try:
            text = keyring.get_password(KEYRING_SERVICE, entry or "")
        except Exception as exc:
            raise KeyringError(
                f"The database key is in {where}, which could not be read: {exc}"
            ) from None
        if text is None:
            raise KeyringError(
                f"The database key should be in {where}, but that entry is gone: without it "
                "the profile's history cannot be opened."
            )
        try:
            key = bytes.fromhex(text)
        except ValueError:
            key = b""
        if len(key) != KEY_SIZE:
            raise KeyringError(f"The database key in {where} is damaged.")
        return key

    def discard(self, keyring: KeyringLike | None) -> None:
        """Remove the keyring entry this file names, if any (best effort: after a change)."""
        entry = self.keyring_entry
        if entry is not None and keyring is not None:
            _delete_entry(keyring, entry)


def _check_key(key: bytes) -> None:
    if len(key) != KEY_SIZE:
        raise ValueError(f"A database key is {KEY_SIZE} bytes")


def _check_cost(log2_n: int, r: int, p: int) -> None:
    n = 2**log2_n
    if log2_n < _MIN_LOG2_N or r < 1 or p < 1 or 128 * n * r > _MAX_MEMORY or n * r * p > _MAX_WORK:
        raise ValueError("scrypt parameters out of bounds")


def _stretch(passphrase: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    key: bytes = scrypt(_passphrase_bytes(passphrase), salt, KEY_SIZE, N=2**log2_n, r=r, p=p)
    return key


def _delete_entry(keyring: KeyringLike, entry: str) -> None:
    try:
        keyring.delete_password(KEYRING_SERVICE, entry)
    except Exception as exc:  # best effort: a leftover entry is only clutter
        log.info("could not remove keyring entry %s: %s", entry, exc)
