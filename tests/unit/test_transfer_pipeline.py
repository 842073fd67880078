"""The receiver's write pipeline: chunks are read and checked while earlier ones are written,
yet nothing is acknowledged, or vouched for in the resume record, before it is on disk.

A gate in front of the partial file's writes holds the writer thread (the slow disk), so
what the reader manages meanwhile is observed at an exact point, never by timing. The wire
and its helpers are those of ``test_transfers_io``.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from messenger import events as ev
from messenger import files
from messenger.net.connection import ConnectionLostError
from messenger.partial_file import PartialFile
from messenger.protocol.payloads import FileAccept, FileAck, FileChunk
from messenger.protocol.transfer import WINDOW
from tests.support import files_below
from tests.unit.test_transfers_io import (
    PARTIAL_DIR,
    SOON,
    Link,
    linked,
    make_file,
    run,
    sha_hex,
)

pytestmark = pytest.mark.timeout(30)

#: The reader gets this far ahead of a stalled writer: one batch held by the writer (at
#: least a chunk), a full queue, and one chunk waiting to be queued.
AHEAD = files.WRITE_QUEUE + 2


class SlowDisk:
    """Holds every write to one partial file until ``open()``; counts chunks written."""

    def __init__(self, partial: PartialFile) -> None:
        self.gate = threading.Event()
        self.written = 0
        self._append = partial.append
        partial.append = self._slow_append  # type: ignore[method-assign]

    def _slow_append(self, data: bytes) -> None:
        if not self.gate.wait(SOON):
            raise OSError("the test never opened the gate")
        self._append(data)
        self.written += 1

    def open(self) -> None:
        self.gate.set()


async def with_a_slow_disk(link: Link) -> tuple[list[SlowDisk], list[str], list[int]]:
    """Put a SlowDisk under Bob's partial file once he accepts; record each chunk Bob's
    reader takes, and every ack he sends that claims more than is written."""
    disks: list[SlowDisk] = []
    ahead_of_disk: list[str] = []
    taken: list[int] = []

    async def watch(payload: object) -> None:
        if isinstance(payload, FileAccept):
            disks.append(SlowDisk(link.bob.transfers.incoming[payload.id].partial))
        elif isinstance(payload, FileAck) and payload.next > disks[0].written:
            ahead_of_disk.append(f"ack {payload.next} with {disks[0].written} written")

    def take(payload: object) -> None:
        if isinstance(payload, FileChunk):
            taken.append(payload.index)

    link.bob.after_send = watch
    link.bob.before_handle = take
    return disks, ahead_of_disk, taken


def test_a_slow_write_does_not_stop_the_next_chunks_yet_no_ack_runs_ahead_of_the_disk(
    source, inbox, small_chunks
):
    data = make_file(source / "slow.bin", 3 * WINDOW * small_chunks + 5)
    chunks = 3 * WINDOW + 1
    assert WINDOW >= AHEAD, "the sender's window must let the reader get ahead"

    async def scenario() -> None:
        link = await linked(inbox)
        disks, ahead_of_disk, taken = await with_a_slow_disk(link)
        transfer_id = await link.alice.transfers.offer(source / "slow.bin")
        try:
            await link.until(lambda: len(taken) >= AHEAD, f"{AHEAD} chunks taken, none written")
            assert disks[0].written == 0
            assert link.bob.sent_of(FileAck) == [], "nothing is acknowledged before the disk"
            assert taken == list(range(len(taken)))
        finally:
            disks[0].open()
        await link.settle_after(link.alice, ev.FileCompleted)

        assert ahead_of_disk == []
        assert [a.next for a in link.bob.sent_of(FileAck)] == list(range(1, chunks + 1))
        received = link.bob.one(ev.FileCompleted, transfer_id)
        assert Path(received.path).read_bytes() == data
        assert received.sha256 == sha_hex(data)
        link.assert_no_errors()
        await link.close()

    run(scenario)
    assert files_below(inbox) == ["slow.bin"]


def test_a_cancel_while_the_writer_is_stuck_leaves_no_task_and_no_file(source, inbox, small_chunks):
    make_file(source / "stuck.bin", 3 * WINDOW * small_chunks)

    async def scenario() -> None:
        link = await linked(inbox)
        disks, _ahead, taken = await with_a_slow_disk(link)
        transfer_id = await link.alice.transfers.offer(source / "stuck.bin")
        try:
            await link.until(lambda: len(taken) >= AHEAD, "the reader stalled by a full queue")
            await link.bob.transfers.cancel(transfer_id)
        finally:
            disks[0].open()
        await link.settle_after(link.alice, ev.FileCancelled)  # settle: no writer task left

        assert link.bob.one(ev.FileCancelled, transfer_id).by == "me"
        assert link.bob.sent_of(FileAck) == []
        assert not link.bob.transfers.busy
        link.assert_no_errors()
        await link.close()

    run(scenario)
    assert files_below(inbox) == [], "the partial file and its resume state are removed"


def test_a_link_lost_while_chunks_wait_for_the_disk_resumes_from_what_was_written(
    source, inbox, small_chunks
):
    make_file(source / "lost.bin", 3 * WINDOW * small_chunks)

    async def scenario() -> None:
        link = await linked(inbox)
        disks, _ahead, taken = await with_a_slow_disk(link)
        await link.alice.transfers.offer(source / "lost.bin")
        try:
            await link.until(lambda: len(taken) >= AHEAD, "chunks received, none written")
            for side in link.sides:
                side.transfers.interrupted()
        finally:
            disks[0].open()
        await link.settle()
        link.assert_no_errors()
        await link.close()

    run(scenario)
    state = json.loads(next((inbox / PARTIAL_DIR).glob("*.json")).read_text())
    assert state["next"] == 0, "the resume record vouches only for chunks on disk"


def test_a_writer_stopped_by_the_session_ending_never_leaves_the_reader_waiting(
    source, inbox, small_chunks
):
    """The session ends while the writer sends its first ack: the writer stops, and the
    chunks still arriving are dropped instead of filling its queue and holding the reader
    (and with it every other message of the session) for ever."""
    make_file(source / "ended.bin", 3 * WINDOW * small_chunks)

    async def scenario() -> None:
        link = await linked(inbox)

        async def end_the_session(payload: object) -> None:
            if isinstance(payload, FileAck):
                raise ConnectionLostError()

        link.bob.after_send = end_the_session
        await link.alice.transfers.offer(source / "ended.bin")
        sent_all = WINDOW + 1  # the window, and one more for the ack that got through
        await link.until(
            lambda: (
                len(link.alice.sent_of(FileChunk)) == sent_all
                and link.bob.inbox.empty()
                and not link.bob.busy
            ),
            "every chunk taken by Bob's reader",
        )
        assert [a.next for a in link.bob.sent_of(FileAck)] == [1]
        for side in link.sides:
            side.transfers.interrupted()
        await link.settle()
        link.assert_no_errors()
        await link.close()

    run(scenario)
