"""English statistics for the attacks: letter frequencies and quadgram log-probabilities.

Counted from the corpus's training part by ``python -m tests.tools.lab_corpus stats`` into
``resources/lab/english-ngrams.txt.gz``: one ``NGRAM COUNT`` line per letter (26 lines) and
per quadgram seen, sorted. Turning counts into log-probabilities happens here, on first use
(about 0.1 s), so the file stays plain counts anyone can check.
"""

from __future__ import annotations

import functools
import gzip
import itertools
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from messenger.crypto.classical.text import ALPHABET, normalise
from messenger.resources import resource_path

__all__ = [
    "NGRAMS_FILE",
    "EnglishStats",
    "chi_squared",
    "count_ngrams",
    "english",
    "format_ngrams",
    "index_of_coincidence",
    "letter_counts",
    "parse_ngrams",
]

NGRAMS_FILE = ("lab", "english-ngrams.txt.gz")
#: English text's index of coincidence is about 0.066; random letters give 1/26 = 0.038.
ENGLISH_IOC = 0.066
RANDOM_IOC = 1 / 26


def count_ngrams(text: str) -> tuple[Counter[str], Counter[str]]:
    """Letter and quadgram counts of ``text``'s normalised letters. Quadgrams run across
    word breaks, as in ciphertext that has dropped its spaces."""
    letters = normalise(text)
    quadgrams = Counter(letters[i : i + 4] for i in range(len(letters) - 3))
    return Counter(letters), quadgrams


def format_ngrams(letters: Counter[str], quadgrams: Counter[str]) -> str:
    lines = [f"{letter} {letters[letter]}" for letter in ALPHABET]
    lines += [f"{gram} {count}" for gram, count in sorted(quadgrams.items())]
    return "\n".join(lines) + "\n"


def parse_ngrams(text: str) -> tuple[Counter[str], Counter[str]]:
    letters: Counter[str] = Counter()
    quadgrams: Counter[str] = Counter()
    for line in text.splitlines():
        gram, count = line.split()
        (letters if len(gram) == 1 else quadgrams)[gram] = int(count)
    return letters, quadgrams


@functools.cache
def _slices(length: int) -> list[slice]:
    return [slice(i, i + 4) for i in range(length - 3)]


@dataclass(frozen=True)
class EnglishStats:
    """What English looks like to the attacks."""

    #: Share of each letter A..Z in English text (sums to 1).
    letter_freq: tuple[float, ...]
    #: log10 probability of each quadgram seen, keyed by its upper-case ASCII bytes.
    quadgrams: dict[bytes, float]
    #: log10 probability given to a quadgram never seen (a tenth of one occurrence).
    floor: float
    #: Mean quadgram log10 probability of the training text itself: what English scores.
    typical: float

    @classmethod
    def from_counts(cls, letters: Counter[str], quadgrams: Counter[str]) -> EnglishStats:
        total_letters = sum(letters.values())
        total = sum(quadgrams.values())
        logs = {gram.encode("ascii"): math.log10(n / total) for gram, n in quadgrams.items()}
        return cls(
            letter_freq=tuple(letters[letter] / total_letters for letter in ALPHABET),
            quadgrams=logs,
            floor=math.log10(0.1 / total),
            typical=sum(quadgrams[g.decode()] * logs[g] for g in logs) / total,
        )

    def score(self, letters: bytes) -> float:
        """Sum of quadgram log-probabilities of upper-case ASCII ``letters``: the higher,
        the more English. The loop runs in C (map over precomputed slices), ~0.2 µs a
        quadgram, which is what lets the hill climbers try tens of thousands of keys."""
        return sum(
            map(
                self.quadgrams.get,
                map(letters.__getitem__, _slices(len(letters))),
                itertools.repeat(self.floor),
            )
        )

    def fitness(self, letters: bytes) -> float:
        """``score`` per quadgram, comparable across lengths (English text is near -4.3,
        random letters near -6)."""
        return self.score(letters) / max(1, len(letters) - 3)


def letter_counts(letters: bytes) -> list[int]:
    """How often each of A..Z occurs in upper-case ASCII ``letters``."""
    return [letters.count(code) for code in range(65, 91)]


def chi_squared(counts: Sequence[int], expected_freq: Sequence[float]) -> float:
    """Pearson's chi-squared of observed letter ``counts`` against English: small means
    English-like."""
    total = sum(counts)
    if total == 0:
        return 0.0
    return sum(
        (observed - total * freq) ** 2 / (total * freq)
        for observed, freq in zip(counts, expected_freq, strict=True)
    )


def index_of_coincidence(letters: bytes) -> float:
    """The chance that two letters drawn from ``letters`` are the same letter."""
    n = len(letters)
    if n < 2:
        return 0.0
    return sum(c * (c - 1) for c in letter_counts(letters)) / (n * (n - 1))


@functools.cache
def english() -> EnglishStats:
    """The shipped statistics, loaded once per process."""
    raw = gzip.decompress(resource_path(*NGRAMS_FILE).read_bytes()).decode("ascii")
    return EnglishStats.from_counts(*parse_ngrams(raw))
