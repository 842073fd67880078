"""The public-domain English text the lab learns from, split into training and held out.

``resources/lab/web.txt.xz`` is the World English Bible (public domain; provenance in
``resources/lab/README.md``). Its first 90 % (up to a book boundary) is the *training* text
the English statistics are counted from; the remaining books are *held out*: the
benchmark's passages come from there only, so the attacks are measured on text whose
quadgrams they were not trained on.
"""

from __future__ import annotations

import functools
import lzma
import random

from messenger.crypto.classical.text import normalise
from messenger.resources import resource_path

__all__ = [
    "CORPUS_FILE",
    "HELD_OUT_FRACTION",
    "corpus_text",
    "held_out_passages",
    "held_out_text",
    "training_text",
]

CORPUS_FILE = ("lab", "web.txt.xz")
HELD_OUT_FRACTION = 0.10
_BOOK_BREAK = "\n\n"


@functools.cache
def corpus_text() -> str:
    """The whole corpus (about 5 MB of text; read once, on first use)."""
    return lzma.decompress(resource_path(*CORPUS_FILE).read_bytes()).decode("utf-8")


def _split_at() -> int:
    text = corpus_text()
    cut = text.find(_BOOK_BREAK, int(len(text) * (1 - HELD_OUT_FRACTION)))
    return len(text) if cut < 0 else cut


def training_text() -> str:
    """The books the statistics are counted from."""
    return corpus_text()[: _split_at()]


def held_out_text() -> str:
    """The last books, never used for statistics."""
    return corpus_text()[_split_at() :].strip()


def held_out_passages(length: int, count: int, seed: int = 14) -> list[str]:
    """``count`` different passages of ``length`` letters each (normalised: upper-case
    letters only), from non-overlapping places in the held-out text, chosen by ``seed``."""
    letters = normalise(held_out_text())
    slots = len(letters) // length
    if count > slots:
        raise ValueError(f"the held-out text has only {slots} passages of {length} letters")
    starts = sorted(random.Random(seed).sample(range(slots), count))
    return [letters[slot * length : (slot + 1) * length] for slot in starts]
