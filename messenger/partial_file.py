"""The receiving side's file on disk while a transfer runs: written, hashed, resumable.

A file arrives in ``DIR/.messenger-partial/<sha256>.part`` and is hashed as chunks are
appended; only when the whole-file SHA-256 matches is it moved to a fresh name in DIR (never
overwriting anything). A fixed-size JSON record beside it says how many chunks are in, so a
re-offer of the same file (same SHA-256, size and chunk size), even in a new session after a
dropped link, resumes there. Blocking methods say so: callers run them in an executor.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
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
    digest = hashlib.sha256()
    remaining = limit
    with path.open("rb") as handle:
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
        partial_dir = folder / PARTIAL_DIR
        self.path = partial_dir / f"{terms.sha256.hex()}.part"
        if self.path in set(taken):
            self.path = partial_dir / f"{terms.sha256.hex()}-{terms.id}.part"
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
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        start = self._resumable_chunks()
        offset = start * terms.chunk_size
        self._hasher = sha256_file(self.path, offset) if start else hashlib.sha256()
        handle = self.path.open("r+b" if start else "wb")
        handle.truncate(offset)
        handle.seek(offset)
        self._handle = handle
        return start

    def _resumable_chunks(self) -> int:
        """How many chunks the resume record vouches for (0 when it does not fit the offer
        or the partial file is shorter than it claims)."""
        terms = self.terms
        start = 0
        with contextlib.suppress(OSError, ValueError, TypeError):
            state = json.loads(self.state_path.read_text())
            if (state.get("size"), state.get("chunk_size")) == (terms.size, terms.chunk_size):
                start = min(int(state.get("next", 0)), terms.chunks)
        if start and (
            not self.path.exists() or self.path.stat().st_size < start * terms.chunk_size
        ):
            start = 0
        return start

    def append(self, data: bytes) -> None:
        """Append one chunk to the file and the running SHA-256. Blocking. Raises
        ValueError if the file was closed meanwhile (the transfer was cancelled)."""
        if self._handle is None:
            raise ValueError("the partial file is closed")
        self._handle.write(data)
        self._hasher.update(data)

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
            fd = os.open(self.state_path, os.O_WRONLY | os.O_CREAT, 0o600)
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
        return final

    def discard(self) -> None:
        """Close and remove the partial file and its resume record."""
        self.close()
        self.path.unlink(missing_ok=True)
        self.state_path.unlink(missing_ok=True)


def _reserve_name(folder: Path, name: str) -> Path:
    """A path in ``folder`` that did not exist, claimed atomically (never overwrite)."""
    for attempt in range(10_000):
        candidate = folder / numbered(name, attempt)
        try:
            fd = os.open(candidate, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            continue
        os.close(fd)
        return candidate
    raise NameTakenError(f"too many files named like {name}")
