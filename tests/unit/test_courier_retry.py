"""A message the relay refused can be sent again (the app's Retry): the courier re-posts its
outbox entry when the refusal was for now (a full queue), or seals the same text again under
the same message id when the entry is gone (the contact had stopped taking our messages).

One courier with a real encrypted database and a fake relay link that records what is sent;
the contact's side is a bare ``Conversation`` that opens what would reach it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from messenger import events as ev
from messenger.courier import Courier
from messenger.crypto.x25519 import EphemeralKey
from messenger.protocol import wire
from messenger.protocol.conversation import Conversation, TextArrived
from messenger.protocol.errors import LocalProtocolError, NotAllowedError, QueueFullError
from messenger.protocol.introduction import ConversationStart
from messenger.store.database import ProfileDatabase
from messenger.store.db_key import new_key
from messenger.store.records import ContactRecord, ConversationRecord, MessageStatus
from messenger.store.worker import DatabaseWorker

BOB = "b" * 64
SK = bytes(range(32))


class Harness:
    """The courier under test, what it sent to the relay, what it reported, and Bob."""

    def __init__(self, folder: Path, identity) -> None:
        self.db = ProfileDatabase.open(folder, new_key())
        self.worker = DatabaseWorker(self.db)
        self.events: list[ev.ClientEvent] = []
        self.sent: list[object] = []
        self.courier = Courier(identity, self.worker, self.events.append)
        a0, b0 = EphemeralKey.generate(), EphemeralKey.generate()
        tokens, hints = (b"1" * 32, b"2" * 32), (b"h" * 16, b"i" * 16)
        mine = Conversation.start(
            BOB, identity.fingerprint,
            ConversationStart(SK, True, tokens[0], tokens[1], hints[0], hints[1]),
            a0, b0.public_bytes,
        )  # fmt: skip
        self.bob = Conversation.start(
            identity.fingerprint, BOB,
            ConversationStart(SK, False, tokens[1], tokens[0], hints[1], hints[0]),
            b0, a0.public_bytes,
        )  # fmt: skip
        self.db.upsert_contact(ContactRecord(id=BOB, name="bob", pinned_at=1.0))
        self.db.save_conversation(
            ConversationRecord(
                BOB, mine.snapshot(), mine.send_token, mine.recv_token, mine.send_hint,
                mine.recv_hint, 1.0, 1.0,
            )
        )  # fmt: skip

    async def send(self, message: object) -> None:
        self.sent.append(message)

    def posts(self) -> list[wire.Post]:
        return [m for m in self.sent if isinstance(m, wire.Post)]

    async def refuse_last(self, error) -> None:
        post = self.posts()[-1]
        frame = wire.Error(code=error.code.value, message=str(error), ref=post.ref)
        assert self.courier.claims(frame)
        await self.courier.failed(frame, error)

    def status(self, msg_id: str) -> MessageStatus:
        message = self.db.message(BOB, msg_id, outgoing=True)
        assert message is not None
        return message.status

    async def close(self) -> None:
        await self.courier.close()
        await self.worker.close()
        self.db.close()


def scenario(tmp_path: Path, identity, body) -> None:
    async def main() -> None:
        harness = Harness(tmp_path, identity)
        try:
            await harness.courier.load()
            await harness.courier.link_up(harness.send, fetch=False)
            await body(harness)
        finally:
            await harness.close()

    asyncio.run(main())


def test_a_message_refused_for_good_is_sealed_again_under_its_id(tmp_path, rsa_keys):
    async def body(h: Harness) -> None:
        msg_id = await h.courier.send_text(BOB, "are you there?")
        first = h.posts()[-1]
        await h.refuse_last(NotAllowedError("not a contact"))
        assert h.status(msg_id) is MessageStatus.FAILED
        assert h.db.outbox() == [], "a refusal for good takes it out of the outbox"
        assert any(isinstance(e, ev.MessageFailed) and e.id == msg_id for e in h.events)

        status = await h.courier.retry(BOB, msg_id)

        assert status is MessageStatus.PENDING
        assert h.status(msg_id) is MessageStatus.PENDING
        again = h.posts()[-1]
        assert again.data != first.data, "sealed again with a fresh message key"
        assert msg_id in h.courier.pending[BOB]
        arrived = [e for e in h.bob.open(again.data) if isinstance(e, TextArrived)]
        assert [(t.msg_id, t.text) for t in arrived] == [(msg_id, "are you there?")]
        await h.courier.dispatch(wire.Posted(id=1, ref=again.ref))
        assert h.status(msg_id) is MessageStatus.SENT

    scenario(tmp_path, rsa_keys.alice, body)


def test_a_message_refused_for_now_goes_again_from_the_outbox(tmp_path, rsa_keys):
    async def body(h: Harness) -> None:
        msg_id = await h.courier.send_text(BOB, "queue full?")
        first = h.posts()[-1]
        await h.refuse_last(QueueFullError("full"))
        assert h.status(msg_id) is MessageStatus.FAILED
        assert [e.msg_id for e in h.db.outbox()] == [msg_id], "kept for the next try"

        await h.courier.retry(BOB, msg_id)

        assert h.posts()[-1].data == first.data, "the same envelope, not a second message"
        assert len(h.db.outbox()) == 1
        assert h.status(msg_id) is MessageStatus.PENDING
        arrived = [e for e in h.bob.open(first.data) if isinstance(e, TextArrived)]
        assert [t.text for t in arrived] == ["queue full?"]

    scenario(tmp_path, rsa_keys.alice, body)


def test_a_puzzle_is_sealed_again_as_a_puzzle(tmp_path, rsa_keys):
    async def body(h: Harness) -> None:
        msg_id = await h.courier.send_text(BOB, "WKLV LV D SXCCOH", puzzle="caesar")
        await h.refuse_last(NotAllowedError("not a contact"))
        await h.courier.retry(BOB, msg_id)
        (arrived,) = [e for e in h.bob.open(h.posts()[-1].data) if isinstance(e, TextArrived)]
        assert (arrived.msg_id, arrived.puzzle) == (msg_id, "caesar")

    scenario(tmp_path, rsa_keys.alice, body)


def test_only_a_failed_message_of_ours_can_be_retried(tmp_path, rsa_keys):
    async def body(h: Harness) -> None:
        msg_id = await h.courier.send_text(BOB, "fine")
        posts = len(h.posts())
        assert await h.courier.retry(BOB, msg_id) is MessageStatus.PENDING, "nothing to do"
        assert len(h.posts()) == posts, "a message that did not fail is not sent twice"
        with pytest.raises(LocalProtocolError):
            await h.courier.retry(BOB, "no-such-message")

    scenario(tmp_path, rsa_keys.alice, body)


def test_a_retry_while_offline_waits_in_the_outbox(tmp_path, rsa_keys):
    async def body(h: Harness) -> None:
        msg_id = await h.courier.send_text(BOB, "later")
        await h.refuse_last(NotAllowedError("not a contact"))
        h.courier.link_down()
        posts = len(h.posts())

        await h.courier.retry(BOB, msg_id)

        assert len(h.posts()) == posts
        assert [e.msg_id for e in h.db.outbox()] == [msg_id]
        await h.courier.link_up(h.send, fetch=False)
        assert h.posts()[-1].data == h.db.outbox()[0].envelope

    scenario(tmp_path, rsa_keys.alice, body)
