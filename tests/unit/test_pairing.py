"""The relay's pairing state: session numbers, two members per session, and burning a number
after too many wrong passwords. Members are plain strings here (the hub uses connection ids).
"""

import pytest

from messenger.protocol.errors import (
    LocalProtocolError,
    NoSuchSessionError,
    SessionBurnedError,
    SessionFullError,
)
from server import pairing
from server.pairing import PairingState

SALT = bytes(range(16))


@pytest.fixture
def state():
    return PairingState(max_failed_pairings=3)


def fail_pairing(state, number, creator="alice", joiner="bob"):
    state.join(number, joiner)
    return state.pairing_failed(number, creator)


# --- numbers ----------------------------------------------------------------------------------


def test_session_numbers_start_at_1_and_count_up(state):
    assert state.create("alice", SALT).number == "1"
    assert state.create("carol", SALT).number == "2"
    assert len(state) == 2


def test_a_number_is_reused_once_its_session_ends_lowest_first(state):
    for creator in ("a", "b", "c", "d"):
        state.create(creator, SALT)
    state.leave("3", "c")
    state.leave("2", "b")
    assert state.create("e", SALT).number == "2"
    assert state.create("f", SALT).number == "3"
    assert state.create("g", SALT).number == "5"


def test_a_new_session_remembers_its_creator_and_salt(state):
    record = state.create("alice", SALT)
    assert (record.creator, record.salt, record.joiner) == ("alice", SALT, None)
    assert record.members == ("alice",)
    assert state.get("1") is record
    assert state.get("2") is None


# --- joining ----------------------------------------------------------------------------------


def test_joining_pairs_the_two_members(state):
    state.create("alice", SALT)
    record = state.join("1", "bob")
    assert record.members == ("alice", "bob")
    assert record.salt == SALT
    assert record.other("alice") == "bob"
    assert record.other("bob") == "alice"


def test_a_third_person_cannot_join(state):
    state.create("alice", SALT)
    state.join("1", "bob")
    with pytest.raises(SessionFullError):
        state.join("1", "carol")
    assert state.get("1").members == ("alice", "bob")


def test_joining_a_number_nobody_created_fails(state):
    with pytest.raises(NoSuchSessionError):
        state.join("1", "bob")
    state.create("alice", SALT)
    with pytest.raises(NoSuchSessionError):
        state.join("2", "bob")


def test_joining_your_own_session_is_refused(state):
    state.create("alice", SALT)
    with pytest.raises(LocalProtocolError):
        state.join("1", "alice")
    assert state.get("1").joiner is None


def test_joining_twice_is_refused_and_keeps_the_seat(state):
    state.create("alice", SALT)
    state.join("1", "bob")
    with pytest.raises(LocalProtocolError):
        state.join("1", "bob")
    assert state.get("1").joiner == "bob"


# --- failed pairings and burning --------------------------------------------------------------


def test_a_failed_pairing_frees_the_seat_and_tells_the_joiner(state):
    state.create("alice", SALT)
    result = fail_pairing(state, "1")
    assert result.notify_left == ("bob",)
    assert result.burned is False
    assert result.record.failed_pairings == 1
    assert state.get("1").members == ("alice",)
    assert state.join("1", "carol").members == ("alice", "carol")


def test_a_failed_pairing_with_nobody_in_the_seat_tells_nobody(state):
    state.create("alice", SALT)
    result = state.pairing_failed("1", "alice")
    assert result.notify_left == ()
    assert result.record.failed_pairings == 1


def test_the_third_failed_pairing_burns_the_number(state):
    state.create("alice", SALT)
    assert fail_pairing(state, "1").burned is False
    assert fail_pairing(state, "1").burned is False
    result = fail_pairing(state, "1")
    assert result.burned is True
    assert result.record.failed_pairings == 3
    assert state.get("1") is None
    assert len(state) == 0
    assert state.sessions_of("alice") == []
    with pytest.raises(SessionBurnedError):
        state.join("1", "mallory")


def test_a_burned_number_is_never_handed_out_again(state):
    state.create("alice", SALT)
    for _ in range(3):
        fail_pairing(state, "1")
    assert state.create("carol", SALT).number == "2"
    state.leave("2", "carol")
    assert state.create("dave", SALT).number == "2"


def test_the_failure_limit_is_configurable():
    state = PairingState(max_failed_pairings=1)
    state.create("alice", SALT)
    assert fail_pairing(state, "1").burned is True


def test_only_the_creator_may_report_a_failed_pairing(state):
    state.create("alice", SALT)
    state.join("1", "bob")
    with pytest.raises(NoSuchSessionError):
        state.pairing_failed("1", "bob")
    with pytest.raises(NoSuchSessionError):
        state.pairing_failed("1", "mallory")
    with pytest.raises(NoSuchSessionError):
        state.pairing_failed("2", "alice")
    record = state.get("1")
    assert (record.joiner, record.failed_pairings) == ("bob", 0)


def test_burned_numbers_are_remembered_only_up_to_a_bound(monkeypatch):
    monkeypatch.setattr(pairing, "BURNED_MEMORY", 2)
    state = PairingState(max_failed_pairings=1)
    for number in ("1", "2", "3"):
        assert state.create("alice", SALT).number == number
        state.pairing_failed(number, "alice")
    # "1" was burned first and has been forgotten; "2" and "3" are still remembered.
    with pytest.raises(SessionBurnedError):
        state.join("2", "bob")
    with pytest.raises(SessionBurnedError):
        state.join("3", "bob")
    with pytest.raises(NoSuchSessionError):
        state.join("1", "bob")
    assert state.create("carol", SALT).number == "1"
    assert state.create("dave", SALT).number == "4"


# --- leaving ----------------------------------------------------------------------------------


def test_when_the_creator_leaves_the_joiner_is_told_and_the_session_ends(state):
    state.create("alice", SALT)
    state.join("1", "bob")
    result = state.leave("1", "alice")
    assert result.notify_left == ("bob",)
    assert state.get("1") is None
    with pytest.raises(NoSuchSessionError):
        state.join("1", "carol")


def test_when_the_joiner_leaves_the_creator_is_told_and_the_session_ends(state):
    state.create("alice", SALT)
    state.join("1", "bob")
    assert state.leave("1", "bob").notify_left == ("alice",)
    assert state.get("1") is None


def test_leaving_a_session_nobody_joined_tells_nobody(state):
    state.create("alice", SALT)
    assert state.leave("1", "alice").notify_left == ()
    assert len(state) == 0


def test_only_a_member_may_leave(state):
    state.create("alice", SALT)
    with pytest.raises(NoSuchSessionError):
        state.leave("1", "mallory")
    with pytest.raises(NoSuchSessionError):
        state.leave("2", "alice")
    assert state.get("1") is not None


def test_sessions_of_lists_every_session_a_member_is_in(state):
    state.create("alice", SALT)
    state.create("alice", SALT)
    state.create("carol", SALT)
    state.join("2", "bob")
    assert [r.number for r in state.sessions_of("alice")] == ["1", "2"]
    assert [r.number for r in state.sessions_of("bob")] == ["2"]
    assert [r.number for r in state.sessions_of("carol")] == ["3"]
    assert state.sessions_of("dave") == []
