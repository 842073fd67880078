"""Every way the profile folder can refuse to open or to be used, as one exception tree.

::

    ProfileError                 base: a file is unreadable, damaged or not writable
    ├── WrongPassphraseError     the passphrase does not open this profile
    ├── PassphraseNeededError    the profile is protected and no passphrase was given
    ├── ProfileLockedError       the profile (its database) is used before ``unlock``
    ├── DatabaseKeyError         profile.db does not open with the key in db.key
    ├── KeyringError             the database key is in the system keyring, out of reach
    └── UnknownContactError      a write names a contact the profile does not have

The first line of each docstring is the sentence a person reads; callers that have nothing
better to say show ``str(exc)``, which carries the file concerned where there is one.
"""

from __future__ import annotations


class ProfileError(Exception):
    """The profile cannot be used (a file is unreadable, damaged or not writable)."""


class WrongPassphraseError(ProfileError):
    """The passphrase is wrong: the profile was not opened, and nothing in it was changed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.__doc__)


class PassphraseNeededError(ProfileError):
    """This profile is protected by a passphrase: enter it to open the profile."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.__doc__)


class ProfileLockedError(ProfileError):
    """The profile is locked: open it with its passphrase (unlock) before using it."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.__doc__)


class DatabaseKeyError(ProfileError):
    """The profile's database does not open with its key: profile.db or db.key was replaced
    or damaged."""


class KeyringError(ProfileError):
    """The key of the profile's database is in the system keyring, which cannot give it now
    (locked, not running, or the entry was removed)."""


class UnknownContactError(ProfileError):
    """There is no such contact in this profile."""
