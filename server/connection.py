"""One client connection as the relay holds it: the framed stream, who it is, and its handler.

Sending to a client that has stopped reading must not hold up the sender for long, nor grow
memory: ``send`` waits for room at most the relay's send timeout, and then the slow client
(not the sender) is dropped with a ``timeout`` error; so is one that lets too many notices
pile up.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from messenger.net.framed import FramedStream, NoticeOverflow, SendTimeout, StreamClosed
from messenger.protocol.errors import MessengerError, TimeoutError_


@dataclass(eq=False)
class ClientConnection:
    conn_id: int
    address: str
    stream: FramedStream
    #: The task running this connection's handler (``Hub._handle``).
    handler: asyncio.Task[None] | None = None
    person_id: str = ""
    name: str = ""
    #: Why another handler dropped this connection (it was not reading), if it did.
    kicked: MessengerError | None = None
    #: The handler is cleaning up: it must not be cancelled any more.
    closing: bool = False
    #: When the handler started waiting for the client's next frame (loop time); None while
    #: it handles one. The hub's idle check reads it instead of a timer per read.
    reading_since: float | None = None
    idle_timer: asyncio.TimerHandle | None = None
    #: The client's identity key, and this connection's resumption secret (its tickets'
    #: secrets derive from it), how many tickets it was given and when the last (monotonic).
    key_der: bytes = b""
    resumption: bytes = b""
    tickets_given: int = 0
    ticket_given_at: float = 0.0

    async def send(self, message: object) -> None:
        """Queue ``message``, waiting for room (at most the send timeout).

        A client that does not make room in time is dropped. If this is the client's own
        handler, the error ends it here; otherwise (a peer is sending to it) the client's
        handler is stopped and the sender goes on. A message to a client that is already
        going away is dropped: its handler tells its sessions' peers.
        """
        try:
            await self.stream.send(message)
        except StreamClosed:
            if self._is_own_handler():
                raise
        except SendTimeout:
            error = TimeoutError_(
                "You did not read what the relay sent you for too long, so it closed the "
                "connection."
            )
            if self._is_own_handler():
                raise error from None
            self.kick(error)

    def send_nowait(self, message: object, *, coalesce: str | None = None) -> None:
        """Queue a notice that must not be lost (see ``FramedStream.send_nowait``); a client
        with too many of them waiting is dropped instead."""
        try:
            self.stream.send_nowait(message, coalesce=coalesce)
        except NoticeOverflow:
            self.kick(
                TimeoutError_(
                    "You did not read what the relay sent you, so it closed the connection."
                )
            )

    def send_encoded_nowait(self, body: bytes, *, coalesce: str | None = None) -> None:
        """``send_nowait`` for a message already encoded (one encoding for many clients)."""
        try:
            self.stream.send_encoded_nowait(body, coalesce=coalesce)
        except NoticeOverflow:
            self.kick(
                TimeoutError_(
                    "You did not read what the relay sent you, so it closed the connection."
                )
            )

    def kick(self, error: MessengerError) -> None:
        """Stop this connection's handler; it closes the connection with ``error``."""
        if self.kicked is not None or self.closing or self.handler is None:
            return
        self.kicked = error
        self.handler.cancel()

    def _is_own_handler(self) -> bool:
        return self.handler is not None and asyncio.current_task() is self.handler
