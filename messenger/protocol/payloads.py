"""What peers say to each other inside sealed records.

Every payload that a person would miss carries a sender-chosen ``id`` so that receipts,
store-and-forward and de-duplication can key on it. Nothing here says "exactly two members":
a room with sender keys would carry the same payloads.
"""

from __future__ import annotations

from messenger.protocol.framing import MAX_FRAME_BODY
from messenger.protocol.schema import Schema, message

#: A chat message's text, in UTF-8 bytes. Long pastes fit; a novel goes as a file.
MAX_TEXT_BYTES = 64 * 1024

payloads = Schema("payload", max_bin_len=MAX_FRAME_BODY, max_str_len=MAX_TEXT_BYTES)


@message(payloads, "text")
class Text:
    id: str
    text: str
    sent_at: float


@message(payloads, "receipt")
class Receipt:
    """The peer opened the message with this id (itself sealed, so the relay cannot forge it)."""

    id: str


@message(payloads, "bye")
class Bye:
    """The sender is leaving the session on purpose (not a dropped link)."""

    reason: str = ""


# -- files (see ``transfer``) -------------------------------------------------------------


@message(payloads, "file_offer")
class FileOffer:
    id: str
    name: str
    size: int
    sha256: bytes
    chunk_size: int


@message(payloads, "file_accept")
class FileAccept:
    id: str
    start: int = 0


@message(payloads, "file_decline")
class FileDecline:
    id: str
    reason: str = ""


@message(payloads, "file_chunk")
class FileChunk:
    id: str
    index: int
    data: bytes


@message(payloads, "file_ack")
class FileAck:
    id: str
    next: int


@message(payloads, "file_done")
class FileDone:
    id: str


@message(payloads, "file_cancel")
class FileCancel:
    id: str
    reason: str = ""


FILE_PAYLOADS = (FileOffer, FileAccept, FileDecline, FileChunk, FileAck, FileDone, FileCancel)
