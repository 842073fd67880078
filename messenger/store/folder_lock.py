"""One process at a time makes or changes a profile's key files.

Two messenger-cli commands started at once on a new profile would otherwise each make a
database key (and an identity key), and the one whose db.key lost the race could not open
the database the other created. ``folder_lock`` holds an exclusive lock on ``profile.lock``
(an empty 0600 file that ``Profile.open`` makes and that stays in the folder) while
``Profile.unlock`` checks and writes, and while a passphrase changes. It is not held while
the profile is in use: SQLite itself lets several processes share the database.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from messenger.store.errors import ProfileError

__all__ = ["LOCK_FILE", "folder_lock", "make_lock_file"]

LOCK_FILE = "profile.lock"


def make_lock_file(folder: Path) -> None:
    """Create the (empty) lock file if missing, so that unlocking later adds no file."""
    try:
        os.close(os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600))
    except OSError as exc:
        raise ProfileError(f"Cannot create {folder / LOCK_FILE}: {exc.strerror}.") from None


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Wait for, then hold, the profile folder's lock (blocking)."""
    path = folder / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise ProfileError(f"Cannot open the lock file {path}: {exc.strerror}.") from None
    try:
        _lock(fd)
        yield
    finally:
        os.close(fd)  # closing the file releases the lock


if sys.platform == "win32":
    import msvcrt

    def _lock(fd: int) -> None:
        # LK_LOCK retries for about ten seconds, then gives up with OSError.
        msvcrt.locking(fd, msvcrt.LK_LOCK, 1)

else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)
