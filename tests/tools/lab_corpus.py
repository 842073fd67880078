"""Regenerate the cipher lab's corpus and English statistics (resources/lab/).

    python -m tests.tools.lab_corpus extract sword-text-web_426.0-1_all.deb
    python -m tests.tools.lab_corpus stats

``extract`` turns Debian's ``sword-text-web`` package (the World English Bible, public
domain; ``apt-get download sword-text-web``) into plain text: footnotes and markup dropped,
one book per paragraph block, written xz-compressed to ``resources/lab/web.txt.xz``.
``stats`` counts letters and quadgrams in the corpus's *training* part only (the held-out
tail is kept for the benchmark) and writes ``resources/lab/english-ngrams.txt.gz``. Both
outputs are byte-for-byte reproducible from the same input with the same Python.
"""

from __future__ import annotations

import argparse
import gzip
import html
import io
import lzma
import re
import struct
import subprocess
import sys
import tarfile
import zlib
from pathlib import Path

from messenger.crypto.classical.corpus import CORPUS_FILE, training_text
from messenger.crypto.classical.stats import NGRAMS_FILE, count_ngrams, format_ngrams
from messenger.resources import resource_path

MODULE_DIR = "usr/share/sword/modules/texts/ztext/engWEB2015eb"
_NOTE = re.compile(r"<note\b.*?</note>", re.DOTALL)
_BOOK = re.compile(r'<div\b[^>]*\btype="book"[^>]*/?>')
_TITLE = re.compile(r"<title\b.*?</title>", re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
_SPACES = re.compile(r"[ \t\r\n]+")


def _data_tar(deb: Path) -> tarfile.TarFile:
    """The data member of a .deb (an ar archive), read with ``ar`` from binutils."""
    listing = subprocess.run(["ar", "t", str(deb)], capture_output=True, text=True, check=True)
    member = next(name for name in listing.stdout.split() if name.startswith("data.tar"))
    data = subprocess.run(["ar", "p", str(deb), member], capture_output=True, check=True).stdout
    return tarfile.open(fileobj=io.BytesIO(data))


def _testament(tar: tarfile.TarFile, name: str) -> str:
    """One SWORD zText testament: a block index (.bzs: offset, size, unpacked size, each a
    little-endian uint32) over zlib blocks (.bzz), decompressed and joined."""

    def read(suffix: str) -> bytes:
        member = tar.extractfile(f"./{MODULE_DIR}/{name}.{suffix}")
        assert member is not None
        return member.read()

    index, blocks = read("bzs"), read("bzz")
    parts = []
    for at in range(0, len(index), 12):
        offset, size, _unpacked = struct.unpack("<III", index[at : at + 12])
        parts.append(zlib.decompress(blocks[offset : offset + size]))
    return b"".join(parts).decode("utf-8")


def osis_to_text(osis: str) -> str:
    """Plain text from OSIS markup: footnotes and headings go, each book starts a paragraph."""
    osis = _NOTE.sub(" ", osis)
    osis = _TITLE.sub(" ", osis)
    osis = _BOOK.sub("\n\n", osis)
    books = []
    for chunk in osis.split("\n\n"):
        text = _SPACES.sub(" ", html.unescape(_TAG.sub(" ", chunk))).strip()
        text = re.sub(r" ([,.;:!?’”)])", r"\1", text)
        text = re.sub(r"([“‘(]) ", r"\1", text)
        if text:
            books.append(text)
    return "\n\n".join(books) + "\n"


def extract(deb: Path) -> None:
    with _data_tar(deb) as tar:
        text = osis_to_text(_testament(tar, "ot") + _testament(tar, "nt"))
    out = resource_path(*CORPUS_FILE)
    out.write_bytes(lzma.compress(text.encode("utf-8"), preset=9 | lzma.PRESET_EXTREME))
    print(f"{out}: {len(text):,} characters")


def stats() -> None:
    letters, quadgrams = count_ngrams(training_text())
    out = resource_path(*NGRAMS_FILE)
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as gz:
        gz.write(format_ngrams(letters, quadgrams).encode("ascii"))
    out.write_bytes(buffer.getvalue())
    print(f"{out}: {sum(letters.values()):,} letters, {len(quadgrams):,} distinct quadgrams")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.tools.lab_corpus")
    commands = parser.add_subparsers(dest="command", required=True)
    extract_cmd = commands.add_parser("extract", help="build web.txt.xz from the Debian package")
    extract_cmd.add_argument("deb", type=Path, help="sword-text-web_*.deb")
    commands.add_parser("stats", help="rebuild english-ngrams.txt.gz from the corpus")
    args = parser.parse_args(argv)
    if args.command == "extract":
        extract(args.deb)
    else:
        stats()
    return 0


if __name__ == "__main__":
    sys.exit(main())
