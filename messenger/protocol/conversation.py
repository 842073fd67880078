"""A conversation: chat messages and receipts over one SecureChannel, plus rotation policy.

Bytes in, events out: ``receive(packet)`` returns what happened (a message arrived, a message
was delivered) and any packets to send back (receipts). Nothing here knows about sockets.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from messenger.protocol.channel import SecureChannel
from messenger.protocol.errors import LocalProtocolError, RemoteProtocolError
from messenger.protocol.payloads import (
    FILE_PAYLOADS,
    MAX_TEXT_BYTES,
    Bye,
    Receipt,
    Text,
    payloads,
)

#: Rotate the sending key after this many records even if no timer tick arrives.
DEFAULT_ROTATE_AFTER_RECORDS = 1000
#: ...or after this many payload bytes.
DEFAULT_ROTATE_AFTER_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class TextReceived:
    id: str
    text: str
    sent_at: float


@dataclass(frozen=True, slots=True)
class Delivered:
    id: str


@dataclass(frozen=True, slots=True)
class Rotated:
    epoch: int


@dataclass(frozen=True, slots=True)
class PeerSaidBye:
    reason: str


@dataclass(frozen=True, slots=True)
class FilePayload:
    """A file-transfer payload for the session's transfers to handle."""

    payload: object


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A sealed packet to hand to the relay."""

    data: bytes


ConversationEvent = TextReceived | Delivered | Rotated | PeerSaidBye | Outgoing | FilePayload


@dataclass
class Conversation:
    """Chat semantics for one established session."""

    channel: SecureChannel
    rotate_after_records: int = DEFAULT_ROTATE_AFTER_RECORDS
    rotate_after_bytes: int = DEFAULT_ROTATE_AFTER_BYTES
    #: ids sent but not yet acknowledged by a receipt, in sending order.
    undelivered: dict[str, float] = field(default_factory=dict)

    @property
    def epoch(self) -> int:
        return self.channel.send_epoch

    def send_text(
        self, text: str, message_id: str | None = None
    ) -> tuple[str, list[ConversationEvent]]:
        """Seal one chat message; returns its id and the events (packets, maybe a rotation)."""
        try:
            encoded = text.encode("utf-8")
        except UnicodeEncodeError:
            raise LocalProtocolError(
                "That message contains characters that cannot be sent (unpaired surrogates)."
            ) from None
        if len(encoded) > MAX_TEXT_BYTES:
            raise LocalProtocolError(
                f"That message is longer than {MAX_TEXT_BYTES // 1024} KiB; send it as a file."
            )
        message_id = message_id or uuid.uuid4().hex
        events = self._seal(Text(id=message_id, text=text, sent_at=time.time()))
        self.undelivered[message_id] = time.monotonic()
        return message_id, events

    def say_bye(self, reason: str = "") -> list[ConversationEvent]:
        return self._seal(Bye(reason=reason))

    def send_payload(self, payload: object) -> list[ConversationEvent]:
        """Seal any other payload (file offers, chunks, acks...)."""
        return self._seal(payload)

    def rotate(self) -> list[ConversationEvent]:
        """Move the sending key on (timer tick or the person's "rotate now")."""
        record = self.channel.rotate_send()
        return [Outgoing(record), Rotated(self.channel.send_epoch)]

    def receive(self, packet: bytes) -> list[ConversationEvent]:
        """Open one record from the peer. Raises TamperedError / ReplayedError / protocol errors."""
        opened = self.channel.open(packet)
        if opened is None:
            return []  # the peer's key moved on; nothing to show
        payload = payloads.decode(opened)
        if isinstance(payload, Text):
            events: list[ConversationEvent] = [
                TextReceived(payload.id, payload.text, payload.sent_at)
            ]
            return events + self._seal(Receipt(id=payload.id))
        if isinstance(payload, Receipt):
            if self.undelivered.pop(payload.id, None) is None:
                return []  # a receipt for something we no longer track: harmless
            return [Delivered(payload.id)]
        if isinstance(payload, Bye):
            return [PeerSaidBye(payload.reason)]
        if isinstance(payload, FILE_PAYLOADS):
            return [FilePayload(payload)]
        raise RemoteProtocolError(f"The peer sent an unexpected {type(payload).__name__}.")

    def _seal(self, payload: object) -> list[ConversationEvent]:
        events: list[ConversationEvent] = [Outgoing(self.channel.seal(payloads.encode(payload)))]
        if (
            self.channel.records_in_epoch >= self.rotate_after_records
            or self.channel.bytes_in_epoch >= self.rotate_after_bytes
        ):
            events += self.rotate()
        return events
