"""Sealed records between two peers: AES-256-GCM, one key per direction, epochs, sequence
numbers and key rotation.

Record layout (all big-endian)::

    version:1  kind:1 (=RECORD)  epoch:4  seq:8  |  AES-256-GCM(padded payload) || tag:16

The 14-byte header and the session id are the AAD, so a record cannot be moved to another
session, epoch or position. The nonce is ``direction:4 || seq:8``: the sequence number never
repeats within a direction (it keeps counting across epochs), and the two directions use
different keys anyway, so no (key, nonce) pair is ever used twice.

Rotation: the sender moves to epoch e+1 with ``K(e+1) = HKDF(K(e), info=label || e+1)`` and
overwrites K(e). The receiver follows the first record that carries the new epoch, without a
round trip: it derives forward, and commits only after that record authenticates. An epoch
older than the current one is gone, so a record from it can only be a replay.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum

from messenger.crypto.aead import KEY_SIZE, counter_nonce, open_sealed, seal
from messenger.crypto.errors import AuthenticationError, PaddingError
from messenger.crypto.kdf import hkdf_sha256
from messenger.crypto.padding import pad, unpad
from messenger.protocol.errors import LocalProtocolError, ReplayedError, TamperedError
from messenger.protocol.packets import PACKET_VERSION, PacketKind

RECORD_HEADER = struct.Struct(">BBIQ")
RECORD_HEADER_SIZE = RECORD_HEADER.size
#: How many epochs a receiver will derive forward in one step; more means a broken peer.
MAX_EPOCH_SKIP = 1024
_ROTATE_LABEL = b"messenger v1 rotate"


class Direction(IntEnum):
    """Which way a key points; part of every nonce."""

    CREATOR_TO_JOINER = 1
    JOINER_TO_CREATOR = 2

    @property
    def reverse(self) -> Direction:
        return Direction(3 - self.value)


def next_epoch_key(key: bytes, new_epoch: int, mix: bytes = b"") -> bytes:
    """Derive the key of ``new_epoch`` from the previous one; ``mix`` adds fresh entropy."""
    return hkdf_sha256(key, KEY_SIZE, salt=mix, info=_ROTATE_LABEL + struct.pack(">I", new_epoch))


def _wipe(buffer: bytearray) -> None:
    """Overwrite a key in place. Python may hold other copies; this removes the one we own."""
    buffer[:] = bytes(len(buffer))


@dataclass
class _Chain:
    key: bytearray
    epoch: int = 0
    seq: int = 0


@dataclass
class SecureChannel:
    """Seals outgoing and opens incoming records for one session; owns the keys."""

    session_id: str
    send_key: bytes
    recv_key: bytes
    send_direction: Direction
    _send: _Chain = field(init=False)
    _recv: _Chain = field(init=False)
    records_in_epoch: int = field(init=False, default=0)
    bytes_in_epoch: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        if len(self.send_key) != KEY_SIZE or len(self.recv_key) != KEY_SIZE:
            raise LocalProtocolError("Session keys must be 32 bytes.")
        self._send = _Chain(bytearray(self.send_key))
        self._recv = _Chain(bytearray(self.recv_key))
        # Do not keep the constructor's copies around as plain attributes.
        self.send_key = self.recv_key = b""

    @property
    def send_epoch(self) -> int:
        return self._send.epoch

    @property
    def recv_epoch(self) -> int:
        return self._recv.epoch

    @property
    def sent_count(self) -> int:
        return self._send.seq

    def _aad(self, header: bytes) -> bytes:
        return header + self.session_id.encode()

    def seal(self, payload: bytes) -> bytes:
        """Pad and seal one payload as the next record of this direction."""
        chain = self._send
        header = RECORD_HEADER.pack(PACKET_VERSION, PacketKind.RECORD, chain.epoch, chain.seq)
        nonce = counter_nonce(self.send_direction, chain.seq)
        sealed = seal(bytes(chain.key), nonce, pad(payload), self._aad(header))
        chain.seq += 1
        self.records_in_epoch += 1
        self.bytes_in_epoch += len(payload)
        return header + sealed

    def open(self, record: bytes) -> bytes:
        """Authenticate and open the next incoming record.

        Raises TamperedError if it does not authenticate (modified, truncated, forged) and
        ReplayedError if it is authentic but not the next one expected (replayed, reordered).
        """
        if len(record) < RECORD_HEADER_SIZE:
            raise TamperedError("A truncated message arrived; the session ended.")
        _version, _kind, epoch, seq = RECORD_HEADER.unpack_from(record)
        chain = self._recv
        if epoch < chain.epoch:
            raise ReplayedError()
        if epoch - chain.epoch > MAX_EPOCH_SKIP:
            raise TamperedError()
        key = bytes(chain.key)
        for step in range(chain.epoch + 1, epoch + 1):
            key = next_epoch_key(key, step)
        header = record[:RECORD_HEADER_SIZE]
        try:
            nonce = counter_nonce(self.send_direction.reverse, seq)
            padded = open_sealed(key, nonce, record[RECORD_HEADER_SIZE:], self._aad(header))
            payload = unpad(padded)
        except (AuthenticationError, PaddingError):
            raise TamperedError() from None
        if seq != chain.seq:
            raise ReplayedError()
        if epoch != chain.epoch:
            _wipe(chain.key)
            chain.key = bytearray(key)
            chain.epoch = epoch
        chain.seq += 1
        return payload

    def rotate_send(self, mix: bytes = b"") -> int:
        """Move the sending key to the next epoch, erasing the old one; returns the new epoch."""
        chain = self._send
        new_key = next_epoch_key(bytes(chain.key), chain.epoch + 1, mix)
        _wipe(chain.key)
        chain.key = bytearray(new_key)
        chain.epoch += 1
        self.records_in_epoch = 0
        self.bytes_in_epoch = 0
        return chain.epoch

    def close(self) -> None:
        """Erase both keys; the channel cannot be used afterwards."""
        _wipe(self._send.key)
        _wipe(self._recv.key)
