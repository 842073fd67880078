"""Pairing codes like 7-orbit-lantern: what one person reads out and the other types in."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from messenger.protocol.codes import (
    PASSWORD_WORDS,
    WORDS,
    generate_password,
    make_code,
    parse_code,
)


def test_the_word_list_has_256_distinct_words():
    assert len(WORDS) == 256
    assert len(set(WORDS)) == 256


def test_every_word_is_plain_lowercase_letters_so_codes_survive_parsing_and_reading_aloud():
    for word in WORDS:
        assert re.fullmatch(r"[a-z]+", word), word


def test_a_generated_password_is_two_words_from_the_list():
    words = generate_password().split("-")
    assert len(words) == PASSWORD_WORDS == 2
    assert all(word in WORDS for word in words)


def test_generated_passwords_vary():
    assert len({generate_password() for _ in range(50)}) > 40


def test_a_generated_code_parses_back_to_its_session_and_password():
    for session in ("1", "7", "42", "999999"):
        password = generate_password()
        assert parse_code(make_code(session, password)) == (session, password)


@settings(max_examples=100, deadline=None)
@given(
    session=st.integers(min_value=1, max_value=999_999),
    words=st.lists(st.sampled_from(WORDS), min_size=1, max_size=4),
)
def test_any_code_made_from_the_word_list_parses_back(session, words):
    password = "-".join(words)
    assert parse_code(make_code(str(session), password)) == (str(session), password)


@pytest.mark.parametrize(
    "typed",
    [
        "7-orbit-lantern",
        "  7-orbit-lantern  ",
        "\t7-orbit-lantern\n",
        "07-orbit-lantern",
        "0007-Orbit-LANTERN",
        "7-ORBIT-lantern ",
    ],
)
def test_parse_code_forgives_case_surrounding_whitespace_and_leading_zeros(typed):
    assert parse_code(typed) == ("7", "orbit-lantern")


@pytest.mark.parametrize(
    "typed",
    ["", "   ", "orbit-lantern", "7", "7-", "7- ", "x-orbit", "-orbit-lantern", "1234567-orbit"],
)
def test_parse_code_refuses_what_is_not_a_code_and_says_what_a_code_looks_like(typed):
    with pytest.raises(ValueError, match=r"looks like 7-orbit-lantern.*session number"):
        parse_code(typed)


@pytest.mark.parametrize(
    "typed",
    [
        "7 orbit lantern",
        "7 Orbit Lantern",
        "7  orbit   lantern",
        "7.orbit.lantern",
        "7, orbit, lantern",
        "7 - orbit - lantern",
        "7--orbit--lantern",
        "7_orbit_lantern",
        "7 ORBIT-lantern.",
        "7\u2013orbit\u2013lantern",  # an en dash, as word processors and phones "correct" it
    ],
)
def test_a_code_read_aloud_parses_with_any_separator_and_case(typed):
    assert parse_code(typed) == ("7", "orbit-lantern")


@pytest.mark.parametrize("typed", ["7 orbit", "7,orbit"])
def test_a_single_word_code_also_takes_any_separator(typed):
    assert parse_code(typed) == ("7", "orbit")


def test_the_last_word_of_a_partly_typed_code_is_what_completion_works_on():
    from messenger.protocol.codes import current_word, words_starting

    assert current_word("7 orb") == ("7 ", "orb")
    assert current_word("7-orbit-la") == ("7-orbit-", "la")
    assert current_word("7 ") == ("7 ", "")
    assert words_starting("lan") == ["lantern"]
    assert words_starting("LA") == ["ladder", "lagoon", "lantern", "lava"]
    assert words_starting("7") == []
