"""Property tests for the crypto wrappers: what must hold for every input, not just vectors.

They check that tampering of any kind is refused, that padding hides lengths inside a bucket,
and that nonces never collide, which fixed vectors cannot cover.
"""

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from messenger.crypto.aead import (
    KEY_SIZE,
    NONCE_SIZE,
    TAG_SIZE,
    counter_nonce,
    open_sealed,
    random_bytes,
    seal,
)
from messenger.crypto.errors import AuthenticationError, PaddingError
from messenger.crypto.padding import pad, padded_size, unpad

keys = st.binary(min_size=KEY_SIZE, max_size=KEY_SIZE)
nonces = st.binary(min_size=NONCE_SIZE, max_size=NONCE_SIZE)
messages = st.binary(max_size=2048)
directions = st.integers(min_value=0, max_value=2**32 - 1)
counters = st.integers(min_value=0, max_value=2**64 - 1)

# Bucket sizes written out from the specification, independently of padded_size.
BUCKETS = [256 << i for i in range(9)] + [65536 * k for k in range(2, 5)]

FAST = settings(max_examples=100, deadline=None)
FEW = settings(max_examples=30, deadline=None)


# --- AEAD -------------------------------------------------------------------------------------


@FAST
@given(key=keys, nonce=nonces, plaintext=messages, aad=messages)
def test_seal_open_round_trip(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> None:
    sealed = seal(key, nonce, plaintext, aad)
    assert len(sealed) == len(plaintext) + TAG_SIZE
    assert open_sealed(key, nonce, sealed, aad) == plaintext


@FAST
@given(key=keys, nonce=nonces, plaintext=messages, aad=messages, data=st.data())
def test_any_flipped_bit_in_sealed_is_refused(
    key: bytes, nonce: bytes, plaintext: bytes, aad: bytes, data: st.DataObject
) -> None:
    sealed = bytearray(seal(key, nonce, plaintext, aad))
    bit = data.draw(st.integers(min_value=0, max_value=len(sealed) * 8 - 1), label="bit")
    sealed[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(AuthenticationError):
        open_sealed(key, nonce, bytes(sealed), aad)


@FAST
@given(key=keys, nonce=nonces, plaintext=messages, aad=messages.filter(bool), data=st.data())
def test_any_flipped_bit_in_aad_is_refused(
    key: bytes, nonce: bytes, plaintext: bytes, aad: bytes, data: st.DataObject
) -> None:
    sealed = seal(key, nonce, plaintext, aad)
    bit = data.draw(st.integers(min_value=0, max_value=len(aad) * 8 - 1), label="bit")
    tampered = bytearray(aad)
    tampered[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(AuthenticationError):
        open_sealed(key, nonce, sealed, bytes(tampered))


@FAST
@given(key=keys, nonce=nonces, other=nonces, plaintext=messages)
def test_other_nonce_is_refused(key: bytes, nonce: bytes, other: bytes, plaintext: bytes) -> None:
    assume(nonce != other)
    sealed = seal(key, nonce, plaintext)
    with pytest.raises(AuthenticationError):
        open_sealed(key, other, sealed)


@FAST
@given(key=keys, other=keys, nonce=nonces, plaintext=messages)
def test_other_key_is_refused(key: bytes, other: bytes, nonce: bytes, plaintext: bytes) -> None:
    assume(key != other)
    with pytest.raises(AuthenticationError):
        open_sealed(other, nonce, seal(key, nonce, plaintext))


@FAST
@given(key=keys, nonce=nonces, sealed=st.binary(max_size=TAG_SIZE - 1))
def test_short_input_is_refused(key: bytes, nonce: bytes, sealed: bytes) -> None:
    with pytest.raises(AuthenticationError):
        open_sealed(key, nonce, sealed)


@FAST
@given(key=keys, nonce=nonces, other=nonces, plaintext=messages)
def test_same_plaintext_other_nonce_differs(
    key: bytes, nonce: bytes, other: bytes, plaintext: bytes
) -> None:
    assume(nonce != other)
    assert seal(key, nonce, plaintext) != seal(key, other, plaintext)


@FEW
@given(
    key=st.binary(max_size=64).filter(lambda k: len(k) != KEY_SIZE),
    nonce=st.binary(max_size=32).filter(lambda n: len(n) != NONCE_SIZE),
)
def test_wrong_sizes_raise_value_error(key: bytes, nonce: bytes) -> None:
    good_key, good_nonce = bytes(KEY_SIZE), bytes(NONCE_SIZE)
    for bad_key, bad_nonce in ((key, good_nonce), (good_key, nonce), (key, nonce)):
        with pytest.raises(ValueError):
            seal(bad_key, bad_nonce, b"x")
        with pytest.raises(ValueError):
            open_sealed(bad_key, bad_nonce, bytes(TAG_SIZE + 1))


def test_hi_and_bye_seal_to_equal_length() -> None:
    key, nonce = random_bytes(KEY_SIZE), random_bytes(NONCE_SIZE)
    hi = seal(key, nonce, pad(b"hi"))
    bye = seal(key, counter_nonce(0, 1), pad(b"bye"))
    assert len(hi) == len(bye) == 256 + TAG_SIZE
    assert unpad(open_sealed(key, nonce, hi)) == b"hi"


def test_random_bytes() -> None:
    assert len(random_bytes(32)) == 32
    assert random_bytes(32) != random_bytes(32)
    assert random_bytes(0) == b""
    with pytest.raises(ValueError):
        random_bytes(-1)


# --- counter nonces ---------------------------------------------------------------------------


@FAST
@given(a=st.tuples(directions, counters), b=st.tuples(directions, counters))
def test_counter_nonce_distinct(a: tuple[int, int], b: tuple[int, int]) -> None:
    assume(a != b)
    first, second = counter_nonce(*a), counter_nonce(*b)
    assert len(first) == len(second) == NONCE_SIZE
    assert first != second


@FAST
@given(direction=directions, counter=counters)
def test_counter_nonce_layout(direction: int, counter: int) -> None:
    nonce = counter_nonce(direction, counter)
    assert int.from_bytes(nonce[:4], "big") == direction
    assert int.from_bytes(nonce[4:], "big") == counter


@pytest.mark.parametrize(("direction", "counter"), [(-1, 0), (2**32, 0), (0, -1), (0, 2**64)])
def test_counter_nonce_out_of_range(direction: int, counter: int) -> None:
    with pytest.raises(ValueError):
        counter_nonce(direction, counter)


# --- padding ----------------------------------------------------------------------------------


@FAST
@given(data=st.binary(max_size=5000))
def test_pad_unpad_round_trip(data: bytes) -> None:
    padded = pad(data)
    assert len(padded) == padded_size(len(data))
    assert unpad(padded) == data


@FEW
@given(size=st.integers(min_value=65536, max_value=3 * 65536))
def test_pad_unpad_round_trip_large(size: int) -> None:
    data = b"\xff" * size
    assert unpad(pad(data)) == data


@FAST
@given(index=st.integers(min_value=0, max_value=len(BUCKETS) - 1), data=st.data())
def test_lengths_in_one_bucket_pad_alike(index: int, data: st.DataObject) -> None:
    low = BUCKETS[index - 1] if index else 0
    high = BUCKETS[index] - 1
    lengths = st.integers(min_value=low, max_value=high)
    first, second = data.draw(lengths, label="first"), data.draw(lengths, label="second")
    assert padded_size(first) == padded_size(second) == BUCKETS[index]


@FEW
@given(first=st.integers(0, 2000), second=st.integers(0, 2000))
def test_messages_in_one_bucket_pad_to_same_length(first: int, second: int) -> None:
    assume(padded_size(first) == padded_size(second))
    assert len(pad(b"a" * first)) == len(pad(b"b" * second))


@FAST
@given(n=st.integers(min_value=0, max_value=10**9), m=st.integers(min_value=0, max_value=10**9))
def test_padded_size_monotonic_and_larger(n: int, m: int) -> None:
    assert padded_size(n) > n
    if n <= m:
        assert padded_size(n) <= padded_size(m)


def test_bucket_edges() -> None:
    assert padded_size(0) == 256
    assert padded_size(255) == 256
    assert padded_size(256) == 512
    assert padded_size(65535) == 65536
    assert padded_size(65536) == 2 * 65536
    assert padded_size(2 * 65536) == 3 * 65536
    assert len(pad(b"hi")) == len(pad(b"bye")) == 256


@pytest.mark.parametrize(
    "padded",
    [
        b"",
        bytes(256),  # no marker
        b"x" * 256,  # no marker
        b"hi\x80" + bytes(252),  # 255 bytes: not a bucket size
        b"hi\x80" + bytes(300),  # 303 bytes: not a bucket size
        b"hi\x80" + bytes(509),  # 512 bytes: valid bucket, but "hi" belongs in 256
        b"hi\x81" + bytes(253),  # wrong marker
        b"hi\x80" + bytes(252) + b"\x01",  # junk after the zeros
    ],
    ids=["empty", "zeros", "no-marker", "255", "303", "non-canonical", "bad-marker", "junk"],
)
def test_unpad_refuses_bad_padding(padded: bytes) -> None:
    with pytest.raises(PaddingError):
        unpad(padded)


@FAST
@given(data=st.binary(min_size=256, max_size=256))
def test_unpad_random_256_never_crashes(data: bytes) -> None:
    try:
        result = unpad(data)
    except PaddingError:
        return
    assert pad(result) == data
