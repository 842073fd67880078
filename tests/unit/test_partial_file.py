"""The receiver's partial file stays inside its folder whatever is planted there, and
leaves no empty partial folder behind."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from messenger.partial_file import PARTIAL_DIR, PartialFile
from messenger.protocol.transfer import OfferTerms

DATA = b"the whole file" * 10
TERMS = OfferTerms("0" * 32, "report.txt", len(DATA), hashlib.sha256(DATA).digest(), 1 << 20)


def test_a_symlink_planted_where_the_partial_file_goes_is_not_followed(tmp_path: Path):
    folder, target = tmp_path / "inbox", tmp_path / "victim.txt"
    target.write_bytes(b"precious")
    partial = PartialFile(folder, TERMS)
    folder.mkdir()
    (folder / PARTIAL_DIR).mkdir()
    partial.path.symlink_to(target)

    with pytest.raises(OSError):
        partial.open()
    assert target.read_bytes() == b"precious"


def test_a_symlinked_resume_record_is_neither_read_nor_written(tmp_path: Path):
    folder, target = tmp_path / "inbox", tmp_path / "elsewhere.json"
    target.write_bytes(b'{"size": 140, "chunk_size": 1048576, "next": 1}')
    partial = PartialFile(folder, TERMS)
    (folder / PARTIAL_DIR).mkdir(parents=True)
    partial.state_path.symlink_to(target)

    assert partial.open() == 0  # the planted record vouches for nothing
    partial.save_state(1)
    assert target.read_bytes() == b'{"size": 140, "chunk_size": 1048576, "next": 1}'
    partial.discard()


def test_a_partial_folder_that_is_a_symlink_is_refused(tmp_path: Path):
    folder, elsewhere = tmp_path / "inbox", tmp_path / "elsewhere"
    folder.mkdir()
    elsewhere.mkdir()
    (folder / PARTIAL_DIR).symlink_to(elsewhere)

    with pytest.raises(OSError, match="not a plain folder"):
        PartialFile(folder, TERMS).open()
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize("finish", ["completed", "discarded"])
def test_no_empty_partial_folder_is_left_behind(tmp_path: Path, finish: str):
    folder = tmp_path / "inbox"
    partial = PartialFile(folder, TERMS)
    partial.open()
    partial.append(DATA)
    if finish == "completed":
        assert partial.matches_offer()
        final = partial.move_into_place()
        assert final.parent == folder and final.read_bytes() == DATA
    else:
        partial.discard()
    assert not (folder / PARTIAL_DIR).exists()


def test_a_second_copy_of_the_same_file_gets_a_partial_name_not_taken_from_the_peer(
    tmp_path: Path,
):
    first = PartialFile(tmp_path, TERMS)
    second = PartialFile(tmp_path, TERMS, taken=[first.path])
    assert second.path != first.path
    assert second.path.parent == first.path.parent == tmp_path / PARTIAL_DIR
    assert TERMS.id not in second.path.name
