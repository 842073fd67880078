"""The relay's pairing state: session numbers, two members per session, and burning a number
after too many wrong passwords. Members are plain strings here (the hub uses connection ids).

Numbers are random; ``sequential`` makes them predictable for the tests (1000, 1001, ...)
that are about something else.
"""

import itertools
import random

import pytest

from messenger.protocol.errors import (
    CodeUsedError,
    LocalProtocolError,
    NoSuchSessionError,
    SessionBurnedError,
    SessionFullError,
)
from server import pairing
from server.pairing import PairingState

SALT = bytes(range(16))


def sequential():
    """A stand-in for secrets.randbelow that counts: numbers come out in order."""
    counter = itertools.count()
    return lambda span: next(counter) % span


@pytest.fixture
def state():
    return PairingState(max_failed_pairings=3, random_below=sequential())


def fail_pairing(state, number, creator="alice", joiner="bob"):
    state.join(number, joiner)
    return state.pairing_failed(number, creator)


# --- numbers ----------------------------------------------------------------------------------


def test_session_numbers_are_four_random_digits():
    state = PairingState()
    numbers = [state.create(f"p{i}", SALT).number for i in range(200)]
    assert all(len(n) == 4 and n.isdigit() and not n.startswith("0") for n in numbers)
    assert len(set(numbers)) == 200
    # Not counted out one by one: an outsider cannot walk the live codes.
    assert sorted(numbers) != numbers


def test_numbers_get_a_digit_longer_once_half_of_them_are_taken():
    state = PairingState(random_below=random.Random(7).randrange)
    numbers = [state.create(f"p{i}", SALT).number for i in range(4600)]
    assert {len(n) for n in numbers[:4500]} == {4}
    assert {len(n) for n in numbers[4501:]} == {5}


def test_an_ended_number_is_not_handed_out_again_and_a_late_joiner_is_told_it_was_used(state):
    first = state.create("alice", SALT).number
    state.join(first, "bob")
    state.leave(first, "alice")
    assert state.create("carol", SALT).number != first
    with pytest.raises(CodeUsedError):
        state.join(first, "dave")


def test_a_new_session_remembers_its_creator_and_salt(state):
    record = state.create("alice", SALT)
    assert (record.creator, record.salt, record.joiner) == ("alice", SALT, None)
    assert record.members == ("alice",)
    assert state.get("1000") is record
    assert state.get("1001") is None


# --- joining ----------------------------------------------------------------------------------


def test_joining_pairs_the_two_members(state):
    state.create("alice", SALT)
    record = state.join("1000", "bob")
    assert record.members == ("alice", "bob")
    assert record.salt == SALT
    assert record.other("alice") == "bob"
    assert record.other("bob") == "alice"


def test_a_third_person_cannot_join(state):
    state.create("alice", SALT)
    state.join("1000", "bob")
    with pytest.raises(SessionFullError):
        state.join("1000", "carol")
    assert state.get("1000").members == ("alice", "bob")


def test_joining_a_number_nobody_created_fails(state):
    with pytest.raises(NoSuchSessionError):
        state.join("1000", "bob")
    state.create("alice", SALT)
    with pytest.raises(NoSuchSessionError):
        state.join("1001", "bob")


def test_joining_your_own_session_is_refused(state):
    state.create("alice", SALT)
    with pytest.raises(LocalProtocolError):
        state.join("1000", "alice")
    assert state.get("1000").joiner is None


def test_joining_twice_is_refused_and_keeps_the_seat(state):
    state.create("alice", SALT)
    state.join("1000", "bob")
    with pytest.raises(LocalProtocolError):
        state.join("1000", "bob")
    assert state.get("1000").joiner == "bob"


# --- failed pairings and burning --------------------------------------------------------------


def test_a_failed_pairing_frees_the_seat_and_names_the_joiner_to_tell(state):
    state.create("alice", SALT)
    result = fail_pairing(state, "1000")
    assert result.failed_joiner == "bob"
    assert result.notify_left == ()
    assert result.burned is False
    assert result.record.failed_pairings == 1
    assert state.get("1000").members == ("alice",)
    assert state.join("1000", "carol").members == ("alice", "carol")


def test_a_failed_pairing_with_nobody_in_the_seat_tells_nobody(state):
    state.create("alice", SALT)
    result = state.pairing_failed("1000", "alice")
    assert (result.failed_joiner, result.notify_left) == (None, ())
    assert result.record.failed_pairings == 1


