"""File chunks and acks between two online contacts, sealed under the transfer's own key.

A file offer travels inside the Double Ratchet and carries a fresh 32-byte ``key`` for that
transfer alone. Chunks and acks then travel as direct frames (never stored by the relay)
sealed with keys derived from it, one per direction, with a counter per direction::

    envelope = hint:16 | kind:1 (=2) | transfer id:16 | direction:1 | counter:8 | sealed
    key(d)   = HKDF-SHA256(transfer key, info = label || d)
    sealed   = AES-256-GCM(key(d), nonce = d:4 || counter:8, plaintext, aad = all before it)
    plaintext = length:4 | payload | zeros up to a fixed size for the direction

Direction 1 carries chunks (sender to receiver), 2 acks. Each counter must be exactly the
next one, so a replayed, dropped, reordered or injected frame fails. Each direction's
frames all have one fixed size (a chunk frame is as long as a full chunk, however short the
file's last one), so the relay learns how many chunks a file has, that is its size rounded
up to the chunk size (1 MiB), and nothing finer. The transfer key never touches the ratchet,
so a lost frame cannot upset the conversation's message keys; a file the offer of which is
re-sent (resume) gets a new key.
"""

from __future__ import annotations

import struct
from enum import IntEnum

from messenger.crypto.aead import KEY_SIZE, counter_nonce, open_sealed, seal
from messenger.crypto.errors import AuthenticationError
from messenger.crypto.kdf import hkdf_sha256
from messenger.protocol.conversation import EnvelopeKind, envelope_kind
from messenger.protocol.errors import LocalProtocolError, RemoteProtocolError, TamperedError
from messenger.protocol.introduction import HINT_SIZE
from messenger.protocol.transfer import CHUNK_SIZE, check_transfer_id

_LABEL = b"messenger v3 transfer "
_HEADER = struct.Struct(">16sBQ")
_LENGTH = struct.Struct(">I")
#: Every chunk frame's plaintext is this long: a full chunk with its payload framing.
CHUNK_FRAME_PLAINTEXT = CHUNK_SIZE + 1024
#: Every ack frame's plaintext is this long.
ACK_FRAME_PLAINTEXT = 256
PREFIX_SIZE = HINT_SIZE + 1 + _HEADER.size


class FrameDirection(IntEnum):
    CHUNKS = 1  #: sender to receiver
    ACKS = 2  #: receiver to sender


_PLAINTEXT_SIZE = {
    FrameDirection.CHUNKS: CHUNK_FRAME_PLAINTEXT,
    FrameDirection.ACKS: ACK_FRAME_PLAINTEXT,
}


def frame_transfer_id(envelope: bytes) -> str:
    """The transfer id a frame names (32 hex digits), RemoteProtocolError if malformed."""
    if envelope_kind(envelope) is not EnvelopeKind.TRANSFER or len(envelope) < PREFIX_SIZE:
        raise RemoteProtocolError("A malformed transfer frame arrived.")
    raw_id, _direction, _counter = _HEADER.unpack_from(envelope, HINT_SIZE + 1)
    return bytes(raw_id).hex()


class TransferCipher:
    """Seals our frames and opens the peer's for one transfer."""

    def __init__(self, transfer_id: str, key: bytes, *, sending: bool) -> None:
        if len(key) != KEY_SIZE:
            raise RemoteProtocolError("A file offer's transfer key has the wrong size.")
        self.transfer_id = check_transfer_id(transfer_id)
        self._raw_id = bytes.fromhex(transfer_id)
        self._out = FrameDirection.CHUNKS if sending else FrameDirection.ACKS
        self._in = FrameDirection.ACKS if sending else FrameDirection.CHUNKS
        self._keys = {
            d: hkdf_sha256(key, KEY_SIZE, info=_LABEL + bytes((d,))) for d in FrameDirection
        }
        self._sent = 0
        self._received = 0

    def __repr__(self) -> str:
        return f"TransferCipher({self.transfer_id}, sending={self.sending})"

    @property
    def sending(self) -> bool:
        """We send this transfer's chunks (and open only its small ack frames)."""
        return self._out is FrameDirection.CHUNKS

    def seal(self, payload: bytes, hint: bytes) -> bytes:
        """Our next frame, carrying ``payload`` (an encoded chunk or ack)."""
        size = _PLAINTEXT_SIZE[self._out]
        if _LENGTH.size + len(payload) > size:
            raise LocalProtocolError("A transfer payload does not fit its frame.")
        plaintext = _LENGTH.pack(len(payload)) + payload
        plaintext += bytes(size - len(plaintext))
        prefix = (
            hint
            + bytes((EnvelopeKind.TRANSFER,))
            + _HEADER.pack(self._raw_id, self._out, self._sent)
        )
        nonce = counter_nonce(self._out, self._sent)
        sealed = seal(self._keys[self._out], nonce, plaintext, prefix)
        self._sent += 1
        return prefix + sealed

    def open(self, envelope: bytes) -> bytes:
        """The payload of the peer's next frame; TamperedError for anything else."""
        if len(envelope) < PREFIX_SIZE:
            raise TamperedError("A truncated transfer frame arrived.")
        raw_id, direction, counter = _HEADER.unpack_from(envelope, HINT_SIZE + 1)
        if raw_id != self._raw_id or direction != self._in or counter != self._received:
            raise TamperedError("A transfer frame arrived out of order or for another transfer.")
        try:
            plaintext = open_sealed(
                self._keys[self._in],
                counter_nonce(self._in, counter),
                envelope[PREFIX_SIZE:],
                envelope[:PREFIX_SIZE],
            )
        except AuthenticationError:
            raise TamperedError() from None
        (length,) = _LENGTH.unpack_from(plaintext)
        if len(plaintext) != _PLAINTEXT_SIZE[self._in] or length > len(plaintext) - _LENGTH.size:
            raise TamperedError("A transfer frame has an impossible length.")
        self._received += 1
        return plaintext[_LENGTH.size : _LENGTH.size + length]
