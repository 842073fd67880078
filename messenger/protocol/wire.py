"""Control messages between a client and the relay.

The relay sees only this layer. Everything a peer says to the other peer travels inside
``Relay.data``, sealed end to end, so the relay routes bytes it cannot read.

Conversation shape (C = client, S = relay). The two hellos are plaintext; every frame
after them, both ways, is sealed by the transport (see ``transport``)::

    C: ClientHello(version, eph, nonce, ticket, tickets)
    S: ServerHello(version, key, hkey, hkey_at, signature, eph, nonce)
                                        RSA-PSS over the relay's handshake key (hkey, made
                                        at hkey_at); keys from X25519 with eph and hkey
    ---- sealed from here on ----
    C: Auth(key, name, signature, accept_invites, listed)  RSA-PSS over the transcript hash
    S: Welcome(version, rotate_interval, idle_timeout, id, resumed)
    S: Ticket(ticket, number, lifetime)                  if the hello asked for tickets: for
                                                         the next connection, and again
                                                         before it expires
  or, when the relay takes the hello's ticket:
    S: ServerResume(version, eph, nonce)
    ---- sealed from here on ----
    C: Resume(name, accept_invites, listed)
    S: Welcome(...), Ticket(...)

    C: CreateSession(ref, salt)         S: SessionCreated(ref, session)
    C: JoinSession(session)             S: Paired(session, role, salt, mode, peer_*) -> both
    C: Invite(ref, to)                  S: InviteSent(ref, session, to)
                                        S: Invitation(session, from_id, from_name) -> invitee
    C: Accept(session) / Decline(session)   S: Paired(...) to both / Error(declined) to inviter
    C: ListPeople(ref, watch, query, cursor, limit)
                                        S: People(ref, people, version, cursor)  one page
                                        S: PeopleChanged(version, people, gone)  watching
    C: Relay(session, data)             S: Relay(session, data)          -> the other member
    C: PairingFailed(session)           (creator: key confirmation failed; counts toward burn)
    C: LeaveSession(session)            S: PeerLeft(session)             -> the other member
                                        S: RotateTick(session)           every rotate_interval
    C: Ping(nonce)                      S: Pong(nonce)
                                        S: Error(code, message, session, ref, fatal)

Conversations between contacts (store and forward; see docs/protocol.md)::

    C: RegisterTokens(tokens)           tokens others must show to post to us (the relay keeps
    C: RevokeTokens(tokens)             only their SHA-256); registering again is harmless
    C: Post(ref, to, token, data)       S: Posted(ref, id)    committed to disk, or Error
    C: Fetch()                          S: Deliver(id, data)... then CaughtUp(count), and from
                                           then on Deliver as envelopes for us arrive
    C: Ack(ids)                         we committed them: the relay deletes them
    C: Direct(ref, to, token, data)     S: Forwarded(data) -> the recipient if online, never
                                           stored; Error(peer_offline, ref) if not
    C: Watch(people)                    S: PresenceNote(id, online) now and on every change,
                                           for each person whose token we hold
                                        S: RotateTick(session="") every rotate_interval

A ``Post``'s ``data`` is sealed end to end; the relay stores the recipient, those bytes and
the time, never who sent them.

``ref`` is a number the client picks to match a reply to its request. An ``Error`` with
``fatal`` set is followed by the relay closing the connection; other errors concern one
request or session and leave the connection usable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from messenger.protocol.framing import MAX_FRAME_BODY
from messenger.protocol.schema import Schema, message

#: 3: the people list in pages and differences, listing by choice, resumption tickets.
#: 4: the relay signs a handshake key, not each handshake; no key_exchange message.
PROTOCOL_VERSION = 4

#: Session numbers are short decimal strings ("7"); ids are bounded so a hostile client
#: cannot make the relay hash megabytes.
MAX_SESSION_ID_LEN = 16
MAX_NAME_LEN = 64
_PERSON_ID = re.compile(r"[0-9a-f]{64}")


def is_person_id(text: object) -> bool:
    """Whether ``text`` is a person id: 64 lower-case hex digits (a key's SHA-256). Ids the
    relay or a peer sends are checked with this before they are used."""
    return isinstance(text, str) and _PERSON_ID.fullmatch(text) is not None

SALT_SIZE = 16
NONCE_SIZE = 32
#: An RSA-3072 SubjectPublicKeyInfo is 422 bytes; leave room, but bound it.
MAX_KEY_DER = 1024
#: Items in one list (the unpacker's array bound), so the longest ``people`` list.
MAX_PEOPLE = 4096

control = Schema(
    "control", max_bin_len=MAX_FRAME_BODY, max_str_len=4096, max_array_len=MAX_PEOPLE
)


# -- transport handshake ----------------------------------------------------------------


@message(control, "client_hello")
class ClientHello:
    version: int
    eph: bytes
    nonce: bytes
    #: A resumption ticket from an earlier connection (empty: a full handshake).
    ticket: bytes = b""
    #: Send us tickets for our next connections (clients that will not reconnect do not ask).
    tickets: bool = False


@message(control, "server_hello")
class ServerHello:
    version: int
    key: bytes
    #: The relay's current handshake key (X25519) and when it was made (Unix seconds).
    hkey: bytes
    hkey_at: int
    #: The relay's RSA-PSS signature over ``key``, ``hkey`` and ``hkey_at``.
    signature: bytes
    eph: bytes
    nonce: bytes


@message(control, "server_resume")
class ServerResume:
    """The relay took the hello's ticket: keys come from its secret and these shares."""

    version: int
    eph: bytes
    nonce: bytes


@message(control, "auth")
class Auth:
    key: bytes
    signature: bytes
    name: str = ""
    accept_invites: bool = False
    #: Appear in everyone's list of people (opt-in; contacts see us either way).
    listed: bool = False


@message(control, "resume")
class Resume:
    """A resumed connection's first sealed frame (in place of ``auth``)."""

    name: str = ""
    accept_invites: bool = False
    listed: bool = False


@message(control, "welcome")
class Welcome:
    version: int
    rotate_interval: float
    idle_timeout: float
    id: str = ""
    #: The connection was resumed from a ticket (no RSA work this time).
    resumed: bool = False


@message(control, "ticket")
class Ticket:
    """For the next connection: ``ticket`` (opaque), the secret of which the client derives
    from this connection's keys and ``number``; good for ``lifetime`` seconds, once."""

    ticket: bytes
    number: int = 0
    lifetime: float = 0.0


#: Resumption tickets are at most this long (the relay's are ~600 bytes).
MAX_TICKET = 2048


# -- sessions ---------------------------------------------------------------------------


@message(control, "create")
class CreateSession:
    salt: bytes
    ref: int = 0


@message(control, "created")
class SessionCreated:
    session: str
    ref: int = 0


@message(control, "join")
class JoinSession:
    session: str


@message(control, "paired")
class Paired:
    session: str
    role: str
    salt: bytes = b""
    mode: str = "password"
    peer_id: str = ""
    peer_name: str = ""
    peer_key: bytes = b""


@message(control, "invite")
class Invite:
    to: str
    ref: int = 0


@message(control, "invite_sent")
class InviteSent:
    session: str
    to: str
    ref: int = 0


@message(control, "invitation")
class Invitation:
    session: str
    from_id: str
    from_name: str = ""


@message(control, "accept")
class Accept:
    session: str


@message(control, "decline")
class Decline:
    session: str


@message(control, "relay")
class Relay:
    session: str
    data: bytes


@message(control, "pairing_failed")
class PairingFailed:
    session: str


@message(control, "leave")
class LeaveSession:
    session: str


@message(control, "peer_left")
class PeerLeft:
    session: str


@message(control, "rotate")
class RotateTick:
    session: str


# -- presence ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Person:
    id: str
    name: str
    status: str  #: "free" (can be invited now) or "busy"


@message(control, "list_people")
class ListPeople:
    """One page of the people who chose to be listed, in name order: those whose name
    starts with ``query`` (case-insensitively), after ``cursor`` (from the previous page),
    at most ``limit`` (0: the relay's page size). With ``watch`` the relay also sends
    ``people_changed`` from now on (asking again without it does not stop that)."""

    watch: bool = False
    query: str = ""
    cursor: str = ""
    limit: int = 0
    ref: int = 0


@message(control, "people")
class People:
    """A page of the list as it is at ``version``; ``cursor`` continues it ("" = last)."""

    people: tuple[Person, ...] = ()
    version: int = 0
    cursor: str = ""
    ref: int = 0


@message(control, "people_changed")
class PeopleChanged:
    """The list's difference that makes ``version``: entries as they are now (new or
    changed) and the ids no longer listed. Versions follow one another (each watcher sees
    every one after the version of its first page), so an older one can be ignored."""

    version: int
    people: tuple[Person, ...] = ()
    gone: tuple[str, ...] = ()


#: Entries in one ``people`` page or ``people_changed`` difference, at most.
MAX_PEOPLE_PAGE = 1024
#: A ``list_people`` query is a name prefix: no longer than a name.
MAX_PEOPLE_QUERY = MAX_NAME_LEN
#: A page cursor names the last person of a page: their id and their sort key.
MAX_PEOPLE_CURSOR = 64 + 4 * MAX_NAME_LEN


# -- conversations: store and forward ---------------------------------------------------

#: An envelope's sealed bytes: a long message plus the ratchet's header and tag fits.
MAX_ENVELOPE = 256 * 1024
#: A direct frame carries at most one file chunk (1 MiB, padded) plus its headers.
MAX_DIRECT = 1024 * 1024 + 64 * 1024
#: Delivery tokens are random values of this size.
TOKEN_SIZE = 32
#: At most this many ids or tokens in one message (the schema bounds arrays anyway).
MAX_BATCH = 1024


@message(control, "register_tokens")
class RegisterTokens:
    tokens: tuple[bytes, ...]


@message(control, "revoke_tokens")
class RevokeTokens:
    tokens: tuple[bytes, ...]


@message(control, "post")
class Post:
    to: str
    token: bytes
    data: bytes
    ref: int = 0


@message(control, "posted")
class Posted:
    id: int
    ref: int = 0


@message(control, "fetch")
class Fetch:
    pass


@message(control, "deliver")
class Deliver:
    id: int
    data: bytes


@message(control, "caught_up")
class CaughtUp:
    count: int = 0


@message(control, "ack")
class Ack:
    ids: tuple[int, ...]


@message(control, "direct")
class Direct:
    to: str
    token: bytes
    data: bytes
    ref: int = 0


@message(control, "forwarded")
class Forwarded:
    data: bytes


@dataclass(frozen=True, slots=True)
class Watched:
    id: str
    token: bytes


@message(control, "watch")
class Watch:
    people: tuple[Watched, ...]


@message(control, "presence_note")
class PresenceNote:
    id: str
    online: bool


# -- housekeeping -----------------------------------------------------------------------


@message(control, "ping")
class Ping:
    nonce: int = 0


@message(control, "pong")
class Pong:
    nonce: int = 0


@message(control, "error")
class Error:
    code: str
    message: str
    session: str | None = None
    ref: int = 0
    fatal: bool = False


encode = control.encode
decode = control.decode
