"""The saved form of a double ratchet: one versioned msgpack record, read with bounds.

The client saves it after every message, in the same database transaction as the message it
opened, so it is a flat record of what ``Ratchet`` knows, keys included: it belongs only in
encrypted storage. Decoding goes through our bounded ``Schema`` and then checks every length
and counter, so a damaged or foreign blob is refused (``DamagedStateError``) instead of
producing a ratchet that misbehaves later.

Version 1 fields: the current key pair's private half, the peer's current ratchet key, root
and chain keys (no receiving chain: ``None``), the three counters, the announce flag, the
step count, the remembered earlier peer ratchet keys (32 bytes each, concatenated), and the
skipped message keys as fixed 76-byte entries, concatenated::

    ratchet_key:32 | n:4 (big-endian) | message_key:32 | stored_at:8 (IEEE 754 double)

Packed entries rather than a list of maps, because decoding thousands of small maps costs
milliseconds and this is read on every start.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from messenger.protocol.errors import DamagedStateError, RemoteProtocolError
from messenger.protocol.schema import Schema, message

STATE_VERSION = 1
#: Longest list a saved state may hold (skipped keys, earlier chains).
MAX_STORED_ITEMS = 1 << 16
_KEY = 32
_MAX_COUNTER = 2**32 - 1
_SKIPPED = struct.Struct(">32sI32sd")

_schema = Schema(
    "ratchet state",
    max_bin_len=MAX_STORED_ITEMS * _SKIPPED.size,
    max_str_len=64,
    max_array_len=16,
    max_map_len=32,
)


@dataclass(frozen=True, slots=True)
class SkippedRecord:
    ratchet_key: bytes
    n: int
    key: bytes
    stored_at: float

    def __repr__(self) -> str:
        return f"SkippedRecord(n={self.n}, stored_at={self.stored_at})"


@message(_schema, "double_ratchet")
class StateRecord:
    version: int
    own_private: bytes
    peer_key: bytes
    root_key: bytes
    send_chain: bytes
    recv_chain: bytes | None
    sent: int
    received: int
    previous_sent: int
    needs_announce: bool
    sending_steps: int
    past_chains: bytes
    skipped: bytes

    def __repr__(self) -> str:
        return f"StateRecord(version={self.version}, skipped={len(self.skipped_keys())})"

    def chains(self) -> list[bytes]:
        return [self.past_chains[i : i + _KEY] for i in range(0, len(self.past_chains), _KEY)]

    def skipped_keys(self) -> list[SkippedRecord]:
        return [SkippedRecord(*fields) for fields in _SKIPPED.iter_unpack(self.skipped)]


def pack_chains(keys: Iterable[bytes]) -> bytes:
    return b"".join(keys)


def pack_skipped(items: Iterable[SkippedRecord]) -> bytes:
    return b"".join(_SKIPPED.pack(s.ratchet_key, s.n, s.key, s.stored_at) for s in items)


def encode(record: StateRecord) -> bytes:
    return _schema.encode(record)


def decode(data: bytes) -> StateRecord:
    """Parse and check a saved state; DamagedStateError for anything we did not write."""
    try:
        record = _schema.decode(data)
    except RemoteProtocolError:
        raise DamagedStateError() from None
    if not isinstance(record, StateRecord):  # pragma: no cover - one type in this schema
        raise DamagedStateError()
    if record.version != STATE_VERSION:
        raise DamagedStateError(
            f"This conversation's saved keys are of version {record.version}; this program "
            f"reads version {STATE_VERSION} only."
        )
    if len(record.past_chains) % _KEY or len(record.skipped) % _SKIPPED.size:
        raise DamagedStateError()
    keys = [record.own_private, record.peer_key, record.root_key, record.send_chain]
    keys += [] if record.recv_chain is None else [record.recv_chain]
    counters = [record.sent, record.received, record.previous_sent, record.sending_steps]
    if any(len(k) != _KEY for k in keys) or any(not 0 <= c <= _MAX_COUNTER for c in counters):
        raise DamagedStateError()
    if not all(math.isfinite(s.stored_at) for s in record.skipped_keys()):
        raise DamagedStateError()
    return record
