"""Ciphertext-only attacks on the lab's four ciphers.

- Caesar: all 26 shifts, ranked by chi-squared against English letter frequencies.
- Substitution: a key from letter frequencies, then hill climbing (swap two letters of the
  key, keep the swap if the text's quadgram score rises) with restarts from random keys,
  until the best key has been reached from several starts or time runs out.
- Transposition: every column count up to ``max_columns``; every column order for small
  counts, hill climbing on the order (swap two columns, move one) with restarts for larger.
- Vigenère: key lengths ranked by the columns' index of coincidence and by Kasiski's
  repeated-trigram distances; each column solved as a Caesar by chi-squared, then each key
  letter polished against quadgram scores.

Every attack scores with ``messenger.crypto.classical.stats.english()``; ``seed`` makes a
run repeatable (tests, the benchmark). Given ``keep_punctuation=None`` an attack decides
from the ciphertext: any character other than A-Z means the punctuation was kept.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Callable

from messenger.crypto.classical.ciphers import CIPHERS, cipher_named, decrypt_columns
from messenger.crypto.classical.errors import LabError
from messenger.crypto.classical.keylength import ioc_lengths, kasiski_lengths
from messenger.crypto.classical.search import (
    AttackResult,
    Cancelled,
    ProgressCallback,
    Search,
)
from messenger.crypto.classical.stats import EnglishStats, chi_squared, english, letter_counts
from messenger.crypto.classical.text import ALPHABET, letters_only, normalise

__all__ = [
    "MIN_LETTERS",
    "attack",
    "attack_caesar",
    "attack_mono",
    "attack_transposition",
    "attack_vigenere",
]

#: Fewer letters than this and no statistics can say anything: the attack refuses.
MIN_LETTERS = 8
#: Text scoring within this of English's mean quadgram log10 probability reads as English.
ENGLISH_MARGIN = 0.6
_UPPER = ALPHABET.encode("ascii")
#: ``_SHIFT[s]`` moves every letter back by ``s`` (decrypts a Caesar shift of ``s``).
_SHIFT = [bytes.maketrans(_UPPER, _UPPER[s:] + _UPPER[:s]) for s in range(26)]
_UNSHIFT = [bytes.maketrans(_UPPER[s:] + _UPPER[:s], _UPPER) for s in range(26)]


class _Prepared:
    """The ciphertext in the two forms an attack needs: as shown (punctuation kept or
    not) and as its upper-case letters, the bytes that get scored."""

    def __init__(self, ciphertext: str, keep_punctuation: bool | None) -> None:
        if keep_punctuation is None:
            keep_punctuation = any(ch not in ALPHABET for ch in ciphertext)
        self.keep = keep_punctuation
        self.shown = ciphertext if keep_punctuation else normalise(ciphertext)
        self.letters = letters_only(self.shown).encode("ascii")
        if len(self.letters) < MIN_LETTERS:
            raise LabError(
                f"There is too little ciphertext to attack: at least {MIN_LETTERS} letters "
                f"are needed, this has {len(self.letters)}."
            )

    def render(self, cipher: str) -> Callable[[str], str]:
        """Key -> the whole ciphertext decrypted with it, as the person will see it."""

        def decrypt(key: str) -> str:
            return CIPHERS[cipher].decrypt(self.shown, key, keep_punctuation=self.keep)

        return decrypt


def _fitness(stats: EnglishStats, letters: bytes) -> float:
    return stats.fitness(letters)


# -- Caesar -------------------------------------------------------------------------------


def attack_caesar(
    prepared: _Prepared, search: Search, stats: EnglishStats, *, shortlist: int = 3
) -> None:
    """Rank the 26 shifts by chi-squared; of the ``shortlist`` best, the one whose text
    has the best quadgram score wins (on 40 letters chi-squared alone picks a wrong shift
    about twice in a hundred; its runner-up is then the right one)."""
    counts = letter_counts(prepared.letters)
    ranked = sorted(
        range(26), key=lambda s: chi_squared(counts[s:] + counts[:s], stats.letter_freq)
    )
    for rank, shift in enumerate(ranked[:shortlist]):
        search.tick()
        search.offer(str(shift), _fitness(stats, prepared.letters.translate(_UNSHIFT[shift])))
        search.progress((rank + 1) / shortlist)


# -- Monoalphabetic substitution ----------------------------------------------------------


def _frequency_key(letters: bytes, stats: EnglishStats) -> list[int]:
    """Decryption key (plain letter code for each cipher letter) pairing the ciphertext's
    letters with English letters rank for rank."""
    counts = letter_counts(letters)
    cipher_rank = sorted(range(26), key=lambda c: -counts[c])
    english_rank = sorted(range(26), key=lambda p: -stats.letter_freq[p])
    key = [0] * 26
    for c, p in zip(cipher_rank, english_rank, strict=True):
        key[c] = p
    return key


def _climb_mono(
    letters: bytes,
    key: list[int],
    stats: EnglishStats,
    search: Search,
    present: list[int],
    max_seconds: float,
) -> float:
    """Swap pairs of key letters while any swap raises the score (or until ``max_seconds``
    into the search); ``key`` is changed in place. Pairs of letters that are both absent
    from the ciphertext change nothing and are skipped."""

    def score() -> float:
        return stats.score(letters.translate(bytes.maketrans(_UPPER, bytes(65 + p for p in key))))

    best = score()
    pairs = [(i, j) for i in range(26) for j in range(i + 1, 26) if i in present or j in present]
    improved = True
    while improved:
        improved = False
        for i, j in pairs:
            key[i], key[j] = key[j], key[i]
            value = score()
            if value > best:
                best = value
                improved = True
            else:
                key[i], key[j] = key[j], key[i]
        search.tick(len(pairs))
        if search.elapsed() >= max_seconds:
            break
    return best


def attack_mono(
    prepared: _Prepared,
    search: Search,
    stats: EnglishStats,
    rng: random.Random,
    *,
    restarts: int = 40,
    agree: int = 6,
    max_seconds: float = 3.5,
    kick_every: int = 3,
) -> None:
    """Hill-climb from the frequency key, then from new starting keys, until the best score
    has been reached ``agree`` times, ``restarts`` climbs were made, or ``max_seconds``.
    A new start is a random key; with ``kick_every`` > 0 it is the best key with a few
    random swaps ("kicked"), and a random key only every ``kick_every``-th time."""
    letters = prepared.letters
    present = sorted({c - 65 for c in letters})
    quadgrams = max(1, len(letters) - 3)
    best_score = float("-inf")
    best_key: list[int] = []
    reached = 0
    key = _frequency_key(letters, stats)
    for climb in range(restarts):
        value = _climb_mono(letters, key, stats, search, present, max_seconds)
        encrypt_key = "".join(ALPHABET[key.index(p)] for p in range(26))
        if value > best_score + 1e-9:
            best_score, best_key, reached = value, key[:], 1
            search.offer(encrypt_key, value / quadgrams)
        elif abs(value - best_score) <= 1e-9:
            reached += 1
        search.progress(max((climb + 1) / restarts, search.elapsed() / max_seconds))
        if reached >= agree or search.elapsed() >= max_seconds:
            break
        if kick_every and (climb + 1) % kick_every:
            key = best_key[:]
            for _ in range(rng.randint(2, 5)):
                i, j = rng.sample(range(26), 2)
                key[i], key[j] = key[j], key[i]
        else:
            key = list(range(26))
            rng.shuffle(key)


# -- Columnar transposition ---------------------------------------------------------------


def _order_key(order: list[int]) -> str:
    """A keyword whose columns are read in ``order``: column ``order[r]`` gets letter r."""
    letters = [""] * len(order)
    for rank, column in enumerate(order):
        letters[column] = ALPHABET[rank]
    return "".join(letters)


def _column_decrypter(prepared: _Prepared, columns: int) -> Callable[[list[int]], bytes]:
    """Order -> the letters of the text that order decrypts to, as fast as slicing goes."""
    if not prepared.keep:
        text = prepared.letters
        rows, extra = divmod(len(text), columns)
        lengths = [rows + (1 if c < extra else 0) for c in range(columns)]

        def letters_for(order: list[int]) -> bytes:
            plain = bytearray(len(text))
            start = 0
            for column in order:
                end = start + lengths[column]
                plain[column::columns] = text[start:end]
                start = end
            return bytes(plain)

        return letters_for

    shown = prepared.shown

    def letters_with_punctuation(order: list[int]) -> bytes:
        return letters_only(decrypt_columns(shown, order)).encode("ascii")

    return letters_with_punctuation


def _climb_order(
    order: list[int], score: Callable[[list[int]], float], search: Search
) -> tuple[list[int], float]:
    """Hill climbing on a column order: swap two columns, or move one elsewhere."""
    best = score(order)
    n = len(order)
    improved = True
    while improved:
        improved = False
        for i in range(n):
            for j in range(n):
                if i == j:
                    continue
                swapped = order[:]
                swapped[i], swapped[j] = swapped[j], swapped[i]
                moved = order[:]
                moved.insert(j, moved.pop(i))
                for candidate in (swapped, moved):
                    value = score(candidate)
                    if value > best:
                        order, best, improved = candidate, value, True
            search.tick(2 * n)
    return order, best


def attack_transposition(
    prepared: _Prepared,
    search: Search,
    stats: EnglishStats,
    rng: random.Random,
    *,
    max_columns: int = 10,
    exhaustive_up_to: int = 6,
    restarts: int = 30,
    agree: int = 3,
) -> None:
    """Try every column count from 2 to ``max_columns``; keep the best order of all. Once
    a column count gives text that scores like English (within ``ENGLISH_MARGIN`` of the
    training text's mean) the larger counts are skipped: a wrong count scrambles letters
    across rows and never reads like English."""
    length = len(prepared.shown)
    counts = [n for n in range(2, max_columns + 1) if n <= length // 2]
    total_work = sum(n * n for n in counts)
    done = 0
    for columns in counts:
        letters_for = _column_decrypter(prepared, columns)
        quadgrams = max(1, len(prepared.letters) - 3)

        def score(
            order: list[int], letters_for: Callable[[list[int]], bytes] = letters_for
        ) -> float:
            return stats.score(letters_for(order))

        if columns <= exhaustive_up_to:
            for batch, permutation in enumerate(itertools.permutations(range(columns))):
                value = score(list(permutation))
                if search.best is None or value / quadgrams > search.best.score:
                    search.offer(_order_key(list(permutation)), value / quadgrams)
                if batch % 64 == 0:
                    search.tick(64)
        else:
            best_here = float("-inf")
            reached = 0
            for climb in range(restarts):
                start = list(range(columns))
                rng.shuffle(start)
                order, value = _climb_order(start, score, search)
                search.offer(_order_key(order), value / quadgrams)
                if value > best_here + 1e-9:
                    best_here, reached = value, 1
                elif abs(value - best_here) <= 1e-9:
                    reached += 1
                search.progress((done + columns * columns * (climb + 1) / restarts) / total_work)
                if reached >= agree:
                    break
        done += columns * columns
        search.progress(done / total_work)
        if search.best is not None and search.best.score >= stats.typical - ENGLISH_MARGIN:
            break


# -- Vigenère -----------------------------------------------------------------------------


def _best_shift(counts: list[int], stats: EnglishStats) -> int:
    """The Caesar shift whose undoing makes ``counts`` most English (least chi-squared)."""
    return min(range(26), key=lambda s: chi_squared(counts[s:] + counts[:s], stats.letter_freq))


def _vigenere_letters(letters: bytes, shifts: list[int]) -> bytes:
    plain = bytearray(letters)
    m = len(shifts)
    for i, shift in enumerate(shifts):
        plain[i::m] = letters[i::m].translate(_UNSHIFT[shift])
    return bytes(plain)


def _shortest_period(shifts: list[int]) -> list[int]:
    """``[1, 2, 1, 2]`` -> ``[1, 2]``: a key repeated is the same key."""
    n = len(shifts)
    for period in range(1, n + 1):
        if n % period == 0 and shifts == shifts[:period] * (n // period):
            return shifts[:period]
    return shifts


def attack_vigenere(
    prepared: _Prepared,
    search: Search,
    stats: EnglishStats,
    *,
    max_key_length: int = 20,
    candidates: int = 6,
) -> None:
    letters = prepared.letters
    max_length = max(1, min(max_key_length, len(letters) // 4))
    by_ioc = [length for _ioc, length in ioc_lengths(letters, max_length)]
    kasiski = [length for length, _votes in kasiski_lengths(letters, max_length).most_common(3)]
    lengths = list(dict.fromkeys(by_ioc[:candidates] + kasiski))
    quadgrams = max(1, len(letters) - 3)
    for done, length in enumerate(lengths):
        shifts = [_best_shift(letter_counts(letters[i::length]), stats) for i in range(length)]
        best = stats.score(_vigenere_letters(letters, shifts))
        for _round in range(3):  # polish each key letter against quadgrams
            changed = False
            for i in range(length):
                for shift in range(26):
                    trial = shifts[:]
                    trial[i] = shift
                    value = stats.score(_vigenere_letters(letters, trial))
                    if value > best:
                        best, shifts, changed = value, trial, True
                search.tick(26)
            if not changed:
                break
        key = "".join(ALPHABET[s] for s in _shortest_period(shifts))
        current = search.best
        fitness = best / quadgrams
        # Equal texts from a longer key (a repeat of the shorter one) keep the shorter key.
        if current is None or fitness > current.score + 1e-9:
            search.offer(key, fitness)
        search.progress((done + 1) / len(lengths))


# -- entry point --------------------------------------------------------------------------


def attack(
    cipher: str,
    ciphertext: str,
    *,
    keep_punctuation: bool | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    seed: int | None = None,
    max_seconds: float = 3.5,
) -> AttackResult:
    """Break ``ciphertext`` made with ``cipher``, knowing nothing else. Raises
    ``LabError`` for an unknown cipher or too little text; returns the best candidate
    (``cancelled=True`` if ``cancel`` was set before the search finished)."""
    name = cipher_named(cipher).name
    prepared = _Prepared(ciphertext, keep_punctuation)
    stats = english()
    rng = random.Random(seed)
    search = Search(prepared.render(name), on_progress, cancel)
    try:
        if name == "caesar":
            attack_caesar(prepared, search, stats)
        elif name == "mono":
            attack_mono(prepared, search, stats, rng, max_seconds=max_seconds)
        elif name == "transposition":
            attack_transposition(prepared, search, stats, rng)
        else:
            attack_vigenere(prepared, search, stats)
    except Cancelled:
        return search.result(name, cancelled=True)
    return search.result(name, cancelled=False)
