"""The double ratchet's store of skipped message keys, bounded in count and in age.

When a message arrives ahead of others, the ratchet derives the keys of the ones it passed
over and keeps them here, so those messages still open when they arrive late, once each.
A peer (or a relay) could otherwise make us keep keys for ever, so the store holds at most
``max_keys`` (the oldest go first) for at most ``max_age`` seconds (an expired key is never
returned, and is dropped at the next change). Keys are ``bytearray``s overwritten when they
leave; keys are never shown in a repr.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

#: (the peer's ratchet public key, the message number in that chain)
Slot = tuple[bytes, int]


def wipe(buffer: bytearray | None) -> None:
    """Overwrite a key we own. Python may hold other copies; this clears the one we keep."""
    if buffer is not None:
        buffer[:] = bytes(len(buffer))


@dataclass
class SkippedKey:
    """A message key kept for a message that has not arrived yet, and when it was kept."""

    key: bytearray
    stored_at: float

    def __repr__(self) -> str:
        return f"SkippedKey(stored_at={self.stored_at})"


class SkippedKeys:
    """Message keys by slot, oldest first (a dict keeps insertion order; time moves on)."""

    __slots__ = ("_keys", "max_age", "max_keys")

    def __init__(self, *, max_keys: int, max_age: float) -> None:
        self.max_keys = max_keys
        self.max_age = max_age
        self._keys: dict[Slot, SkippedKey] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"SkippedKeys({len(self._keys)} kept)"

    def get(self, slot: Slot, now: float) -> bytes | None:
        """The key for ``slot`` if we still have it and it has not expired; it stays until
        ``pop``, so a failed decryption loses nothing."""
        kept = self._keys.get(slot)
        if kept is None or self._expired(kept, now):
            return None
        return bytes(kept.key)

    def pop(self, slot: Slot) -> None:
        """Delete a used key (forward secrecy: that message can never be opened again)."""
        wipe(self._keys.pop(slot).key)

    def add(self, slots: Iterable[Slot], keys: Iterable[bytes], now: float) -> None:
        """Keep new keys, then drop the oldest beyond ``max_keys`` and the expired ones."""
        for slot, key in zip(slots, keys, strict=True):
            self._keys[slot] = SkippedKey(bytearray(key), now)
        self._trim(now)

    def load(self, items: Iterable[tuple[Slot, bytes, float]], now: float) -> None:
        """Restore saved keys (in age order), then apply today's bounds."""
        for slot, key, stored_at in sorted(items, key=lambda item: item[2]):
            self._keys[slot] = SkippedKey(bytearray(key), stored_at)
        self._trim(now)

    def items(self) -> Iterator[tuple[Slot, bytes, float]]:
        """Every kept key with its slot and time, oldest first: for saving the state."""
        for slot, kept in self._keys.items():
            yield slot, bytes(kept.key), kept.stored_at

    def drop_expired(self, now: float) -> None:
        """Drop expired keys from the old end; stops at the first live one, so it is cheap.

        ``get`` checks the age too, so a key out of order (after the clock was set back) is
        never used late; it only lingers until the keys before it go.
        """
        expired: list[Slot] = []
        for slot, kept in self._keys.items():
            if not self._expired(kept, now):
                break
            expired.append(slot)
        for slot in expired:
            self.pop(slot)

    def _trim(self, now: float) -> None:
        excess = max(len(self._keys) - self.max_keys, 0)
        for slot in list(itertools.islice(self._keys, excess)):
            self.pop(slot)
        self.drop_expired(now)

    def _expired(self, kept: SkippedKey, now: float) -> bool:
        return now - kept.stored_at > self.max_age
