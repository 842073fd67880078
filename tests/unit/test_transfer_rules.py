"""File-transfer rules without I/O: what a peer's file name is reduced to, how files are cut
into chunks, which offers are refused, and how many chunks the sender may have in flight."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from messenger.protocol.errors import RemoteProtocolError
from messenger.protocol.transfer import (
    CHUNK_SIZE,
    MAX_CHUNK_SIZE,
    MAX_FILE_SIZE,
    MAX_NAME_BYTES,
    WINDOW,
    SendWindow,
    check_offer,
    chunk_count,
    numbered,
    safe_name,
)

SHA = bytes(range(32))
#: Linux (ext4, btrfs, tmpfs...) refuses a single path component longer than this, in bytes.
NAME_MAX_BYTES = 255
#: Characters that must never survive into a file name on disk.
INVISIBLE_CATEGORIES = {"Cc", "Cf", "Zl", "Zp"}

# -- safe_name: a peer's name becomes a plain base name --------------------------------------
#: A transfer id of the one allowed form: 32 lowercase hex digits.
TID = "0123456789abcdef" * 2


@pytest.mark.parametrize(
    ("offered", "saved"),
    [
        ("report.pdf", "report.pdf"),
        ("holiday photo 1.jpg", "holiday photo 1.jpg"),
        ("../../etc/passwd", "passwd"),
        ("/etc/shadow", "shadow"),
        ("a/b/c/notes.txt", "notes.txt"),
        ("..\\..\\Windows\\System32\\evil.dll", "evil.dll"),
        ("C:\\Users\\bob\\report.pdf", "report.pdf"),
        ("\\\\server\\share\\doc.txt", "doc.txt"),
        ("C:report.pdf", "C_report.pdf"),
        ('what?*<>|".txt', "what______.txt"),
    ],
)
def test_a_name_from_the_peer_is_reduced_to_its_base_name(offered, saved):
    assert safe_name(offered) == saved


@pytest.mark.parametrize(
    ("offered", "saved"),
    [
        ("CON", "_CON"),
        ("con", "_con"),
        ("nul.txt", "_nul.txt"),
        ("COM1", "_COM1"),
        ("com1.tar.gz", "_com1.tar.gz"),
        ("LPT9.log", "_LPT9.log"),
        ("AUX", "_AUX"),
        ("PRN.doc", "_PRN.doc"),
    ],
)
def test_windows_device_names_are_defused_with_a_prefix(offered, saved):
    assert safe_name(offered) == saved


@pytest.mark.parametrize("harmless", ["CONSOLE", "COM0", "LPT10.txt", "icon.png", "nullable.py"])
def test_names_that_only_look_like_device_names_are_kept(harmless):
    assert safe_name(harmless) == harmless


@pytest.mark.parametrize(
    ("offered", "saved"),
    [
        ("a\x1b[31mred\x1b[0m.txt", "a_[31mred_[0m.txt"),
        ("bell\x07.txt", "bell_.txt"),
        ("nul\x00byte.txt", "nul_byte.txt"),
        ("new\nline.txt", "new_line.txt"),
        ("del\x7f.txt", "del_.txt"),
        ("c1\x85control.txt", "c1control.txt"),
    ],
)
def test_control_characters_and_ansi_escapes_do_not_survive(offered, saved):
    assert safe_name(offered) == saved


@pytest.mark.parametrize(
    ("offered", "saved"),
    [
        ("invoice\u202efdp.exe", "invoicefdp.exe"),  # RIGHT-TO-LEFT OVERRIDE
        ("a\u202ab\u202cc.txt", "abc.txt"),  # LRE ... PDF
        ("zero\u200bwidth.txt", "zerowidth.txt"),
        ("\ufeffbom.txt", "bom.txt"),
        ("line\u2028sep\u2029.txt", "linesep.txt"),
    ],
)
def test_bidi_and_other_invisible_format_characters_are_removed(offered, saved):
    assert safe_name(offered) == saved


@pytest.mark.parametrize(
    ("offered", "saved"),
    [
        (".bashrc", "bashrc"),
        ("...hidden", "hidden"),
        ("  .profile  ", "profile"),
        ("trailing.", "trailing"),
    ],
)
def test_leading_dots_are_removed_so_nothing_arrives_hidden(offered, saved):
    assert safe_name(offered) == saved


@pytest.mark.parametrize(
    "nothing", ["", " ", "   ", ".", "..", "...", "/", "../..", "\u202e", "\u200b\ufeff"]
)
def test_a_name_that_reduces_to_nothing_becomes_file(nothing):
    assert safe_name(nothing) == "file"


def test_names_are_normalised_to_nfc():
    assert safe_name("cafe\u0301.txt") == "caf\u00e9.txt"


def test_a_very_long_name_is_cut_to_the_limit_and_keeps_its_extension():
    saved = safe_name("a" * 500 + ".pdf")

    assert len(saved) == MAX_NAME_BYTES == 200
    assert saved.endswith(".pdf")
    assert saved == "a" * (MAX_NAME_BYTES - 4) + ".pdf"


def test_a_very_long_name_without_an_extension_is_simply_cut():
    assert safe_name("b" * 500) == "b" * MAX_NAME_BYTES


def test_a_very_long_extension_is_not_treated_as_one():
    saved = safe_name("x." + "e" * 300)

    assert len(saved) == MAX_NAME_BYTES
    assert saved.startswith("x.")


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=400))
@example("../../etc/passwd")
@example("a" * 1000)
@example("\x1b]0;title\x07")
def test_whatever_the_peer_sends_the_name_is_a_plain_bounded_base_name(name):
    saved = safe_name(name)

    assert saved
    assert "/" not in saved and "\\" not in saved and "\x00" not in saved
    assert not any(unicodedata.category(ch) in INVISIBLE_CATEGORIES for ch in saved), saved
    assert saved not in {".", ".."}
    assert len(saved.encode()) <= MAX_NAME_BYTES


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=". \t\u3000abc", max_size=12))
@example(". . .")
@example(". .. .")
@example(". .bashrc")
def test_no_mix_of_dots_and_spaces_leaves_a_dot_name_or_a_hidden_file(name):
    saved = safe_name(name)

    assert saved not in {".", ".."}, f"{name!r} -> {saved!r}"
    assert not saved.startswith("."), f"{name!r} -> {saved!r}"


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=400))
@example("é" * 300 + ".txt")
@example("日本語のファイル名" * 30 + ".pdf")
def test_a_safe_name_fits_in_one_path_component_on_disk(name):
    saved = safe_name(name)

    assert len(saved.encode("utf-8", "surrogatepass")) <= NAME_MAX_BYTES, len(saved.encode())


# -- numbered: never overwrite ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "attempt", "expected"),
    [
        ("report.pdf", 0, "report.pdf"),
        ("report.pdf", 1, "report (1).pdf"),
        ("report.pdf", 2, "report (2).pdf"),
        ("archive.tar.gz", 3, "archive.tar (3).gz"),
        ("README", 1, "README (1)"),
        ("file", 12, "file (12)"),
    ],
)
def test_numbered_puts_the_attempt_before_the_extension(name, attempt, expected):
    assert numbered(name, attempt) == expected


def test_numbered_names_are_all_different():
    names = [numbered("photo.jpg", attempt) for attempt in range(50)]

    assert len(set(names)) == 50
    assert all(name.endswith(".jpg") for name in names)


# -- chunks ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "chunks"),
    [
        (0, 0),
        (1, 1),
        (CHUNK_SIZE - 1, 1),
        (CHUNK_SIZE, 1),
        (CHUNK_SIZE + 1, 2),
        (3 * CHUNK_SIZE, 3),
        (3 * CHUNK_SIZE + 1, 4),
    ],
)
def test_chunk_count_rounds_up_to_whole_chunks(size, chunks):
    assert chunk_count(size, CHUNK_SIZE) == chunks


def test_every_chunk_is_full_except_a_short_last_one():
    terms = check_offer(TID, "x.bin", 3 * CHUNK_SIZE + 10, SHA, CHUNK_SIZE)

    assert terms.chunks == 4
    assert [terms.expected_length(i) for i in range(4)] == [CHUNK_SIZE] * 3 + [10]


def test_a_file_of_exact_chunks_has_a_full_last_chunk():
    terms = check_offer(TID, "x.bin", 2 * CHUNK_SIZE, SHA, CHUNK_SIZE)

    assert terms.chunks == 2
    assert terms.expected_length(1) == CHUNK_SIZE


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 10**12), st.integers(1, MAX_CHUNK_SIZE))
def test_chunk_lengths_always_add_up_to_the_size(size, chunk_size):
    terms = check_offer(TID, "f", size, SHA, chunk_size)

    full = max(0, terms.chunks - 1) * chunk_size
    last = terms.expected_length(terms.chunks - 1) if terms.chunks else 0
    assert full + last == size
    assert (terms.chunks == 0) == (size == 0)
    assert 0 < last <= chunk_size or size == 0


# -- check_offer: what we refuse to even consider ---------------------------------------------


def test_a_sound_offer_is_accepted_with_its_name_made_safe():
    terms = check_offer(TID, "../x.bin", MAX_FILE_SIZE, SHA, MAX_CHUNK_SIZE)

    assert terms.name == "x.bin"
    assert terms.size == MAX_FILE_SIZE
    assert terms.sha256 == SHA


def test_an_empty_file_may_be_offered():
    assert check_offer(TID, "empty", 0, SHA, CHUNK_SIZE).chunks == 0


@pytest.mark.parametrize(
    ("transfer_id", "size", "sha256", "chunk_size", "why"),
    [
        ("", 10, SHA, CHUNK_SIZE, "wrong form"),
        ("x" * 65, 10, SHA, CHUNK_SIZE, "wrong form"),
        ("../../PWNED", 10, SHA, CHUNK_SIZE, "wrong form"),
        ("A" * 32, 10, SHA, CHUNK_SIZE, "wrong form"),
        ("a" * 31, 10, SHA, CHUNK_SIZE, "wrong form"),
        ("a" * 31 + "/", 10, SHA, CHUNK_SIZE, "wrong form"),
        ("a" * 32 + "\n", 10, SHA, CHUNK_SIZE, "wrong form"),
        (TID, -1, SHA, CHUNK_SIZE, "impossible size"),
        (TID, MAX_FILE_SIZE + 1, SHA, CHUNK_SIZE, "impossible size"),
        (TID, 10, SHA[:31], CHUNK_SIZE, "SHA-256"),
        (TID, 10, SHA + b"!", CHUNK_SIZE, "SHA-256"),
        (TID, 10, b"", CHUNK_SIZE, "SHA-256"),
        (TID, 10, SHA, 0, "chunk size"),
        (TID, 10, SHA, -5, "chunk size"),
        (TID, 10, SHA, MAX_CHUNK_SIZE + 1, "chunk size"),
    ],
)
def test_a_malformed_offer_is_a_protocol_error(transfer_id, size, sha256, chunk_size, why):
    with pytest.raises(RemoteProtocolError, match=why):
        check_offer(transfer_id, "f.bin", size, sha256, chunk_size)


# -- SendWindow: at most `window` chunks in flight ---------------------------------------------


def test_a_fresh_window_lets_exactly_window_chunks_out_before_an_ack():
    window = SendWindow(total=100)

    sent = []
    while window.may_send():
        sent.append(window.sent())

    assert sent == list(range(WINDOW)) == list(range(8))
    window.ack(3)
    assert [window.sent() for _ in range(3) if window.may_send()] == [8, 9, 10]
    assert not window.may_send()


def test_the_window_stops_at_the_end_of_the_file():
    window = SendWindow(total=3)

    while window.may_send():
        window.sent()

    assert window.next_to_send == 3 and window.finished_sending
    assert not window.all_acked
    window.ack(3)
    assert window.all_acked


def test_an_empty_file_is_finished_and_acked_at_once():
    window = SendWindow(total=0)

    assert window.finished_sending and window.all_acked and not window.may_send()


def test_an_ack_for_chunks_never_sent_is_a_protocol_error():
    window = SendWindow(total=10)
    window.sent()
    window.sent()

    with pytest.raises(RemoteProtocolError):
        window.ack(3)
    window.ack(2)
    assert window.acked == 2


def test_an_ack_that_goes_backwards_is_a_protocol_error():
    window = SendWindow(total=10)
    for _ in range(4):
        window.sent()
    window.ack(3)

    with pytest.raises(RemoteProtocolError):
        window.ack(2)


def test_a_resumed_window_starts_at_the_first_missing_chunk():
    window = SendWindow(total=20, start=12)

    sent = []
    while window.may_send():
        sent.append(window.sent())

    assert sent == list(range(12, 20))
    with pytest.raises(RemoteProtocolError):
        window.ack(11)
    window.ack(20)
    assert window.all_acked


def test_resuming_at_the_very_end_sends_nothing():
    window = SendWindow(total=5, start=5)

    assert window.finished_sending and window.all_acked and not window.may_send()


@settings(max_examples=300, deadline=None)
@given(
    total=st.integers(0, 60),
    start_fraction=st.floats(0, 1),
    size=st.integers(1, 12),
    acks=st.lists(st.floats(0, 1), max_size=200),
)
def test_whatever_the_acks_never_more_than_window_chunks_are_unacked(
    total, start_fraction, size, acks
):
    start = int(total * start_fraction)
    window = SendWindow(total, start, window=size)
    for fraction in acks:
        while window.may_send():
            window.sent()
            assert window.next_to_send - window.acked <= size
        window.ack(window.acked + round((window.next_to_send - window.acked) * fraction))
    while not window.all_acked:
        while window.may_send():
            window.sent()
        window.ack(window.next_to_send)
    assert window.next_to_send == total
