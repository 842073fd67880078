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


#: Receipts name at most this many messages each (one receipt per batch received).
MAX_RECEIPT_IDS = 1024
#: Message ids are chosen by their sender: bounded, as everything from the wire.
MAX_ID_LEN = 64


@message(payloads, "text")
class Text:
    id: str
    text: str
    sent_at: float
    #: Set for a puzzle: the classical cipher ``text`` was made with (see the cipher lab).
    puzzle: str = ""


@message(payloads, "receipt")
class Receipt:
    """The peer stored the messages with these ids (sealed, so the relay cannot forge it)."""

    ids: tuple[str, ...]


@message(payloads, "heal")
class Heal:
    """An empty message that carries our new ratchet key, so the peer can take its next DH
    step even when we have nothing to say; ``request`` asks the peer to do the same."""

    request: bool = False


@message(payloads, "introduce")
class Introduce:
    """Who we are, sent once inside a meeting's sealed channel (see ``introduction``)."""

    key: bytes
    name: str
    ratchet: bytes
    signature: bytes


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
    #: The transfer's own key: its chunks and acks are sealed under keys derived from it.
    key: bytes = b""


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
