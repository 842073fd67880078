"""Control messages between a client and the relay.

The relay sees only this layer. Everything a peer says to the other peer travels inside
``Relay.data``, sealed end to end, so the relay routes bytes it cannot read.

Conversation shape (C = client, S = relay)::

    C: Hello(version, name)             S: Welcome(version, rotate_interval, idle_timeout)
    C: CreateSession(salt)              S: SessionCreated(session)
    C: JoinSession(session)             S: Paired(session, role, salt)   -> to both members
    C: Relay(session, data)             S: Relay(session, data)          -> to the other member
    C: PairingFailed(session)           (creator: key confirmation failed; counts toward burn)
    C: LeaveSession(session)            S: PeerLeft(session)             -> to the other member
                                        S: RotateTick(session)           every rotate_interval
    C: Ping(nonce)                      S: Pong(nonce)
                                        S: Error(code, message, session, fatal)

An ``Error`` with ``fatal`` set is followed by the relay closing the connection; a
session-scoped error (``session_full``, ``no_such_session``) leaves the connection usable.
"""

from __future__ import annotations

from messenger.protocol.framing import MAX_FRAME_BODY
from messenger.protocol.schema import Schema

PROTOCOL_VERSION = 1

#: Session numbers are short decimal strings ("7"); ids are bounded so a hostile client
#: cannot make the relay hash megabytes.
MAX_SESSION_ID_LEN = 16
MAX_NAME_LEN = 64
SALT_SIZE = 16

control = Schema("control", max_bin_len=MAX_FRAME_BODY, max_str_len=4096)


@control.message("hello")
class Hello:
    version: int
    name: str = ""


@control.message("welcome")
class Welcome:
    version: int
    rotate_interval: float
    idle_timeout: float


@control.message("create")
class CreateSession:
    salt: bytes


@control.message("created")
class SessionCreated:
    session: str


@control.message("join")
class JoinSession:
    session: str


@control.message("paired")
class Paired:
    session: str
    role: str
    salt: bytes


@control.message("relay")
class Relay:
    session: str
    data: bytes


@control.message("pairing_failed")
class PairingFailed:
    session: str


@control.message("leave")
class LeaveSession:
    session: str


@control.message("peer_left")
class PeerLeft:
    session: str


@control.message("rotate")
class RotateTick:
    session: str


@control.message("ping")
class Ping:
    nonce: int = 0


@control.message("pong")
class Pong:
    nonce: int = 0


@control.message("error")
class Error:
    code: str
    message: str
    session: str | None = None
    fatal: bool = False


encode = control.encode
decode = control.decode
