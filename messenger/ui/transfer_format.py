"""How a transfer's numbers read: sizes, time left and the speed behind it.

Speed and time left come from the progress reports themselves, averaged over a few seconds
so that one slow ack does not make the estimate jump. Plain Python, no Qt: the card shows
these strings, and tests check them without a widget.
"""

from __future__ import annotations

from collections import deque

__all__ = ["SPEED_WINDOW", "SpeedMeter", "human_duration", "human_size"]

#: Seconds of progress reports the speed is averaged over.
SPEED_WINDOW = 3.0


def human_size(size: int) -> str:
    """Bytes as a person reads them: ``950 bytes``, ``3.1 MB``, ``4.7 GB`` (powers of 1000,
    as file managers show them)."""
    if size < 1000:
        return "1 byte" if size == 1 else f"{size} bytes"
    value = float(size)
    for unit in ("KB", "MB", "GB", "TB"):
        value /= 1000
        if value < 999.95 or unit == "TB":
            return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
    raise AssertionError("unreachable")


def human_duration(seconds: float) -> str:
    """A rough time left: ``8 s``, ``3 min``, ``1 h 5 min``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


class SpeedMeter:
    """Bytes per second over the last ``window`` seconds of (time, bytes done) samples."""

    def __init__(self, window: float = SPEED_WINDOW) -> None:
        self.window = window
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, when: float, done: int) -> None:
        if self._samples and done < self._samples[-1][1]:
            self._samples.clear()  # a restart from an earlier point: old samples mislead
        self._samples.append((when, done))
        while len(self._samples) > 2 and when - self._samples[1][0] >= self.window:
            self._samples.popleft()

    def rate(self) -> float | None:
        """None until two samples some time apart exist."""
        if len(self._samples) < 2:
            return None
        (t0, b0), (t1, b1) = self._samples[0], self._samples[-1]
        return (b1 - b0) / (t1 - t0) if t1 > t0 else None
