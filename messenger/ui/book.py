"""The app's reads and writes of conversations, always on the database's own thread.

Windows never touch the database: every read here is one ``DatabaseWorker.run`` (the GUI
thread only awaits it), and every write that belongs to the conversation core (sending,
retrying, forgetting a contact) goes through the courier. Qt-free: it is the app's view of
the profile, testable without widgets.
"""

from __future__ import annotations

from dataclasses import dataclass

from messenger.courier import Courier
from messenger.protocol.rsa_handshake import rsa_safety_number
from messenger.store.database import ProfileDatabase
from messenger.store.records import ContactRecord, ConversationSummary, MessageRecord, VerifiedBy
from messenger.store.worker import DatabaseWorker

__all__ = ["PAGE", "ConversationBook", "Found", "Page"]

#: Messages per history page: the first screenful and then some.
PAGE = 60
#: The private setting naming the conversation that was open last.
LAST_OPEN = "last_conversation"


@dataclass(frozen=True, slots=True)
class Page:
    """Some of a conversation's messages (history order) and whether more lie beyond."""

    records: list[MessageRecord]
    has_older: bool
    has_newer: bool = False


@dataclass(frozen=True, slots=True)
class Found:
    """A search hit: the message and who the conversation is with."""

    message: MessageRecord
    contact: ContactRecord


class ConversationBook:
    def __init__(self, worker: DatabaseWorker, courier: Courier) -> None:
        self.worker = worker
        self.courier = courier

    # -- the list ---------------------------------------------------------------------------

    async def summaries(self) -> list[ConversationSummary]:
        """Every conversation, most recent first, with its last message and unread count."""
        return await self.worker.run(lambda db: db.conversations())

    async def summary(self, contact_id: str) -> ConversationSummary | None:
        """One conversation's entry: read alone, not picked out of every conversation."""

        def read(db: ProfileDatabase) -> ConversationSummary | None:
            found = db.conversations(contact_id)
            return found[0] if found else None

        return await self.worker.run(read)

    async def mark_read(self, contact_id: str) -> None:
        await self.worker.run(lambda db: db.clear_unread(contact_id))

    async def remember_open(self, contact_id: str) -> None:
        """The conversation in front, to open again next time (kept in the encrypted
        database: who one talks to is nobody else's business)."""
        await self.worker.run(lambda db: db.save_setting(LAST_OPEN, contact_id))

    async def last_open(self) -> str | None:
        value = await self.worker.run(lambda db: db.setting(LAST_OPEN))
        return value if isinstance(value, str) else None

    # -- history ----------------------------------------------------------------------------

    async def latest(self, contact_id: str, limit: int = PAGE) -> Page:
        records = await self.worker.run(lambda db: db.history(contact_id, limit=limit + 1))
        return Page(records[-limit:], has_older=len(records) > limit)

    async def older(self, contact_id: str, before_id: int, limit: int = PAGE) -> Page:
        records = await self.worker.run(
            lambda db: db.history(contact_id, limit=limit + 1, before_id=before_id)
        )
        return Page(records[-limit:], has_older=len(records) > limit)

    async def newer(self, contact_id: str, after_id: int, limit: int = PAGE) -> Page:
        records = await self.worker.run(
            lambda db: db.history_after(contact_id, after_id=after_id, limit=limit + 1)
        )
        return Page(records[:limit], has_older=True, has_newer=len(records) > limit)

    async def around(self, contact_id: str, message_id: int, limit: int = PAGE) -> Page:
        """The messages around one (a search hit): half before it, half after."""

        def read(db: ProfileDatabase) -> Page:
            half = max(1, limit // 2)
            before = db.history(contact_id, limit=half + 1, before_id=message_id + 1)
            after = db.history_after(contact_id, after_id=message_id, limit=half + 1)
            return Page(before[-half:] + after[:half], len(before) > half, len(after) > half)

        return await self.worker.run(read)

    async def message(self, contact_id: str, msg_id: str, outgoing: bool) -> MessageRecord | None:
        return await self.worker.run(lambda db: db.message(contact_id, msg_id, outgoing=outgoing))

    async def search(self, query: str, limit: int = 50) -> list[Found]:
        """Messages (and file names) with every word of ``query``, newest first."""

        def read(db: ProfileDatabase) -> list[Found]:
            found = []
            contacts: dict[str, ContactRecord | None] = {}
            for message in db.search(query, limit=limit):
                if message.contact_id not in contacts:
                    contacts[message.contact_id] = db.contact(message.contact_id)
                contact = contacts[message.contact_id]
                if contact is not None:
                    found.append(Found(message, contact))
            # The index hands them out newest stored first; show them by their time.
            return sorted(found, key=lambda hit: -hit.message.stored_at)

        return await self.worker.run(read)

    # -- contacts ---------------------------------------------------------------------------

    async def contact(self, contact_id: str) -> ContactRecord | None:
        return await self.worker.run(lambda db: db.contact(contact_id))

    async def rename(self, contact_id: str, name: str | None) -> ContactRecord | None:
        """Our own name for them (blank: theirs again); returns the contact as it is now."""

        def write(db: ProfileDatabase) -> ContactRecord | None:
            db.set_local_name(contact_id, name)
            return db.contact(contact_id)

        return await self.worker.run(write)

    async def set_verified(self, contact_id: str, verified: bool) -> None:
        by = VerifiedBy.SAFETY_NUMBER if verified else None
        await self.worker.run(lambda db: db.set_verified(contact_id, verified, by))

    async def delete(self, contact_id: str) -> bool:
        """Forget the contact: conversation, history and outbox (their token is revoked)."""
        return await self.courier.forget(contact_id)

    def safety_number(self, contact_id: str) -> str:
        """The 60 digits both sides see for this pair of identity keys."""
        return rsa_safety_number(self.courier.my_id, contact_id)
