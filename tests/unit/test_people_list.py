"""The list of people on a real ``Hub`` (127.0.0.1:0, inside ``asyncio.run``) with real client
connections: only those who chose to be listed appear; the list comes in pages, so no size
is fatal; watchers get differences, gathered for ``presence_interval`` and encoded once,
instead of the whole list again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from messenger.net.connection import ServerConnection
from messenger.protocol import wire
from server.config import ServerConfig
from server.hub import Hub
from server.presence import Present

pytestmark = pytest.mark.timeout(60)


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 45))


async def connect(port: int, identity, name: str = "", listed: bool = True) -> ServerConnection:
    return await ServerConnection.open(
        "127.0.0.1", port, identity=identity, name=name, accept_invites=True, listed=listed
    )


async def receive(connection: ServerConnection, kind: type, timeout: float = 10.0):
    """The next message of type ``kind`` (others are skipped)."""
    async with asyncio.timeout(timeout):
        while not isinstance(message := await connection.receive(), kind):
            pass
    return message


async def ping(connection: ServerConnection, nonce: int) -> list[object]:
    """Everything the relay sends before the pong for ``nonce``: what it had queued."""
    await connection.send(wire.Ping(nonce=nonce))
    seen: list[object] = []
    async with asyncio.timeout(10):
        while (message := await connection.receive()) != wire.Pong(nonce=nonce):
            seen.append(message)
    return seen


async def change_where(
    watcher: ServerConnection, matches: Callable[[wire.PeopleChanged], bool]
) -> wire.PeopleChanged:
    """The first difference that ``matches`` (earlier ones, about the test's own clients
    arriving, are skipped)."""
    async with asyncio.timeout(10):
        while not matches(change := await receive(watcher, wire.PeopleChanged)):
            pass
    return change


def names(change: wire.PeopleChanged) -> list[str]:
    return [p.name for p in change.people]


def someone(index: int, listed: bool = True) -> Present:
    """A person online on a connection that does not exist (only the list is tested)."""
    return Present(100_000 + index, f"{index:064x}", f"person {index:05d}", True, listed=listed)


def test_more_people_than_a_page_holds_are_listed_page_by_page_not_fatally(rsa_keys):
    async def scenario() -> None:
        hub = Hub(ServerConfig(port=0), rsa_keys.server)
        _host, port = await hub.start()
        count = 2 * wire.MAX_PEOPLE + 10  # more than the unpacker's array bound
        for index in range(count):
            hub.presence.add(someone(index))
        watcher = await connect(port, rsa_keys.alice, "watcher")

        names: list[str] = []
        cursor, pages = "", 0
        while True:
            await watcher.send(wire.ListPeople(cursor=cursor, ref=pages + 1))
            page = await receive(watcher, wire.People)
            assert page.ref == pages + 1 and len(page.people) <= wire.MAX_PEOPLE_PAGE
            names += [p.name for p in page.people if p.name.startswith("person")]
            pages += 1
            if not (cursor := page.cursor):
                break

        assert names == [f"person {index:05d}" for index in range(count)]
        assert pages == count // wire.MAX_PEOPLE_PAGE + 1
        assert await ping(watcher, 5) == []  # still connected
        await watcher.close()
        await hub.close()

    run(scenario)


def test_only_people_who_chose_to_be_listed_appear(rsa_keys):
    async def scenario() -> None:
        hub = Hub(ServerConfig(port=0, presence_interval=0), rsa_keys.server)
        _host, port = await hub.start()
        watcher = await connect(port, rsa_keys.alice, "alice", listed=False)
        await watcher.send(wire.ListPeople(watch=True))
        assert (await receive(watcher, wire.People)).people == ()

        hidden = await connect(port, rsa_keys.bob, "bob", listed=False)
        listed = await connect(port, rsa_keys.mallory, "mallory", listed=True)

        change = await receive(watcher, wire.PeopleChanged)
        assert names(change) == ["mallory"]
        await watcher.send(wire.ListPeople())
        assert [p.name for p in (await receive(watcher, wire.People)).people] == ["mallory"]
        assert not any(  # nothing about bob, ever
            isinstance(m, wire.PeopleChanged) and any(p.name == "bob" for p in m.people)
            for m in await ping(watcher, 1)
        )
        for client in (watcher, hidden, listed):
            await client.close()
        await hub.close()

    run(scenario)


def test_a_watcher_gets_differences_not_the_whole_list(rsa_keys):
    async def scenario() -> None:
        hub = Hub(ServerConfig(port=0, presence_interval=0), rsa_keys.server)
        _host, port = await hub.start()
        for index in range(500):
            hub.presence.add(someone(index))
        watcher = await connect(port, rsa_keys.alice, "alice", listed=False)
        await watcher.send(wire.ListPeople(watch=True, limit=10))
        first = await receive(watcher, wire.People)
        assert len(first.people) == 10 and first.cursor

        bob = await connect(port, rsa_keys.bob, "bob")
        arrived = await receive(watcher, wire.PeopleChanged)
        assert arrived.version > first.version
        assert [(p.name, p.status) for p in arrived.people] == [("bob", "free")]
        assert arrived.gone == ()

        await bob.close()
        left = await receive(watcher, wire.PeopleChanged)
        assert left.version == arrived.version + 1
        assert (left.people, left.gone) == ((), (rsa_keys.bob.fingerprint,))
        await watcher.close()
        await hub.close()

    run(scenario)


def test_a_session_starting_changes_only_its_two_people_in_the_difference(rsa_keys):
    async def scenario() -> None:
        hub = Hub(ServerConfig(port=0, presence_interval=0), rsa_keys.server)
        _host, port = await hub.start()
        watcher = await connect(port, rsa_keys.mallory, "mallory", listed=False)
        await watcher.send(wire.ListPeople(watch=True))
        await receive(watcher, wire.People)
        alice = await connect(port, rsa_keys.alice, "alice")
        bob = await connect(port, rsa_keys.bob, "bob")
        await change_where(watcher, lambda c: "bob" in names(c))

        await alice.send(wire.Invite(to=rsa_keys.bob.fingerprint, ref=1))
        invitation = await receive(bob, wire.Invitation)
        change = await receive(watcher, wire.PeopleChanged)
        assert {(p.name, p.status) for p in change.people} == {("alice", "busy"), ("bob", "busy")}

        await bob.send(wire.Decline(session=invitation.session))
        change = await receive(watcher, wire.PeopleChanged)
        assert {(p.name, p.status) for p in change.people} == {("alice", "free"), ("bob", "free")}
        for client in (watcher, alice, bob):
            await client.close()
        await hub.close()

    run(scenario)


def test_changes_that_come_together_reach_watchers_as_one_difference(rsa_keys):
    async def scenario() -> None:
        hub = Hub(ServerConfig(port=0, presence_interval=0.5), rsa_keys.server)
        _host, port = await hub.start()
        watchers = [
            await connect(port, rsa_keys.alice, f"watcher {n}", listed=False) for n in range(3)
        ]
        for watcher in watchers:
            await watcher.send(wire.ListPeople(watch=True))
            await receive(watcher, wire.People)
        for index in range(40):  # a burst of arrivals, well inside one interval
            hub.presence.add(someone(index))
            hub._presence_changed()

        for watcher in watchers:
            change = await receive(watcher, wire.PeopleChanged)
            assert names(change) == [f"person {index:05d}" for index in range(40)]
        for watcher in watchers:
            await watcher.close()
        await hub.close()

    run(scenario)


def test_a_search_lists_names_starting_with_it(rsa_keys):
    async def scenario() -> None:
        hub = Hub(ServerConfig(port=0), rsa_keys.server)
        _host, port = await hub.start()
        for index in (5, 50, 500, 7):
            hub.presence.add(someone(index))
        client = await connect(port, rsa_keys.alice, "alice")
        await client.send(wire.ListPeople(query="PERSON 000"))
        page = await receive(client, wire.People)
        assert [p.name for p in page.people] == ["person 00005", "person 00007", "person 00050"]
        await client.send(wire.ListPeople(query="x" * (wire.MAX_PEOPLE_QUERY + 1), ref=9))
        refused = await receive(client, wire.Error)
        assert (refused.code, refused.ref, refused.fatal) == ("protocol", 9, False)
        await client.close()
        await hub.close()

    run(scenario)