def test_the_third_failed_pairing_burns_the_number(state):
    state.create("alice", SALT)
    assert fail_pairing(state, "1000").burned is False
    assert fail_pairing(state, "1000").burned is False
    result = fail_pairing(state, "1000")
    assert result.burned is True
    assert result.record.failed_pairings == 3
    assert state.get("1000") is None
    assert len(state) == 0
    assert state.sessions_of("alice") == []
    with pytest.raises(SessionBurnedError):
        state.join("1000", "mallory")


def test_a_burned_number_is_never_handed_out_again(state):
    state.create("alice", SALT)
    for _ in range(3):
        fail_pairing(state, "1000")
    numbers = {state.create(f"p{i}", SALT).number for i in range(4000)}
    assert "1000" not in numbers


def test_the_failure_limit_is_configurable():
    state = PairingState(max_failed_pairings=1, random_below=sequential())
    state.create("alice", SALT)
    assert fail_pairing(state, "1000").burned is True


def test_only_the_creator_may_report_a_failed_pairing(state):
    state.create("alice", SALT)
    state.join("1000", "bob")
    with pytest.raises(NoSuchSessionError):
        state.pairing_failed("1000", "bob")
    with pytest.raises(NoSuchSessionError):
        state.pairing_failed("1000", "mallory")
    with pytest.raises(NoSuchSessionError):
        state.pairing_failed("1001", "alice")
    record = state.get("1000")
    assert (record.joiner, record.failed_pairings) == ("bob", 0)


def test_burned_numbers_are_remembered_only_up_to_a_bound(monkeypatch):
    monkeypatch.setattr(pairing, "BURNED_MEMORY", 2)
    state = PairingState(max_failed_pairings=1, random_below=sequential())
    for number in ("1000", "1001", "1002"):
        assert state.create("alice", SALT).number == number
        state.pairing_failed(number, "alice")
    # "1000" was burned first and has been forgotten; the others are still remembered.
    with pytest.raises(SessionBurnedError):
        state.join("1001", "bob")
    with pytest.raises(SessionBurnedError):
        state.join("1002", "bob")
    with pytest.raises(NoSuchSessionError):
        state.join("1000", "bob")



# --- leaving ----------------------------------------------------------------------------------


def test_when_the_creator_leaves_the_joiner_is_told_and_the_code_is_used_up(state):
    state.create("alice", SALT)
    state.join("1000", "bob")
    result = state.leave("1000", "alice")
    assert result.notify_left == ("bob",)
    assert state.get("1000") is None
    with pytest.raises(CodeUsedError):
        state.join("1000", "carol")


def test_when_the_joiner_of_a_code_leaves_the_creator_is_told_and_the_code_stays_open(state):
    """Someone who gives up mid-guess must not close the code; the creator decides."""
    state.create("alice", SALT)
    state.join("1000", "bob")
    assert state.leave("1000", "bob").notify_left == ("alice",)
    assert state.get("1000").members == ("alice",)
    assert not state.is_busy("alice") and not state.is_busy("bob")
    assert state.join("1000", "carol").members == ("alice", "carol")


def test_when_an_invitee_leaves_the_session_ends(state):
    state.invite("alice", "bob")
    state.accept("1000", "bob")
    assert state.leave("1000", "bob").notify_left == ("alice",)
    assert state.get("1000") is None


def test_leaving_a_session_nobody_joined_tells_nobody(state):
    state.create("alice", SALT)
    assert state.leave("1000", "alice").notify_left == ()
    assert len(state) == 0


def test_only_a_member_may_leave(state):
    state.create("alice", SALT)
    with pytest.raises(NoSuchSessionError):
        state.leave("1000", "mallory")
    with pytest.raises(NoSuchSessionError):
        state.leave("1001", "alice")
    assert state.get("1000") is not None


def test_sessions_of_lists_every_session_a_member_is_in(state):
    state.create("alice", SALT)
    state.create("alice", SALT)
    state.create("carol", SALT)
    state.join("1001", "bob")
    assert [r.number for r in state.sessions_of("alice")] == ["1000", "1001"]
    assert [r.number for r in state.sessions_of("bob")] == ["1001"]
    assert [r.number for r in state.sessions_of("carol")] == ["1002"]
    assert state.sessions_of("dave") == []
