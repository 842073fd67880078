"""A file for a contact who is offline waits, and goes out when they come back; chunk
frames are opened off the event loop."""

from __future__ import annotations

import asyncio
import hashlib
import random
import threading
from pathlib import Path
from typing import Any

from messenger import events as ev
from messenger.protocol.introduction import HINT_SIZE
from messenger.protocol.payloads import FileChunk, FileOffer, payloads
from messenger.protocol.transfer import new_transfer_id
from messenger.protocol.transfer_frames import TransferCipher
from messenger.transfer_link import OPEN_QUEUE, TransferLink

CONTACT = "c" * 64


class FakeFileHistory:
    """The courier's file history, as far as a TransferLink writes to it."""

    def __init__(self) -> None:
        self.noted: list[object] = []

    def offered(self, contact_id: str, transfer_id: str, path: Path, size: int) -> None:
        pass

    def note(self, contact_id: str, event: object) -> None:
        self.noted.append(event)


class FakeCourier:
    """Just what a TransferLink uses of the courier: it records what would be sealed."""

    def __init__(self) -> None:
        self.online: dict[str, bool] = {}
        self.sessions: dict[str, str] = {}
        self.sealed: list[object] = []
        self.files = FakeFileHistory()

    def seal_for(self, contact_id: str, payload: object) -> object:
        self.sealed.append(payload)
        return payload

    async def send_sealed(self, contact_id: str, outgoing: list[object]) -> None:
        pass


def test_an_offer_to_an_offline_contact_waits_and_goes_out_when_they_are_back(
    tmp_path: Path,
) -> None:
    source = tmp_path / "later.txt"
    source.write_bytes(b"for when you are back\n" * 100)
    events: list[ev.ClientEvent] = []
    courier: Any = FakeCourier()

    async def scenario() -> None:
        link = TransferLink(CONTACT, courier, events.append)
        assert await link.offer(source) is None
        assert courier.sealed == [], "nothing goes out while they are offline"
        courier.online[CONTACT] = True
        await link.peer_online()

    asyncio.run(scenario())
    assert [type(e) for e in events] == [ev.FileWaiting]
    (offer,) = courier.sealed
    assert isinstance(offer, FileOffer) and offer.name == "later.txt" and len(offer.key) == 32


class OnlineCourier(FakeCourier):
    """A courier whose contact is online: acks go out as direct frames, recorded."""

    def __init__(self) -> None:
        super().__init__()
        self.online[CONTACT] = True
        self.direct: list[bytes] = []

    def hint_for(self, contact_id: str) -> bytes:
        return bytes(HINT_SIZE)

    async def send_direct(self, contact_id: str, envelope: bytes) -> None:
        self.direct.append(envelope)


def test_chunk_frames_are_opened_off_the_event_loop_while_the_reader_goes_on(
    tmp_path: Path,
) -> None:
    """The end-to-end open of a chunk (a MiB of AES-GCM) runs in a worker thread, in
    order, so the session's reader takes the next frames meanwhile; a held open (a gate)
    shows it without timing."""
    chunk_size, chunks = 4096, 3 * OPEN_QUEUE
    data = random.Random(7).randbytes(chunk_size * chunks - 100)
    transfer_id, key = new_transfer_id(), bytes(range(32))
    sealer = TransferCipher(transfer_id, key, sending=True)
    frames = [
        sealer.seal(
            payloads.encode(FileChunk(transfer_id, i, data[i * chunk_size : (i + 1) * chunk_size])),
            bytes(HINT_SIZE),
        )
        for i in range(chunks)
    ]
    events: list[ev.ClientEvent] = []
    courier: Any = OnlineCourier()
    gate = threading.Event()
    opened_on: set[str] = set()

    async def scenario() -> None:
        link = TransferLink(CONTACT, courier, events.append, policy=lambda _terms: tmp_path)
        offer = FileOffer(
            transfer_id, "held.bin", len(data), hashlib.sha256(data).digest(), chunk_size, key
        )
        await link.handle(offer)
        cipher = link._ciphers[transfer_id]
        open_frame = cipher.open

        def held_open(envelope: bytes) -> bytes:
            opened_on.add(threading.current_thread().name)
            if not gate.wait(10):
                raise AssertionError("the test never opened the gate")
            return open_frame(envelope)

        cipher.open = held_open  # type: ignore[method-assign]
        try:
            for frame in frames[: OPEN_QUEUE + 1]:
                await asyncio.wait_for(link.frame(frame), 5)
            assert link.transfers.incoming[transfer_id].next_arriving == 0, "none opened yet"
        finally:
            gate.set()
        for frame in frames[OPEN_QUEUE + 1 :]:
            await asyncio.wait_for(link.frame(frame), 5)
        async with asyncio.timeout(10):
            while not any(isinstance(e, ev.FileCompleted) for e in events):
                await link.transfers.changed.wait()
                link.transfers.changed.clear()

    asyncio.run(scenario())
    assert threading.main_thread().name not in opened_on
    assert [type(e) for e in events if isinstance(e, ev.EnvelopeDropped)] == []
    assert (tmp_path / "held.bin").read_bytes() == data
