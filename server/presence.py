"""Who is online, who chose to be listed, and the list of them that clients page through.

No I/O. Connections come with ``add`` and go with ``remove``; whether a connection is in a
session comes from the pairing state's O(1) ``busy``; ``refresh(person)`` recomputes one
person's entry when their sessions change. Everything a change touches is indexed, so an
arrival, a departure or a session starting costs about the same with ten people online or
ten thousand:

- connections by person (``connections_of``, ``free_connection``);
- the listed people's entries, and their sort keys in a sorted list, so a page or a name
  search is a bisection plus the page (``page``);
- the ids whose entries changed since the last ``take_changes``, which the hub turns into
  one ``people_changed`` message, encoded once, for every watcher.

Only people who chose to be listed (``Present.listed``: ``messenger-cli wait``, the app's
"can be invited") appear; contacts see each other come and go through the mailroom's
token-checked ``Watch`` whether they are listed or not.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field

from messenger.protocol.wire import Person

#: Length of a person id (hex SHA-256): the first part of a page cursor.
ID_LEN = 64


@dataclass(frozen=True, slots=True)
class Present:
    conn_id: int
    id: str
    name: str
    accept_invites: bool
    key: bytes = b""  #: identity key DER, handed to the peer of an RSA session
    #: The person chose to appear in everyone's list of people (opt-in).
    listed: bool = False


@dataclass(frozen=True, slots=True)
class PresenceChange:
    """One difference to the list: entries now (new or changed) and ids no longer listed."""

    version: int
    people: tuple[Person, ...]
    gone: tuple[str, ...]


def _never_busy(_conn_id: int) -> bool:
    return False


def name_key(name: str) -> str:
    """How the list sorts and searches names: case-insensitively."""
    return name.casefold()


@dataclass
class Presence:
    #: Whether a connection is in a session or a pending invitation (the pairing state's).
    busy: Callable[[int], bool] = _never_busy
    _by_conn: dict[int, Present] = field(default_factory=dict)
    #: person id -> their connections, oldest first
    _by_person: dict[str, dict[int, Present]] = field(default_factory=dict)
    #: listed person id -> their entry, and the entries' sort keys in order
    _listed: dict[str, Person] = field(default_factory=dict)
    _order: list[tuple[str, str]] = field(default_factory=list)
    #: ids whose entry changed (or went) since the last ``take_changes``, in order
    _changed: dict[str, None] = field(default_factory=dict)
    #: The version of the list watchers have been told about (see ``take_changes``).
    version: int = 0
    #: Connections that asked to hear every change, in the order they asked.
    watchers: dict[int, None] = field(default_factory=dict)

    # -- connections ------------------------------------------------------------------------

    def add(self, present: Present) -> bool:
        """A connection authenticated. True if the list changed."""
        self._by_conn[present.conn_id] = present
        self._by_person.setdefault(present.id, {})[present.conn_id] = present
        return self.refresh(present.id)

    def remove(self, conn_id: int) -> Present | None:
        self.watchers.pop(conn_id, None)
        present = self._by_conn.pop(conn_id, None)
        if present is None:
            return None
        connections = self._by_person.get(present.id)
        if connections is not None:
            connections.pop(conn_id, None)
            if not connections:
                del self._by_person[present.id]
        self.refresh(present.id)
        return present

    def get(self, conn_id: int) -> Present | None:
        return self._by_conn.get(conn_id)

    def connections_of(self, person_id: str) -> list[Present]:
        """Newest connection last."""
        return list(self._by_person.get(person_id, {}).values())

    def is_online(self, person_id: str) -> bool:
        return person_id in self._by_person

    def free_connection(
        self, person_id: str, busy: Callable[[int], bool] | None = None
    ) -> Present | None:
        """The newest connection of this person that takes invitations and is not busy."""
        busy = busy or self.busy
        for present in reversed(self.connections_of(person_id)):
            if present.accept_invites and not busy(present.conn_id):
                return present
        return None

    def __len__(self) -> int:
        return len(self._by_conn)

    # -- the list ---------------------------------------------------------------------------

    def refresh(self, person_id: str) -> bool:
        """Recompute one person's entry (after they came, went, or their sessions changed).
        True if the list changed."""
        entry = self._entry(person_id)
        old = self._listed.get(person_id)
        if entry == old:
            return False
        if old is not None:
            index = bisect.bisect_left(self._order, (name_key(old.name), person_id))
            del self._order[index]
        if entry is None:
            del self._listed[person_id]
        else:
            self._listed[person_id] = entry
            bisect.insort(self._order, (name_key(entry.name), person_id))
        self._changed[person_id] = None
        return True

    def _entry(self, person_id: str) -> Person | None:
        """Listed under the name of their newest listed connection; free if some connection
        of theirs takes invitations and is in no session."""
        connections = self._by_person.get(person_id)
        if not connections:
            return None
        name: str | None = None
        free = False
        for present in connections.values():
            if present.listed:
                name = present.name
            if not free and present.accept_invites and not self.busy(present.conn_id):
                free = True
        if name is None:
            return None
        return Person(person_id, name, "free" if free else "busy")

    def people(self) -> list[Person]:
        """Everyone listed, by name (for tests and small relays; clients page)."""
        return [self._listed[person_id] for _key, person_id in self._order]

    @property
    def listed_count(self) -> int:
        return len(self._listed)

    def page(
        self, query: str = "", cursor: str = "", limit: int = 1024, exclude: str = ""
    ) -> tuple[list[Person], str]:
        """Up to ``limit`` listed people in name order whose name starts with ``query``
        (case-insensitively; an empty query matches everyone), after ``cursor`` (from the
        previous page), leaving out ``exclude`` (the asker). Returns the page and the cursor
        for the next one ("" when this was the last)."""
        prefix = name_key(query)
        start = bisect.bisect_left(self._order, (prefix, ""))
        if cursor:
            after = (cursor[ID_LEN:], cursor[:ID_LEN])
            start = max(start, bisect.bisect_right(self._order, after))
        page: list[Person] = []
        index = start
        order = self._order
        while index < len(order) and len(page) < limit:
            key, person_id = order[index]
            if not key.startswith(prefix):
                return page, ""
            index += 1
            if person_id != exclude:
                page.append(self._listed[person_id])
        if index < len(order) and order[index][0].startswith(prefix):
            key, person_id = order[index - 1]
            return page, person_id + key
        return page, ""

    # -- changes ----------------------------------------------------------------------------

    @property
    def has_changes(self) -> bool:
        return bool(self._changed)

    def take_changes(self, per_message: int = 1024) -> list[PresenceChange]:
        """What changed since the last call, as differences of at most ``per_message``
        entries each, numbered by the next versions. Each carries the entries as they are
        now, so applying one is idempotent."""
        changed, self._changed = list(self._changed), {}
        out: list[PresenceChange] = []
        for start in range(0, len(changed), per_message):
            people: list[Person] = []
            gone: list[str] = []
            for person_id in changed[start : start + per_message]:
                entry = self._listed.get(person_id)
                if entry is None:
                    gone.append(person_id)
                else:
                    people.append(entry)
            self.version += 1
            out.append(PresenceChange(self.version, tuple(people), tuple(gone)))
        return out
