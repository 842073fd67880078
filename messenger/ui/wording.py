"""The words the app uses for what the protocol calls "mode", "epoch" and "RSA": a person
starts a session *by code* or *by invitation*, and the keys get *renewed*.

The technical names stay available behind a "Details" button or in a tooltip.
"""

from __future__ import annotations

import errno
import socket

from messenger.protocol.errors import (
    MessengerError,
    PeerKeyChangedError,
    ServerUnreachableError,
)

__all__ = [
    "KEYS_RENEWED",
    "KEY_CHANGED",
    "connection_problem",
    "for_people",
    "keys_renewed_text",
    "session_kind",
]

KEYS_RENEWED = "Keys renewed"
#: A refused session with a new key under a known name (``peer_key_changed``), without the
#: command-line advice the core's message ends with.
KEY_CHANGED = (
    "This person uses the name of someone you know, but with a different key: it may be "
    "someone else. Compare safety numbers with the person you know another way (in person "
    "or on a call) before you talk."
)


def session_kind(mode: str) -> str:
    """ "Invited session" (RSA identities) or "Session by code" (password, SPAKE2)."""
    return "Invited session" if mode == "rsa" else "Session by code"


def technical_kind(mode: str) -> str:
    """What docs/protocol.md calls the same thing (for Details and tooltips)."""
    return (
        "RSA session: both identity keys, RSA-OAEP, X25519, RSA-PSS"
        if mode == "rsa"
        else "password session: PBKDF2 and SPAKE2"
    )


def keys_renewed_text(times: int) -> str:
    """How often a session's keys were renewed so far (its key epoch)."""
    if times <= 0:
        return ""
    return f"{KEYS_RENEWED} once" if times == 1 else f"{KEYS_RENEWED} {times} times"


_ERRNO_WORDS = {
    errno.ECONNREFUSED: "Nothing answers at {address} (connection refused). Check the "
    "address and port, and that the server is running.",
    errno.EHOSTUNREACH: "The computer at {address} cannot be reached from here (no route). "
    "Check the address and your network.",
    errno.ENETUNREACH: "The network of {address} cannot be reached from here. Check your "
    "network connection.",
    errno.ECONNRESET: "The computer at {address} hung up at once: it may not be a Messenger "
    "server.",
    errno.ETIMEDOUT: "Nothing answered at {address} in time. Check the address, and that "
    "no firewall blocks it.",
}


def _os_error(exc: BaseException) -> OSError | TimeoutError | None:
    """The OS-level cause of ``exc``, if it has one (the core wraps them)."""
    seen: BaseException | None = exc
    for _ in range(4):
        if isinstance(seen, OSError | TimeoutError):
            return seen
        if seen is None:
            return None
        seen = seen.__cause__ or seen.__context__
    return None


def connection_problem(exc: BaseException, address: str) -> str:
    """Why connecting to ``address`` failed, as a sentence (never Python's raw words such
    as "[Errno 111] Connect call failed ('127.0.0.1', 1)")."""
    cause = _os_error(exc)
    if isinstance(cause, socket.gaierror):
        host = address.rpartition(":")[0] or address
        return f"No computer called \u201c{host}\u201d was found. Check the spelling."
    if isinstance(cause, TimeoutError) or (
        isinstance(cause, OSError) and cause.errno is None and "timed out" in str(cause)
    ):
        return _ERRNO_WORDS[errno.ETIMEDOUT].format(address=address)
    if isinstance(cause, OSError) and cause.errno in _ERRNO_WORDS:
        return _ERRNO_WORDS[cause.errno].format(address=address)
    if isinstance(cause, OSError):
        reason = (cause.strerror or "").rstrip(".").lower() or "the connection failed"
        return f"Could not connect to {address} ({reason})."
    if isinstance(exc, MessengerError) and not isinstance(exc, ServerUnreachableError):
        return f"{address} answered, but not as a Messenger server would: {exc}"
    if isinstance(exc, ServerUnreachableError) and "handshake" in str(exc):
        return f"Something answers at {address}, but it is not a Messenger server."
    if isinstance(exc, MessengerError):
        return str(exc)
    return f"{address} answered, but not as a Messenger server would."


def for_people(exc: MessengerError, address: str = "") -> str:
    """An error from the core as the app shows it: connection failures in plain words, a
    changed contact key without the command-line advice."""
    if isinstance(exc, PeerKeyChangedError) and exc.known_id:
        # A known name with a new key. Without a known contact it is a key that is not
        # the id it claims (an interception), which the core's own words say plainly.
        return KEY_CHANGED
    if address and _os_error(exc) is not None:
        return connection_problem(exc, address)
    return str(exc)
