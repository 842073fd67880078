"""Profiles with long histories, written straight into the database (no relay, no ratchet
per message): for the GUI tests of paging and search and for ``tests.bench.app_history``.

Each contact gets a real conversation state (a Double Ratchet started the way a meeting
starts it), so the courier loads it like any other; the messages themselves are rows only.
``peer_side`` keeps the other side's conversation, for tests that send real envelopes.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass

from messenger.crypto.x25519 import EphemeralKey
from messenger.protocol.conversation import Conversation
from messenger.protocol.introduction import ConversationStart
from messenger.store.database import ProfileDatabase
from messenger.store.records import ContactRecord, ConversationRecord, MessageStatus, VerifiedBy

WORDS = [
    *("orbit", "lantern", "harbour", "seven", "quiet", "meadow", "copper", "rain"),
    *("window", "letter", "morning", "tea", "train", "station", "bridge", "garden"),
    *("river", "paper", "stone", "cloud"),
]

#: A message to seed: (text, ours?, when).
Seeded = tuple[str, bool, float]


@dataclass
class SeededContact:
    id: str
    name: str
    #: The contact's side of the conversation (opens what we send, seals what they send).
    peer_side: Conversation


def sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 15)))


def new_contact_id() -> str:
    return os.urandom(32).hex()


def add_contact(
    db: ProfileDatabase,
    my_id: str,
    name: str,
    messages: Iterable[Seeded] = (),
    *,
    contact_id: str | None = None,
    unread: int = 0,
    verified: bool = True,
) -> SeededContact:
    """A contact with a started conversation and ``messages`` in its history, in one
    transaction."""
    contact_id = contact_id or new_contact_id()
    mine, theirs = EphemeralKey.generate(), EphemeralKey.generate()
    secret = os.urandom(32)
    tokens, hints = (os.urandom(32), os.urandom(32)), (os.urandom(16), os.urandom(16))
    ours = Conversation.start(
        contact_id, my_id, ConversationStart(secret, True, tokens[0], tokens[1], *hints),
        mine, theirs.public_bytes,
    )  # fmt: skip
    peer = Conversation.start(
        my_id, contact_id, ConversationStart(secret, False, tokens[1], tokens[0], hints[1],
                                             hints[0]),
        theirs, mine.public_bytes,
    )  # fmt: skip
    now = time.time()
    with db.transaction():
        db.upsert_contact(
            ContactRecord(
                id=contact_id, name=name, pinned_at=now, verified=verified,
                verified_by=VerifiedBy.CODE if verified else None,
            )
        )  # fmt: skip
        last = now
        for n, (text, outgoing, when) in enumerate(messages):
            db.add_message(
                contact_id, f"seed-{n}", outgoing=outgoing, body=text, sent_at=when,
                stored_at=when,
                status=MessageStatus.DELIVERED if outgoing else MessageStatus.RECEIVED,
            )  # fmt: skip
            last = when
        db.save_conversation(
            ConversationRecord(
                contact_id, ours.snapshot(), ours.send_token, ours.recv_token, ours.send_hint,
                ours.recv_hint, now, last, unread,
            )
        )  # fmt: skip
    return SeededContact(contact_id, name, peer)


def spread(
    count: int, days: float, rng: random.Random, *, end: float | None = None
) -> list[Seeded]:
    """``count`` messages over the last ``days`` days, alternating loosely between sides."""
    end = time.time() - 60 if end is None else end
    start = end - days * 86400
    step = (end - start) / max(count, 1)
    return [(sentence(rng), rng.random() < 0.5, start + n * step) for n in range(count)]
