"""The profile directory: where one person's keys, pins and settings live.

For now it only guarantees the directory exists and is private (0700); identity keys,
known servers and contacts move in as later features need them.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def default_profile_dir() -> Path:
    return Path(platformdirs.user_data_dir("messenger", appauthor=False))


class ProfileError(Exception):
    """The profile directory cannot be used."""


class Profile:
    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None) -> Profile:
        """Create the directory if needed (mode 0700) and check we can write to it."""
        directory = Path(path).expanduser() if path else default_profile_dir()
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise ProfileError(
                f"Cannot create the profile folder {directory}: {exc.strerror}."
            ) from None
        if not directory.is_dir():
            raise ProfileError(f"The profile path {directory} is not a folder.")
        if not os.access(directory, os.W_OK):
            raise ProfileError(f"The profile folder {directory} is not writable.")
        return cls(directory)
