"""Who is online, who is listed and who can be invited (server/presence.py), and RSA
invitations in the relay's pairing state (server/pairing.py). Connections are small
integers, as in the hub; a person may have several connections open at once.
"""

from __future__ import annotations

import itertools

import pytest

from messenger.protocol.errors import (
    LocalProtocolError,
    NoSuchSessionError,
    SessionFullError,
)
from messenger.protocol.wire import Person
from server.pairing import PairingState
from server.presence import Presence, PresenceChange, Present

ALICE = "a" * 64
BOB = "b" * 64
CAROL = "c" * 64
SALT = bytes(range(16))


class Busy:
    """The pairing state's ``is_busy``, set by hand."""

    def __init__(self) -> None:
        self.conn_ids: set[int] = set()

    def __call__(self, conn_id: int) -> bool:
        return conn_id in self.conn_ids


@pytest.fixture
def busy():
    return Busy()


@pytest.fixture
def presence(busy):
    return Presence(busy=busy)


def online(presence, conn_id, person_id, name, accept_invites=True, listed=True):
    present = Present(conn_id, person_id, name, accept_invites, listed=listed)
    presence.add(present)
    return present


def person_id(index: int) -> str:
    return f"{index:064x}"


# --- the list of people -----------------------------------------------------------------------


def test_everyone_listed_is_listed_once_sorted_by_name_whatever_its_case(presence):
    online(presence, 1, CAROL, "carol")
    online(presence, 2, ALICE, "Alice")
    online(presence, 3, BOB, "bob")
    online(presence, 4, ALICE, "Alice")
    assert presence.people() == [
        Person(ALICE, "Alice", "free"),
        Person(BOB, "bob", "free"),
        Person(CAROL, "carol", "free"),
    ]


def test_someone_who_did_not_choose_to_be_listed_is_not_listed_but_is_online(presence):
    online(presence, 1, ALICE, "alice", listed=False)
    online(presence, 2, BOB, "bob")
    assert presence.people() == [Person(BOB, "bob", "free")]
    assert presence.is_online(ALICE)
    assert presence.free_connection(ALICE).conn_id == 1  # invitations by id still reach her


def test_one_listed_connection_lists_a_person_under_its_name(presence):
    online(presence, 1, ALICE, "alice (phone)", listed=False)
    online(presence, 2, ALICE, "alice")
    assert presence.people() == [Person(ALICE, "alice", "free")]
    presence.remove(2)
    assert presence.people() == []


def test_nobody_online_gives_an_empty_list(presence):
    assert presence.people() == []


def test_someone_in_a_session_is_busy(presence, busy):
    busy.conn_ids.add(1)
    online(presence, 1, ALICE, "alice")
    assert presence.people() == [Person(ALICE, "alice", "busy")]


def test_someone_who_does_not_take_invitations_is_busy(presence):
    online(presence, 1, ALICE, "alice", accept_invites=False)
    assert presence.people() == [Person(ALICE, "alice", "busy")]


@pytest.mark.parametrize("free_first", [True, False], ids=["free first", "free last"])
def test_one_free_connection_makes_a_person_free(presence, busy, free_first):
    busy.conn_ids.add(2 if free_first else 1)
    online(presence, 1, ALICE, "alice")
    online(presence, 2, ALICE, "alice")
    assert presence.people() == [Person(ALICE, "alice", "free")]


def test_a_person_with_every_connection_busy_or_closed_to_invites_is_busy(presence, busy):
    busy.conn_ids.add(1)
    online(presence, 1, ALICE, "alice")
    online(presence, 2, ALICE, "alice", accept_invites=False)
    assert presence.people() == [Person(ALICE, "alice", "busy")]


def test_a_refresh_picks_up_a_session_that_started_or_ended(presence, busy):
    online(presence, 1, ALICE, "alice")
    presence.take_changes()
    busy.conn_ids.add(1)
    assert presence.refresh(ALICE) is True
    assert presence.people() == [Person(ALICE, "alice", "busy")]
    assert presence.refresh(ALICE) is False  # nothing new: no change to report
    busy.conn_ids.clear()
    presence.refresh(ALICE)
    assert presence.people() == [Person(ALICE, "alice", "free")]


def test_connections_of_a_person_are_listed_oldest_first(presence):
    first = online(presence, 1, ALICE, "alice")
    online(presence, 2, BOB, "bob")
    second = online(presence, 3, ALICE, "alice")
    assert presence.connections_of(ALICE) == [first, second]
    assert presence.connections_of(CAROL) == []


