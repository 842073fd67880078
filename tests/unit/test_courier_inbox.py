"""A relay (or anyone feeding the link) cannot fill the client's memory with envelopes.

The courier takes envelopes off the link into an in-memory inbox and opens them a slice
at a time; each slice is acknowledged only once the database has committed it. If the
database stalls (a slow disk) while a hostile relay keeps delivering, the inbox must stop
growing at ``INBOX_BYTES``: ``dispatch`` stops returning, so the link stops reading and
the pressure goes back to the relay, whose queues are bounded and timed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from typing import Any

from messenger.courier import INBOX_BYTES, Courier
from messenger.protocol import wire
from messenger.protocol.introduction import HINT_SIZE

ENVELOPE = 64 * 1024


class _StalledDatabase:
    """Stands in for the profile database: empty outbox, transactions that do nothing."""

    def outbox(self) -> list[object]:
        return []

    def transaction(self) -> contextlib.nullcontext[None]:
        return contextlib.nullcontext()


class _StallingWorker:
    """A database worker whose commits wait until ``release`` (a disk that hangs)."""

    def __init__(self) -> None:
        self.db = _StalledDatabase()
        self.release = asyncio.Event()
        self.commits = 0

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        if fn.__name__ == "commit":
            self.commits += 1
            await self.release.wait()
        return fn(self.db, *args)


class _Identity:
    fingerprint = "f" * 64


async def _yield_many(times: int = 50) -> None:
    for _ in range(times):
        await asyncio.sleep(0)


async def _linked(worker: _StallingWorker, sent: list[object], **options: Any) -> Any:
    """A courier on ``worker`` whose link is up, every frame it sends going into ``sent``."""
    courier: Any = Courier(_Identity(), worker, lambda event: None, **options)  # type: ignore[arg-type]

    async def send(message: object) -> None:
        sent.append(message)

    await courier.link_up(send, fetch=True)
    return courier


def test_a_stalled_database_stops_the_link_reading_at_the_inbox_limit() -> None:
    sent: list[object] = []

    async def scenario() -> None:
        worker = _StallingWorker()
        courier = await _linked(worker, sent)
        accepted = 0
        blocked: asyncio.Task[bool] | None = None
        # Feed far more than the limit; stop at the first delivery the courier holds back.
        for relay_id in range(1, 4 * INBOX_BYTES // ENVELOPE):
            delivery = courier.dispatch(wire.Deliver(id=relay_id, data=os.urandom(ENVELOPE)))
            task = asyncio.ensure_future(delivery)
            await _yield_many()
            if not task.done():
                blocked = task
                break
            accepted += 1
        assert blocked is not None, "the courier kept taking envelopes with nothing committed"
        assert accepted * ENVELOPE <= INBOX_BYTES + ENVELOPE
        assert accepted * ENVELOPE >= INBOX_BYTES // 2, "held back far too early"
        assert worker.commits >= 1
        assert not any(isinstance(m, wire.Ack) for m in sent), "nothing acked before commit"

        # The disk recovers: the held delivery goes through and what was opened is acked.
        worker.release.set()
        assert await asyncio.wait_for(blocked, 10) is True
        await courier.dispatch(wire.CaughtUp())
        await asyncio.wait_for(courier.settle(), 10)
        acked = {i for m in sent if isinstance(m, wire.Ack) for i in m.ids}
        assert acked == set(range(1, accepted + 2))
        await courier.close()

    asyncio.run(scenario())


def test_finishing_intake_reports_what_was_taken_in_and_leaves_later_envelopes_unacked() -> None:
    """A CLI about to exit: what the courier took in is committed and acknowledged before
    ``finish_intake`` returns; what the relay sends after it stays unacknowledged with the
    relay, for the next connection (never committed and left unreported)."""
    sent: list[object] = []

    async def scenario() -> None:
        worker = _StallingWorker()
        courier = await _linked(worker, sent)
        for relay_id in (1, 2):
            await courier.dispatch(wire.Deliver(id=relay_id, data=os.urandom(256)))
        finishing = asyncio.ensure_future(courier.finish_intake())
        await _yield_many()
        assert not finishing.done(), "returned while a commit was still under way"
        assert await courier.dispatch(wire.Deliver(id=3, data=os.urandom(256))) is True
        worker.release.set()
        await asyncio.wait_for(finishing, 10)
        acked = {i for m in sent if isinstance(m, wire.Ack) for i in m.ids}
        assert acked == {1, 2}
        await courier.close()

    asyncio.run(scenario())


class _OneCommitAtATime(_StallingWorker):
    """Each commit waits for its own ``gates`` entry, in order (a slow disk, slice by slice)."""

    def __init__(self) -> None:
        super().__init__()
        self.gates: list[asyncio.Event] = []

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        if fn.__name__ == "commit":
            gate = asyncio.Event()
            self.gates.append(gate)
            self.commits += 1
            await gate.wait()
        return fn(self.db, *args)


def test_settle_waits_for_every_open_slice_not_only_the_one_just_settled() -> None:
    """Two slices overlap (one commits while the next is opened). When the first settles
    and the inbox is empty, the second is still open: ``settle`` (and so a CLI about to
    exit) must wait for it, or its messages are stored and never reported."""
    sent: list[object] = []

    async def scenario() -> None:
        worker = _OneCommitAtATime()
        # A slice's time budget of 0: each envelope is a slice of its own.
        courier = await _linked(worker, sent, slice_seconds=0.0)
        await courier.dispatch(wire.Deliver(id=1, data=os.urandom(256)))
        await courier.dispatch(wire.Deliver(id=2, data=os.urandom(256)))
        await _yield_many()
        assert len(worker.gates) == 2, "the second slice was opened while the first commits"
        worker.gates[0].set()
        await _yield_many()
        settling = asyncio.ensure_future(courier.settle())
        await _yield_many()
        assert not settling.done(), "settle returned with the second slice still open"
        worker.gates[1].set()
        await asyncio.wait_for(settling, 10)
        acked = {i for m in sent if isinstance(m, wire.Ack) for i in m.ids}
        assert acked == {1, 2}
        await courier.close()

    asyncio.run(scenario())


def test_envelopes_parked_for_a_new_conversation_stay_ahead_of_the_ones_delivered_after() -> None:
    """Envelope 1 comes while the meeting's conversation is still being saved: it is
    parked. Envelope 2 comes meanwhile and waits in the inbox. When the conversation is
    installed, 1 must be taken in before 2 (the sender's order), not behind it."""

    async def scenario() -> None:
        worker = _StallingWorker()
        courier = await _linked(worker, [])
        hint = os.urandom(HINT_SIZE)
        courier.expect(hint)
        await courier.dispatch(wire.Deliver(id=1, data=hint + os.urandom(64)))
        await _yield_many()  # the reader parks it, then waits on its (empty) slice's commit
        await courier.dispatch(wire.Deliver(id=2, data=hint + os.urandom(64)))
        await _yield_many()
        await courier._unpark(hint)
        order = []
        while not courier._inbox.empty():
            order.append(courier._inbox.get_nowait().relay_id)
        assert order == [1, 2]
        worker.release.set()
        await courier.close()

    asyncio.run(scenario())
