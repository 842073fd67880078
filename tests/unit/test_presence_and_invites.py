"""Who is online and who can be invited (server/presence.py), and RSA invitations in the
relay's pairing state (server/pairing.py). Connections are small integers, as in the hub; a
person may have several connections open at once.
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
from server.presence import Presence, Present

ALICE = "a" * 64
BOB = "b" * 64
CAROL = "c" * 64
SALT = bytes(range(16))


def nobody_busy(conn_id):
    return False


def busy(*conn_ids):
    return lambda conn_id: conn_id in conn_ids


@pytest.fixture
def presence():
    return Presence()


def online(presence, conn_id, person_id, name, accept_invites=True):
    present = Present(conn_id, person_id, name, accept_invites)
    presence.add(present)
    return present


# --- the list of people -----------------------------------------------------------------------


def test_everyone_online_is_listed_once_sorted_by_name(presence):
    online(presence, 1, CAROL, "carol")
    online(presence, 2, ALICE, "Alice")
    online(presence, 3, BOB, "bob")
    online(presence, 4, ALICE, "Alice")
    assert presence.people(nobody_busy) == [
        Person(ALICE, "Alice", "free"),
        Person(BOB, "bob", "free"),
        Person(CAROL, "carol", "free"),
    ]


def test_nobody_online_gives_an_empty_list(presence):
    assert presence.people(nobody_busy) == []


def test_someone_in_a_session_is_busy(presence):
    online(presence, 1, ALICE, "alice")
    assert presence.people(busy(1)) == [Person(ALICE, "alice", "busy")]


def test_someone_who_does_not_take_invitations_is_busy(presence):
    online(presence, 1, ALICE, "alice", accept_invites=False)
    assert presence.people(nobody_busy) == [Person(ALICE, "alice", "busy")]


@pytest.mark.parametrize("free_first", [True, False], ids=["free first", "free last"])
def test_one_free_connection_makes_a_person_free(presence, free_first):
    online(presence, 1, ALICE, "alice")
    online(presence, 2, ALICE, "alice")
    in_session = 2 if free_first else 1
    assert presence.people(busy(in_session)) == [Person(ALICE, "alice", "free")]


def test_a_person_with_every_connection_busy_or_closed_to_invites_is_busy(presence):
    online(presence, 1, ALICE, "alice")
    online(presence, 2, ALICE, "alice", accept_invites=False)
    assert presence.people(busy(1)) == [Person(ALICE, "alice", "busy")]


def test_connections_of_a_person_are_listed_oldest_first(presence):
    first = online(presence, 1, ALICE, "alice")
    online(presence, 2, BOB, "bob")
    second = online(presence, 3, ALICE, "alice")
    assert presence.connections_of(ALICE) == [first, second]
    assert presence.connections_of(CAROL) == []


def test_an_invitation_goes_to_the_newest_free_connection(presence):
    online(presence, 1, ALICE, "alice")
    online(presence, 2, ALICE, "alice")
    newest = online(presence, 3, ALICE, "alice")
    assert presence.free_connection(ALICE, nobody_busy) is newest
    assert presence.free_connection(ALICE, busy(3)).conn_id == 2


def test_no_free_connection_means_nobody_to_invite(presence):
    online(presence, 1, ALICE, "alice", accept_invites=False)
    online(presence, 2, ALICE, "alice")
    assert presence.free_connection(ALICE, busy(2)) is None
    assert presence.free_connection(BOB, nobody_busy) is None


def test_removing_a_connection_forgets_it_and_its_watch(presence):
    alice = online(presence, 1, ALICE, "alice")
    online(presence, 2, BOB, "bob")
    presence.watchers.update({1, 2})
    assert presence.remove(1) == alice
    assert presence.watchers == {2}
    assert presence.get(1) is None
    assert presence.people(nobody_busy) == [Person(BOB, "bob", "free")]
    assert presence.remove(1) is None  # twice is harmless


def test_a_person_stays_listed_while_another_connection_is_open(presence):
    online(presence, 1, ALICE, "alice")
    online(presence, 2, ALICE, "alice")
    presence.remove(2)
    assert presence.people(nobody_busy) == [Person(ALICE, "alice", "free")]


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


def test_the_list_of_people_follows_invitations(presence, state):
    online(presence, 1, ALICE, "alice")
    online(presence, 2, BOB, "bob")
    online(presence, 3, CAROL, "carol")
    record = state.invite(1, presence.free_connection(BOB, state.is_busy).conn_id)
    assert [p.status for p in presence.people(state.is_busy)] == ["busy", "busy", "free"]
    state.decline(record.number, 2)
    assert [p.status for p in presence.people(state.is_busy)] == ["free", "free", "free"]
