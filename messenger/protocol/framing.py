"""Length-prefixed frames: 4-byte big-endian body length, then the body.

The cap is checked on the length prefix, before any body byte is buffered, so a peer that
announces a huge frame costs us four bytes of memory, not the frame.
"""

from __future__ import annotations

import struct

from messenger.protocol.errors import FrameTooLargeError

#: Room for a 1 MiB file chunk plus record header, padding and tag.
MAX_FRAME_BODY = 2 * 1024 * 1024 + 4096

_LENGTH = struct.Struct(">I")
LENGTH_SIZE = _LENGTH.size


def encode_frame(body: bytes, max_body: int = MAX_FRAME_BODY) -> bytes:
    """Prefix ``body`` with its length; refuse to build a frame the peer would reject."""
    if len(body) > max_body:
        raise FrameTooLargeError(f"Refusing to send a {len(body)}-byte frame (limit {max_body}).")
    return _LENGTH.pack(len(body)) + body


class FrameDecoder:
    """Turns a byte stream into frame bodies. Feed with ``receive_data``, drain ``next_frame``."""

    def __init__(self, max_body: int = MAX_FRAME_BODY) -> None:
        self._max_body = max_body
        self._buffer = bytearray()

    def receive_data(self, data: bytes) -> None:
        self._buffer += data

    def next_frame(self) -> bytes | None:
        """Return the next complete body, or None if more bytes are needed."""
        if len(self._buffer) < LENGTH_SIZE:
            return None
        (length,) = _LENGTH.unpack_from(self._buffer)
        if length > self._max_body:
            raise FrameTooLargeError(
                f"The other side announced a {length}-byte frame (limit {self._max_body})."
            )
        end = LENGTH_SIZE + length
        if len(self._buffer) < end:
            return None
        with memoryview(self._buffer) as view:  # one copy, not a slice and then a copy
            body = bytes(view[LENGTH_SIZE:end])
        if end == len(self._buffer):
            self._buffer = bytearray()
        else:
            del self._buffer[:end]
        return body

    def frames(self) -> list[bytes]:
        """All complete bodies buffered so far."""
        out: list[bytes] = []
        while (body := self.next_frame()) is not None:
            out.append(body)
        return out

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as a frame (for a truncation check at EOF)."""
        return len(self._buffer)
