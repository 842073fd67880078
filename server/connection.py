"""One client connection as the relay holds it: the framed stream plus who it is."""

from __future__ import annotations

from dataclasses import dataclass

from messenger.net.framed import FramedStream


@dataclass(eq=False)
class ClientConnection:
    conn_id: int
    address: str
    stream: FramedStream
    person_id: str = ""
    name: str = ""

    async def send(self, message: object) -> None:
        await self.stream.send(message)

    def send_nowait(self, message: object) -> None:
        self.stream.send_nowait(message)
