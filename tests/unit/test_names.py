"""Look-alike display names: the skeleton comparison behind the contact-name clash check."""

import unicodedata

import pytest

from messenger.store.confusables_table import CONFUSABLES
from messenger.store.names import look_alike, skeleton


@pytest.mark.parametrize(
    "other",
    [
        "Bob",
        "Bob ",
        "  Bob",
        "bob",
        "BOB",
        "B\u043eb",  # Cyrillic small o
        "\u0412ob",  # Cyrillic capital Ve
        "\u0392\u03bfb",  # Greek capital Beta and small omicron
        "Bo\u200bb",  # a zero-width space inside
        "\uff22\uff4f\uff42",  # fullwidth letters
        "Bob\u00a0",  # a trailing no-break space
    ],
)
def test_names_that_pass_for_bob_look_alike(other):
    assert look_alike("Bob", other), ascii(other)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Alice Smith", "Alice  Smith"),
        ("Alice Smith", "Alice\u2003Smith"),  # an em space
        ("Iris", "lris"),  # capital I and small l look the same in many fonts
        ("Iris", "iris"),
        ("Carol", "\u0421\u0430r\u043el"),  # Cyrillic Es, a and o
        ("Paypal", "\u0420\u0430ypal"),
        ("Tim", "Tirn"),  # "rn" passes for "m"
        ("Ana", "\u0391na"),  # Greek capital Alpha
    ],
)
def test_look_alikes_in_latin_cyrillic_and_greek(first, second):
    assert look_alike(first, second)
    assert look_alike(second, first)


@pytest.mark.parametrize(
    ("first", "second"),
    [("Bob", "Rob"), ("Alice", "Alicia"), ("Bob", "Bób"), ("Anna", "Ann"), ("Bob", "Bob2")],
)
def test_different_names_stay_different(first, second):
    assert not look_alike(first, second)


def test_the_skeleton_collapses_and_strips_spaces():
    assert skeleton("  Alice \t Jones ") == "alice jones"


def test_every_table_entry_is_a_fixed_point_after_a_few_rounds():
    for source in CONFUSABLES:
        once = skeleton(source)
        assert skeleton(once) == once, f"U+{ord(source):04X} {unicodedata.name(source, '')}"


def test_the_table_maps_the_common_latin_look_alikes_to_latin():
    for char, prototype in {"\u0430": "a", "\u043e": "o", "\u0440": "p", "\u0455": "s"}.items():
        assert CONFUSABLES[char] == prototype
