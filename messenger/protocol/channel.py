"""Sealed records between two peers: AES-256-GCM, one key per direction, epochs, sequence
numbers and key rotation.

Record layouts (all big-endian)::

    RECORD  version:1 kind:1 epoch:4 seq:8                        | GCM(padded payload) || tag
    ROTATE  version:1 kind:1 epoch:4 seq:8 ref:4 share:32         | GCM(padded b"")     || tag

The header and the session id are the AAD, so a record cannot be moved to another session,
epoch or position. The nonce is ``direction:4 || seq:8``: the sequence number never repeats
within a direction (it keeps counting across epochs), and the directions use different keys
anyway, so no (key, nonce) pair is ever used twice.

Rotation: the sender moves to epoch e+1 with ``K(e+1) = HKDF(K(e), salt=mix, info=label ||
e+1)``, overwrites K(e), and sends one ROTATE record, sealed under K(e+1), as the first record
of the new epoch. The receiver derives the same key, commits only if that record
authenticates, and needs no round trip. ``mix`` is empty in password sessions; in RSA
sessions it is a fresh X25519 agreement (``share`` is the sender's new public share, ``ref``
the epoch of the receiver's share it was made with; see ``ratchet``). A record from an older
epoch can only be a replay, since that key is gone.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum

from messenger.crypto.aead import KEY_SIZE, counter_nonce, open_sealed, seal
from messenger.crypto.errors import AuthenticationError, PaddingError
from messenger.crypto.kdf import hkdf_sha256
from messenger.crypto.padding import pad, unpad
from messenger.crypto.x25519 import EphemeralKey
from messenger.protocol.errors import LocalProtocolError, ReplayedError, TamperedError
from messenger.protocol.packets import PACKET_VERSION, PacketKind
from messenger.protocol.ratchet import DhRatchet

RECORD_HEADER = struct.Struct(">BBIQ")
RECORD_HEADER_SIZE = RECORD_HEADER.size
ROTATE_HEADER = struct.Struct(">BBIQI32s")
ROTATE_HEADER_SIZE = ROTATE_HEADER.size
_NO_SHARE = bytes(32)
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
    send_key: bytes = field(repr=False)
    recv_key: bytes = field(repr=False)
    send_direction: Direction
    #: RSA sessions: our handshake share and the peer's, to start the rotation ratchet.
    ratchet: tuple[EphemeralKey, bytes] | None = field(default=None, repr=False)
    _send: _Chain = field(init=False, repr=False)
    _recv: _Chain = field(init=False, repr=False)
    _dh: DhRatchet | None = field(init=False, default=None, repr=False)
    _closed: bool = field(init=False, default=False, repr=False)
    records_in_epoch: int = field(init=False, default=0)
    bytes_in_epoch: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        if len(self.send_key) != KEY_SIZE or len(self.recv_key) != KEY_SIZE:
            raise LocalProtocolError("Session keys must be 32 bytes.")
        self._send = _Chain(bytearray(self.send_key))
        self._recv = _Chain(bytearray(self.recv_key))
        if self.ratchet is not None:
            self._dh = DhRatchet.from_handshake(*self.ratchet)
        # Do not keep the constructor's copies around as plain attributes.
        self.send_key = self.recv_key = b""
        self.ratchet = None

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

    def _seal_with_header(self, header: bytes, payload: bytes) -> bytes:
        if self._closed:
            raise LocalProtocolError("This session has ended; its keys are erased.")
        chain = self._send
        nonce = counter_nonce(self.send_direction, chain.seq)
        sealed = seal(bytes(chain.key), nonce, pad(payload), self._aad(header))
        chain.seq += 1
        return header + sealed

    def seal(self, payload: bytes) -> bytes:
        """Pad and seal one payload as the next record of this direction."""
        chain = self._send
        header = RECORD_HEADER.pack(PACKET_VERSION, PacketKind.RECORD, chain.epoch, chain.seq)
        self.records_in_epoch += 1
        self.bytes_in_epoch += len(payload)
        return self._seal_with_header(header, payload)

    def rotate_send(self) -> bytes:
        """Move the sending key to the next epoch, erasing the old one.

        Returns the ROTATE record that announces it; send it before any later record.
        """
        chain = self._send
        new_epoch = chain.epoch + 1
        mix, reference, share = b"", 0, _NO_SHARE
        if self._dh is not None:
            mix, reference, share = self._dh.next_send(new_epoch)
        new_key = next_epoch_key(bytes(chain.key), new_epoch, mix)
        _wipe(chain.key)
        chain.key = bytearray(new_key)
        chain.epoch = new_epoch
        self.records_in_epoch = 0
        self.bytes_in_epoch = 0
        header = ROTATE_HEADER.pack(
            PACKET_VERSION, PacketKind.ROTATE, new_epoch, chain.seq, reference, share
        )
        return self._seal_with_header(header, b"")

    def open(self, record: bytes) -> bytes | None:
        """Authenticate and open the next incoming record; None for a ROTATE record.

        Raises TamperedError if it does not authenticate (modified, truncated, forged) and
        ReplayedError if it is authentic but not the next one expected (replayed, reordered,
        or something before it was dropped).
        """
        if self._closed:
            raise LocalProtocolError("This session has ended; its keys are erased.")
        if len(record) < RECORD_HEADER_SIZE:
            raise TamperedError("A truncated message arrived; the session ended.")
        chain = self._recv
        _version, kind, epoch, seq = RECORD_HEADER.unpack_from(record)
        if kind == PacketKind.ROTATE:
            self._open_rotate(record, epoch)
            return None
        if epoch < chain.epoch:
            raise ReplayedError()
        if epoch != chain.epoch:
            raise TamperedError()
        return self._open_body(bytes(chain.key), record, RECORD_HEADER_SIZE, seq)

    def _open_rotate(self, record: bytes, epoch: int) -> None:
        chain = self._recv
        if len(record) < ROTATE_HEADER_SIZE:
            raise TamperedError("A truncated message arrived; the session ended.")
        if epoch <= chain.epoch:
            raise ReplayedError()
        if epoch != chain.epoch + 1:
            raise TamperedError()
        *_, seq, reference, share = ROTATE_HEADER.unpack_from(record)
        mix = b"" if self._dh is None else self._dh.mix_for_receive(reference, share)
        key = next_epoch_key(bytes(chain.key), epoch, mix)
        self._open_body(key, record, ROTATE_HEADER_SIZE, seq)
        if self._dh is not None:
            self._dh.commit_receive(epoch, reference, share)
        _wipe(chain.key)
        chain.key = bytearray(key)
        chain.epoch = epoch
        return None

    def _open_body(self, key: bytes, record: bytes, header_size: int, seq: int) -> bytes:
        """Open the sealed part; check the sequence number only once it is authentic."""
        header = record[:header_size]
        try:
            nonce = counter_nonce(self.send_direction.reverse, seq)
            payload = unpad(open_sealed(key, nonce, record[header_size:], self._aad(header)))
        except (AuthenticationError, PaddingError):
            raise TamperedError() from None
        if seq != self._recv.seq:
            raise ReplayedError()
        self._recv.seq += 1
        return payload

    def close(self) -> None:
        """Erase both keys; the channel cannot be used afterwards."""
        self._closed = True
        _wipe(self._send.key)
        _wipe(self._recv.key)
        self._dh = None
