"""Every failure the protocol can report, as one exception tree.

::

    MessengerError                 base; ``code`` is the stable machine-readable name
    ├── LocalProtocolError         we tried to do something the protocol forbids
    └── RemoteProtocolError        the other side (peer or relay) broke the protocol
        ├── FrameTooLargeError
        ├── TamperedError          a sealed record failed authentication
        ├── ReplayedError          an authentic record arrived twice or out of order
        └── TooFarAheadError       a ratchet message skips more keys than allowed
    DamagedStateError              saved ratchet state is damaged or of an unknown version
    QueueFullError                 the relay's queue for that person is over quota
    WrongPasswordError             key confirmation failed: the passwords differ
    SessionFullError / NoSuchSessionError / CodeUsedError / SessionBurnedError / PeerLeftError
    ServerUnreachableError / ServerError / TimeoutError_
    ServerKeyChangedError / UnknownServerError / AuthenticationFailedError
    PeerBusyError / PeerOfflineError / PeerKeyChangedError / DeclinedError

The first line of each docstring is the sentence a person reads; ``code`` is what scripts
match on (it appears as ``{"event": "error", "code": ...}`` in messenger-cli).
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar


class ErrorCode(StrEnum):
    """Stable error names shared by the relay, the client and messenger-cli."""

    PROTOCOL = "protocol"
    FRAME_TOO_LARGE = "frame_too_large"
    TAMPERED = "tampered"
    REPLAYED = "replayed"
    WRONG_PASSWORD = "wrong_password"
    SESSION_FULL = "session_full"
    NO_SUCH_SESSION = "no_such_session"
    CODE_USED = "code_used"
    SESSION_BURNED = "session_burned"
    PEER_LEFT = "peer_left"
    SERVER_UNREACHABLE = "server_unreachable"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    BUSY = "busy"
    SERVER_KEY_CHANGED = "server_key_changed"
    UNKNOWN_SERVER = "unknown_server"
    AUTH_FAILED = "auth_failed"
    PEER_BUSY = "peer_busy"
    PEER_OFFLINE = "peer_offline"
    PEER_KEY_CHANGED = "peer_key_changed"
    DECLINED = "declined"
    NOT_ALLOWED = "not_allowed"
    TOO_FAR_AHEAD = "too_far_ahead"
    DAMAGED_STATE = "damaged_state"
    QUEUE_FULL = "queue_full"


class MessengerError(Exception):
    """Something went wrong."""

    code: ClassVar[ErrorCode] = ErrorCode.PROTOCOL

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default_message())

    @classmethod
    def default_message(cls) -> str:
        """The first line of the docstring: written for a person, not a log parser."""
        return (cls.__doc__ or cls.__name__).strip().splitlines()[0]

    @property
    def message(self) -> str:
        return str(self)


class LocalProtocolError(MessengerError):
    """This program tried to do something the protocol does not allow."""


class RemoteProtocolError(MessengerError):
    """The other side sent something that does not follow the protocol."""


class FrameTooLargeError(RemoteProtocolError):
    """A frame was larger than the protocol allows; the connection was closed."""

    code = ErrorCode.FRAME_TOO_LARGE


class TamperedError(RemoteProtocolError):
    """A message was modified or truncated on the way; it was discarded and the session ended."""

    code = ErrorCode.TAMPERED


class ReplayedError(RemoteProtocolError):
    """A message arrived twice or out of order (replayed or reordered on the way); the session
    ended."""

    code = ErrorCode.REPLAYED


class TooFarAheadError(RemoteProtocolError):
    """A message claims that too many earlier messages went missing; it was refused.

    The double ratchet derives and keeps a key for every message it skips, so a header that
    asked to skip without limit could make us compute and store keys for ever. Past the
    limit (``RatchetLimits.max_skip``) the message is refused and nothing changes.
    """

    code = ErrorCode.TOO_FAR_AHEAD


class DamagedStateError(MessengerError):
    """This conversation's saved keys are damaged or from an unknown version; it cannot go on.

    Raised when saved ratchet state does not parse, fails a sanity check, or was written by
    a version we do not know. Nothing is guessed or repaired: a conversation needs a new
    meeting to start again.
    """

    code = ErrorCode.DAMAGED_STATE


class QueueFullError(MessengerError):
    """That person's queue on the server is full, so the message was not kept; try again later.

    The relay keeps a bounded number of messages (and bytes) for each person while they are
    offline; once they come back and take their messages, there is room again.
    """

    code = ErrorCode.QUEUE_FULL


class WrongPasswordError(MessengerError):
    """The passwords did not match: check the code with the other person and try again."""

    code = ErrorCode.WRONG_PASSWORD


class SessionFullError(MessengerError):
    """That session already has two people in it."""

    code = ErrorCode.SESSION_FULL


class NoSuchSessionError(MessengerError):
    """There is no session with that number waiting on the server: check the code."""

    code = ErrorCode.NO_SUCH_SESSION


class CodeUsedError(MessengerError):
    """That code was already used: its session started or was closed. Ask for a new code."""

    code = ErrorCode.CODE_USED


class SessionBurnedError(MessengerError):
    """Too many wrong passwords were tried for that session; it is closed. Start a new one."""

    code = ErrorCode.SESSION_BURNED


class PeerLeftError(MessengerError):
    """The other person left the session."""

    code = ErrorCode.PEER_LEFT


class ServerUnreachableError(MessengerError):
    """The server could not be reached."""

    code = ErrorCode.SERVER_UNREACHABLE


class ServerError(MessengerError):
    """The server reported an error."""

    code = ErrorCode.SERVER_ERROR


class TimeoutError_(MessengerError):
    """The other side took too long to answer."""

    code = ErrorCode.TIMEOUT


class BusyError(MessengerError):
    """The server is busy or refused the request because of a limit; try again later."""

    code = ErrorCode.BUSY


class ServerKeyChangedError(MessengerError):
    """The server's key is not the one you pinned: someone may be intercepting the connection."""

    code = ErrorCode.SERVER_KEY_CHANGED

    def __init__(self, message: str | None = None, *, pinned: str, presented: str) -> None:
        """Both fingerprints travel with the error, whichever check raised it, so a front end
        can show the new key and offer to trust it after the person checked it."""
        super().__init__(message)
        self.pinned = pinned
        self.presented = presented


