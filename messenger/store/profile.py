"""The profile directory: one person's identity key, server pins, contacts and settings.

Layout (directory 0700, files 0600)::

    identity.pem        RSA-3072 identity key, PKCS#8; scrypt + AES-256-GCM with a passphrase
    settings.json       display name and other preferences
    known_servers.json  pinned relay fingerprints per host:port (trust on first use)
    contacts.json       pinned people (see ``contacts``)
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from messenger.crypto.rsa import IdentityKey, KeyFileError
from messenger.store.contacts import Contacts
from messenger.store.files import ProfileError, read_json, write_json, write_private
from messenger.store.known_servers import KnownServers

__all__ = ["Profile", "ProfileError", "default_profile_dir"]


def default_profile_dir() -> Path:
    return Path(platformdirs.user_data_dir("messenger", appauthor=False))


class Profile:
    """A profile folder. Opening it creates the folder; the key is loaded on demand."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.known_servers = KnownServers(path / "known_servers.json")
        self.contacts = Contacts(path / "contacts.json")

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None) -> Profile:
        """Create the directory if needed (mode 0700) and check we can write to it."""
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
        return cls(directory)

    # -- identity ---------------------------------------------------------------------------

    @property
    def identity_path(self) -> Path:
        return self.path / "identity.pem"

    def has_identity(self) -> bool:
        return self.identity_path.exists()

    def identity_is_encrypted(self) -> bool:
        try:
            return b"ENCRYPTED" in self.identity_path.read_bytes()[:64]
        except OSError:
            return False

    def load_or_create_identity(self, passphrase: str | None = None) -> IdentityKey:
        """Load the identity key, or make one on first use. Blocking (key generation takes
        0.2-3 s, passphrase protection ~0.5 s): run it in an executor."""
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

    # -- settings ---------------------------------------------------------------------------

    def settings(self) -> dict[str, object]:
        settings: dict[str, object] = read_json(self.path / "settings.json", {})
        return settings

    def save_settings(self, **values: object) -> None:
        """Merge ``values`` into settings.json. Values it already holds cost no write: the
        app saves its server on every (re)connect, and each write is an fsync on the GUI
        thread."""
        settings = self.settings()
        if all(k in settings and settings[k] == v for k, v in values.items()):
            return
        settings.update(values)
        write_json(self.path / "settings.json", settings)

    @property
    def name(self) -> str:
        name = self.settings().get("name", "")
        return name if isinstance(name, str) else ""
