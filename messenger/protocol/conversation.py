"""One conversation with one contact, online or not: the Double Ratchet plus what the
payloads mean. Sans-IO: envelopes in, events and envelopes out; the caller stores the state
(``snapshot``) in the same transaction as what a message changed.

Envelope layout (the ``data`` of a relay ``Post`` or ``Direct``)::

    hint:16 | kind:1 | body
    kind 1  body = a Double Ratchet message (see ``double_ratchet``) whose plaintext is a
            payload (``payloads``): text, receipt, heal, file offer/answer/cancel/done
    kind 2  body = a transfer frame (see ``transfer_frames``): a file chunk or ack

``hint`` tells the recipient which conversation an envelope belongs to (the relay, which
stores envelopes without their sender, sees it but cannot tie it to a person). The
associated data of every ratchet message names sender and recipient, so an envelope cannot
be moved to another conversation or reflected back to its sender.

Healing: whenever the direction of talk turns, the Double Ratchet takes a fresh X25519 step.
A conversation where only one side talks would never step, so on each relay tick a side
whose newest ratchet key has not been sent yet sends an empty ``heal``; the other side then
steps with its next message. To keep two idle sides from trading heals forever, a heal goes
out only if a real message went either way since the last tick (``Activity``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum, StrEnum

from messenger.crypto.x25519 import EphemeralKey
from messenger.protocol.double_ratchet import Ratchet
from messenger.protocol.errors import LocalProtocolError, RemoteProtocolError
from messenger.protocol.introduction import HINT_SIZE, ConversationStart
from messenger.protocol.payloads import (
    FILE_PAYLOADS,
    MAX_ID_LEN,
    MAX_RECEIPT_IDS,
    MAX_TEXT_BYTES,
    Heal,
    Receipt,
    Text,
    payloads,
)

Clock = Callable[[], float]
_AD_LABEL = b"messenger v3 conversation"


class EnvelopeKind(IntEnum):
    RATCHET = 1
    TRANSFER = 2


class Route(StrEnum):
    """How an envelope travels: kept by the relay until fetched, or only to an online peer."""

    STORED = "stored"
    DIRECT = "direct"


class Activity(StrEnum):
    """Whether a real message went either way since the last relay tick (heal if so)."""

    QUIET = "quiet"
    ACTIVE = "active"


@dataclass(frozen=True, slots=True)
class Outgoing:
    route: Route
    envelope: bytes
    #: The message id for a text (the outbox and receipts key on it), "" otherwise.
    msg_id: str = ""


@dataclass(frozen=True, slots=True)
class TextArrived:
    msg_id: str
    text: str
    sent_at: float
    puzzle: str = ""


@dataclass(frozen=True, slots=True)
class Delivered:
    msg_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class KeysRenewed:
    """Our sending side took a fresh X25519 step; ``steps`` counts them."""

    steps: int


@dataclass(frozen=True, slots=True)
class FileMessage:
    """A file offer, answer, cancel or done, for the conversation's transfers."""

    payload: object


ConversationEvent = TextArrived | Delivered | KeysRenewed | FileMessage | Outgoing


def envelope_hint(envelope: bytes) -> bytes:
    """The conversation hint an envelope starts with (RemoteProtocolError if too short)."""
    if len(envelope) < HINT_SIZE + 1:
        raise RemoteProtocolError("A truncated envelope arrived.")
    return envelope[:HINT_SIZE]


def envelope_kind(envelope: bytes) -> EnvelopeKind:
    envelope_hint(envelope)
    try:
        return EnvelopeKind(envelope[HINT_SIZE])
    except ValueError:
        raise RemoteProtocolError("An envelope of an unknown kind arrived.") from None


def new_message_id() -> str:
    return uuid.uuid4().hex


