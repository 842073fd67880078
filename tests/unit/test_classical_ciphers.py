"""The lab's classical ciphers: known answers, round trips for every cipher and mode, and
keys refused with a message a person can act on.

What "round trip" means depends on the mode (messenger/crypto/classical/text.py):
keeping punctuation, ``decrypt(encrypt(x)) == x`` for any string ``x``; dropping it,
``decrypt(encrypt(x)) == normalise(x)`` (unaccented ASCII letters, upper case).
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from messenger.crypto.classical import (
    CIPHERS,
    BadKeyError,
    LabError,
    UnknownCipherError,
    cipher_named,
    normalise,
)
from messenger.crypto.classical.ciphers import column_order, keyed_alphabet

KEYS = {"caesar": "7", "mono": "ZEBRAS", "transposition": "ZEBRAS", "vigenere": "LEMON"}
letters_key = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", min_size=1)


def keys_for(name: str) -> st.SearchStrategy[str]:
    if name == "caesar":
        return st.one_of(st.integers(-1000, 1000).map(str), st.sampled_from("ABCXYZabz"))
    if name == "transposition":
        return st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=14)
    return letters_key


@pytest.mark.parametrize("name", list(CIPHERS))
@given(data=st.data(), text=st.text())
def test_keeping_punctuation_decrypt_undoes_encrypt_exactly(
    name: str, data: st.DataObject, text: str
) -> None:
    cipher = CIPHERS[name]
    key = data.draw(keys_for(name))
    sealed = cipher.encrypt(text, key, keep_punctuation=True)
    assert cipher.decrypt(sealed, key, keep_punctuation=True) == text


@pytest.mark.parametrize("name", list(CIPHERS))
@given(data=st.data(), text=st.text())
def test_dropping_punctuation_decrypt_gives_the_normalised_text(
    name: str, data: st.DataObject, text: str
) -> None:
    cipher = CIPHERS[name]
    key = data.draw(keys_for(name))
    sealed = cipher.encrypt(text, key)
    assert sealed == normalise(sealed)  # upper-case letters only
    assert cipher.decrypt(sealed, key) == normalise(text)


@pytest.mark.parametrize("name", list(CIPHERS))
def test_random_keys_are_accepted_and_round_trip(name: str) -> None:
    cipher = CIPHERS[name]
    rng = random.Random(5)
    for _ in range(20):
        key = cipher.random_key(rng)
        assert cipher.check_key(key) == key
        assert cipher.decrypt(cipher.encrypt("Attack at dawn", key), key) == "ATTACKATDAWN"


def test_normalise_folds_accents_and_drops_everything_but_letters() -> None:
    assert normalise("Café, 2 pm! Ünïcode ß") == "CAFEPMUNICODE"


def test_caesar_shifts_by_three_with_julius_key() -> None:
    caesar = cipher_named("caesar")
    assert caesar.encrypt("Veni, vidi, vici", "3") == "YHQLYLGLYLFL"
    assert caesar.encrypt("Veni, vidi, vici", "D", keep_punctuation=True) == "Yhql, ylgl, ylfl"
    assert caesar.encrypt("xyz", "-23", keep_punctuation=True) == "abc"  # any shift, mod 26


def test_keyword_alphabet_puts_the_keyword_first() -> None:
    assert keyed_alphabet("ZEBRAS") == "ZEBRASCDFGHIJKLMNOPQTUVWXY"
    mono = cipher_named("mono")
    assert mono.encrypt("flee at once. we are discovered!", "zebras") == (
        "SIAAZQLKBAVAZOARFPBLUAOAR"
    )


def test_a_whole_alphabet_is_its_own_substitution_key() -> None:
    alphabet = "QWERTYUIOPASDFGHJKLZXCVBNM"
    assert cipher_named("mono").check_key(alphabet.lower()) == alphabet


def test_columnar_transposition_reads_columns_in_keyword_order() -> None:
    assert column_order("ZEBRAS") == [4, 2, 1, 3, 5, 0]
    # WEAREDISCOVEREDFLEEATONCE under ZEBRAS: the textbook example (no padding).
    assert cipher_named("transposition").encrypt("We are discovered, flee at once", "ZEBRAS") == (
        "EVLNACDTESEAROFODEECWIREE"
    )


def test_transposition_ties_in_the_keyword_go_left_to_right() -> None:
    assert column_order("BANANA") == [1, 3, 5, 0, 2, 4]


def test_vigenere_lemon_example() -> None:
    vigenere = cipher_named("vigenere")
    assert vigenere.encrypt("attack at dawn", "LEMON") == "LXFOPVEFRNHR"
    assert vigenere.encrypt("Attack at dawn!", "lemon", keep_punctuation=True) == (
        "Lxfopv ef rnhr!"
    )


@pytest.mark.parametrize(
    ("name", "key", "says"),
    [
        ("caesar", "", "needs a key"),
        ("caesar", "three", "neither"),
        ("mono", "", "needs a key"),
        ("mono", "ZEBRA5", "letters A to Z only"),
        ("transposition", "Z", "at least two letters"),
        ("transposition", "1234", "letters A to Z only"),
        ("vigenere", "  ", "needs a key"),
        ("vigenere", "LE-MON", "letters A to Z only"),
    ],
)
def test_a_bad_key_is_refused_with_a_readable_message(name: str, key: str, says: str) -> None:
    with pytest.raises(BadKeyError, match=says) as refused:
        CIPHERS[name].encrypt("hello", key)
    assert isinstance(refused.value, ValueError)
    assert "\n" not in str(refused.value)


def test_an_unknown_cipher_is_refused_by_name() -> None:
    with pytest.raises(UnknownCipherError, match=r"enigma.*caesar, mono, transposition, vigenere"):
        cipher_named("enigma")
    assert issubclass(UnknownCipherError, LabError)
    assert issubclass(LabError, ValueError)


def test_cipher_names_are_case_insensitive() -> None:
    assert cipher_named(" Vigenere ").name == "vigenere"
