"""Events the client core reports to its front ends (messenger-cli, the Qt adapter).

Plain frozen dataclasses: the CLI prints them as JSON lines, the UI turns them into signals.

Two scopes: a *session* is one meeting on the relay (a code or an invitation, while it
runs); a *contact* is the person it introduced, whose conversation outlives it. Events
about a conversation name the contact, and the live session with them ("" if none).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from messenger.protocol.errors import MessengerError
from messenger.protocol.wire import Person


@dataclass(frozen=True, slots=True)
class CodeCreated:
    session: str
    code: str


@dataclass(frozen=True, slots=True)
class SessionReady:
    """The meeting is done: ``peer_id`` (proven by the code or the RSA handshake) is a
    contact now, and the conversation with them has begun."""

    session: str
    mode: str
    safety: str
    peer_id: str = ""
    peer_name: str = ""
    #: The peer was new to us (not a contact before this meeting).
    new_contact: bool = False


class AttemptFailure(StrEnum):
    """Why a join of our code failed (the code stays open until it runs out of tries)."""

    WRONG_PASSWORD = "wrong_password"
    #: The joiner never sent its confirmation (walked away, or held the seat).
    UNCONFIRMED = "unconfirmed"


@dataclass(frozen=True, slots=True)
class PairingAttemptFailed:
    """Someone joined our code and did not prove the password; we keep waiting."""

    session: str
    reason: AttemptFailure
    tries_left: int


@dataclass(frozen=True, slots=True)
class Invited:
    """Someone wants an RSA session with us; answer with ``Client.answer_invitation``."""

    session: str
    from_id: str
    from_name: str


class InvitationEnd(StrEnum):
    EXPIRED = "expired"  #: nobody answered in time
    WITHDRAWN = "withdrawn"  #: the inviter left or went offline


@dataclass(frozen=True, slots=True)
class InvitationClosed:
    """An invitation we have not answered is gone; answering it now would do nothing."""

    session: str
    reason: InvitationEnd


@dataclass(frozen=True, slots=True)
class PeopleChanged:
    """Who is listed now (everyone but us who chose to be), by name, after the relay told
    us of a difference: ``added`` (new or changed entries) and ``gone`` (ids)."""

    people: tuple[Person, ...]
    added: tuple[Person, ...] = ()
    gone: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """A message from a contact, stored in the history before this event."""

    session: str
    id: str
    text: str
    sent_at: float
    contact: str = ""
    name: str = ""
    puzzle: str = ""


@dataclass(frozen=True, slots=True)
class MessageSent:
    """The relay committed our message (or handed it to the online recipient)."""

    session: str
    id: str
    contact: str = ""


@dataclass(frozen=True, slots=True)
class MessageDelivered:
    """The contact stored our message (their receipt came back)."""

    session: str
    id: str
    contact: str = ""


@dataclass(frozen=True, slots=True)
class MessageFailed:
    """The relay would not take our message; ``error`` says why (it stays in the history)."""

    session: str
    id: str
    contact: str
    error: MessengerError


@dataclass(frozen=True, slots=True)
class KeysRotated:
    """Our sending keys took a fresh X25519 step in the conversation with ``contact``;
    ``epoch`` counts those steps."""

    session: str
    epoch: int
    contact: str = ""


@dataclass(frozen=True, slots=True)
class ContactPresence:
    """A contact came online or went offline (only contacts see each other)."""

    contact: str
    online: bool


class DropReason(StrEnum):
    REPLAYED = "replayed"
    TAMPERED = "tampered"
    UNKNOWN = "unknown_conversation"
    MALFORMED = "malformed"


@dataclass(frozen=True, slots=True)
class EnvelopeDropped:
    """An envelope was refused (and deleted at the relay); nothing of it was shown."""

    reason: DropReason
    contact: str = ""


@dataclass(frozen=True, slots=True)
class CaughtUp:
    """Everything the relay kept for us while we were away has been taken in."""

    count: int


@dataclass(frozen=True, slots=True)
class PeerLeft:
    session: str


@dataclass(frozen=True, slots=True)
class SessionFailed:
    """The session ended because of ``error``; nothing more will arrive on it."""

    session: str | None
    error: MessengerError


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The connection to the server ended; every open session ended with it."""

    error: MessengerError


@dataclass(frozen=True, slots=True)
class FileOffered:
    """The peer offers a file (the name is already made safe)."""

    session: str
    id: str
    name: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class FileWaiting:
    """A file offered to a contact who is offline: it goes out when they are back (files
    need both people online)."""

    session: str
    name: str


@dataclass(frozen=True, slots=True)
class FileAccepted:
    session: str
    id: str
    start_chunk: int  #: > 0 when the peer resumes a partial copy


@dataclass(frozen=True, slots=True)
class FileProgress:
    session: str
    id: str
    transferred: int
    total: int
    direction: str  #: "in" or "out"


@dataclass(frozen=True, slots=True)
class FileCompleted:
    session: str
    id: str
    path: str
    sha256: str
    direction: str


@dataclass(frozen=True, slots=True)
class FileCancelled:
    session: str
    id: str
    by: str  #: "me" or "peer"
    reason: str


@dataclass(frozen=True, slots=True)
class FileFailed:
    session: str
    id: str
    code: str
    message: str


#: Every event the core reports; front ends match on it exhaustively (``assert_never``).
ClientEvent = (
    CodeCreated
    | SessionReady
    | PairingAttemptFailed
    | Invited
    | InvitationClosed
    | PeopleChanged
    | MessageReceived
    | MessageSent
    | MessageDelivered
    | MessageFailed
    | KeysRotated
    | ContactPresence
    | EnvelopeDropped
    | CaughtUp
    | PeerLeft
    | SessionFailed
    | Disconnected
    | FileOffered
    | FileWaiting
    | FileAccepted
    | FileProgress
    | FileCompleted
    | FileCancelled
    | FileFailed
)
