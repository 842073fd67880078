"""Length-hiding padding, applied to plaintext before it is sealed.

AES-GCM ciphertext is exactly as long as its plaintext, so without padding the relay (or anyone
watching) learns each message's length. Messages are padded ISO/IEC 7816-4 style: the data,
one 0x80 marker byte, then zero bytes up to the bucket size. The buckets for n data bytes
(n + 1 bytes including the marker) are:

* 256 bytes for anything whose n + 1 fits in 256;
* otherwise the next power of two, up to 65536;
* above 65536, the next multiple of 65536.

Signal pads to 80-byte blocks; ours are coarser, so typical chat messages all look the same
("hi" and a 200-character paragraph are both 256 bytes), while large file chunks waste at most
64 KiB. An observer learns only the bucket. Unpadding runs only on data AEAD has already
authenticated, so its error path is no padding oracle.
"""

from messenger.crypto.errors import PaddingError

MIN_BUCKET = 256
LARGE_STEP = 65536
_MARKER = 0x80


def padded_size(n: int) -> int:
    """Return the bucket size for n data bytes, so lengths leak only the bucket."""
    if n < 0:
        raise ValueError("data length cannot be negative")
    needed = n + 1
    if needed <= MIN_BUCKET:
        return MIN_BUCKET
    if needed <= LARGE_STEP:
        return 1 << (needed - 1).bit_length()
    return -(-needed // LARGE_STEP) * LARGE_STEP


def _is_bucket(size: int) -> bool:
    """Tell whether size is one of the bucket sizes, so unpad refuses foreign lengths."""
    if size < MIN_BUCKET:
        return False
    if size <= LARGE_STEP:
        return size & (size - 1) == 0
    return size % LARGE_STEP == 0


def pad(data: bytes) -> bytes:
    """Append the 0x80 marker and zeros up to the bucket size, hiding the exact length."""
    total = padded_size(len(data))
    return data + bytes([_MARKER]) + bytes(total - len(data) - 1)


def unpad(padded: bytes) -> bytes:
    """Strip padding made by pad, refusing anything pad could not have produced.

    Only the canonical form is accepted (right bucket for the data length), so each message
    has exactly one padded encoding.
    """
    if not _is_bucket(len(padded)):
        raise PaddingError("padded length is not a bucket size")
    stripped = padded.rstrip(b"\x00")
    if not stripped or stripped[-1] != _MARKER:
        raise PaddingError("padding marker missing")
    data = stripped[:-1]
    if padded_size(len(data)) != len(padded):
        raise PaddingError("padding is longer than its bucket")
    return data
