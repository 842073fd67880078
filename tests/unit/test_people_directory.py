"""The client's view of the people list, against a relay that lies about it: entries that
could not be true are dropped, a search's results hold only matching names, and however
much a relay sends, the client keeps at most MAX_DIRECTORY people."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from messenger import client as client_module
from messenger import events as ev
from messenger.client import Client
from messenger.protocol import wire


def person(n: int, name: str = "") -> wire.Person:
    return wire.Person(id=f"{n:064x}", name=name or f"person {n}", status="free")


@pytest.fixture
def watching(rsa_keys: Any) -> tuple[Client, list[ev.ClientEvent]]:
    events: asyncio.Queue[ev.ClientEvent] = asyncio.Queue()
    client = Client("127.0.0.1", 1, rsa_keys.alice, courier=object(), events=events)  # type: ignore[arg-type]
    client._watch_query = ""
    seen: list[ev.ClientEvent] = []
    client._emit = seen.append  # type: ignore[method-assign]
    return client, seen


def test_entries_that_cannot_be_true_are_dropped(watching: Any) -> None:
    client, seen = watching
    forged = [
        wire.Person(id="../../etc", name="bad id", status="free"),
        wire.Person(id="A" * 64, name="upper-case id", status="free"),
        wire.Person(id=client.id, name="me", status="free"),
        wire.Person(id=f"{7:064x}", name="x" * (wire.MAX_NAME_LEN + 1), status="free"),
        person(1, "Carol"),
    ]
    client._people_changed(wire.PeopleChanged(version=1, people=tuple(forged)))
    assert [p.name for p in client.people] == ["Carol"]
    assert [p.name for p in seen[-1].added] == ["Carol"]  # type: ignore[attr-defined]


def test_a_search_keeps_only_names_it_asked_for(watching: Any) -> None:
    client, _seen = watching
    client._watch_query = "car"
    page = wire.People(people=(person(1, "Carol"), person(2, "Mallory")), version=1)
    client._page_arrived(page)
    assert [p.name for p in client.people] == ["Carol"]


def test_the_directory_stops_growing_at_its_bound(
    watching: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _seen = watching
    monkeypatch.setattr(client_module, "MAX_DIRECTORY", 50)
    for version in range(1, 5):
        batch = tuple(person(version * 1000 + n) for n in range(40))
        client._people_changed(wire.PeopleChanged(version=version, people=batch))
    assert len(client.people) == 50
    client._people_changed(wire.PeopleChanged(version=9, gone=(client.people[0].id,)))
    client._people_changed(wire.PeopleChanged(version=10, people=(person(1, "Zed"),)))
    assert len(client.people) == 50 and "Zed" in [p.name for p in client.people]
