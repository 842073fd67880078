"""What peers say to each other inside sealed records.

Every payload that a person would miss carries a sender-chosen ``id`` so that receipts,
store-and-forward and de-duplication can key on it. Nothing here says "exactly two members":
a room with sender keys would carry the same payloads.
"""

from __future__ import annotations

from messenger.protocol.framing import MAX_FRAME_BODY
from messenger.protocol.schema import Schema

#: A chat message's text, in UTF-8 bytes. Long pastes fit; a novel goes as a file.
MAX_TEXT_BYTES = 64 * 1024

payloads = Schema("payload", max_bin_len=MAX_FRAME_BODY, max_str_len=MAX_TEXT_BYTES)


@payloads.message("text")
class Text:
    id: str
    text: str
    sent_at: float


@payloads.message("receipt")
class Receipt:
    """The peer opened the message with this id (itself sealed, so the relay cannot forge it)."""

    id: str


@payloads.message("bye")
class Bye:
    """The sender is leaving the session on purpose (not a dropped link)."""

    reason: str = ""


# -- files (see ``transfer``) -------------------------------------------------------------


@payloads.message("file_offer")
class FileOffer:
    id: str
    name: str
    size: int
    sha256: bytes
    chunk_size: int


@payloads.message("file_accept")
class FileAccept:
    id: str
    start: int = 0


@payloads.message("file_decline")
class FileDecline:
    id: str
    reason: str = ""


@payloads.message("file_chunk")
class FileChunk:
    id: str
    index: int
    data: bytes


@payloads.message("file_ack")
class FileAck:
    id: str
    next: int


@payloads.message("file_done")
class FileDone:
    id: str


@payloads.message("file_cancel")
class FileCancel:
    id: str
    reason: str = ""


FILE_PAYLOADS = (FileOffer, FileAccept, FileDecline, FileChunk, FileAck, FileDone, FileCancel)
