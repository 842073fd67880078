"""The profile folder: one person's identity key, and all their state in one encrypted database.

Layout (folder 0700, files 0600)::

    identity.pem   RSA-3072 identity key, PKCS#8; scrypt + AES-256-GCM with a passphrase
    db.key         where the database key is: sealed with the same passphrase, or in the
                   system keyring, or (neither) the key itself; see ``db_key``
    profile.db     SQLCipher: contacts, relay pins, conversations, history, outbox and
                   private settings (``database``); -wal and -shm beside it while open
    profile.lock   empty; held while a process makes or changes the files (``folder_lock``)
    settings.json  plain JSON, readable before unlock, for the few preferences needed before
                   a passphrase is typed: server address, display name, window geometry,
                   theme, download folder. Nothing anyone wrote or received goes here.

``Profile.open`` only finds (or makes) the folder. ``unlock`` opens the identity key and the
database; it blocks (key generation and passphrase KDFs take up to seconds: call it in an
executor). Contacts and pins can be used once the profile is unlocked. A profile from before
the database (contacts.json, known_servers.json) moves in at its first unlock (``legacy``).
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Literal

import platformdirs

from messenger.crypto.rsa import IdentityKey, KeyFileError
from messenger.store.contacts import Contacts
from messenger.store.database import DATABASE_FILE, ProfileDatabase
from messenger.store.db_key import DB_KEY_FILE, KeyFile, KeyLocation, KeyringLike, new_key
from messenger.store.db_key import system_keyring as _system_keyring
from messenger.store.errors import (
    PassphraseNeededError,
    ProfileError,
    ProfileLockedError,
    WrongPassphraseError,
)
from messenger.store.files import read_json, write_json, write_private
from messenger.store.folder_lock import folder_lock, make_lock_file
from messenger.store.known_servers import KnownServers
from messenger.store.legacy import LegacyStores

__all__ = ["Profile", "ProfileError", "WrongPassphraseError", "default_profile_dir"]

log = logging.getLogger("messenger.store")

IDENTITY_FILE = "identity.pem"
#: A passphrase change writes these first, then renames them over the real files.
_PENDING_SUFFIX = ".new"

SystemKeyring = Literal["system"]


def default_profile_dir() -> Path:
    return Path(platformdirs.user_data_dir("messenger", appauthor=False))


class Profile:
    """A profile folder. Opening it creates the folder; ``unlock`` opens what is inside.

    ``keyring`` is where a database key goes when there is no passphrase: ``"system"``
    (the ``keyring`` package, imported on first need), an object with keyring's
    get/set/delete_password (tests), or None for "no keyring: use the key file".
    """

    def __init__(
        self, path: Path, *, keyring: KeyringLike | SystemKeyring | None = "system"
    ) -> None:
        self.path = path
        self._keyring_choice = keyring
        self._db: ProfileDatabase | None = None
        self._identity: IdentityKey | None = None
        self._key = b""
        self._contacts: Contacts | None = None
        self._known_servers: KnownServers | None = None

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] | None,
        *,
        keyring: KeyringLike | SystemKeyring | None = "system",
    ) -> Profile:
        """Create the directory if needed (mode 0700) and check we can write to it.

        Also finishes a passphrase change that was interrupted after both new files were
        written (renames only: no key is needed, none is read).
        """
        directory = Path(path).expanduser() if path else default_profile_dir()
        if directory.exists() and not directory.is_dir():
            raise ProfileError(f"The profile path {directory} is not a folder.")
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise ProfileError(
                f"Cannot create the profile folder {directory}: {exc.strerror}."
            ) from None
        if not os.access(directory, os.W_OK):
            raise ProfileError(f"The profile folder {directory} is not writable.")
        make_lock_file(directory)
        if any(_pending(directory / name).exists() for name in (IDENTITY_FILE, DB_KEY_FILE)):
            with folder_lock(directory):
                _finish_passphrase_change(directory)
        return cls(directory, keyring=keyring)

    # -- identity ---------------------------------------------------------------------------

    @property
    def identity_path(self) -> Path:
        return self.path / IDENTITY_FILE

    @property
    def key_path(self) -> Path:
        return self.path / DB_KEY_FILE

    @property
    def database_path(self) -> Path:
        return self.path / DATABASE_FILE

    def has_identity(self) -> bool:
        return self.identity_path.exists()

    def identity_is_encrypted(self) -> bool:
        try:
            return b"ENCRYPTED" in self.identity_path.read_bytes()[:64]
        except OSError:
            return False

    def load_or_create_identity(self, passphrase: str | None = None) -> IdentityKey:
        """Load the identity key, or make one on first use. Blocking (key generation takes
        0.2-3 s, passphrase protection ~0.5 s): run it in an executor. ``unlock`` does this
        and opens the database too."""
        if self.has_identity():
            try:
                return IdentityKey.from_pem(self.identity_path.read_bytes(), passphrase)
            except KeyFileError as exc:
                raise ProfileError(
                    f"Cannot open the identity key {self.identity_path}: {exc}"
                ) from None
            except OSError as exc:
                raise ProfileError(f"Cannot read {self.identity_path}: {exc.strerror}.") from None
        key = IdentityKey.generate()
        write_private(self.identity_path, key.to_pem(passphrase))
        return key

    # -- unlocking --------------------------------------------------------------------------

    def needs_passphrase(self) -> bool:
        """Whether ``unlock`` needs a passphrase (the identity key or database key has one)."""
        if self.identity_is_encrypted():
            return True
        try:
            stored = KeyFile.read(self.key_path)
        except ProfileError:
            return False  # unlock will say what is wrong with it
        return stored is not None and stored.location is KeyLocation.PASSPHRASE

    def key_location(self) -> KeyLocation | None:
        """Where the database key is kept (None before the first unlock)."""
        stored = KeyFile.read(self.key_path)
        return stored.location if stored else None

    @property
    def is_unlocked(self) -> bool:
        return self._db is not None

    def unlock(self, passphrase: str | None = None) -> IdentityKey:
        """Open the identity key and the database; make both on first use. Blocking.

        Everything is checked before anything is written: a wrong passphrase
        (WrongPassphraseError), a missing one (PassphraseNeededError), or a damaged file
        (ProfileError) leaves the folder as it was. Unlocking an unlocked profile returns
        its identity.
        """
        if self._db is not None and self._identity is not None:
            return self._identity
        with folder_lock(self.path):  # another process may be unlocking it for the first time
            identity, key, db = self._unlock_locked(passphrase or None)
        self._db, self._identity, self._key = db, identity, key
        self._contacts = Contacts(db)
        self._known_servers = KnownServers(db)
        return identity

    def _unlock_locked(self, passphrase: str | None) -> tuple[IdentityKey, bytes, ProfileDatabase]:
        legacy = LegacyStores.read(self.path)
        stored = KeyFile.read(self.key_path)
        key = self._open_key(stored, passphrase) if stored else None
        identity = self._open_identity(passphrase, stored) if self.has_identity() else None
        if key is None and self.database_path.exists():
            raise ProfileError(
                f"{self.database_path} exists but its key file {self.key_path} is missing: "
                "the database cannot be opened. Restore db.key, or move profile.db away to "
                "start an empty history."
            )
        # Every check passed; from here on we write.
        if identity is None:
            identity = IdentityKey.generate()
            write_private(self.identity_path, identity.to_pem(passphrase))
        if key is None:
            key = new_key()
            protect = passphrase if self.identity_is_encrypted() else None
            keyfile = (
                KeyFile.for_passphrase(key, protect)
                if protect
                else KeyFile.without_passphrase(key, self._keyring())
            )
            write_private(self.key_path, keyfile.data)
            log.info("made the profile's database key (kept: %s)", keyfile.location.value)
        db = ProfileDatabase.open(self.path, key)
        try:
            legacy.move_into(db)
        except BaseException:
            db.close()
            raise
        return identity, key, db

    def _open_key(self, stored: KeyFile, passphrase: str | None) -> bytes:
        keyring = self._keyring() if stored.location is KeyLocation.KEYRING else None
        try:
            return stored.open(passphrase, keyring)
        except PassphraseNeededError:
            raise PassphraseNeededError(
                f"This profile ({self.path}) is protected by a passphrase: enter it to open it."
            ) from None

    def _open_identity(self, passphrase: str | None, stored: KeyFile | None) -> IdentityKey:
        """Load identity.pem for unlock. When db.key is sealed with a passphrase, that
        passphrase was just proven right, so a failure here means identity.pem is damaged."""
        path = self.identity_path
        encrypted = self.identity_is_encrypted()
        if encrypted and passphrase is None:
            raise PassphraseNeededError(
                f"Your identity key {path} is protected by a passphrase: enter it to open it."
            )
        try:
            return IdentityKey.from_pem(path.read_bytes(), passphrase)
        except OSError as exc:
            raise ProfileError(f"Cannot read {path}: {exc.strerror}.") from None
        except KeyFileError as exc:
            if encrypted and not (stored and stored.location is KeyLocation.PASSPHRASE):
                raise WrongPassphraseError(
                    f"Wrong passphrase (or the identity key {path} is damaged): "
                    "the profile was not opened."
                ) from None
            raise ProfileError(f"Cannot open the identity key {path}: {exc}") from None

    def _keyring(self) -> KeyringLike | None:
        if self._keyring_choice == "system":
            try:
                self._keyring_choice = _system_keyring()
            except Exception as exc:  # no keyring package, or it failed to load
                log.info("no system keyring: %s", exc)
                self._keyring_choice = None
        return self._keyring_choice

    def change_passphrase(self, old: str | None, new: str | None) -> None:
        """Protect identity.pem and db.key with ``new`` (None: no passphrase). Blocking.

        ``old`` must open the profile as it is (WrongPassphraseError otherwise, nothing
        changed). Both new files are written completely under temporary names, then renamed
        over the old ones; if the app dies between the two renames, the next ``open``
        finishes them. The database key stays the same: see docs/security.md.
        """
        if self._identity is None or self._db is None:
            raise ProfileLockedError()
        if new == "":
            raise ValueError("An empty passphrase protects nothing; pass None for none")
        with folder_lock(self.path):
            self._change_passphrase_locked(self._identity, old or None, new)

    def _change_passphrase_locked(
        self, identity: IdentityKey, old: str | None, new: str | None
    ) -> None:
        stored = KeyFile.read(self.key_path)
        if stored is None:
            raise ProfileError(f"The key file {self.key_path} is missing.")
        sealed = stored.location is KeyLocation.PASSPHRASE
        if sealed and self._open_key(stored, old) != self._key:
            raise ProfileError(f"{self.key_path} no longer holds this database's key.")
        if self.identity_is_encrypted():
            self._open_identity(old, stored)
        elif old is not None and not sealed:
            raise WrongPassphraseError("This profile has no passphrase yet; nothing was changed.")
        pem = identity.to_pem(new)
        keyfile = (
            KeyFile.for_passphrase(self._key, new)
            if new
            else KeyFile.without_passphrase(self._key, self._keyring())
        )
        write_private(_pending(self.identity_path), pem)
        write_private(_pending(self.key_path), keyfile.data)  # the change is decided here
        _finish_passphrase_change(self.path)
        if stored.keyring_entry is not None and stored.keyring_entry != keyfile.keyring_entry:
            stored.discard(self._keyring())

    # -- the database -----------------------------------------------------------------------

    @property
    def db(self) -> ProfileDatabase:
        """The open database; ProfileLockedError before ``unlock``."""
        if self._db is None:
            raise ProfileLockedError()
        return self._db

    @property
    def identity(self) -> IdentityKey:
        if self._identity is None:
            raise ProfileLockedError()
        return self._identity

    @property
    def contacts(self) -> Contacts:
        if self._contacts is None:
            raise ProfileLockedError()
        return self._contacts

    @property
    def known_servers(self) -> KnownServers:
        if self._known_servers is None:
            raise ProfileLockedError()
        return self._known_servers

    def close(self) -> None:
        """Close the database and forget the keys (safe twice); ``unlock`` opens it again."""
        db, self._db = self._db, None
        self._identity, self._key = None, b""
        self._contacts = self._known_servers = None
        if db is not None:
            db.close()

    # -- settings ---------------------------------------------------------------------------

    def settings(self) -> dict[str, object]:
        settings: dict[str, object] = read_json(self.path / "settings.json", {})
        return settings

    def save_settings(self, **values: object) -> None:
        """Merge ``values`` into settings.json. Values it already holds cost no write: the
        app saves its server on every (re)connect, and each write is an fsync on the GUI
        thread. Only preferences needed before unlock belong here (see the module
        docstring); everything private goes to ``db.save_setting``."""
        settings = self.settings()
        if all(k in settings and settings[k] == v for k, v in values.items()):
            return
        settings.update(values)
        write_json(self.path / "settings.json", settings)

    @property
    def name(self) -> str:
        name = self.settings().get("name", "")
        return name if isinstance(name, str) else ""


def _pending(path: Path) -> Path:
    return path.with_name(path.name + _PENDING_SUFFIX)


def _finish_passphrase_change(folder: Path) -> None:
    """Roll a passphrase change forward, or drop one that never got decided.

    ``db.key.new`` is written last, so its presence means both new files are complete:
    rename identity.pem.new (if still there) then db.key.new over the old files. A lone
    identity.pem.new is a change that stopped before it was decided: remove it.
    """
    identity_new = _pending(folder / IDENTITY_FILE)
    key_new = _pending(folder / DB_KEY_FILE)
    try:
        if key_new.exists():
            if identity_new.exists():
                os.replace(identity_new, folder / IDENTITY_FILE)
            os.replace(key_new, folder / DB_KEY_FILE)
            _sync_folder(folder)
        elif identity_new.exists():
            identity_new.unlink()
    except OSError as exc:
        raise ProfileError(
            f"Cannot finish changing the passphrase in {folder}: {exc.strerror}."
        ) from None


def _sync_folder(folder: Path) -> None:
    """Make the renames durable (best effort: not every platform can fsync a folder)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
