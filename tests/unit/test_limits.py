"""Per-address token buckets (server/limits.py), driven by a fake clock."""

from __future__ import annotations

import pytest

from messenger.protocol.errors import BusyError
from server.limits import AddressLimits, TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock():
    return FakeClock()


def test_a_new_address_gets_its_whole_burst_and_then_nothing(clock):
    bucket = TokenBucket(rate=2.0, burst=5, clock=clock)
    assert [bucket.allow("10.0.0.1") for _ in range(6)] == [True] * 5 + [False]


def test_tokens_come_back_at_the_rate_and_never_beyond_the_burst(clock):
    bucket = TokenBucket(rate=2.0, burst=5, clock=clock)
    for _ in range(5):
        bucket.allow("a")
    clock.advance(0.5)  # one token
    assert bucket.allow("a")
    assert not bucket.allow("a")
    clock.advance(3600)
    assert bucket.tokens("a") == 5
    assert [bucket.allow("a") for _ in range(6)] == [True] * 5 + [False]


def test_addresses_have_separate_buckets(clock):
    bucket = TokenBucket(rate=1.0, burst=1, clock=clock)
    assert bucket.allow("a")
    assert not bucket.allow("a")
    assert bucket.allow("b")


def test_a_clock_that_steps_back_gives_no_tokens(clock):
    bucket = TokenBucket(rate=1.0, burst=1, clock=clock)
    assert bucket.allow("a")
    clock.advance(-50)
    assert not bucket.allow("a")


def test_full_buckets_are_forgotten_when_the_table_grows(clock):
    bucket = TokenBucket(rate=10.0, burst=2, clock=clock)
    for n in range(1023):
        bucket.allow(f"spray-{n}")
    assert len(bucket) == 1023
    clock.advance(1.0)  # every spray bucket is full again
    bucket.allow("limited")
    bucket.allow("limited")
    bucket.allow("one more")  # the 1025th entry: sweep
    assert len(bucket) <= 2
    assert not bucket.allow("limited"), "a bucket that is not full must be kept"


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        TokenBucket(rate=0, burst=1)
    with pytest.raises(ValueError):
        TokenBucket(rate=1, burst=0)


def test_handshakes_over_the_limit_are_busy(clock):
    limits = AddressLimits(
        handshakes_per_second=1, handshake_burst=3, joins_per_minute=20, clock=clock
    )
    for _ in range(3):
        limits.check_handshake("a")
    with pytest.raises(BusyError):
        limits.check_handshake("a")
    limits.check_handshake("b")
    clock.advance(1.0)
    limits.check_handshake("a")


def test_a_full_join_bucket_holds_one_minutes_worth(clock):
    limits = AddressLimits(
        handshakes_per_second=1, handshake_burst=1, joins_per_minute=20, clock=clock
    )
    for _ in range(20):
        limits.check_join("a")
    with pytest.raises(BusyError):
        limits.check_join("a")
    clock.advance(3.0)  # 20 a minute: one every three seconds
    limits.check_join("a")
    with pytest.raises(BusyError):
        limits.check_join("a")
