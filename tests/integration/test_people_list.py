"""The list of people through the client core (``Client.list_people``) against a real relay
process: it reads every page, follows the relay's differences, and reports the whole list
as it knows it in each ``PeopleChanged`` event."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from messenger import events as ev
from messenger.client import Client
from tests.support import SOON, InProcessClient, Keys

pytestmark = pytest.mark.timeout(60)


def person(keys: Keys, folder: Path, relay, index: int, name: str, **options) -> InProcessClient:
    return InProcessClient(folder / name, keys.identity(index), relay.addr, name=name, **options)


async def next_people(client: Client) -> ev.PeopleChanged:
    async with asyncio.timeout(SOON):
        while not isinstance(event := await client.events.get(), ev.PeopleChanged):
            pass
    return event


def test_a_watching_client_hears_differences_and_keeps_the_whole_list(make_relay, keys, tmp_path):
    relay = make_relay("--presence-interval", "0")

    async def scenario() -> None:
        async with (
            person(keys, tmp_path, relay, 0, "watcher") as watcher,
            person(keys, tmp_path, relay, 1, "alice", accept_invites=True) as alice,
            person(keys, tmp_path, relay, 2, "bob", accept_invites=True, listed=False) as bob,
        ):
            await watcher.connect()
            assert await watcher.list_people(watch=True) == ()
            await bob.connect()  # takes invitations but chose not to be listed
            await alice.connect()

            arrived = await next_people(watcher)
            assert [(p.name, p.status) for p in arrived.people] == [("alice", "free")]
            assert arrived.added == arrived.people and arrived.gone == ()
            assert watcher.people == arrived.people

            await alice.close()
            left = await next_people(watcher)
            assert left.people == () and left.gone == (alice.id,)

    asyncio.run(scenario())


def test_the_client_reads_every_page_of_a_long_list(make_relay, keys, tmp_path):
    relay = make_relay("--people-page", "1")  # one person a page: three pages for three

    async def scenario() -> None:
        async with (
            person(keys, tmp_path, relay, 0, "carol", accept_invites=True) as carol,
            person(keys, tmp_path, relay, 1, "alice", accept_invites=True) as alice,
            person(keys, tmp_path, relay, 2, "Bob", accept_invites=True) as bob,
        ):
            for client in (carol, alice, bob):
                await client.connect()
            everyone = await carol.list_people()
            first = await carol.list_people(limit=1)
            searched = await carol.list_people(query="B")
            watched = await carol.list_people(watch=True)

        assert [p.name for p in everyone] == ["alice", "Bob"]  # by name, not yourself
        assert [p.name for p in first] == ["alice"]
        assert [p.name for p in searched] == ["Bob"]
        assert watched == everyone

    asyncio.run(scenario())
