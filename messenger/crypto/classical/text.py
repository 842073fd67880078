"""Letters in, letters out: how the lab turns typed text into what a cipher works on.

Two modes, chosen by the person:

- *drop* (the classical way): the text is *normalised* first: accents are taken off
  (é -> e), every character that is then not an ASCII letter goes (spaces, punctuation,
  digits, other scripts), and the letters are upper-cased. ``normalise("Café, 2 pm!")`` is
  ``"CAFEPM"``. Ciphertext is upper case letters only.
- *keep*: every character stays where it is; only the ASCII letters A-Z and a-z are
  enciphered, each keeping its case (transposition moves every character, letters or not).
"""

from __future__ import annotations

import unicodedata

__all__ = ["ALPHABET", "LOWER", "letters_only", "normalise"]

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
LOWER = ALPHABET.lower()
_ASCII_LETTERS = frozenset(ALPHABET + LOWER)


def normalise(text: str) -> str:
    """The drop-mode form of ``text``: unaccented ASCII letters only, upper case."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if ch in _ASCII_LETTERS).upper()


def letters_only(text: str) -> str:
    """The ASCII letters of ``text``, upper-cased, nothing else (no accent folding): what an
    attack scores, and what keep-mode encryption changes."""
    return "".join(ch for ch in text if ch in _ASCII_LETTERS).upper()

