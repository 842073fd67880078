"""A fake link between the two sides of a session handshake (password or RSA), shared by
test_password_handshake and test_rsa_handshake."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from messenger.protocol.errors import MessengerError
from messenger.protocol.packets import PacketKind
from messenger.protocol.password_handshake import HandshakeComplete, SendPacket

#: ``tamper(receiver, packet)`` returns the packet to deliver instead.
Tamper = Callable[[Any, bytes], bytes]


@dataclass
class Side:
    """One side of a finished conversation: everything it emitted, and what it raised."""

    handshake: Any
    events: list = field(default_factory=list)
    error: MessengerError | None = None

    @property
    def keys(self):
        (complete,) = [e for e in self.events if isinstance(e, HandshakeComplete)]
        return complete.keys

    @property
    def seen(self):
        """Packet kinds sent ("PAKE", "RSA_INIT", "CONFIRM"...), and "complete" at the end."""
        return [
            PacketKind(e.data[1]).name if isinstance(e, SendPacket) else "complete"
            for e in self.events
        ]


def converse(
    a, b, a_started: list, b_started: list = (), tamper: Tamper | None = None
) -> tuple[Side, Side]:
    """Deliver every packet to the other side until nothing is in flight.

    ``a_started`` and ``b_started`` are what each side's ``start`` returned (nothing for a
    side that waits to hear first). A side that raises stops receiving; the other side
    carries on with what is in flight. ``tamper(receiver, packet)`` sees every packet on the
    way, as a relay would.
    """
    sides = {a: Side(a), b: Side(b)}
    in_flight: deque[tuple[Any, bytes]] = deque()

    def emitted(sender, events):
        sides[sender].events += events
        receiver = b if sender is a else a
        in_flight.extend((receiver, e.data) for e in events if isinstance(e, SendPacket))

    emitted(a, a_started)
    emitted(b, b_started)
    while in_flight:
        receiver, packet = in_flight.popleft()
        if sides[receiver].error is not None:
            continue
        try:
            if tamper is not None:
                packet = tamper(receiver, packet)
            emitted(receiver, receiver.receive(packet))
        except MessengerError as exc:
            sides[receiver].error = exc
    return sides[a], sides[b]
