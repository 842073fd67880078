"""Who is online: authenticated connections by identity, and who watches the list.

No I/O: the hub asks ``people()`` and pushes the result to ``watchers``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from messenger.protocol.wire import Person


@dataclass(frozen=True, slots=True)
class Present:
    conn_id: int
    id: str
    name: str
    accept_invites: bool
    key: bytes = b""  #: identity key DER, handed to the peer of an RSA session


@dataclass
class Presence:
    _by_conn: dict[int, Present] = field(default_factory=dict)
    watchers: set[int] = field(default_factory=set)

    def add(self, present: Present) -> None:
        self._by_conn[present.conn_id] = present

    def remove(self, conn_id: int) -> Present | None:
        self.watchers.discard(conn_id)
        return self._by_conn.pop(conn_id, None)

    def get(self, conn_id: int) -> Present | None:
        return self._by_conn.get(conn_id)

    def connections_of(self, person_id: str) -> list[Present]:
        """Newest connection last."""
        return [p for p in self._by_conn.values() if p.id == person_id]

    def free_connection(self, person_id: str, busy: Callable[[int], bool]) -> Present | None:
        """The newest connection of this person that takes invitations and is not busy."""
        free = [
            p for p in self.connections_of(person_id) if p.accept_invites and not busy(p.conn_id)
        ]
        return free[-1] if free else None

    def people(self, busy: Callable[[int], bool]) -> list[Person]:
        """Everyone online, once each: free if some connection of theirs can be invited now."""
        seen: dict[str, Person] = {}
        for present in self._by_conn.values():
            free = present.accept_invites and not busy(present.conn_id)
            known = seen.get(present.id)
            if known is None or (free and known.status != "free"):
                seen[present.id] = Person(present.id, present.name, "free" if free else "busy")
        return sorted(seen.values(), key=lambda p: (p.name.lower(), p.id))
