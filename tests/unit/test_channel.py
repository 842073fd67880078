"""SecureChannel: sealed records between two peers, with sequence numbers, epochs and rotation.

Every record a relay could replay, reorder, reflect, truncate or flip must be refused; an
honest record must open exactly once, in order, across any number of rotations. These are
password sessions (no X25519 ratchet): rotation mixes in nothing, so the next key is
``next_epoch_key(old, epoch)`` and the test can check it from outside.
"""

import os

import pytest

from messenger.crypto.aead import counter_nonce, open_sealed
from messenger.crypto.errors import AuthenticationError
from messenger.crypto.padding import unpad
from messenger.protocol.channel import (
    RECORD_HEADER,
    RECORD_HEADER_SIZE,
    ROTATE_HEADER_SIZE,
    Direction,
    SecureChannel,
    next_epoch_key,
)
from messenger.protocol.errors import LocalProtocolError, ReplayedError, TamperedError
from messenger.protocol.packets import PacketKind

C2J = bytes(range(32))
J2C = bytes(range(32, 64))


def creator_side(session="7", c2j=C2J, j2c=J2C):
    return SecureChannel(session, c2j, j2c, Direction.CREATOR_TO_JOINER)


def joiner_side(session="7", c2j=C2J, j2c=J2C):
    return SecureChannel(session, j2c, c2j, Direction.JOINER_TO_CREATOR)


def header_of(record):
    _version, _kind, epoch, seq = RECORD_HEADER.unpack_from(record)
    return epoch, seq


def kind_of(record):
    return PacketKind(record[1])


@pytest.fixture
def pair():
    c2j, j2c = os.urandom(32), os.urandom(32)
    return creator_side(c2j=c2j, j2c=j2c), joiner_side(c2j=c2j, j2c=j2c)


# --- honest traffic ---------------------------------------------------------------------------


def test_records_open_on_the_other_side_in_both_directions(pair):
    creator, joiner = pair
    assert joiner.open(creator.seal(b"hello bob")) == b"hello bob"
    assert creator.open(joiner.seal(b"hello alice")) == b"hello alice"
    assert joiner.open(creator.seal(b"")) == b""


def test_sequence_numbers_advance_with_each_record(pair):
    creator, joiner = pair
    records = [creator.seal(f"message {n}".encode()) for n in range(3)]
    assert [header_of(r) for r in records] == [(0, 0), (0, 1), (0, 2)]
    assert creator.sent_count == 3
    assert [joiner.open(r) for r in records] == [b"message 0", b"message 1", b"message 2"]


def test_hi_and_bye_give_records_of_equal_length(pair):
    creator, _ = pair
    assert len(creator.seal(b"hi")) == len(creator.seal(b"bye"))
    assert len(creator.seal(b"x" * 200)) == len(creator.seal(b""))


def test_the_same_text_twice_gives_different_ciphertexts(pair):
    creator, _ = pair
    first, second = creator.seal(b"same"), creator.seal(b"same")
    assert first[RECORD_HEADER_SIZE:] != second[RECORD_HEADER_SIZE:]


def test_keys_must_be_32_bytes():
    with pytest.raises(LocalProtocolError):
        SecureChannel("7", bytes(16), bytes(32), Direction.CREATOR_TO_JOINER)
    with pytest.raises(LocalProtocolError):
        SecureChannel("7", bytes(32), bytes(33), Direction.CREATOR_TO_JOINER)


# --- replay, reordering, reflection, another session ------------------------------------------


def test_a_replayed_record_is_refused(pair):
    creator, joiner = pair
    record = creator.seal(b"pay bob 10")
    joiner.open(record)
    with pytest.raises(ReplayedError):
        joiner.open(record)


def test_reordered_records_are_refused(pair):
    creator, joiner = pair
    first, second = creator.seal(b"one"), creator.seal(b"two")
    with pytest.raises(ReplayedError):
        joiner.open(second)
    assert joiner.open(first) == b"one"  # a refused record changed nothing


def test_a_record_reflected_back_to_its_sender_is_tampered(pair):
    creator, _ = pair
    with pytest.raises(TamperedError):
        creator.open(creator.seal(b"echo"))


def test_a_record_sealed_for_session_7_does_not_open_in_session_8():
    record = creator_side(session="7").seal(b"for session 7")
    with pytest.raises(TamperedError):
        joiner_side(session="8").open(record)
    assert joiner_side(session="7").open(record) == b"for session 7"


def test_a_record_under_a_different_key_is_tampered():
    record = creator_side(c2j=os.urandom(32)).seal(b"stranger")
    with pytest.raises(TamperedError):
        joiner_side().open(record)


