"""Chunks and acks sealed under a transfer's own key: exactly-next counters, fixed sizes."""

from __future__ import annotations

import pytest

from messenger.protocol.errors import RemoteProtocolError, TamperedError
from messenger.protocol.transfer_frames import TransferCipher, frame_transfer_id

TID = "0123456789abcdef" * 2
KEY = bytes(range(32))
HINT = b"h" * 16


def ends() -> tuple[TransferCipher, TransferCipher]:
    return TransferCipher(TID, KEY, sending=True), TransferCipher(TID, KEY, sending=False)


def test_chunks_and_acks_round_trip_in_both_directions():
    sender, receiver = ends()
    frame = sender.seal(b"chunk 0", HINT)
    assert frame.startswith(HINT) and frame_transfer_id(frame) == TID
    assert receiver.open(frame) == b"chunk 0"
    assert sender.open(receiver.seal(b"ack 1", HINT)) == b"ack 1"


def test_every_chunk_frame_has_the_same_size_whatever_it_carries():
    sender, _ = ends()
    sizes = {len(sender.seal(b"x" * n, HINT)) for n in (0, 10, 1000, 1024 * 1024)}
    assert len(sizes) == 1


@pytest.mark.parametrize("attack", ["replay", "skip", "reflect", "flip", "other-transfer"])
def test_frames_out_of_place_are_refused(attack):
    sender, receiver = ends()
    first, second = sender.seal(b"0", HINT), sender.seal(b"1", HINT)
    if attack == "replay":
        receiver.open(first)
        bad = first
    elif attack == "skip":
        bad = second
    elif attack == "reflect":
        bad = receiver.seal(b"an ack", HINT)  # an ack sent back to its sender's peer
    elif attack == "flip":
        bad = first[:-1] + bytes([first[-1] ^ 1])
    else:
        bad = TransferCipher("f" * 32, KEY, sending=True).seal(b"0", HINT)
    with pytest.raises(TamperedError):
        receiver.open(bad)


def test_a_transfer_key_of_the_wrong_size_is_refused():
    with pytest.raises(RemoteProtocolError):
        TransferCipher(TID, b"short", sending=False)


@pytest.mark.parametrize("transfer_id", ["../../PWNED", "A" * 32, "x", ""])
def test_a_transfer_id_of_the_wrong_form_is_refused_before_any_use(transfer_id):
    with pytest.raises(RemoteProtocolError):
        TransferCipher(transfer_id, KEY, sending=False)
