"""The four classical ciphers: encrypt and decrypt with a key given as text.

Every cipher takes the key as the person types it and refuses a bad one with a
``BadKeyError`` saying what a good one looks like. ``keep_punctuation`` chooses between the
two modes described in ``messenger.crypto.classical.text``. In drop mode decryption
normalises its input too, so ``decrypt(encrypt(x)) == normalise(x)``; in keep mode
``decrypt(encrypt(x)) == x`` for any string.
"""

from __future__ import annotations

import random
import re
from abc import ABC, abstractmethod
from typing import ClassVar

from messenger.crypto.classical.errors import BadKeyError, UnknownCipherError
from messenger.crypto.classical.text import ALPHABET, LOWER, normalise

__all__ = [
    "CIPHERS",
    "Caesar",
    "Cipher",
    "Substitution",
    "Transposition",
    "Vigenere",
    "cipher_named",
    "column_order",
    "keyed_alphabet",
]

_SPACES = re.compile(r"\s+")


def _key_letters(key: str, cipher: str, example: str) -> str:
    """The key's letters, upper-cased (spaces ignored); anything else is refused."""
    compact = _SPACES.sub("", key)
    if not compact:
        raise BadKeyError(f"{cipher} needs a key: a word such as {example}.")
    if not all(ch in ALPHABET or ch in LOWER for ch in compact):
        raise BadKeyError(
            f"{cipher} keys are made of the letters A to Z only (such as {example}); "
            f"{key.strip()!r} has other characters."
        )
    return compact.upper()


def _translate_table(source: str, target: str) -> dict[int, int]:
    """A ``str.translate`` table mapping each letter of ``source`` to ``target``, in both
    cases, so keep mode preserves case."""
    table = str.maketrans(source, target)
    table.update(str.maketrans(source.lower(), target.lower()))
    return table


class Cipher(ABC):
    """One classical cipher. Subclasses say how a key is read and how letters move."""

    #: Short name, as messenger-cli and the puzzle signal spell it.
    name: ClassVar[str]
    #: Name shown to a person.
    title: ClassVar[str]
    #: What a key looks like, for hints and error messages.
    key_hint: ClassVar[str]

    @abstractmethod
    def check_key(self, key: str) -> str:
        """The key in canonical form; raises ``BadKeyError`` if it does not fit."""

    @abstractmethod
    def random_key(self, rng: random.Random | None = None) -> str:
        """A fresh key, in canonical form."""

    @abstractmethod
    def _encrypt(self, text: str, key: str, keep: bool) -> str: ...

    @abstractmethod
    def _decrypt(self, text: str, key: str, keep: bool) -> str: ...

    def encrypt(self, text: str, key: str, *, keep_punctuation: bool = False) -> str:
        key = self.check_key(key)
        return self._encrypt(text if keep_punctuation else normalise(text), key, keep_punctuation)

    def decrypt(self, text: str, key: str, *, keep_punctuation: bool = False) -> str:
        key = self.check_key(key)
        return self._decrypt(text if keep_punctuation else normalise(text), key, keep_punctuation)


class Caesar(Cipher):
    """Every letter moves the same number of places along the alphabet."""

    name = "caesar"
    title = "Caesar"
    key_hint = "a shift: a whole number such as 3, or a letter (D means 3)"

    def check_key(self, key: str) -> str:
        return str(self.shift(key))

    def shift(self, key: str) -> int:
        """The shift 0-25 a key stands for: any whole number (taken mod 26) or a letter."""
        compact = key.strip()
        if len(compact) == 1 and compact.upper() in ALPHABET:
            return ALPHABET.index(compact.upper())
        try:
            return int(compact) % 26
        except ValueError:
            raise BadKeyError(
                f"A Caesar key is {self.key_hint}; {compact!r} is neither."
                if compact
                else f"Caesar needs a key: {self.key_hint}."
            ) from None

    def random_key(self, rng: random.Random | None = None) -> str:
        return str((rng or random.SystemRandom()).randrange(1, 26))

    def _table(self, key: str, forward: bool) -> dict[int, int]:
        shift = int(key) if forward else -int(key)
        return _translate_table(ALPHABET, ALPHABET[shift % 26 :] + ALPHABET[: shift % 26])

    def _encrypt(self, text: str, key: str, keep: bool) -> str:
        return text.translate(self._table(key, True))

    def _decrypt(self, text: str, key: str, keep: bool) -> str:
        return text.translate(self._table(key, False))


def keyed_alphabet(keyword: str) -> str:
    """The keyword's letters (each once, in order), then the rest of the alphabet:
    ``keyed_alphabet("ZEBRA")`` is ``"ZEBRACDFGHIJKLMNOPQSTUVWXY"``. A keyword that uses all
    26 letters is itself the alphabet, so a random alphabet is just a long keyword."""
    seen = dict.fromkeys(keyword + ALPHABET)
    return "".join(seen)