def test_an_invitation_goes_to_the_newest_free_connection(presence, busy):
    online(presence, 1, ALICE, "alice")
    online(presence, 2, ALICE, "alice")
    newest = online(presence, 3, ALICE, "alice")
    assert presence.free_connection(ALICE) is newest
    busy.conn_ids.add(3)
    assert presence.free_connection(ALICE).conn_id == 2


def test_no_free_connection_means_nobody_to_invite(presence, busy):
    busy.conn_ids.add(2)
    online(presence, 1, ALICE, "alice", accept_invites=False)
    online(presence, 2, ALICE, "alice")
    assert presence.free_connection(ALICE) is None
    assert presence.free_connection(BOB) is None


def test_removing_a_connection_forgets_it_and_its_watch(presence):
    alice = online(presence, 1, ALICE, "alice")
    online(presence, 2, BOB, "bob")
    presence.watchers.update({1: None, 2: None})
    assert presence.remove(1) == alice
    assert list(presence.watchers) == [2]
    assert presence.get(1) is None
    assert not presence.is_online(ALICE)
    assert presence.people() == [Person(BOB, "bob", "free")]
    assert presence.remove(1) is None  # twice is harmless


def test_a_person_stays_listed_while_another_connection_is_open(presence):
    online(presence, 1, ALICE, "alice")
    online(presence, 2, ALICE, "alice")
    presence.remove(2)
    assert presence.people() == [Person(ALICE, "alice", "free")]


# --- pages and searches -----------------------------------------------------------------------


def test_pages_walk_the_whole_list_once_in_name_order(presence):
    for index in range(1, 1001):
        online(presence, index, person_id(index), f"person {index:05d}")
    seen: list[Person] = []
    cursor, pages = "", 0
    while True:
        page, cursor = presence.page(cursor=cursor, limit=64)
        seen += page
        pages += 1
        if not cursor:
            break
    assert seen == presence.people() and len(seen) == 1000
    assert pages == 16  # 15 full pages and a last one of 40


def test_a_page_leaves_out_whoever_asks(presence):
    online(presence, 1, ALICE, "alice")
    online(presence, 2, BOB, "bob")
    page, cursor = presence.page(exclude=ALICE)
    assert (page, cursor) == ([Person(BOB, "bob", "free")], "")


def test_people_who_leave_or_arrive_between_pages_do_not_upset_the_walk(presence):
    for index in range(1, 31):
        online(presence, index, person_id(index), f"person {index:02d}")
    first, cursor = presence.page(limit=10)
    assert first[-1].name == "person 10"
    presence.remove(10)  # the page's last person leaves
    presence.remove(11)  # and the next page's first
    online(presence, 100, person_id(100), "person 00")  # before the cursor: not seen again
    second, cursor = presence.page(cursor=cursor, limit=10)
    assert [p.name for p in second] == [f"person {i:02d}" for i in range(12, 22)]


def test_a_search_finds_names_that_start_with_it_whatever_their_case(presence):
    online(presence, 1, ALICE, "Alice")
    online(presence, 2, BOB, "alfred")
    online(presence, 3, CAROL, "bob")
    page, cursor = presence.page(query="AL")
    assert [p.name for p in page] == ["alfred", "Alice"] and cursor == ""
    page, cursor = presence.page(query="al", limit=1)
    assert [p.name for p in page] == ["alfred"] and cursor
    page, cursor = presence.page(query="al", cursor=cursor, limit=1)
    assert [p.name for p in page] == ["Alice"] and cursor == ""
    assert presence.page(query="zed") == ([], "")


# --- differences ------------------------------------------------------------------------------


def test_changes_come_as_one_difference_with_entries_as_they_are_now(presence, busy):
    online(presence, 1, ALICE, "alice")
    online(presence, 2, BOB, "bob")
    assert presence.take_changes() == [
        PresenceChange(1, (Person(ALICE, "alice", "free"), Person(BOB, "bob", "free")), ())
    ]
    busy.conn_ids.add(1)
    presence.refresh(ALICE)
    presence.remove(2)
    online(presence, 3, CAROL, "carol")
    assert presence.take_changes() == [
        PresenceChange(
            2, (Person(ALICE, "alice", "busy"), Person(CAROL, "carol", "free")), (BOB,)
        )
    ]
    assert presence.take_changes() == [] and presence.version == 2


