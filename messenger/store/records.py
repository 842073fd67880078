"""The rows of the profile database, as plain frozen dataclasses (see ``database``)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "ContactRecord",
    "ConversationRecord",
    "ConversationSummary",
    "MessageRecord",
    "MessageStatus",
    "OutboxEntry",
    "VerifiedBy",
]

#: Length of a conversation list preview, in characters.
PREVIEW_LENGTH = 80


class VerifiedBy(StrEnum):
    """How a contact's key was checked by a person."""

    CODE = "code"
    """Met through a pairing code: the code both introduced and authenticated the keys."""
    SAFETY_NUMBER = "safety_number"
    """The two people compared safety numbers."""


class MessageStatus(StrEnum):
    """Where a message is. Outgoing: pending -> sent -> delivered (or failed); incoming:
    received."""

    PENDING = "pending"
    """In the outbox, not yet taken by the relay."""
    SENT = "sent"
    """The relay has committed it (or handed it to the online recipient)."""
    DELIVERED = "delivered"
    """The recipient's receipt came back."""
    RECEIVED = "received"
    """An incoming message, stored."""
    FAILED = "failed"
    """Sending gave up (a retry puts it back to pending)."""

    @property
    def rank(self) -> int:
        """Outgoing progress; a status never moves to a lower rank (``set_status``)."""
        return _RANK[self]


_RANK = {
    MessageStatus.PENDING: 0,
    MessageStatus.FAILED: 0,
    MessageStatus.SENT: 1,
    MessageStatus.DELIVERED: 2,
    MessageStatus.RECEIVED: 0,
}
OUTGOING_STATUSES = frozenset(
    {MessageStatus.PENDING, MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.FAILED}
)


@dataclass(frozen=True, slots=True)
class ContactRecord:
    """A person we met. ``id`` is the 64-hex SHA-256 fingerprint of their identity key."""

    id: str
    name: str
    """The name they gave themselves (a label: see docs/security.md)."""
    pinned_at: float
    local_name: str | None = None
    """The name we gave them, shown instead of ``name`` when set."""
    key_der: bytes = b""
    """Their identity key (SubjectPublicKeyInfo DER); empty if not known yet."""
    verified: bool = False
    verified_by: VerifiedBy | None = None
    key_change_note: str | None = None

    @property
    def display_name(self) -> str:
        return self.local_name or self.name

    @property
    def fingerprint(self) -> str:
        """The id again, under the name the JSON-era ``Contact`` used."""
        return self.id


@dataclass(frozen=True, slots=True)
class ConversationRecord:
    """The state of the conversation with one contact: the ratchet (as saved by
    ``messenger.protocol``), delivery tokens and hints, activity and unread count."""

    contact_id: str
    ratchet: bytes
    send_token: bytes
    recv_token: bytes
    send_hint: bytes
    recv_hint: bytes
    created_at: float
    last_activity: float
    unread: int = 0

    def __repr__(self) -> str:
        # The ratchet holds keys: keep it out of log lines and tracebacks.
        return (
            f"ConversationRecord(contact_id={self.contact_id!r}, "
            f"last_activity={self.last_activity}, unread={self.unread})"
        )


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """One message of the history. ``id`` orders the history (and pages it); ``msg_id`` is
    the sender-chosen id that receipts and de-duplication use."""

    id: int
    contact_id: str
    msg_id: str
    outgoing: bool
    kind: str
    body: str
    sent_at: float
    stored_at: float
    status: MessageStatus
    meta: str | None = None

    def __repr__(self) -> str:
        # What people wrote stays out of log lines and tracebacks.
        return (
            f"MessageRecord(id={self.id}, contact_id={self.contact_id[:16]!r}, "
            f"msg_id={self.msg_id!r}, outgoing={self.outgoing}, kind={self.kind!r}, "
            f"status={self.status.value}, body=<{len(self.body)} characters>)"
        )


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """A sealed envelope waiting to be taken by the relay."""

    seq: int
    contact_id: str
    msg_id: str
    envelope: bytes
    created_at: float
    attempts: int = 0
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    """One line of the app's conversation list."""

    contact: ContactRecord
    last_message: MessageRecord | None
    unread: int
    last_activity: float
    """The later of the conversation's last activity and its last message."""

    @property
    def preview(self) -> str:
        """The last message's first line, cut to PREVIEW_LENGTH characters."""
        if self.last_message is None:
            return ""
        lines = self.last_message.body.strip().splitlines()
        first = lines[0] if lines else ""
        if len(first) > PREVIEW_LENGTH:
            return first[: PREVIEW_LENGTH - 1] + "\u2026"
        return first
