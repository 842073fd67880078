"""How long is a Vigenère key? Two classical answers, used together by the attack.

- The *index of coincidence*: cut the ciphertext into ``n`` columns (every ``n``-th letter).
  With the right ``n`` each column is a Caesar cipher of English and its letters repeat as
  often as English letters do (about 0.066); with a wrong one they look random (0.038).
- *Kasiski's test*: a word enciphered twice at the same key position gives a repeated
  trigram, and the distance between the repeats is a multiple of the key length.
"""

from __future__ import annotations

from collections import Counter

from messenger.crypto.classical.stats import index_of_coincidence

__all__ = ["ioc_lengths", "kasiski_lengths"]


def kasiski_lengths(letters: bytes, max_length: int) -> Counter[int]:
    """How many distances between repeated trigrams each key length divides."""
    seen: dict[bytes, int] = {}
    votes: Counter[int] = Counter()
    for i in range(len(letters) - 2):
        trigram = letters[i : i + 3]
        if trigram in seen:
            distance = i - seen[trigram]
            for length in range(2, max_length + 1):
                if distance % length == 0:
                    votes[length] += 1
        seen[trigram] = i
    return votes


def ioc_lengths(letters: bytes, max_length: int) -> list[tuple[float, int]]:
    """(mean index of coincidence of the columns, key length), best first."""
    ranked = []
    for length in range(1, max_length + 1):
        columns = [letters[i::length] for i in range(length)]
        ranked.append((sum(map(index_of_coincidence, columns)) / length, length))
    return sorted(ranked, reverse=True)
