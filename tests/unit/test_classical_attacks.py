"""The lab's attacks, each given only ciphertext, on short fixed passages (seeded, so a
run is repeatable and each test takes about a second or less)."""

from __future__ import annotations

import threading

import pytest

from messenger.crypto.classical import CIPHERS, LabError, normalise
from messenger.crypto.classical.attacks import attack
from messenger.crypto.classical.search import Candidate

# Plain modern English written for these tests (not from the training corpus).
PASSAGE = (
    "The meeting has moved to Thursday afternoon because the main hall is being painted. "
    "Please bring the printed reports, your laptop and a copy of last year's budget, and "
    "tell the new members where the building is. If the weather is good we can walk to "
    "the station together afterwards and have dinner at the small place near the river."
)
LETTERS = normalise(PASSAGE)


def right_share(found: str, wanted: str) -> float:
    return sum(a == b for a, b in zip(found, wanted, strict=True)) / len(wanted)


def test_caesar_is_broken_from_forty_letters() -> None:
    plain = LETTERS[:40]
    result = attack("caesar", CIPHERS["caesar"].encrypt(plain, "17"))
    assert (result.key, result.text) == ("17", plain)


def test_caesar_keeps_the_punctuation_it_was_given() -> None:
    sealed = CIPHERS["caesar"].encrypt(PASSAGE[:120], "5", keep_punctuation=True)
    result = attack("caesar", sealed)
    assert result.text == PASSAGE[:120]


def test_substitution_falls_to_hill_climbing_on_quadgrams() -> None:
    key = "QWERTYUIOPASDFGHJKLZXCVBNM"
    result = attack("mono", CIPHERS["mono"].encrypt(LETTERS, key), seed=1)
    assert right_share(result.text, LETTERS) >= 0.95
    assert result.seconds < 5


def test_substitution_with_word_breaks_kept() -> None:
    sealed = CIPHERS["mono"].encrypt(PASSAGE, "CRYPTOGRAPHY", keep_punctuation=True)
    result = attack("mono", sealed, seed=2)
    assert right_share(result.text, PASSAGE) >= 0.95


@pytest.mark.parametrize("key", ["LAMP", "GARDENS", "TRUMPETS"])
def test_transposition_column_count_and_order_are_found(key: str) -> None:
    plain = LETTERS[:200]
    result = attack("transposition", CIPHERS["transposition"].encrypt(plain, key), seed=3)
    assert result.text == plain
    # The key found reads the columns in the same order (its letters may differ).
    assert (
        CIPHERS["transposition"].decrypt(CIPHERS["transposition"].encrypt(plain, key), result.key)
        == plain
    )


def test_transposition_with_punctuation_kept_moves_it_back_too() -> None:
    text = PASSAGE[:150]
    sealed = CIPHERS["transposition"].encrypt(text, "MAPLE", keep_punctuation=True)
    assert attack("transposition", sealed, seed=4).text == text


def test_vigenere_key_length_and_letters_are_found() -> None:
    result = attack("vigenere", CIPHERS["vigenere"].encrypt(LETTERS, "HARBOUR"))
    assert (result.key, result.text) == ("HARBOUR", LETTERS)


def test_vigenere_reports_the_shortest_form_of_a_repeated_key() -> None:
    result = attack("vigenere", CIPHERS["vigenere"].encrypt(LETTERS, "KEYKEY"))
    assert result.key == "KEY"


def test_progress_is_reported_and_only_ever_gets_better() -> None:
    reports: list[tuple[float, Candidate]] = []
    sealed = CIPHERS["mono"].encrypt(LETTERS, "ZEBRAS")
    result = attack("mono", sealed, seed=1, on_progress=lambda f, c: reports.append((f, c)))
    fractions = [fraction for fraction, _ in reports]
    scores = [candidate.score for _, candidate in reports]
    assert len(reports) >= 2
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert scores == sorted(scores)
    assert reports[-1][1] == Candidate(result.key, result.text, result.score)
    assert not result.cancelled


def test_cancelling_stops_the_attack_and_keeps_the_best_so_far() -> None:
    cancel = threading.Event()
    reports: list[float] = []

    def on_progress(fraction: float, best: Candidate) -> None:
        reports.append(fraction)
        cancel.set()  # as soon as there is something to show

    sealed = CIPHERS["mono"].encrypt(LETTERS, "ZEBRAS")
    result = attack("mono", sealed, seed=1, on_progress=on_progress, cancel=cancel)
    assert result.cancelled
    assert result.key and result.text
    assert result.seconds < 1
    assert reports and max(reports) < 1


def test_too_little_ciphertext_is_refused() -> None:
    with pytest.raises(LabError, match="at least 8 letters"):
        attack("vigenere", "ABC, DEF!")
