"""``FramedStream``'s send queue (messenger/net/framed.py) against a peer that stops reading:
bounded in bytes, a deadline for senders, notices that are never dropped, and a close that
does not wait for the peer forever.

The stream under test writes to one end of a socket pair; the test holds the other end as a
plain non-blocking socket and reads it only when it chooses to.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable

import pytest

from messenger.net.framed import FramedStream, NoticeOverflow, SendTimeout
from messenger.protocol import wire
from messenger.protocol.framing import MAX_FRAME_BODY, FrameDecoder

pytestmark = pytest.mark.timeout(30)

KIB = 1024
CHUNK = wire.Relay(session="1", data=bytes(16 * KIB))


def run(scenario: Callable[..., Awaitable[None]], **stream_options) -> None:
    async def main() -> None:
        with socket.create_server(("127.0.0.1", 0)) as listener:
            ours = socket.create_connection(listener.getsockname())
            theirs, _ = listener.accept()
        theirs.setblocking(False)
        reader, writer = await asyncio.open_connection(sock=ours)
        options = {"max_frame": MAX_FRAME_BODY, "queue_bytes": 64 * KIB, **stream_options}
        stream = FramedStream(reader, writer, **options)
        try:
            await asyncio.wait_for(scenario(stream, Peer(theirs)), 20)
        finally:
            await stream.close(0.1)
            theirs.close()

    asyncio.run(main())


class Peer:
    """The other end: reads frames only when asked to."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.decoder = FrameDecoder()

    async def messages(self, until: Callable[[object], bool]) -> list[object]:
        """Read until a message matching ``until`` arrives; every message read so far."""
        loop = asyncio.get_running_loop()
        seen: list[object] = []
        while True:
            for body in self.decoder.frames():
                seen.append(wire.decode(body))
                if until(seen[-1]):
                    return seen
            data = await loop.sock_recv(self.sock, 256 * KIB)
            if not data:
                return seen
            self.decoder.receive_data(data)


async def fill(stream: FramedStream) -> int:
    """Send chunks until a send has to wait; returns how many went in without waiting."""
    for sent in range(100_000):
        try:
            await asyncio.wait_for(stream.send(CHUNK), 0.2)
        except TimeoutError:
            return sent
    raise AssertionError("the stream never pushed back")


def test_a_peer_that_does_not_read_makes_senders_wait_at_the_byte_bound():
    async def scenario(stream: FramedStream, peer: Peer) -> None:
        await fill(stream)
        # What waits for the socket never exceeds the bound by more than one frame.
        assert stream.queued_bytes <= 64 * KIB + 17 * KIB
        last = wire.Relay(session="last", data=CHUNK.data)
        waiting = asyncio.ensure_future(stream.send(last))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        seen = await peer.messages(lambda m: m == last)  # the peer reads again
        await waiting
        assert seen[-1] == last

    run(scenario)


def test_a_sender_waits_at_most_the_send_timeout():
    async def scenario(stream: FramedStream, _peer: Peer) -> None:
        await fill(stream)
        started = time.monotonic()
        with pytest.raises(SendTimeout):
            await stream.send(CHUNK)
        assert 0.2 <= time.monotonic() - started < 5

    run(scenario, send_timeout=0.3)


def test_one_frame_bigger_than_the_bound_goes_alone_on_an_empty_queue():
    async def scenario(stream: FramedStream, peer: Peer) -> None:
        big = wire.Relay(session="1", data=bytes(100 * KIB))
        await asyncio.wait_for(stream.send(big), 1)
        assert (await peer.messages(lambda m: isinstance(m, wire.Relay)))[-1] == big

    run(scenario, queue_bytes=1 * KIB)


def test_notices_go_past_a_full_queue_and_arrive_after_what_was_queued_before():
    async def scenario(stream: FramedStream, peer: Peer) -> None:
        sent = await fill(stream)
        stream.send_nowait(wire.PeerLeft(session="1"))
        seen = await peer.messages(lambda m: isinstance(m, wire.PeerLeft))
        assert seen[-1] == wire.PeerLeft(session="1")
        assert len(seen) >= sent + 1  # every chunk that got in went out first

    run(scenario)


def test_a_notice_with_a_coalesce_key_replaces_the_one_still_waiting():
    async def scenario(stream: FramedStream, peer: Peer) -> None:
        await fill(stream)
        for n in range(5):
            stream.send_nowait(wire.RotateTick(session=str(n)), coalesce="tick")
        stream.send_nowait(wire.PeerLeft(session="end"))
        seen = await peer.messages(lambda m: isinstance(m, wire.PeerLeft))
        assert [m for m in seen if isinstance(m, wire.RotateTick)] == [wire.RotateTick("4")]

    run(scenario)


def test_too_many_notices_waiting_mean_the_peer_is_not_reading():
    async def scenario(stream: FramedStream, _peer: Peer) -> None:
        await fill(stream)
        for n in range(3):
            stream.send_nowait(wire.PeerLeft(session=str(n)))
        with pytest.raises(NoticeOverflow):
            stream.send_nowait(wire.PeerLeft(session="one too many"))

    run(scenario, max_notices=3)


def test_close_cuts_off_a_peer_that_does_not_read_instead_of_waiting_for_it():
    async def scenario(stream: FramedStream, peer: Peer) -> None:
        await fill(stream)
        started = time.monotonic()
        await stream.close(flush_timeout=0.2)
        assert time.monotonic() - started < 2
        assert stream.writer.transport.is_closing()
        # The peer is reset: what was still queued for it is gone.
        with pytest.raises(ConnectionResetError):
            await peer.messages(lambda m: False)

    run(scenario)


def test_close_lets_a_reading_peer_have_everything_queued():
    async def scenario(stream: FramedStream, peer: Peer) -> None:
        for n in range(20):
            await stream.send(wire.Ping(nonce=n))
        await stream.close()
        seen = await peer.messages(lambda m: False)  # until EOF
        assert seen == [wire.Ping(nonce=n) for n in range(20)]

    run(scenario)