def test_people_who_are_not_listed_make_no_difference(presence):
    online(presence, 1, ALICE, "alice", listed=False)
    presence.remove(1)
    assert not presence.has_changes and presence.take_changes() == []


def test_a_big_difference_is_cut_into_messages_numbered_in_turn(presence):
    for index in range(1, 2501):
        online(presence, index, person_id(index), f"person {index:05d}")
    changes = presence.take_changes(per_message=1024)
    assert [c.version for c in changes] == [1, 2, 3]
    assert [len(c.people) for c in changes] == [1024, 1024, 452]
    for index in range(1, 2501):
        presence.remove(index)
    gone = presence.take_changes(per_message=1024)
    assert sum(len(c.gone) for c in gone) == 2500 and presence.people() == []


# --- invitations ------------------------------------------------------------------------------


@pytest.fixture
def state():
    counter = itertools.count()  # numbers in order (1000, 1001, ...) instead of at random
    return PairingState(random_below=lambda span: next(counter) % span)


def test_an_invitation_reserves_an_rsa_session_for_the_invitee(state):
    record = state.invite(1, 2)
    assert (record.number, record.mode, record.pending) == ("1000", "rsa", True)
    assert (record.creator, record.joiner, record.salt) == (1, 2, b"")
    assert state.get("1000") is record


def test_invitations_and_password_sessions_share_the_numbers(state):
    assert state.create(5, SALT).number == "1000"
    assert state.invite(1, 2).number == "1001"
    assert state.create(6, SALT).number == "1002"


def test_both_people_are_busy_while_an_invitation_is_pending_and_after_it_is_accepted(state):
    record = state.invite(1, 2)
    assert (state.is_busy(1), state.is_busy(2), state.is_busy(3)) == (True, True, False)
    assert state.accept(record.number, 2) is record
    assert record.pending is False
    assert (state.is_busy(1), state.is_busy(2)) == (True, True)


def test_only_the_invitee_can_accept(state):
    record = state.invite(1, 2)
    for who in (1, 3):
        with pytest.raises(NoSuchSessionError):
            state.accept(record.number, who)
    assert record.pending is True


def test_an_invitation_cannot_be_accepted_twice_or_after_it_is_gone(state):
    record = state.invite(1, 2)
    state.accept(record.number, 2)
    with pytest.raises(NoSuchSessionError):
        state.accept(record.number, 2)
    with pytest.raises(NoSuchSessionError):
        state.accept("99", 2)


def test_declining_removes_the_invitation_and_frees_both(state):
    record = state.invite(1, 2)
    assert state.decline(record.number, 2) is record
    assert state.get(record.number) is None
    assert (state.is_busy(1), state.is_busy(2)) == (False, False)
    with pytest.raises(NoSuchSessionError):
        state.accept(record.number, 2)


def test_only_the_invitee_can_decline_and_only_while_pending(state):
    record = state.invite(1, 2)
    with pytest.raises(NoSuchSessionError):
        state.decline(record.number, 1)
    with pytest.raises(NoSuchSessionError):
        state.decline(record.number, 3)
    state.accept(record.number, 2)
    with pytest.raises(NoSuchSessionError):
        state.decline(record.number, 2)
    assert state.get(record.number) is record


@pytest.mark.parametrize("accepted", [False, True], ids=["pending", "accepted"])
def test_nobody_can_join_an_rsa_session_with_a_password(state, accepted):
    record = state.invite(1, 2)
    if accepted:
        state.accept(record.number, 2)
    with pytest.raises(SessionFullError):
        state.join(record.number, 3)
    with pytest.raises(LocalProtocolError):
        state.join(record.number, 2)  # the invitee is in it already
    assert record.members == (1, 2)


def test_a_waiting_password_creator_is_free_until_someone_joins(state):
    record = state.create(1, SALT)
    assert state.is_busy(1) is False
    state.join(record.number, 2)
    assert (state.is_busy(1), state.is_busy(2)) == (True, True)


def test_the_list_of_people_follows_invitations(state):
    presence = Presence(busy=state.is_busy)
    online(presence, 1, ALICE, "alice")
    online(presence, 2, BOB, "bob")
    online(presence, 3, CAROL, "carol")
    record = state.invite(1, presence.free_connection(BOB).conn_id)
    for person in (ALICE, BOB):
        presence.refresh(person)
    assert [p.status for p in presence.people()] == ["busy", "busy", "free"]
    state.decline(record.number, 2)
    for person in (ALICE, BOB):
        presence.refresh(person)
    assert [p.status for p in presence.people()] == ["free", "free", "free"]