# --- tampering --------------------------------------------------------------------------------


def test_flipping_a_bit_in_any_byte_of_a_record_is_tampering():
    record = creator_side().seal(b"hi")
    assert len(record) == RECORD_HEADER_SIZE + 256 + 16
    # Every bit of the header (version, kind, epoch, seq); one bit of every later byte.
    flips = [(index, bit) for index in range(RECORD_HEADER_SIZE) for bit in range(8)]
    flips += [(index, index % 8) for index in range(RECORD_HEADER_SIZE, len(record))]
    for index, bit in flips:
        flipped = bytearray(record)
        flipped[index] ^= 1 << bit
        receiver = joiner_side()
        with pytest.raises(TamperedError):
            receiver.open(bytes(flipped))
        assert receiver.recv_epoch == 0
    assert joiner_side().open(record) == b"hi"


def test_flipping_any_byte_of_a_later_record_never_yields_a_payload():
    sender, receiver = creator_side(), joiner_side()
    receiver.open(sender.seal(b"first"))
    receiver.open(sender.rotate_send())
    receiver.open(sender.seal(b"second"))
    record = sender.seal(b"third")  # epoch 1, seq 3: epoch bits can now go down as well as up
    for index in range(len(record)):
        flipped = bytearray(record)
        flipped[index] ^= 0xFF
        with pytest.raises((TamperedError, ReplayedError)):
            receiver.open(bytes(flipped))
    assert receiver.open(record) == b"third"


def test_every_truncation_of_a_record_is_tampering():
    record = creator_side().seal(b"cut me")
    for length in range(len(record)):
        with pytest.raises(TamperedError):
            joiner_side().open(record[:length])


def test_a_record_with_bytes_appended_is_tampering():
    record = creator_side().seal(b"extended")
    with pytest.raises(TamperedError):
        joiner_side().open(record + b"\x00")


# --- rotation ---------------------------------------------------------------------------------


def test_rotating_sends_a_rotate_record_that_moves_the_receiver_on(pair):
    creator, joiner = pair
    assert joiner.open(creator.seal(b"before")) == b"before"
    rotate = creator.rotate_send()
    assert kind_of(rotate) is PacketKind.ROTATE
    assert header_of(rotate) == (1, 1)
    assert creator.send_epoch == 1
    assert joiner.recv_epoch == 0
    assert joiner.open(rotate) is None  # nothing to show the person
    assert joiner.recv_epoch == 1
    record = creator.seal(b"after")
    assert header_of(record) == (1, 2)
    assert joiner.open(record) == b"after"


def test_a_rotate_record_is_as_long_as_any_short_record_plus_its_share(pair):
    creator, _ = pair
    assert len(creator.rotate_send()) == ROTATE_HEADER_SIZE + 256 + 16


def test_the_receiver_follows_five_rotations_in_a_row(pair):
    creator, joiner = pair
    for epoch in range(1, 6):
        assert joiner.open(creator.rotate_send()) is None
        assert joiner.recv_epoch == epoch
    assert joiner.open(creator.seal(b"five epochs on")) == b"five epochs on"


def test_rotation_resets_the_per_epoch_counters_but_not_the_sequence(pair):
    creator, _ = pair
    creator.seal(b"12345")
    assert (creator.records_in_epoch, creator.bytes_in_epoch) == (1, 5)
    creator.rotate_send()
    assert (creator.records_in_epoch, creator.bytes_in_epoch) == (0, 0)
    assert header_of(creator.seal(b"x")) == (1, 2)
    assert creator.sent_count == 3


def test_a_record_from_an_epoch_older_than_the_current_one_is_a_replay(pair):
    creator, joiner = pair
    old = creator.seal(b"epoch 0")
    joiner.open(old)
    joiner.open(creator.rotate_send())
    joiner.open(creator.seal(b"epoch 1"))
    with pytest.raises(ReplayedError):
        joiner.open(old)


def test_a_replayed_rotate_record_is_a_replay(pair):
    creator, joiner = pair
    rotate = creator.rotate_send()
    joiner.open(rotate)
    with pytest.raises(ReplayedError):
        joiner.open(rotate)
    assert joiner.recv_epoch == 1


def test_a_record_that_overtakes_its_rotate_record_is_refused_and_commits_nothing(pair):
    creator, joiner = pair
    rotate = creator.rotate_send()
    early = creator.seal(b"sent in epoch 1")
    with pytest.raises(TamperedError):
        joiner.open(early)
    assert joiner.recv_epoch == 0
    assert joiner.open(rotate) is None
    assert joiner.open(early) == b"sent in epoch 1"


