"""What every attack shares: its result, progress reports and the cancel check.

An attack runs in a worker thread (the lab) or the main thread (messenger-cli, the
benchmark). It calls ``Search.offer`` with each key it likes and ``Search.tick`` often;
the caller sees the best candidate so far through ``on_progress`` and stops it by setting
``cancel``. Reports are rate-limited (a better candidate at once, otherwise a few a second)
so a fast search does not flood the UI thread with updates.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["AttackResult", "Cancelled", "Candidate", "ProgressCallback", "Search"]

#: At most this many progress reports a second that bring no better candidate.
REPORTS_PER_SECOND = 8


@dataclass(frozen=True)
class Candidate:
    """A key an attack tried, the text it gives, and how English that text is (mean
    quadgram log10 probability: near -4 for English, near -7 for random letters)."""

    key: str
    text: str
    score: float


@dataclass(frozen=True)
class AttackResult:
    """The best candidate an attack found, and how the search went."""

    cipher: str
    key: str
    text: str
    score: float
    seconds: float
    #: Keys scored.
    tried: int
    #: Stopped by the caller before it finished; the candidate is the best until then.
    cancelled: bool


#: ``on_progress(fraction_done, best_so_far)``; called from the attacking thread.
ProgressCallback = Callable[[float, Candidate], None]


class Cancelled(Exception):
    """Internal: the caller set the cancel event; the attack unwinds to its entry point."""


class Search:
    """Keeps the best candidate, reports progress, and notices cancellation."""

    def __init__(
        self,
        render: Callable[[str], str],
        on_progress: ProgressCallback | None,
        cancel: threading.Event | None,
    ) -> None:
        self._render = render
        self._on_progress = on_progress
        self._cancel = cancel
        self.started = time.perf_counter()
        self.best: Candidate | None = None
        self.fraction = 0.0
        self.tried = 0
        self._last_report = 0.0

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def tick(self, count: int = 1) -> None:
        """Count ``count`` keys tried; raise ``Cancelled`` if the caller asked to stop."""
        self.tried += count
        if self._cancel is not None and self._cancel.is_set():
            raise Cancelled

    def offer(self, key: str, score: float) -> bool:
        """Keep ``key`` if it beats the best so far (and report it); True if it did."""
        if self.best is not None and score <= self.best.score:
            return False
        self.best = Candidate(key, self._render(key), score)
        self._report(force=True)
        return True

    def progress(self, fraction: float) -> None:
        """The share of the search done (0-1); reported a few times a second."""
        self.fraction = max(self.fraction, min(1.0, fraction))
        self._report(force=False)
        self.tick(0)

    def _report(self, force: bool) -> None:
        if self._on_progress is None or self.best is None:
            return
        now = time.perf_counter()
        if force or now - self._last_report >= 1 / REPORTS_PER_SECOND:
            self._last_report = now
            self._on_progress(self.fraction, self.best)

    def result(self, cipher: str, cancelled: bool) -> AttackResult:
        best = self.best if self.best is not None else Candidate("", "", float("-inf"))
        if not cancelled:
            self.fraction = 1.0
            self._report(force=True)
        return AttackResult(
            cipher=cipher,
            key=best.key,
            text=best.text,
            score=best.score,
            seconds=self.elapsed(),
            tried=self.tried,
            cancelled=cancelled,
        )