class UnknownServerError(MessengerError):
    """This server's key is not pinned yet, and only known servers are allowed."""

    code = ErrorCode.UNKNOWN_SERVER


class AuthenticationFailedError(RemoteProtocolError):
    """The other side could not prove who it is (a signature did not verify)."""

    code = ErrorCode.AUTH_FAILED


class PeerBusyError(MessengerError):
    """That person is in another session right now."""

    code = ErrorCode.PEER_BUSY


class PeerOfflineError(MessengerError):
    """That person is not online."""

    code = ErrorCode.PEER_OFFLINE


class PeerKeyChangedError(MessengerError):
    """This person's key is not the one you pinned: verify it with them before trusting it."""

    code = ErrorCode.PEER_KEY_CHANGED

    def __init__(
        self, message: str | None = None, *, peer_id: str = "", known_id: str = ""
    ) -> None:
        """The new key's id and the id of the contact whose name it uses travel with the
        error (where our own check knows them), so a front end can offer to compare and
        trust the key without reading the message. A relay's error frame carries neither:
        the wire form is only the code and the message."""
        super().__init__(message)
        self.peer_id = peer_id
        self.known_id = known_id


class DeclinedError(MessengerError):
    """The other person declined the invitation."""

    code = ErrorCode.DECLINED


class NotAllowedError(MessengerError):
    """That person does not take messages from you (you are not their contact any more)."""

    code = ErrorCode.NOT_ALLOWED


_BY_CODE: dict[str, type[MessengerError]] = {
    cls.code.value: cls
    for cls in (
        RemoteProtocolError,
        FrameTooLargeError,
        TamperedError,
        ReplayedError,
        WrongPasswordError,
        SessionFullError,
        NoSuchSessionError,
        CodeUsedError,
        SessionBurnedError,
        PeerLeftError,
        ServerUnreachableError,
        ServerError,
        TimeoutError_,
        BusyError,
        UnknownServerError,
        AuthenticationFailedError,
        PeerBusyError,
        PeerOfflineError,
        PeerKeyChangedError,
        DeclinedError,
        QueueFullError,
        NotAllowedError,
    )
}


def error_from_code(code: str, message: str | None = None) -> MessengerError:
    """Rebuild the exception a relay error frame names; unknown codes become ServerError."""
    cls = _BY_CODE.get(code)
    if cls is None or cls is ServerKeyChangedError:
        # A relay never reports its own key change; that check is ours alone.
        return ServerError(message or f"The server reported an error ({code}).")
    return cls(message or None)
