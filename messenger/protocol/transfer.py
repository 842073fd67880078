"""File transfer rules, without I/O: names, chunks, the send window, what may arrive when.

A transfer is identified by a sender-chosen id; its offer (name, size, SHA-256, chunk size)
travels sealed like any payload, so the relay learns nothing but how many chunks pass.

    sender                                  receiver
    file_offer(id, name, size, sha256, chunk_size)  ->
                       <- file_accept(id, start)     start > 0 resumes a partial file
                       <- file_decline(id, reason)
    file_chunk(id, index, data) ...          ->     (index must be exactly the next one)
                       <- file_ack(id, next)          cumulative; frees the sender's window
                       <- file_done(id)               whole-file SHA-256 matched
    file_cancel(id, reason)                 <->     either side, any time
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass

from messenger.protocol.errors import RemoteProtocolError

#: 1 MiB chunks: big enough to amortise per-record costs (AES-GCM setup, msgpack, frames),
#: small enough that a record stays under the frame cap with padding.
CHUNK_SIZE = 1024 * 1024
#: Chunks in flight per transfer before the sender waits for an ack.
WINDOW = 8
MAX_CHUNK_SIZE = CHUNK_SIZE
MAX_FILE_SIZE = 1 << 44  # 16 TiB: a bound on what a peer may announce
#: File systems limit one path component to 255 bytes; leave room for " (12)".
MAX_NAME_BYTES = 200

_WINDOWS_DEVICES = {
    "CON",
    "PRN",
    "AUX",
    "NUL",
    *(f"COM{i}" for i in range(1, 10)),
    *(f"LPT{i}" for i in range(1, 10)),
}
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]")
_EDGES = re.compile(r"^[\s.]+|[\s.]+$")


def safe_name(name: str) -> str:
    """Reduce a name from a peer to a plain, harmless base name.

    No separators, no ``..``, no control characters, no Windows device names, no leading
    dots (hidden files), at most 200 UTF-8 bytes with the extension kept; something is
    always left ("file").
    """
    name = unicodedata.normalize("NFC", name)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("_", name)
    name = "".join(ch for ch in name if unicodedata.category(ch) not in {"Cc", "Cf", "Zl", "Zp"})
    name = _EDGES.sub("", name)  # no leading/trailing dots or spaces, however interleaved
    stem = name.split(".", 1)[0].upper()
    if stem in _WINDOWS_DEVICES:
        name = f"_{name}"
    if len(name.encode()) > MAX_NAME_BYTES:
        base, dot, extension = name.rpartition(".")
        if not (dot and base and 0 < len(extension) <= 16):
            base, extension = name, ""
        suffix = f".{extension}" if extension else ""
        name = _clip_utf8(base, MAX_NAME_BYTES - len(suffix.encode())) + suffix
    return name or "file"


def _clip_utf8(text: str, limit: int) -> str:
    """The longest prefix of ``text`` whose UTF-8 form fits in ``limit`` bytes."""
    return text.encode()[:limit].decode("utf-8", "ignore")


def numbered(name: str, attempt: int) -> str:
    """``report.pdf`` -> ``report (2).pdf``: how we avoid overwriting an existing file."""
    if attempt == 0:
        return name
    base, dot, extension = name.rpartition(".")
    if not dot or not base:
        return f"{name} ({attempt})"
    return f"{base} ({attempt}).{extension}"


def chunk_count(size: int, chunk_size: int) -> int:
    return (size + chunk_size - 1) // chunk_size


@dataclass(frozen=True, slots=True)
class OfferTerms:
    """A validated offer: what the receiver agrees to take."""

    id: str
    name: str
    size: int
    sha256: bytes
    chunk_size: int

    @property
    def chunks(self) -> int:
        return chunk_count(self.size, self.chunk_size)

    def expected_length(self, index: int) -> int:
        """How long chunk ``index`` must be (the last one may be short)."""
        if index < self.chunks - 1:
            return self.chunk_size
        return self.size - self.chunk_size * (self.chunks - 1)


#: A transfer id is 32 lowercase hex digits (a random 128-bit value), nothing else: it comes
#: from the peer, so it is checked before it is used as a key, and never used in a path.
_TRANSFER_ID = re.compile(r"[0-9a-f]{32}")


def new_transfer_id() -> str:
    return secrets.token_hex(16)


def check_transfer_id(transfer_id: str) -> str:
    """Return the id if it has the one allowed form; RemoteProtocolError otherwise."""
    if not _TRANSFER_ID.fullmatch(transfer_id):
        raise RemoteProtocolError("The peer sent a file transfer id of the wrong form.")
    return transfer_id


def check_offer(
    transfer_id: str, name: str, size: int, sha256: bytes, chunk_size: int
) -> OfferTerms:
    check_transfer_id(transfer_id)
    if not 0 <= size <= MAX_FILE_SIZE:
        raise RemoteProtocolError("A file offer announces an impossible size.")
    if len(sha256) != 32:
        raise RemoteProtocolError("A file offer's SHA-256 must be 32 bytes.")
    if not 0 < chunk_size <= MAX_CHUNK_SIZE:
        raise RemoteProtocolError("A file offer's chunk size is out of bounds.")
    return OfferTerms(transfer_id, safe_name(name), size, sha256, chunk_size)


class SendWindow:
    """Which chunks the sender may send now: at most ``window`` beyond the last ack."""

    def __init__(self, total: int, start: int = 0, window: int = WINDOW) -> None:
        self.total = total
        self.next_to_send = start
        self.acked = start
        self.window = window

    @property
    def finished_sending(self) -> bool:
        return self.next_to_send >= self.total

    @property
    def all_acked(self) -> bool:
        return self.acked >= self.total

    def may_send(self) -> bool:
        return not self.finished_sending and self.next_to_send - self.acked < self.window

    def sent(self) -> int:
        index = self.next_to_send
        self.next_to_send += 1
        return index

    def ack(self, next_expected: int) -> None:
        """A cumulative ack: the receiver has everything below ``next_expected``."""
        if not self.acked <= next_expected <= self.next_to_send:
            raise RemoteProtocolError("The peer acknowledged chunks that were never sent.")
        self.acked = next_expected
