"""The relay's post office for conversations between contacts: store and forward, direct
frames between two online contacts, and contacts' presence.

Wire protocol (see ``messenger.protocol.wire``)::

    C: RegisterTokens / RevokeTokens    the tokens others must show to write to us
    C: Post(ref, to, token, data)       S: Posted(ref, id) once committed; Deliver to ``to``
    C: Fetch()                          S: Deliver(id, data)..., CaughtUp(count), then live
    C: Ack(ids)                         the recipient committed them: delete
    C: Direct(ref, to, token, data)     S: Forwarded(data) to ``to`` if online, else
                                           Error(peer_offline, ref); never stored
    C: Watch(people)                    S: PresenceNote(id, online), now and on change

Every envelope and direct frame needs a token its recipient registered; the relay checks it
against the SHA-256 it keeps and learns nothing else about who writes to whom from the
stored records (they hold the recipient, the sealed bytes and the arrival time). Watching
someone's presence needs the same token, so only contacts see each other come and go.

Even the recipient is not stored as such: the mailbox is keyed by ``HMAC-SHA256(relay
secret, person id)``, the secret kept in its own file beside it (``mailbox.key``, 0600).
A copy of the database alone names nobody; with the key file too, whoever holds a person's
id can find their waiting envelopes (still not who wrote them).

Each recipient has at most one *subscribed* connection (the newest that sent ``Fetch``):
envelopes are delivered to it, through a cursor, so an envelope that arrives while the
backlog is being streamed is delivered once, in id order. The backlog streams in its own
task, so the connection's handler keeps reading (acks, posts) meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from messenger.crypto.aead import random_bytes
from messenger.crypto.mac import hmac_sha256
from messenger.protocol import wire
from messenger.protocol.errors import (
    LocalProtocolError,
    NotAllowedError,
    PeerOfflineError,
)
from server.connection import ClientConnection
from server.mailbox import Mailbox

log = logging.getLogger("messenger.server")

#: Envelopes read from storage per page while a backlog streams.
PAGE = 256
#: How long a token the mailbox accepted is taken on trust, and how many are remembered.
#: Revocations through this relay take effect at once; a shared backend with several relay
#: processes would have to tell the others (or they honour a revoked token this long).
TOKEN_CACHE_SECONDS = 60.0
TOKEN_CACHE_SIZE = 65_536

#: person id -> the connections of that person, newest last.
ConnectionsOf = Callable[[str], list[ClientConnection]]


@dataclass(eq=False)
class _Subscription:
    """Where one recipient's envelopes go, and the highest id handed to it so far."""

    conn: ClientConnection
    cursor: int = 0
    streaming: bool = True
    task: asyncio.Task[None] | None = None


