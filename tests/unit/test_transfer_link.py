"""A file for a contact who is offline waits, and goes out when they come back."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from messenger import events as ev
from messenger.protocol.payloads import FileOffer
from messenger.transfer_link import TransferLink

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
