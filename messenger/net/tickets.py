"""Where a client keeps the relay's resumption tickets between its connections.

A ticket lets the next connection to the same relay skip the RSA work of a full handshake
(see ``server.tickets``). One ticket per (host, port, our identity): a newer one replaces
the older, and ``take`` hands it out once (a ticket is good for one connection). Tickets
live in memory only, for this process: a client that keeps running (the app, ``listen``,
``wait``) resumes after the relay restarts or the network drops; a new process makes a
full handshake. They are kept ``lifetime`` seconds at most, by this process's clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from messenger.protocol.transport import ClientTicket

#: (host, port, our person id)
Where = tuple[str, int, str]


@dataclass(frozen=True, slots=True)
class _Kept:
    ticket: ClientTicket
    until: float


#: The longest a client keeps a ticket, whatever the relay says (its default is an hour).
MAX_LIFETIME = 24 * 3600.0


class TicketJar:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._kept: dict[Where, _Kept] = {}
        self._lock = threading.Lock()

    def put(self, where: Where, ticket: ClientTicket, lifetime: float) -> None:
        """Keep a ticket for ``lifetime`` seconds, as the relay says, but never longer than
        MAX_LIFETIME (a relay's NaN or infinity would otherwise never expire)."""
        if not lifetime > 0:  # NaN too
            return
        lifetime = min(lifetime, MAX_LIFETIME)
        with self._lock:
            self._kept[where] = _Kept(ticket, self._clock() + lifetime)

    def take(self, where: Where) -> ClientTicket | None:
        """The ticket kept for ``where``, removed (used once); None if none or expired."""
        with self._lock:
            kept = self._kept.pop(where, None)
        if kept is None or self._clock() >= kept.until:
            return None
        return kept.ticket

    def forget(self, where: Where) -> None:
        with self._lock:
            self._kept.pop(where, None)

    def __len__(self) -> int:
        return len(self._kept)


#: The process's jar: every connection uses it unless told otherwise.
JAR = TicketJar()