@dataclass
class Mailroom:
    mailbox: Mailbox
    connections_of: ConnectionsOf
    #: The relay's secret for the mailbox's pseudonyms (see the module docstring).
    secret: bytes = b""
    _subscriptions: dict[str, _Subscription] = field(default_factory=dict)
    #: watched person id -> connections watching them
    _watchers: dict[str, set[ClientConnection]] = field(default_factory=dict)
    #: connection -> the person ids it watches
    _watching: dict[ClientConnection, set[str]] = field(default_factory=dict)
    #: (recipient, token) -> when the mailbox said the token is good: a direct frame (a file
    #: chunk, an ack) is checked here, not by a round trip to the database thread. Kept for
    #: ``TOKEN_CACHE_SECONDS``; a revocation drops the recipient's entries at once.
    _allowed: OrderedDict[tuple[str, bytes], float] = field(default_factory=OrderedDict)
    #: recipient -> revocations so far (a check that raced a revocation is not cached)
    _revoked: dict[str, int] = field(default_factory=dict)
    #: person id -> their mailbox's name (an HMAC each time otherwise)
    _boxes: OrderedDict[str, str] = field(default_factory=OrderedDict)

    # -- tokens -----------------------------------------------------------------------------

    async def handle_register_tokens(
        self, conn: ClientConnection, message: wire.RegisterTokens
    ) -> None:
        tokens = _checked_tokens(message.tokens)
        await self.mailbox.register_tokens(self._box(conn.person_id), tokens)

    async def handle_revoke_tokens(
        self, conn: ClientConnection, message: wire.RevokeTokens
    ) -> None:
        tokens = _checked_tokens(message.tokens)
        self._forget_allowed(conn.person_id, tokens)
        await self.mailbox.revoke_tokens(self._box(conn.person_id), tokens)
        self._forget_allowed(conn.person_id, tokens)

    def _forget_allowed(self, recipient: str, tokens: list[bytes]) -> None:
        self._revoked[recipient] = self._revoked.get(recipient, 0) + 1
        for token in tokens:
            self._allowed.pop((recipient, token), None)

    async def _check_token(self, recipient: str, token: bytes) -> None:
        if len(token) != wire.TOKEN_SIZE:
            raise NotAllowedError()
        key = (recipient, token)
        now = time.monotonic()
        checked = self._allowed.get(key)
        if checked is not None and now - checked < TOKEN_CACHE_SECONDS:
            return
        revocations = self._revoked.get(recipient, 0)
        if not await self.mailbox.token_allows(self._box(recipient), token):
            raise NotAllowedError()
        if self._revoked.get(recipient, 0) == revocations:
            self._allowed[key] = now
            self._allowed.move_to_end(key)
            while len(self._allowed) > TOKEN_CACHE_SIZE:
                self._allowed.popitem(last=False)

    def _box(self, person_id: str) -> str:
        """The mailbox's name for a person: a pseudonym only this relay can compute."""
        box = self._boxes.get(person_id)
        if box is None:
            box = hmac_sha256(self.secret, person_id.encode()).hex()
            self._boxes[person_id] = box
            while len(self._boxes) > TOKEN_CACHE_SIZE:
                self._boxes.popitem(last=False)
        return box

    # -- store and forward ------------------------------------------------------------------

    async def handle_post(self, conn: ClientConnection, message: wire.Post) -> None:
        if len(message.data) > wire.MAX_ENVELOPE:
            raise LocalProtocolError(f"An envelope may hold at most {wire.MAX_ENVELOPE} bytes.")
        await self._check_token(message.to, message.token)
        envelope_id = await self.mailbox.put(self._box(message.to), message.data)
        await conn.send(wire.Posted(id=envelope_id, ref=message.ref))
        subscription = self._subscriptions.get(message.to)
        if subscription is not None and not subscription.streaming:
            self._hand_over(subscription, envelope_id, message.data)

    async def handle_fetch(self, conn: ClientConnection, message: wire.Fetch) -> None:
        """Subscribe this connection to its person's envelopes: the backlog first, then live.
        A newer connection of the same person takes over from an older one."""
        old = self._subscriptions.pop(conn.person_id, None)
        if old is not None and old.task is not None:
            old.task.cancel()
        subscription = _Subscription(conn)
        self._subscriptions[conn.person_id] = subscription
        subscription.task = asyncio.create_task(
            self._stream_backlog(conn.person_id, subscription), name=f"backlog-{conn.conn_id}"
        )

    async def _stream_backlog(self, person_id: str, subscription: _Subscription) -> None:
        sent = 0
        box = self._box(person_id)
        try:
            while True:
                page = await self.mailbox.pending(box, subscription.cursor, PAGE)
                if not page:
                    break
                for envelope in page:
                    if envelope.id > subscription.cursor:
                        subscription.cursor = envelope.id
                        await subscription.conn.send(
                            wire.Deliver(id=envelope.id, data=envelope.data)
                        )
                        sent += 1
            # Live from now on; one more page catches what committed while we switched.
            subscription.streaming = False
            for envelope in await self.mailbox.pending(box, subscription.cursor, PAGE):
                self._hand_over(subscription, envelope.id, envelope.data)
                sent += 1
            await subscription.conn.send(wire.CaughtUp(count=sent))
        except (ConnectionError, OSError):
            pass  # the connection went; its handler cleans up

    def _hand_over(self, subscription: _Subscription, envelope_id: int, data: bytes) -> None:
        """Deliver one envelope to a live subscription, once, in id order."""
        if envelope_id <= subscription.cursor:
            return
        subscription.cursor = envelope_id
        subscription.conn.send_nowait(wire.Deliver(id=envelope_id, data=data))

    async def handle_ack(self, conn: ClientConnection, message: wire.Ack) -> None:
        if len(message.ids) > wire.MAX_BATCH:
            raise LocalProtocolError(f"Acknowledge at most {wire.MAX_BATCH} envelopes at once.")
        await self.mailbox.delete(self._box(conn.person_id), message.ids)

    # -- direct frames ----------------------------------------------------------------------

    async def handle_direct(self, conn: ClientConnection, message: wire.Direct) -> None:
        """Forward to the recipient's subscribed connection, if any; never stored."""
        if len(message.data) > wire.MAX_DIRECT:
            raise LocalProtocolError("A direct frame is too large.")
        await self._check_token(message.to, message.token)
        subscription = self._subscriptions.get(message.to)
        if subscription is None:
            raise PeerOfflineError()
        await subscription.conn.send(wire.Forwarded(data=message.data))

    # -- presence of contacts ---------------------------------------------------------------

    async def handle_watch(self, conn: ClientConnection, message: wire.Watch) -> None:
        """Watch contacts come and go: only those whose token we hold (so, who have us as a
        contact). Replaces the connection's earlier watch list."""
        self._unwatch_all(conn)
        watched: set[str] = set()
        for person in message.people:
            if person.id == conn.person_id or len(person.token) != wire.TOKEN_SIZE:
                continue
            if not await self.mailbox.token_allows(self._box(person.id), person.token):
                continue
            watched.add(person.id)
            self._watchers.setdefault(person.id, set()).add(conn)
        self._watching[conn] = watched
        for person_id in sorted(watched):
            online = bool(self.connections_of(person_id))
            await conn.send(wire.PresenceNote(id=person_id, online=online))

    def person_arrived(self, person_id: str) -> None:
        """A connection of ``person_id`` authenticated: tell whoever watches them."""
        if len(self.connections_of(person_id)) == 1:
            self._note(person_id, online=True)

    def connection_closed(self, conn: ClientConnection) -> None:
        """Forget the connection's subscription and watches; tell watchers if its person is
        now offline (``connections_of`` no longer lists ``conn``)."""
        subscription = self._subscriptions.get(conn.person_id)
        if subscription is not None and subscription.conn is conn:
            del self._subscriptions[conn.person_id]
            if subscription.task is not None:
                subscription.task.cancel()
        self._unwatch_all(conn)
        if conn.person_id and not self.connections_of(conn.person_id):
            self._note(conn.person_id, online=False)

    def _note(self, person_id: str, *, online: bool) -> None:
        for watcher in self._watchers.get(person_id, ()):
            watcher.send_nowait(wire.PresenceNote(id=person_id, online=online))

    def _unwatch_all(self, conn: ClientConnection) -> None:
        for person_id in self._watching.pop(conn, set()):
            watchers = self._watchers.get(person_id)
            if watchers is not None:
                watchers.discard(conn)
                if not watchers:
                    del self._watchers[person_id]

    async def close(self) -> None:
        tasks = [s.task for s in self._subscriptions.values() if s.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._subscriptions.clear()


def _checked_tokens(tokens: tuple[bytes, ...]) -> list[bytes]:
    if len(tokens) > wire.MAX_BATCH:
        raise LocalProtocolError(f"Register at most {wire.MAX_BATCH} tokens at once.")
    if any(len(token) != wire.TOKEN_SIZE for token in tokens):
        raise LocalProtocolError(f"A delivery token is {wire.TOKEN_SIZE} bytes.")
    return list(tokens)


MAILBOX_KEY = "mailbox.key"


def mailbox_secret(data_dir: Path) -> bytes:
    """The relay's mailbox secret: read from ``data_dir/mailbox.key``, made (0600) on first
    use. Blocking, once at start."""
    path = data_dir / MAILBOX_KEY
    try:
        secret = path.read_bytes()
    except FileNotFoundError:
        secret = b""
    if len(secret) == 32:
        return secret
    secret = random_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(secret)
        handle.flush()
        os.fsync(handle.fileno())
    return secret