class Substitution(Cipher):
    """Each letter is replaced by the letter at its place in a mixed alphabet."""

    name = "mono"
    title = "Monoalphabetic substitution"
    key_hint = "a keyword such as ZEBRA, or a whole mixed alphabet of 26 letters"

    def check_key(self, key: str) -> str:
        return keyed_alphabet(_key_letters(key, "Substitution", "ZEBRA"))

    def random_key(self, rng: random.Random | None = None) -> str:
        letters = list(ALPHABET)
        (rng or random.SystemRandom()).shuffle(letters)
        return "".join(letters)

    def _encrypt(self, text: str, key: str, keep: bool) -> str:
        return text.translate(_translate_table(ALPHABET, key))

    def _decrypt(self, text: str, key: str, keep: bool) -> str:
        return text.translate(_translate_table(key, ALPHABET))


def column_order(keyword: str) -> list[int]:
    """The order columns are read in: by the keyword's letters alphabetically, ties left to
    right. ``column_order("ZEBRA")`` is ``[4, 2, 1, 3, 0]``."""
    return sorted(range(len(keyword)), key=lambda column: (keyword[column], column))


def _column_lengths(length: int, columns: int) -> list[int]:
    """Rows are filled left to right; the last row may be short (no padding)."""
    rows, extra = divmod(length, columns)
    return [rows + (1 if column < extra else 0) for column in range(columns)]


class Transposition(Cipher):
    """Keyed columnar transposition: write the text in rows under the keyword, read it out
    column by column in the keyword's alphabetical order. The last row is left short rather
    than padded, so decryption gives back exactly the text."""

    name = "transposition"
    title = "Columnar transposition"
    key_hint = "a keyword of two letters or more, such as ZEBRA"

    def check_key(self, key: str) -> str:
        letters = _key_letters(key, "Transposition", "ZEBRA")
        if len(letters) < 2:
            raise BadKeyError(
                "A transposition keyword needs at least two letters: "
                "one column would leave the text as it is."
            )
        return letters

    def random_key(self, rng: random.Random | None = None) -> str:
        rng = rng or random.SystemRandom()
        return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(5, 9)))

    def _encrypt(self, text: str, key: str, keep: bool) -> str:
        columns = len(key)
        return "".join(text[column::columns] for column in column_order(key))

    def _decrypt(self, text: str, key: str, keep: bool) -> str:
        return decrypt_columns(text, column_order(key))


def decrypt_columns(text: str, order: list[int]) -> str:
    """Undo a columnar transposition whose columns were read in ``order``."""
    columns = len(order)
    lengths = _column_lengths(len(text), columns)
    plain = [""] * len(text)
    start = 0
    for column in order:
        plain[column::columns] = text[start : start + lengths[column]]
        start += lengths[column]
    return "".join(plain)


class Vigenere(Cipher):
    """Each letter moves by the next letter of a repeated keyword (A moves 0, B moves 1, ...):
    Caesar with a shift that changes from letter to letter."""

    name = "vigenere"
    title = "Vigenère"
    key_hint = "a keyword such as LEMON"

    def check_key(self, key: str) -> str:
        return _key_letters(key, "Vigenère", "LEMON")

    def random_key(self, rng: random.Random | None = None) -> str:
        rng = rng or random.SystemRandom()
        return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(4, 8)))

    def _shift_letters(self, text: str, key: str, sign: int) -> str:
        shifts = [sign * ALPHABET.index(letter) for letter in key]
        out = []
        position = 0
        for ch in text:
            if "A" <= ch <= "Z":
                base = 65
            elif "a" <= ch <= "z":
                base = 97
            else:
                out.append(ch)
                continue
            shift = shifts[position % len(shifts)]
            out.append(chr(base + (ord(ch) - base + shift) % 26))
            position += 1
        return "".join(out)

    def _encrypt(self, text: str, key: str, keep: bool) -> str:
        return self._shift_letters(text, key, 1)

    def _decrypt(self, text: str, key: str, keep: bool) -> str:
        return self._shift_letters(text, key, -1)


#: The lab's ciphers by name, in the order the lab lists them.
CIPHERS: dict[str, Cipher] = {
    cipher.name: cipher for cipher in (Caesar(), Substitution(), Transposition(), Vigenere())
}


def cipher_named(name: str) -> Cipher:
    """The cipher called ``name`` (caesar, mono, transposition, vigenere)."""
    try:
        return CIPHERS[name.strip().lower()]
    except KeyError:
        raise UnknownCipherError(
            f"There is no cipher called {name!r}; choose one of {', '.join(CIPHERS)}."
        ) from None
