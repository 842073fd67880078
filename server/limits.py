"""Rate limits per client address: token buckets, sans-IO (the clock is injected).

The relay asks before doing something costly on a client's behalf: a transport handshake
(an RSA-3072 signature and decryption) or a join (a guess at a waiting session number). Each
address has a bucket per kind that holds at most ``burst`` tokens and refills at ``rate``
tokens per second; each request takes one token or is refused with ``busy``.

Buckets that have refilled completely are indistinguishable from new ones, so they are
forgotten when the table grows: an attacker spraying addresses costs one small entry per
address for at most ``burst / rate`` seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from messenger.protocol.errors import BusyError

Clock = Callable[[], float]


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class TokenBucket:
    """One token bucket per key: ``allow(key)`` takes a token if there is one."""

    def __init__(self, rate: float, burst: int, clock: Clock = time.monotonic) -> None:
        if not rate > 0 or burst < 1:
            raise ValueError(f"need rate > 0 and burst >= 1, got rate={rate}, burst={burst}")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._prune_at = 1024

    def allow(self, key: str) -> bool:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            self._prune(now)
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
        else:
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate)
            bucket.updated = now
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        return True

    def tokens(self, key: str) -> float:
        """Tokens ``key`` has now (``burst`` for an address never seen)."""
        bucket = self._buckets.get(key)
        if bucket is None:
            return float(self.burst)
        elapsed = max(0.0, self._clock() - bucket.updated)
        return min(float(self.burst), bucket.tokens + elapsed * self.rate)

    def __len__(self) -> int:
        return len(self._buckets)

    def _prune(self, now: float) -> None:
        """Forget full buckets once the table has doubled since the last sweep (amortised)."""
        if len(self._buckets) < self._prune_at:
            return
        full = [
            key
            for key, bucket in self._buckets.items()
            if bucket.tokens + (now - bucket.updated) * self.rate >= self.burst
        ]
        for key in full:
            del self._buckets[key]
        self._prune_at = max(1024, 2 * len(self._buckets))


class AddressLimits:
    """The relay's per-address rate limits. ``check_*`` raise ``BusyError`` when over."""

    def __init__(
        self,
        *,
        handshakes_per_second: float,
        handshake_burst: int,
        joins_per_minute: float,
        clock: Clock = time.monotonic,
    ) -> None:
        self.handshakes = TokenBucket(handshakes_per_second, handshake_burst, clock)
        # A full bucket holds one minute's worth of joins.
        self.joins = TokenBucket(joins_per_minute / 60.0, max(1, round(joins_per_minute)), clock)

    def check_handshake(self, address: str) -> None:
        """Before any RSA work for a new connection from ``address``."""
        if not self.handshakes.allow(address):
            raise BusyError("Too many new connections from your address; try again shortly.")

    def check_join(self, address: str) -> None:
        """Before a ``join``: limits how fast one address can try session numbers."""
        if not self.joins.allow(address):
            raise BusyError("Too many joins from your address; wait a minute and try again.")
