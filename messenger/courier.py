"""Conversations with contacts over the relay link: the asyncio driver of ``Conversation``.

The courier owns every conversation of the profile and moves envelopes between them, the
encrypted database and the relay. Its rules are the crash-safety guarantees of the issue:

- **Nothing leaves before it is committed.** Sealing a message advances the ratchet; the
  new ratchet state, the history row and the outbox entry are committed in one transaction
  before the envelope is handed to the relay (a message key is never used twice, even after
  a crash).
- **Nothing is acknowledged before it is committed.** A batch of envelopes from the relay
  is opened, and the ratchet states, the history rows (exactly once, by message id) and the
  receipts' outbox entries are committed in one transaction; only then does the relay hear
  ``Ack`` and delete them.
- **The outbox empties only on ``Posted``.** After a reconnect (or a restart) everything
  still in the outbox is posted again, in order; a duplicate the relay already had is
  refused by the recipient's ratchet and never shown twice.

``LinkPhase`` is where the relay link is; ``link_up`` and ``link_down`` are the only ways to
move it. The database runs on its own thread (``DatabaseWorker``); the event loop never
waits on disk, and a big backlog is opened in slices so the loop (the GUI thread, in the
app) never stalls for long.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from messenger import events as ev
from messenger.crypto.rsa import IdentityKey
from messenger.file_history import FileHistory
from messenger.protocol import wire
from messenger.protocol.conversation import (
    Conversation,
    Delivered,
    EnvelopeKind,
    FileMessage,
    KeysRenewed,
    Outgoing,
    Route,
    TextArrived,
    envelope_hint,
    envelope_kind,
)
from messenger.protocol.errors import (
    LocalProtocolError,
    MessengerError,
    NotAllowedError,
    RemoteProtocolError,
    ReplayedError,
    TamperedError,
)
from messenger.protocol.introduction import HINT_SIZE
from messenger.protocol.meeting import Met
from messenger.store.contacts import Contacts
from messenger.store.database import Arrival, ProfileDatabase
from messenger.store.records import (
    ContactRecord,
    ConversationRecord,
    MessageRecord,
    MessageStatus,
    OutboxEntry,
    VerifiedBy,
)
from messenger.store.worker import DatabaseWorker
from messenger.transfer_link import TransferLink

log = logging.getLogger("messenger.courier")

Send = Callable[[object], Awaitable[None]]
Emit = Callable[[ev.ClientEvent], None]
#: Envelopes taken from the inbox at a time, opened before the clock is looked at again.
STEP = 16
#: Most envelopes in one slice (one database transaction; INBOX_BYTES bounds it too).
SLICE = 1024
#: Event-loop time a slice may take before it goes to the database. Bigger slices mean
#: fewer commits, so a backlog is in sooner (10,000 waiting messages: 2.3 s at 50 ms, 2.8 s
#: at 8 ms, tests.bench.queue_e2e) ...
SLICE_SECONDS = 0.05
#: ... but a window on the same loop must not stall for longer than a frame or two while a
#: backlog comes in: the app asks for this (tests.bench.app_history).
WINDOW_SLICE_SECONDS = 0.008
#: Bytes of envelopes waiting to be opened before the link stops reading (backpressure).
INBOX_BYTES = 8 * 1024 * 1024
#: Meetings whose conversation may be announced before it starts, and envelopes kept for
#: each (an honest peer sends a handful before our side of the meeting is done).
MAX_EXPECTED = 16
MAX_PARKED = 256


class LinkPhase(StrEnum):
    DOWN = "down"  #: no relay link: new messages wait in the outbox
    CATCHING_UP = "catching_up"  #: link up, taking in what waited at the relay
    LIVE = "live"  #: caught up; envelopes arrive as they are posted


@dataclass
class _Inbound:
    relay_id: int
    data: bytes


@dataclass
class _Slice:
    """A slice of envelopes opened and on its way to the database."""

    items: list[_Inbound]
    batch: _Batch
    caught_up: bool
    commit: asyncio.Future[tuple[dict[str, list[TextArrived]], list[OutboxEntry]]]


@dataclass
class _Batch:
    """What one slice of envelopes changed, to commit in one transaction."""

    acks: list[int]
    touched: set[str]
    texts: dict[str, list[TextArrived]]
    delivered: dict[str, list[str]]
    renewed: dict[str, int]
    outgoing: dict[str, list[Outgoing]]
    files: list[tuple[str, object]]
    dropped: list[ev.EnvelopeDropped]


def arrival(text: TextArrived) -> Arrival:
    """A message the ratchet opened, as the history stores it."""
    if text.puzzle:
        return Arrival(text.msg_id, text.text, text.sent_at, "puzzle", text.puzzle)
    return Arrival(text.msg_id, text.text, text.sent_at)


class Courier:
    def __init__(
        self,
        identity: IdentityKey,
        worker: DatabaseWorker,
        emit: Emit,
        *,
        links: Callable[[str], TransferLink] | None = None,
        now: Callable[[], float] = time.time,
        slice_seconds: float = SLICE_SECONDS,
    ) -> None:
        self.identity = identity
        self._slice_seconds = slice_seconds
        self._worker = worker
        self._emit = emit
        self._now = now
        #: Makes the file link for a contact (front ends decide the accept policy; by
        #: default every offer waits for an answer through ``Transfers.answer``).
        self.links: Callable[[str], TransferLink] = links or (
            lambda contact_id: TransferLink(contact_id, self, emit)
        )
        self.phase = LinkPhase.DOWN
        #: Envelopes taken in since this link came up and began catching up (``caught_up``
        #: reports them all, whichever slices they came in).
        self._caught = 0
        self._send: Send | None = None
        self._conversations: dict[str, Conversation] = {}
        self._names: dict[str, str] = {}
        self._by_hint: dict[bytes, str] = {}
        self.online: dict[str, bool] = {}
        #: Live sessions by contact: events about that contact name the session too.
        self.sessions: dict[str, str] = {}
        self.file_links: dict[str, TransferLink] = {}
        self._refs = itertools.count(1)
        self._in_flight: dict[int, OutboxEntry] = {}
        self._direct_refs: dict[int, str] = {}
        self._inbox: asyncio.Queue[_Inbound] = asyncio.Queue()
        self._inbox_bytes = 0
        self._room = asyncio.Event()
        self._room.set()
        self._reader: asyncio.Task[None] | None = None
        #: Slices opened and not yet settled (committed, acknowledged and reported). The
        #: reader opens a slice in the same step as it takes envelopes off the inbox, so
        #: with the inbox this says whether anything taken in is still unreported.
        self._unsettled = 0
        #: False once the front end is about to exit (``finish_intake``).
        self._intake_open = True
        #: Envelopes for a conversation a meeting is about to start (its hint is known, its
        #: keys not yet): kept, unacknowledged, until ``adopt`` installs it.
        self._parked: dict[bytes, list[tuple[int | None, bytes]]] = {}
        self.changed = asyncio.Event()
        #: Outbox entries not yet taken by the relay, by contact (for "wait until sent").
        self.pending: dict[str, set[str]] = {}
        self.undelivered: dict[str, set[str]] = {}
        #: Keeps every file transfer in the history (fed by the file links).
        self.files = FileHistory(worker, now)

    @property
    def my_id(self) -> str:
        return self.identity.fingerprint

    # -- starting up ------------------------------------------------------------------------

    async def load(self) -> None:
        """Read every conversation from the database (once, before the first link)."""

        def read(
            db: ProfileDatabase,
        ) -> tuple[dict[str, ContactRecord], list[ConversationRecord], list[OutboxEntry]]:
            contacts = {c.id: c for c in db.contacts()}
            records = [r for c in contacts.values() if (r := db.conversation(c.id)) is not None]
            outbox = db.outbox()
            return contacts, records, outbox

        contacts, records, outbox = await self._worker.run(read)
        for record in records:
            contact = contacts[record.contact_id]
            self._install(record, contact.display_name)
        for entry in outbox:
            if entry.msg_id:
                self.pending.setdefault(entry.contact_id, set()).add(entry.msg_id)

    def expect(self, hint: bytes) -> None:
        """A meeting's keys are agreed: envelopes with ``hint`` may come before ``adopt``."""
        self._parked.setdefault(hint, [])
        while len(self._parked) > MAX_EXPECTED:
            self._parked.pop(next(iter(self._parked)))

    def _park(self, data: bytes, relay_id: int | None) -> bool:
        """Keep an envelope for a conversation about to start; False if none is."""
        try:
            parked = self._parked.get(envelope_hint(data))
        except RemoteProtocolError:
            return False
        if parked is None or len(parked) >= MAX_PARKED:
            return False
        parked.append((relay_id, data))
        return True

    async def _unpark(self, hint: bytes) -> None:
        """The conversation is installed: take in what waited for it, in order, and ahead
        of what the relay delivered since (still in the inbox): the parked envelopes came
        first, and the next ones, already queued, must not overtake them."""
        parked = self._parked.pop(hint, [])
        later = []
        while not self._inbox.empty():
            later.append(self._inbox.get_nowait())
        for relay_id, data in parked:
            if relay_id is not None:
                self._inbox_bytes += len(data)
                self._inbox.put_nowait(_Inbound(relay_id, data))
        for item in later:
            self._inbox.put_nowait(item)
        for relay_id, data in parked:
            if relay_id is None:
                await self._forwarded(data)

    def _install(self, record: ConversationRecord, name: str) -> Conversation:
        conversation = Conversation.restore(
            record.contact_id,
            self.my_id,
            record.ratchet,
            send_token=record.send_token,
            recv_token=record.recv_token,
            send_hint=record.send_hint,
            recv_hint=record.recv_hint,
            now=self._now,
        )
        old = self._conversations.get(record.contact_id)
        if old is not None:
            self._by_hint.pop(old.recv_hint, None)
        self._conversations[record.contact_id] = conversation
        self._names[record.contact_id] = name
        self._by_hint[record.recv_hint] = record.contact_id
        return conversation

    def contact_ids(self) -> list[str]:
        return list(self._conversations)

    def name_of(self, contact_id: str) -> str:
        return self._names.get(contact_id, "")

    def has(self, contact_id: str) -> bool:
        return contact_id in self._conversations

    # -- a meeting becomes a conversation ---------------------------------------------------

    async def adopt(self, met: Met) -> bool:
        """Save the person a meeting introduced as a contact, and start (or restart) the
        conversation with them. Returns True if they are a new contact."""
        peer = met.peer
        conversation = Conversation.start(
            peer.id, self.my_id, met.start, met.own_ratchet, peer.ratchet_public, now=self._now
        )
        now = self._now()
        record = ConversationRecord(
            contact_id=peer.id,
            ratchet=conversation.snapshot(),
            send_token=conversation.send_token,
            recv_token=conversation.recv_token,
            send_hint=conversation.send_hint,
            recv_hint=conversation.recv_hint,
            created_at=now,
            last_activity=now,
        )

        others = [cid for cid in self._conversations if cid != peer.id]

        def save(db: ProfileDatabase) -> tuple[bool, str, list[str]]:
            with db.transaction():
                # The trust rules (a trusted new key replaces a look-alike's contact) and
                # the verified mark (a code verifies) live in Contacts.pin.
                verified_by = VerifiedBy.CODE if met.verified_by_code else None
                is_new = Contacts(db).pin(peer.id, peer.name, peer.key.der, verified_by)
                db.save_conversation(record)
                contact = db.contact(peer.id)
                gone = [cid for cid in others if db.conversation(cid) is None]
                return is_new, (contact.display_name if contact else peer.name), gone

        is_new, name, gone = await self._worker.run(save)
        for contact_id in gone:
            self._drop(contact_id)
        old = self._conversations.get(peer.id)
        self._install(record, name or peer.name)
        await self._unpark(record.recv_hint)
        if self._send is not None:
            tokens = [record.recv_token]
            revoked = [old.recv_token] if old is not None else []
            with contextlib.suppress(MessengerError):
                if revoked:
                    await self._send(wire.RevokeTokens(tokens=tuple(revoked)))
                await self._send(wire.RegisterTokens(tokens=tuple(tokens)))
                await self._watch()
        return bool(is_new)

    # -- the link ---------------------------------------------------------------------------

    async def link_up(self, send: Send, *, fetch: bool = True) -> None:
        """A relay link is up: register our tokens, watch contacts, take in what waited (if
        ``fetch``), and post everything still in the outbox, in order."""
        self._send = send
        self.phase = LinkPhase.CATCHING_UP if fetch else LinkPhase.LIVE
        self._caught = 0
        self._in_flight.clear()
        tokens = [c.recv_token for c in self._conversations.values()]
        for start in range(0, len(tokens), wire.MAX_BATCH):
            await send(wire.RegisterTokens(tokens=tuple(tokens[start : start + wire.MAX_BATCH])))
        await self._watch()
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read_inbox(), name="courier-inbox")
        if fetch:
            await send(wire.Fetch())
        for entry in await self._worker.run(lambda db: db.outbox()):
            await self._post(entry)
        self._changed()

    async def settle(self) -> None:
        """Wait until every envelope the relay has handed us so far is taken in (and its
        events reported): a front end that sees the peer leave shows their last words
        first."""
        while not self._inbox.empty() or self._unsettled:
            self.changed.clear()
            await self.changed.wait()

    async def finish_intake(self) -> None:
        """Take in nothing more and wait until what was taken in is committed and reported.

        For a front end about to exit (``messenger-cli``): an envelope committed to the
        history but never reported would never be reported at all, since the next
        connection's copy of it (if its acknowledgement did not go out) is a duplicate.
        Envelopes the relay sends from now on are left unacknowledged with it, for the
        next connection."""
        self._intake_open = False
        await self.settle()

    def link_down(self) -> None:
        """The link is gone: what was in flight stays in the outbox for the next link."""
        self.phase = LinkPhase.DOWN
        self._send = None
        self._in_flight.clear()
        self._direct_refs.clear()
        for contact_id in list(self.online):
            self.online[contact_id] = False
        for link in self.file_links.values():
            link.interrupted()
        self._changed()

    async def close(self) -> None:
        self.link_down()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def _watch(self) -> None:
        if self._send is None or not self._conversations:
            return
        people = tuple(
            wire.Watched(id=contact_id, token=c.send_token)
            for contact_id, c in self._conversations.items()
        )[: wire.MAX_BATCH]
        await self._send(wire.Watch(people=people))

    def _changed(self) -> None:
        self.changed.set()

    # -- what the relay says ----------------------------------------------------------------

    async def dispatch(self, message: object) -> bool:
        """Handle a relay message meant for the courier; False if it is not ours. Awaits
        only for room in the inbox (backpressure on the link)."""
        if isinstance(message, wire.Deliver):
            if not self._intake_open:
                return True  # not acknowledged: the relay keeps it for the next connection
            await self._room.wait()
            self._inbox_bytes += len(message.data)
            if self._inbox_bytes >= INBOX_BYTES:
                self._room.clear()
            self._inbox.put_nowait(_Inbound(message.id, message.data))
        elif isinstance(message, wire.CaughtUp):
            self._inbox.put_nowait(_Inbound(-1, b""))  # processed in order with the rest
        elif isinstance(message, wire.Posted):
            await self._posted(message.ref)
        elif isinstance(message, wire.Forwarded):
            await self._forwarded(message.data)
        elif isinstance(message, wire.PresenceNote):
            if message.id in self._conversations:
                self.online[message.id] = message.online
                self._emit(ev.ContactPresence(message.id, message.online))
                link = self.file_links.get(message.id)
                if link is not None:
                    if message.online:
                        await link.peer_online()
                    else:
                        link.interrupted()  # their side of every transfer is gone
        elif isinstance(message, wire.RotateTick) and message.session == "":
            await self.tick()
        else:
            return False
        return True

    def claims(self, error: wire.Error) -> bool:
        """Whether an error frame answers one of our posts or direct frames."""
        return error.ref in self._in_flight or error.ref in self._direct_refs

    async def failed(self, error: wire.Error, exc: MessengerError) -> None:
        """The relay refused a post or a direct frame."""
        entry = self._in_flight.pop(error.ref, None)
        if entry is not None:
            await self._post_refused(entry, exc)
            return
        contact_id = self._direct_refs.pop(error.ref, None)
        link = self.file_links.get(contact_id) if contact_id else None
        if link is not None:
            link.interrupted()

    # -- sending ----------------------------------------------------------------------------

    async def send_text(self, contact_id: str, text: str, *, puzzle: str = "") -> str:
        """Seal, commit and post one message; returns its id. Raises LocalProtocolError for
        an unknown contact or a message that cannot be sent."""
        conversation = self._conversation(contact_id)
        outgoing = conversation.send_text(text, puzzle=puzzle)
        now = self._now()
        sent_at = now
        kind = "puzzle" if puzzle else "text"
        meta = puzzle or None

        snapshot = conversation.snapshot()  # now, on the loop: the state this sealing left

        def commit(db: ProfileDatabase) -> OutboxEntry:
            with db.transaction():
                db.save_ratchet(contact_id, snapshot, now)
                db.add_message(
                    contact_id, outgoing.msg_id, outgoing=True, body=text, sent_at=sent_at,
                    kind=kind, meta=meta,
                )  # fmt: skip
                seq = db.add_outbox(contact_id, outgoing.msg_id, outgoing.envelope)
            return db_entry(seq, contact_id, outgoing, now)

        entry = await self._worker.run(commit)
        self.pending.setdefault(contact_id, set()).add(outgoing.msg_id)
        self.undelivered.setdefault(contact_id, set()).add(outgoing.msg_id)
        await self._post(entry)
        return outgoing.msg_id

    async def retry(self, contact_id: str, msg_id: str) -> MessageStatus:
        """Send a message the relay refused (``MessageFailed``) again; returns its status.

        A refusal for now (a full queue) left its envelope in the outbox: that same
        envelope goes again. A refusal for good took it out: the text is sealed again under
        the same message id, so a copy that did arrive after all is stored once. Either
        way it waits in the outbox until a link takes it. A message that has not failed is
        left as it is. Raises LocalProtocolError for an unknown contact or message."""
        conversation = self._conversation(contact_id)

        def find(db: ProfileDatabase) -> tuple[MessageRecord | None, OutboxEntry | None]:
            message = db.message(contact_id, msg_id, outgoing=True)
            entry = next((e for e in db.outbox(contact_id) if e.msg_id == msg_id), None)
            return message, entry

        message, entry = await self._worker.run(find)
        if message is None or message.kind not in ("text", "puzzle"):
            raise LocalProtocolError("There is no such message to send again.")
        if message.status is not MessageStatus.FAILED:
            return message.status
        now = self._now()
        puzzle = (message.meta or "") if message.kind == "puzzle" else ""
        resealed = (
            None
            if entry is not None
            else conversation.send_text(message.body, msg_id, puzzle=puzzle)
        )

        snapshot = conversation.snapshot()  # now, on the loop: the state this sealing left

        def commit(db: ProfileDatabase) -> OutboxEntry:
            with db.transaction():
                db.set_status(contact_id, msg_id, MessageStatus.PENDING)
                if resealed is None:
                    assert entry is not None
                    return entry
                db.save_ratchet(contact_id, snapshot, now)
                seq = db.add_outbox(contact_id, msg_id, resealed.envelope)
                return db_entry(seq, contact_id, resealed, now)

        entry = await self._worker.run(commit)
        self.pending.setdefault(contact_id, set()).add(msg_id)
        self.undelivered.setdefault(contact_id, set()).add(msg_id)
        await self._post(entry)
        self._changed()
        return MessageStatus.PENDING

    async def send_sealed(self, contact_id: str, outgoing: list[Outgoing]) -> None:
        """Commit the ratchet a sealing advanced, then send (stored via the outbox, direct at
        once): for heals and file messages."""
        if not outgoing:
            return
        conversation = self._conversation(contact_id)
        now = self._now()
        stored = [o for o in outgoing if o.route is Route.STORED]

        snapshot = conversation.snapshot()  # now, on the loop: the state this sealing left

        def commit(db: ProfileDatabase) -> list[OutboxEntry]:
            with db.transaction():
                db.save_ratchet(contact_id, snapshot, None)
                return [
                    db_entry(db.add_outbox(contact_id, o.msg_id, o.envelope), contact_id, o, now)
                    for o in stored
                ]

        entries = await self._worker.run(commit)
        for entry in entries:
            await self._post(entry)
        for direct in (o for o in outgoing if o.route is Route.DIRECT):
            await self.send_direct(contact_id, direct.envelope)

    async def send_direct(self, contact_id: str, envelope: bytes) -> None:
        """A frame for an online contact only (file traffic); an offline one is reported
        through ``failed`` (peer_offline)."""
        if self._send is None:
            raise LocalProtocolError("Not connected to a server.")
        conversation = self._conversation(contact_id)
        ref = next(self._refs)
        self._direct_refs[ref] = contact_id
        if len(self._direct_refs) > 4096:  # answers only come for failures: forget old refs
            self._direct_refs.pop(next(iter(self._direct_refs)))
        await self._send(
            wire.Direct(to=contact_id, token=conversation.send_token, data=envelope, ref=ref)
        )

    async def _post(self, entry: OutboxEntry) -> None:
        if self._send is None:
            return  # it waits in the outbox for the next link
        conversation = self._conversations.get(entry.contact_id)
        if conversation is None:
            return
        ref = next(self._refs)
        self._in_flight[ref] = entry
        try:
            await self._send(
                wire.Post(
                    to=entry.contact_id,
                    token=conversation.send_token,
                    data=entry.envelope,
                    ref=ref,
                )
            )
        except MessengerError:
            self._in_flight.pop(ref, None)

    async def _posted(self, ref: int) -> None:
        entry = self._in_flight.pop(ref, None)
        if entry is None:
            return

        def commit(db: ProfileDatabase) -> None:
            with db.transaction():
                db.remove_outbox(entry.seq)
                if entry.msg_id:
                    db.set_status(entry.contact_id, entry.msg_id, MessageStatus.SENT)

        await self._worker.run(commit)
        if entry.msg_id:
            self.pending.get(entry.contact_id, set()).discard(entry.msg_id)
            session = self._session(entry.contact_id)
            self._emit(ev.MessageSent(session, entry.msg_id, entry.contact_id))
        self._changed()

    async def _post_refused(self, entry: OutboxEntry, error: MessengerError) -> None:
        """The relay would not take an envelope: a full queue may clear (it stays in the
        outbox for the next link); a contact who removed us will not (it leaves the outbox)."""
        permanent = isinstance(error, NotAllowedError)

        def commit(db: ProfileDatabase) -> None:
            with db.transaction():
                db.note_outbox_failure(entry.seq, error.code.value)
                if permanent:
                    db.remove_outbox(entry.seq)
                if entry.msg_id:
                    db.set_status(entry.contact_id, entry.msg_id, MessageStatus.FAILED)

        await self._worker.run(commit)
        if entry.msg_id:
            self.pending.get(entry.contact_id, set()).discard(entry.msg_id)
            self.undelivered.get(entry.contact_id, set()).discard(entry.msg_id)
            session = self._session(entry.contact_id)
            self._emit(ev.MessageFailed(session, entry.msg_id, entry.contact_id, error))
        self._changed()

    async def tick(self) -> None:
        """The relay's timer: heal every conversation that talked and has a new key."""
        for contact_id, conversation in list(self._conversations.items()):
            outgoing = conversation.tick()
            if outgoing:
                await self.send_sealed(contact_id, outgoing)

    async def rotate_now(self, contact_id: str) -> None:
        conversation = self._conversation(contact_id)
        await self.send_sealed(contact_id, conversation.rotate_now())

    # -- receiving --------------------------------------------------------------------------

    async def _read_inbox(self) -> None:
        """Open what the relay delivers, a slice at a time, committing each slice before it
        is acknowledged. Two slices overlap: while the database thread commits one, the
        loop opens the next (the commits run in order; SQLite releases the interpreter
        while it writes, so both cores work)."""
        previous: _Slice | None = None
        while True:
            if previous is not None and self._inbox.empty():
                await self._settle_slice(previous)
                previous = None
            first = await self._inbox.get()
            try:
                current = self._open_slice(first)
            except Exception:
                log.exception("opening envelopes failed")
                current = None
            if previous is not None:
                await self._settle_slice(previous)
            previous = current
            await asyncio.sleep(0)  # let the rest of the loop (the GUI) run between slices

    def _open_slice(self, first: _Inbound) -> _Slice:
        """Open a slice's envelopes (the state moves on in memory) and queue its commit.

        The slice grows a step at a time while envelopes wait and its time budget lasts:
        a trickle costs a commit each, a backlog goes in a few hundred per transaction."""
        batch = _Batch([], set(), {}, {}, {}, {}, [], [])
        items = [first]
        deadline = time.perf_counter() + self._slice_seconds
        opened = 0
        while True:
            for item in items[opened:]:
                if item.relay_id < 0:
                    continue
                if item.data[:HINT_SIZE] not in self._by_hint and self._park(
                    item.data, item.relay_id
                ):
                    continue  # its conversation is being set up: no ack yet
                batch.acks.append(item.relay_id)
                self._open_one(item.data, batch)
            opened = len(items)
            if len(items) >= SLICE or self._inbox.empty() or time.perf_counter() > deadline:
                break
            while len(items) < min(SLICE, opened + STEP) and not self._inbox.empty():
                items.append(self._inbox.get_nowait())
        caught_up = any(item.relay_id < 0 for item in items)
        for contact_id, arrived in batch.texts.items():
            receipts = self._conversations[contact_id].receipt([t.msg_id for t in arrived])
            batch.outgoing.setdefault(contact_id, []).extend(receipts)
        self._unsettled += 1
        return _Slice(items, batch, caught_up, asyncio.ensure_future(self._commit(batch)))

    async def _settle_slice(self, done: _Slice) -> None:
        """Once a slice is committed: acknowledge it, report it, send its receipts."""
        try:
            await self._settle(done)
        finally:
            self._unsettled -= 1  # ``settle`` waits for every open slice, not just the last

    async def _settle(self, done: _Slice) -> None:
        try:
            fresh, entries = await done.commit
        except Exception:
            log.exception("committing envelopes failed")
            await self._reload()  # the database did not commit: forget what we opened
            fresh, entries = {}, []
            done.batch.acks.clear()
        try:
            await self._after_commit(done.batch, fresh, entries, done.caught_up)
        finally:
            for item in done.items:
                self._inbox_bytes -= len(item.data)
            if self._inbox_bytes < INBOX_BYTES:
                self._room.set()
            self._changed()

    async def _after_commit(
        self,
        batch: _Batch,
        fresh: dict[str, list[TextArrived]],
        entries: list[OutboxEntry],
        caught_up: bool,
    ) -> None:
        if batch.acks and self._send is not None:
            with contextlib.suppress(MessengerError):
                await self._send(wire.Ack(ids=tuple(batch.acks)))
        self._report(batch, fresh)
        for entry in entries:
            await self._post(entry)
        for contact_id, payload in batch.files:
            await self._file_message(contact_id, payload)
        self._caught += len(batch.acks)
        if caught_up and self.phase is LinkPhase.CATCHING_UP:
            self.phase = LinkPhase.LIVE
            self._emit(ev.CaughtUp(self._caught))

    def _open_one(self, data: bytes, batch: _Batch) -> None:
        try:
            contact_id = self._by_hint.get(envelope_hint(data))
            if contact_id is None:
                batch.dropped.append(ev.EnvelopeDropped(ev.DropReason.UNKNOWN))
                return
            events = self._conversations[contact_id].open(data)
        except ReplayedError:
            batch.dropped.append(ev.EnvelopeDropped(ev.DropReason.REPLAYED))
            return
        except TamperedError:
            batch.dropped.append(ev.EnvelopeDropped(ev.DropReason.TAMPERED))
            return
        except RemoteProtocolError:
            batch.dropped.append(ev.EnvelopeDropped(ev.DropReason.MALFORMED))
            return
        batch.touched.add(contact_id)
        for event in events:
            if isinstance(event, TextArrived):
                batch.texts.setdefault(contact_id, []).append(event)
            elif isinstance(event, Delivered):
                batch.delivered.setdefault(contact_id, []).extend(event.msg_ids)
            elif isinstance(event, KeysRenewed):
                batch.renewed[contact_id] = event.steps
            elif isinstance(event, Outgoing):
                batch.outgoing.setdefault(contact_id, []).append(event)
            elif isinstance(event, FileMessage):
                batch.files.append((contact_id, event.payload))

    def _commit(
        self, batch: _Batch
    ) -> Awaitable[tuple[dict[str, list[TextArrived]], list[OutboxEntry]]]:
        """Queue the transaction that stores what ``batch`` opened: the ratchet states as
        they are *now* (taken before anything else can move them), the messages, the
        receipts. The returned awaitable resolves once it is committed."""
        now = self._now()
        snapshots = {cid: self._conversations[cid].snapshot() for cid in batch.touched}
        stored = {
            cid: [o for o in outs if o.route is Route.STORED]
            for cid, outs in batch.outgoing.items()
        }

        def commit(db: ProfileDatabase) -> tuple[dict[str, list[TextArrived]], list[OutboxEntry]]:
            fresh: dict[str, list[TextArrived]] = {}
            entries: list[OutboxEntry] = []
            with db.transaction():
                for contact_id, snapshot in snapshots.items():
                    active = contact_id in batch.texts
                    db.save_ratchet(contact_id, snapshot, now if active else None)
                for contact_id, arrived in batch.texts.items():
                    added = db.add_arrivals(contact_id, [arrival(t) for t in arrived], now)
                    new = [t for t, is_new in zip(arrived, added, strict=True) if is_new]
                    if new:
                        db.bump_unread(contact_id, len(new))
                        fresh[contact_id] = new
                for contact_id, msg_ids in batch.delivered.items():
                    for msg_id in msg_ids:
                        db.set_status(contact_id, msg_id, MessageStatus.DELIVERED)
                for contact_id, outs in stored.items():
                    for o in outs:
                        seq = db.add_outbox(contact_id, o.msg_id, o.envelope)
                        entries.append(db_entry(seq, contact_id, o, now))
            return fresh, entries

        return self._worker.run(commit)

    def _report(self, batch: _Batch, fresh: dict[str, list[TextArrived]]) -> None:
        for dropped in batch.dropped:
            self._emit(dropped)
        for contact_id, steps in batch.renewed.items():
            self._emit(ev.KeysRotated(self._session(contact_id), steps, contact_id))
        for contact_id, arrived in fresh.items():
            name = self._names.get(contact_id, "")
            for text in arrived:
                self._emit(
                    ev.MessageReceived(
                        self._session(contact_id), text.msg_id, text.text, text.sent_at,
                        contact=contact_id, name=name, puzzle=text.puzzle,
                    )
                )  # fmt: skip
        for contact_id, msg_ids in batch.delivered.items():
            waiting = self.undelivered.get(contact_id, set())
            for msg_id in msg_ids:
                waiting.discard(msg_id)
                self._emit(ev.MessageDelivered(self._session(contact_id), msg_id, contact_id))

    async def _reload(self) -> None:
        """After a failed commit, go back to the states the database holds."""

        contact_ids = list(self._conversations)

        def read(db: ProfileDatabase) -> list[tuple[ConversationRecord, str]]:
            saved = []
            for contact_id in contact_ids:
                record = db.conversation(contact_id)
                contact = db.contact(contact_id)
                if record is not None and contact is not None:
                    saved.append((record, contact.display_name))
            return saved

        for record, name in await self._worker.run(read):
            self._install(record, name)

    async def _forwarded(self, data: bytes) -> None:
        """A direct frame from an online contact: a file message or a transfer frame."""
        try:
            contact_id = self._by_hint.get(envelope_hint(data))
            kind = envelope_kind(data)
        except RemoteProtocolError:
            self._emit(ev.EnvelopeDropped(ev.DropReason.MALFORMED))
            return
        if contact_id is None:
            if not self._park(data, None):
                self._emit(ev.EnvelopeDropped(ev.DropReason.UNKNOWN))
            return
        link = self.file_link(contact_id)
        if kind is EnvelopeKind.TRANSFER:
            await self._contained(contact_id, link.frame(data))
            return
        batch = _Batch([], set(), {}, {}, {}, {}, [], [])
        self._open_one(data, batch)
        if batch.texts:  # texts never travel direct: a peer breaking the protocol
            self._emit(ev.EnvelopeDropped(ev.DropReason.MALFORMED, contact_id))
            await self._reload()
            return
        _fresh, entries = await self._commit(batch)
        self._report(batch, {})
        for entry in entries:
            await self._post(entry)
        for _contact, payload in batch.files:
            await self._file_message(contact_id, payload)

    async def _file_message(self, contact_id: str, payload: object) -> None:
        await self._contained(contact_id, self.file_link(contact_id).handle(payload))

    async def _contained(self, contact_id: str, step: Awaitable[None]) -> None:
        """A peer's file message that breaks the rules is dropped, not fatal: the link and
        every other conversation carry on."""
        try:
            await step
        except RemoteProtocolError as exc:
            log.info("dropped a file message that broke the protocol: %s", exc.code)
            self._emit(ev.EnvelopeDropped(ev.DropReason.MALFORMED, contact_id))

    # -- helpers ----------------------------------------------------------------------------

    def _conversation(self, contact_id: str) -> Conversation:
        conversation = self._conversations.get(contact_id)
        if conversation is None:
            raise LocalProtocolError(f"{contact_id[:16]}… is not one of your contacts.")
        return conversation

    def _session(self, contact_id: str) -> str:
        return self.sessions.get(contact_id, "")

    def hint_for(self, contact_id: str) -> bytes:
        return self._conversation(contact_id).send_hint

    def sending_steps(self, contact_id: str) -> int:
        return self._conversation(contact_id).sending_steps

    async def tick_one(self, contact_id: str) -> None:
        """A live session's own tick: heal that conversation if it needs it."""
        conversation = self._conversations.get(contact_id)
        if conversation is not None:
            await self.send_sealed(contact_id, conversation.tick())

    def file_link(self, contact_id: str) -> TransferLink:
        link = self.file_links.get(contact_id)
        if link is None:
            link = self.links(contact_id)
            self.file_links[contact_id] = link
        return link

    def seal_for(self, contact_id: str, payload: object) -> Outgoing:
        """Seal a file message (direct route); the caller commits it with ``send_sealed``."""
        return self._conversation(contact_id).seal(payload, Route.DIRECT)

    def _drop(self, contact_id: str) -> None:
        conversation = self._conversations.pop(contact_id, None)
        if conversation is not None:
            self._by_hint.pop(conversation.recv_hint, None)

    async def forget(self, contact_id: str) -> bool:
        """Delete a contact's conversation, history and outbox; revoke their token."""
        conversation = self._conversations.pop(contact_id, None)
        removed = await self._worker.run(lambda db: db.forget_contact(contact_id))
        if conversation is not None:
            self._by_hint.pop(conversation.recv_hint, None)
            if self._send is not None:
                with contextlib.suppress(MessengerError):
                    await self._send(wire.RevokeTokens(tokens=(conversation.recv_token,)))
        return bool(removed) or conversation is not None


def db_entry(seq: int, contact_id: str, outgoing: Outgoing, now: float) -> OutboxEntry:
    return OutboxEntry(seq, contact_id, outgoing.msg_id, outgoing.envelope, now)
