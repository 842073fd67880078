"""Length-prefixed framing: what survives a TCP stream, and what a hostile length costs us."""

import struct

import pytest

from messenger.protocol.errors import FrameTooLargeError
from messenger.protocol.framing import LENGTH_SIZE, MAX_FRAME_BODY, FrameDecoder, encode_frame


def test_a_frame_is_its_big_endian_length_then_the_body():
    assert encode_frame(b"hello") == b"\x00\x00\x00\x05hello"


def test_an_encoded_frame_decodes_to_the_same_body():
    decoder = FrameDecoder()
    decoder.receive_data(encode_frame(b"hello, bob"))
    assert decoder.frames() == [b"hello, bob"]
    assert decoder.buffered == 0


def test_a_zero_length_frame_is_an_empty_body():
    decoder = FrameDecoder()
    decoder.receive_data(encode_frame(b""))
    assert decoder.next_frame() == b""
    assert decoder.next_frame() is None


def test_frames_fed_one_byte_at_a_time_come_out_whole_and_in_order():
    bodies = [b"first", b"", b"third \x00\xff frame"]
    stream = b"".join(encode_frame(body) for body in bodies)
    decoder = FrameDecoder()
    out = []
    for index in range(len(stream)):
        decoder.receive_data(stream[index : index + 1])
        out += decoder.frames()
    assert out == bodies
    assert decoder.buffered == 0


def test_many_frames_in_one_chunk_all_come_out():
    bodies = [bytes([n]) * n for n in range(50)]
    decoder = FrameDecoder()
    decoder.receive_data(b"".join(encode_frame(body) for body in bodies))
    assert decoder.frames() == bodies


def test_next_frame_waits_for_the_rest_of_the_body():
    decoder = FrameDecoder()
    frame = encode_frame(b"0123456789")
    decoder.receive_data(frame[:-1])
    assert decoder.next_frame() is None
    decoder.receive_data(frame[-1:])
    assert decoder.next_frame() == b"0123456789"


def test_an_oversize_length_prefix_is_refused_before_any_body_arrives():
    decoder = FrameDecoder()
    decoder.receive_data(struct.pack(">I", MAX_FRAME_BODY + 1))  # the header only
    with pytest.raises(FrameTooLargeError):
        decoder.next_frame()


def test_a_length_prefix_at_the_cap_is_accepted_and_waits_for_the_body():
    decoder = FrameDecoder()
    decoder.receive_data(struct.pack(">I", MAX_FRAME_BODY))
    assert decoder.next_frame() is None


def test_a_huge_announced_length_is_refused_from_four_bytes():
    decoder = FrameDecoder()
    decoder.receive_data(b"\xff\xff\xff\xff")
    with pytest.raises(FrameTooLargeError):
        decoder.frames()


def test_a_decoder_with_a_smaller_cap_enforces_it():
    decoder = FrameDecoder(max_body=8)
    decoder.receive_data(encode_frame(b"12345678"))
    assert decoder.frames() == [b"12345678"]
    decoder.receive_data(struct.pack(">I", 9))
    with pytest.raises(FrameTooLargeError):
        decoder.next_frame()


def test_encode_frame_refuses_a_body_the_peer_would_reject():
    with pytest.raises(FrameTooLargeError):
        encode_frame(bytes(MAX_FRAME_BODY + 1))
    with pytest.raises(FrameTooLargeError):
        encode_frame(b"123456789", max_body=8)
    assert encode_frame(b"12345678", max_body=8)[LENGTH_SIZE:] == b"12345678"


def test_buffered_reports_a_truncated_tail():
    decoder = FrameDecoder()
    second = encode_frame(b"cut short")
    decoder.receive_data(encode_frame(b"whole") + second[:7])
    assert decoder.frames() == [b"whole"]
    assert decoder.buffered == 7


def test_buffered_counts_a_partial_length_prefix():
    decoder = FrameDecoder()
    decoder.receive_data(b"\x00\x00")
    assert decoder.next_frame() is None
    assert decoder.buffered == 2
