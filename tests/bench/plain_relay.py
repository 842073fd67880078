"""A plain asyncio relay: the baseline ``tests.bench.relay_load`` measures beside ours.

    python -m tests.bench.plain_relay [--port 0] [--uvloop]

Written the way a plain asyncio relay is written (streams, ``readexactly`` per frame, a
write and ``drain`` per frame), with no crypto, no schema and no limits: what any relay pays
for moving frames through Python. Frames are a 4-byte length and a body whose first byte
says what it is:

    H flags(1) id(32)   hello (flags "L": listed): answered W; watchers get A id (once
                        encoded, written to each)
    P bytes             ping: answered Q bytes
    J pair(4)           join a pair (two connections): both get K when it is full
    R pair(4) bytes     relayed to the other member of the pair as it is
    L                   watch arrivals: answered E (an empty list), then A id per arrival

It prints ``listening on 127.0.0.1:PORT`` and runs until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import struct

_LENGTH = struct.Struct(">I")


class PlainRelay:
    def __init__(self) -> None:
        self.pairs: dict[bytes, list[asyncio.StreamWriter]] = {}
        self.watchers: set[asyncio.StreamWriter] = set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        joined: list[bytes] = []
        try:
            while True:
                (length,) = _LENGTH.unpack(await reader.readexactly(4))
                body = await reader.readexactly(length)
                kind = body[:1]
                if kind == b"R":
                    members = self.pairs.get(body[1:5], ())
                    for other in members:
                        if other is not writer:
                            other.write(_LENGTH.pack(len(body)) + body)
                            await other.drain()
                elif kind == b"P":
                    writer.write(_LENGTH.pack(len(body)) + b"Q" + body[1:])
                    await writer.drain()
                elif kind == b"H":
                    writer.write(_LENGTH.pack(1) + b"W")
                    await writer.drain()
                    if body[1:2] == b"L" and self.watchers:
                        note = _LENGTH.pack(33) + b"A" + body[2:34]
                        for watcher in list(self.watchers):
                            watcher.write(note)
                elif kind == b"J":
                    pair = body[1:5]
                    members = self.pairs.setdefault(pair, [])
                    members.append(writer)
                    joined.append(pair)
                    if len(members) == 2:
                        for member in members:
                            member.write(_LENGTH.pack(1) + b"K")
                elif kind == b"L":
                    self.watchers.add(writer)
                    writer.write(_LENGTH.pack(1) + b"E")
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.watchers.discard(writer)
            for pair in joined:
                members = self.pairs.get(pair, [])
                if writer in members:
                    members.remove(writer)
                if not members:
                    self.pairs.pop(pair, None)
            writer.close()


async def serve(port: int) -> None:
    relay = PlainRelay()
    server = await asyncio.start_server(relay.handle, "127.0.0.1", port, backlog=4096)
    print(f"listening on 127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--uvloop", action="store_true")
    args = parser.parse_args()
    if args.uvloop:
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(serve(args.port))
    else:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(args.port))


if __name__ == "__main__":
    main()
