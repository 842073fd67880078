"""The lab's corpus and statistics: the shipped counts are what the script makes from the
shipped text, the held-out part is never counted, and English scores as English."""

from __future__ import annotations

import gzip
import random

from messenger.crypto.classical.corpus import held_out_passages, held_out_text, training_text
from messenger.crypto.classical.stats import (
    NGRAMS_FILE,
    chi_squared,
    count_ngrams,
    english,
    index_of_coincidence,
    letter_counts,
    parse_ngrams,
)
from messenger.resources import resource_path


def test_the_shipped_statistics_are_counted_from_the_training_text_only() -> None:
    shipped = parse_ngrams(gzip.decompress(resource_path(*NGRAMS_FILE).read_bytes()).decode())
    assert shipped == count_ngrams(training_text())


def test_held_out_text_follows_the_training_text_without_overlap() -> None:
    training, held_out = training_text(), held_out_text()
    assert held_out.startswith("Paul, a servant of Jesus Christ")  # Romans
    assert held_out not in training
    assert 0.08 < len(held_out) / (len(training) + len(held_out)) < 0.12


def test_held_out_passages_are_distinct_letters_of_the_asked_length() -> None:
    passages = held_out_passages(300, 100)
    assert len(set(passages)) == 100
    assert all(len(p) == 300 and p.isalpha() and p.isupper() for p in passages)
    assert held_out_passages(300, 100) == passages  # the same seed, the same passages


def test_english_scores_higher_than_random_letters() -> None:
    stats = english()
    text = b"PLEASEBRINGTHEPRINTEDREPORTSANDTELLTHENEWMEMBERSWHERETHEBUILDINGIS"
    noise = bytes(random.Random(1).choice(range(65, 91)) for _ in range(len(text)))
    assert stats.fitness(text) > stats.typical - 0.6
    assert stats.fitness(noise) < stats.typical - 2


def test_letter_frequencies_look_like_english() -> None:
    freq = english().letter_freq
    assert abs(sum(freq) - 1) < 1e-9
    assert max(range(26), key=freq.__getitem__) == 4  # E


def test_chi_squared_and_index_of_coincidence_tell_english_from_flat() -> None:
    english_text = b"ITWASTHEBESTOFTIMESITWASTHEWORSTOFTIMESITWASTHEAGEOFWISDOM"
    flat = bytes(range(65, 91)) * 3
    freq = english().letter_freq
    assert chi_squared(letter_counts(english_text), freq) < chi_squared(letter_counts(flat), freq)
    assert index_of_coincidence(english_text) > 0.06
    assert abs(index_of_coincidence(flat) - 2 / 77) < 1e-9  # 26 letters, each 3 times