class Conversation:
    """The ratchet and the meaning of payloads for one contact."""

    def __init__(
        self,
        contact_id: str,
        my_id: str,
        ratchet: Ratchet,
        *,
        send_token: bytes,
        recv_token: bytes,
        send_hint: bytes,
        recv_hint: bytes,
        now: Clock = time.time,
    ) -> None:
        self.contact_id = contact_id
        self.my_id = my_id
        self._ratchet = ratchet
        self.send_token = send_token
        self.recv_token = recv_token
        self.send_hint = send_hint
        self.recv_hint = recv_hint
        self._now = now
        self.activity = Activity.QUIET

    @classmethod
    def start(
        cls,
        contact_id: str,
        my_id: str,
        begin: ConversationStart,
        own: EphemeralKey,
        peer_ratchet: bytes,
        *,
        now: Clock = time.time,
    ) -> Conversation:
        """The conversation right after a meeting (see ``introduction``)."""
        make = Ratchet.initiator if begin.initiator else Ratchet.responder
        return cls(
            contact_id,
            my_id,
            make(begin.sk, own, peer_ratchet, now=now),
            send_token=begin.send_token,
            recv_token=begin.recv_token,
            send_hint=begin.send_hint,
            recv_hint=begin.recv_hint,
            now=now,
        )

    @classmethod
    def restore(
        cls,
        contact_id: str,
        my_id: str,
        ratchet_state: bytes,
        *,
        send_token: bytes,
        recv_token: bytes,
        send_hint: bytes,
        recv_hint: bytes,
        now: Clock = time.time,
    ) -> Conversation:
        """The conversation as it was saved (``snapshot``)."""
        return cls(
            contact_id,
            my_id,
            Ratchet.from_bytes(ratchet_state, now=now),
            send_token=send_token,
            recv_token=recv_token,
            send_hint=send_hint,
            recv_hint=recv_hint,
            now=now,
        )

    def snapshot(self) -> bytes:
        """The ratchet's state, to be committed with whatever the last call changed."""
        return self._ratchet.to_bytes()

    @property
    def sending_steps(self) -> int:
        return self._ratchet.sending_steps

    def __repr__(self) -> str:
        return f"Conversation({self.contact_id[:16]}…, {self.activity}, {self._ratchet!r})"

    # -- sending ----------------------------------------------------------------------------

    def _ad(self, sender: str, recipient: str) -> bytes:
        return _AD_LABEL + sender.encode() + b"\x00" + recipient.encode()

    def seal(self, payload: object, route: Route = Route.STORED, msg_id: str = "") -> Outgoing:
        plaintext = payloads.encode(payload)
        body = self._ratchet.encrypt(plaintext, self._ad(self.my_id, self.contact_id))
        envelope = self.send_hint + bytes((EnvelopeKind.RATCHET,)) + body
        return Outgoing(route, envelope, msg_id)

    def send_text(
        self, text: str, msg_id: str | None = None, *, puzzle: str = ""
    ) -> Outgoing:
        """Seal one message; the returned ``Outgoing`` carries its id."""
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError:
            raise LocalProtocolError(
                "That message contains characters that cannot be sent (unpaired surrogates)."
            ) from None
        if size > MAX_TEXT_BYTES:
            raise LocalProtocolError(
                f"That message is longer than {MAX_TEXT_BYTES // 1024} KiB; send it as a file."
            )
        msg_id = msg_id or new_message_id()
        self.activity = Activity.ACTIVE
        payload = Text(id=msg_id, text=text, sent_at=self._now(), puzzle=puzzle)
        return self.seal(payload, Route.STORED, msg_id)

    def receipt(self, msg_ids: list[str]) -> list[Outgoing]:
        """Receipts for messages we stored, at most ``MAX_RECEIPT_IDS`` ids each."""
        return [
            self.seal(Receipt(ids=tuple(msg_ids[i : i + MAX_RECEIPT_IDS])))
            for i in range(0, len(msg_ids), MAX_RECEIPT_IDS)
        ]

    def tick(self) -> list[Outgoing]:
        """The relay's timer: heal if our newest key is unannounced and we were talking."""
        was_active, self.activity = self.activity, Activity.QUIET
        if was_active is Activity.ACTIVE and self._ratchet.needs_announce:
            return [self.seal(Heal())]
        return []

    def rotate_now(self) -> list[Outgoing]:
        """The person's "renew keys now": announce our key if it is new, and ask the peer to
        announce theirs, so both sides step within one round trip."""
        self.activity = Activity.ACTIVE
        return [self.seal(Heal(request=True))]

    # -- receiving --------------------------------------------------------------------------

    def open(self, envelope: bytes) -> list[ConversationEvent]:
        """Open a ratchet envelope from the contact. Raises TamperedError, ReplayedError,
        TooFarAheadError or RemoteProtocolError; the state changes only on success."""
        if envelope_kind(envelope) is not EnvelopeKind.RATCHET:
            raise RemoteProtocolError("Expected a ratchet message.")
        steps = self._ratchet.sending_steps
        plaintext = self._ratchet.decrypt(
            envelope[HINT_SIZE + 1 :], self._ad(self.contact_id, self.my_id)
        )
        payload = payloads.decode(plaintext)
        events: list[ConversationEvent] = []
        if self._ratchet.sending_steps != steps:
            events.append(KeysRenewed(self._ratchet.sending_steps))
        if isinstance(payload, Text):
            if not 0 < len(payload.id) <= MAX_ID_LEN or len(payload.puzzle) > MAX_ID_LEN:
                raise RemoteProtocolError("A message arrived with a malformed id.")
            self.activity = Activity.ACTIVE
            events.append(TextArrived(payload.id, payload.text, payload.sent_at, payload.puzzle))
        elif isinstance(payload, Receipt):
            if len(payload.ids) > MAX_RECEIPT_IDS or any(
                not 0 < len(i) <= MAX_ID_LEN for i in payload.ids
            ):
                raise RemoteProtocolError("A receipt arrived with malformed ids.")
            events.append(Delivered(payload.ids))
        elif isinstance(payload, Heal):
            if payload.request and self._ratchet.needs_announce:
                events.append(self.seal(Heal()))
        elif isinstance(payload, FILE_PAYLOADS):
            events.append(FileMessage(payload))
        else:
            raise RemoteProtocolError(f"The contact sent an unexpected {type(payload).__name__}.")
        return events