def test_a_rotate_record_that_skips_an_epoch_is_refused(pair):
    creator, joiner = pair
    creator.rotate_send()  # dropped on the way
    second = creator.rotate_send()
    with pytest.raises(TamperedError):
        joiner.open(second)
    assert joiner.recv_epoch == 0


def test_a_rotate_record_that_overtakes_a_record_is_refused_and_commits_nothing(pair):
    creator, joiner = pair
    record = creator.seal(b"epoch 0, seq 0")
    rotate = creator.rotate_send()
    with pytest.raises(ReplayedError):
        joiner.open(rotate)  # authentic, but seq 0 has not arrived yet
    assert joiner.recv_epoch == 0
    assert joiner.open(record) == b"epoch 0, seq 0"
    assert joiner.open(rotate) is None


def test_a_forged_future_epoch_does_not_move_the_receiver_on(pair):
    creator, joiner = pair
    genuine = creator.seal(b"genuine")
    for claimed in (1, 3, 2**32 - 1):
        forged = bytearray(genuine)
        forged[2:6] = claimed.to_bytes(4, "big")
        with pytest.raises(TamperedError):
            joiner.open(bytes(forged))
        assert joiner.recv_epoch == 0
    assert joiner.open(genuine) == b"genuine"  # the epoch-0 key was not replaced


def test_a_forged_rotate_record_does_not_move_the_receiver_on(pair):
    creator, joiner = pair
    genuine = creator.seal(b"genuine")
    forged = bytearray(genuine)
    forged[1] = PacketKind.ROTATE
    forged[2:6] = (1).to_bytes(4, "big")
    forged += bytes(36)  # room for ref and share
    with pytest.raises(TamperedError):
        joiner.open(bytes(forged))
    assert joiner.recv_epoch == 0
    assert joiner.open(genuine) == b"genuine"


def test_flipping_a_bit_in_any_byte_of_a_rotate_record_is_refused():
    rotate = creator_side().rotate_send()
    # Every byte of the header (epoch, seq, ref, share); every fifth byte after it.
    positions = [*range(ROTATE_HEADER_SIZE), *range(ROTATE_HEADER_SIZE, len(rotate), 5)]
    for index in positions:
        flipped = bytearray(rotate)
        flipped[index] ^= 1 << (index % 8)
        receiver = joiner_side()
        with pytest.raises((TamperedError, ReplayedError)):
            receiver.open(bytes(flipped))
        assert receiver.recv_epoch == 0
    assert joiner_side().open(rotate) is None


def test_every_truncation_of_a_rotate_record_is_tampering():
    rotate = creator_side().rotate_send()
    # Every cut inside the header, then every 16 bytes, then every cut into the tag.
    lengths = {*range(ROTATE_HEADER_SIZE + 2), *range(0, len(rotate), 16)}
    lengths |= set(range(len(rotate) - 17, len(rotate)))
    for length in sorted(lengths):
        receiver = joiner_side()
        with pytest.raises(TamperedError):
            receiver.open(rotate[:length])
        assert receiver.recv_epoch == 0


def test_a_rotated_record_is_sealed_under_the_next_epoch_key_and_not_the_old_one():
    creator = creator_side()
    creator.seal(b"epoch 0")
    creator.rotate_send()
    record = creator.seal(b"epoch 1")
    epoch, seq = header_of(record)
    assert epoch == 1
    header, sealed = record[:RECORD_HEADER_SIZE], record[RECORD_HEADER_SIZE:]
    nonce = counter_nonce(Direction.CREATOR_TO_JOINER, seq)
    aad = header + b"7"
    with pytest.raises(AuthenticationError):
        open_sealed(C2J, nonce, sealed, aad)
    assert unpad(open_sealed(next_epoch_key(C2J, 1), nonce, sealed, aad)) == b"epoch 1"


# --- closing ----------------------------------------------------------------------------------


def test_close_wipes_both_keys(pair):
    creator, _ = pair
    send_key, recv_key = creator._send.key, creator._recv.key
    assert any(send_key) and any(recv_key)
    creator.close()
    assert send_key == bytearray(32)
    assert recv_key == bytearray(32)


def test_the_channel_keeps_no_plain_bytes_copy_of_the_constructor_keys():
    channel = creator_side()
    assert (channel.send_key, channel.recv_key) == (b"", b"")


def test_a_closed_channel_refuses_to_seal(pair):
    creator, _ = pair
    creator.close()
    with pytest.raises(LocalProtocolError):
        creator.seal(b"after close")


def test_a_channels_repr_does_not_show_its_keys():
    text = repr(creator_side())
    for key in (C2J, J2C):
        assert key.hex() not in text
        assert repr(key)[2:-1] not in text
        assert repr(bytearray(key)) not in text
