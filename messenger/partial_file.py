"""The receiving side's file on disk while a transfer runs: written, hashed, resumable.

A file arrives in ``DIR/.messenger-partial/<sha256>.part`` and is hashed as chunks are
appended; only when the whole-file SHA-256 matches is it moved to a fresh name in DIR (never
overwriting anything). A fixed-size JSON record beside it says how many chunks are in, so a
re-offer of the same file (same SHA-256, size and chunk size), even in a new session after a
dropped link, resumes there. Blocking methods say so: callers run them in an executor.

Nothing the peer sends is used raw in a path: the partial file is named after the SHA-256
(hex) or, for a second copy arriving at once, a random suffix; the final name has been
through ``safe_name``. Every path is checked to stay directly inside its folder, the
partial folder must be a real folder (not a symlink), and files are opened with
``O_NOFOLLOW``, so someone who can write into DIR cannot redirect our writes elsewhere.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import secrets
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from messenger.protocol.transfer import OfferTerms, numbered

PARTIAL_DIR = ".messenger-partial"
#: The resume record is padded to this size so that rewriting it never truncates.
STATE_RECORD_SIZE = 256
HASH_BLOCK = 4 * 1024 * 1024


class NameTakenError(OSError):
    """Every numbered variant of a name is already taken in the folder."""


def sha256_file(path: Path, limit: int | None = None) -> hashlib._Hash:
    """Hash a file (or its first ``limit`` bytes); blocking, run it in an executor."""
    with open(path, "rb") as handle:
        return _sha256_of_handle(handle, limit)


def _sha256_of_handle(handle: BinaryIO, limit: int | None = None) -> hashlib._Hash:
    """Hash an open file from its start (up to ``limit`` bytes)."""
    digest = hashlib.sha256()
    remaining = limit
    handle.seek(0)
    while remaining is None or remaining > 0:
        block = handle.read(HASH_BLOCK if remaining is None else min(HASH_BLOCK, remaining))
        if not block:
            break
        digest.update(block)
        if remaining is not None:
            remaining -= len(block)
    return digest


class PartialFile:
    """One incoming file's partial copy, its running hash and its resume record."""

    def __init__(self, folder: Path, terms: OfferTerms, taken: Iterable[Path] = ()) -> None:
        """Pick the partial file's path (no I/O yet). ``taken`` are the paths other running
        transfers already write to: a second copy of the same content arriving at the same
        time gets its own file instead of sharing (and corrupting) the first one's."""
        self.folder = folder
        self.terms = terms
        self.partial_dir = folder / PARTIAL_DIR
        self.path = self.partial_dir / f"{terms.sha256.hex()}.part"
        if self.path in set(taken):
            self.path = self.partial_dir / f"{terms.sha256.hex()}-{secrets.token_hex(8)}.part"
        self._handle: BinaryIO | None = None
        self._hasher = hashlib.sha256()

    @property
    def state_path(self) -> Path:
        return self.path.with_suffix(".json")

    @property
    def is_open(self) -> bool:
        return self._handle is not None

    def open(self) -> int:
        """Create the partial file, or reopen one left by an earlier attempt at the same
        file, and return the first chunk still needed. Blocking (may hash what is there)."""
        terms = self.terms
        self._make_partial_dir()
        start = self._resumable_chunks()
        offset = start * terms.chunk_size
        fd = _open_inside(self.partial_dir, self.path.name, os.O_RDWR | os.O_CREAT)
        handle = os.fdopen(fd, "r+b")
        try:
            self._hasher = _sha256_of_handle(handle, offset)
            handle.truncate(offset)
            handle.seek(offset)
        except BaseException:
            handle.close()
            raise
        handle.seek(offset)
        self._handle = handle
        return start

    def _make_partial_dir(self) -> None:
        """Create (one level, private) or reuse the partial folder; refuse a symlink or
        anything else that is not a plain folder of ours."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(FileExistsError):
            self.partial_dir.mkdir(mode=0o700)
        info = os.lstat(self.partial_dir)
        if not stat.S_ISDIR(info.st_mode):
            raise OSError(
                errno.ENOTDIR, f"{self.partial_dir} is not a plain folder (a link?); refusing"
            )

    def _resumable_chunks(self) -> int:
        """How many chunks the resume record vouches for (0 when it does not fit the offer
        or the partial file is shorter than it claims)."""
        terms = self.terms
        start = 0
        with contextlib.suppress(OSError, ValueError, TypeError):
            fd = _open_inside(self.partial_dir, self.state_path.name, os.O_RDONLY)
            with os.fdopen(fd, "rb") as record:
                state = json.loads(record.read(STATE_RECORD_SIZE * 4))
            if (state.get("size"), state.get("chunk_size")) == (terms.size, terms.chunk_size):
                start = min(int(state.get("next", 0)), terms.chunks)
        if start:
            try:
                size = os.lstat(self.path).st_size
            except OSError:
                size = -1
            if size < start * terms.chunk_size:
                start = 0
        return start

    def append(self, data: bytes) -> None:
        """Append one chunk to the file and the running SHA-256. Blocking. Raises
        ValueError if the file was closed meanwhile (the transfer was cancelled)."""
        if self._handle is None:
            raise ValueError("the partial file is closed")
        self._handle.write(data)
        self._hasher.update(data)

    def append_all(self, chunks: list[bytes]) -> None:
        """Append chunks in order, in one call: one hand-off to a worker thread for all of
        them instead of one each. Blocking; raises as ``append`` does."""
        for data in chunks:
            self.append(data)

    def save_state(self, next_index: int) -> None:
        """Note how far we got, overwriting a fixed-size record in place.

        Truncating and rewriting the file instead made ext4 (mounted with ``discard``) stall
        the whole receiver for a second or more every few chunks.
        """
        if self._handle is not None:
            self._handle.flush()
        state = {"size": self.terms.size, "chunk_size": self.terms.chunk_size, "next": next_index}
        record = json.dumps(state).encode().ljust(STATE_RECORD_SIZE)
        with contextlib.suppress(OSError):
            fd = _open_inside(self.partial_dir, self.state_path.name, os.O_WRONLY | os.O_CREAT)
            try:
                os.pwrite(fd, record, 0)
            finally:
                os.close(fd)

    def close(self) -> None:
        """Close the file, keeping it and its resume record for a later attempt."""
        if self._handle is not None:
            with contextlib.suppress(OSError):
                self._handle.close()
            self._handle = None

    def matches_offer(self) -> bool:
        """Close the file and say whether its SHA-256 is the one that was offered."""
        self.close()
        return self._hasher.digest() == self.terms.sha256

    def move_into_place(self) -> Path:
        """Move the finished file to a fresh name in the folder, never overwriting one."""
        final = _reserve_name(self.folder, self.terms.name)
        os.replace(self.path, final)
        self.state_path.unlink(missing_ok=True)
        self._tidy()
        return final

    def discard(self) -> None:
        """Close and remove the partial file and its resume record."""
        self.close()
        self.path.unlink(missing_ok=True)
        self.state_path.unlink(missing_ok=True)
        self._tidy()

    def _tidy(self) -> None:
        """Remove the partial folder once nothing is left in it (no empty litter)."""
        with contextlib.suppress(OSError):
            self.partial_dir.rmdir()


def _reserve_name(folder: Path, name: str) -> Path:
    """A path in ``folder`` that did not exist, claimed atomically (never overwrite)."""
    for attempt in range(10_000):
        candidate = numbered(name, attempt)
        try:
            fd = _open_inside(folder, candidate, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            continue
        os.close(fd)
        return folder / candidate
    raise NameTakenError(f"too many files named like {name}")


def _open_inside(folder: Path, name: str, flags: int) -> int:
    """``os.open(folder/name)`` for a plain name directly inside ``folder``, never following
    a symlink (a planted link fails with ELOOP instead of redirecting the write)."""
    if not name or name in {".", ".."} or "/" in name or "\\" in name or "\0" in name:
        raise OSError(errno.EINVAL, f"refusing the file name {name!r}")
    return os.open(folder / name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
