"""How a refused new key reaches a person in the app: the ids travel as data, the words are
plain (never the command-line advice the core's message ends with), and only a look-alike
of a known contact is offered for trust. (The trust rules themselves: test_profile_store.)
"""

from __future__ import annotations

from typing import Any

import pytest

from messenger import events as ev
from messenger.protocol.errors import PeerKeyChangedError
from messenger.store.contacts import Contacts
from messenger.store.database import ProfileDatabase
from messenger.store.db_key import new_key
from messenger.ui.bridge import ClientBridge
from messenger.ui.key_change import is_person_id, shown_name
from messenger.ui.wording import KEY_CHANGED, for_people

BOB_ID = "b" * 64
BOB_2_ID = "b2" * 32


@pytest.fixture
def contacts(tmp_path):
    database = ProfileDatabase.open(tmp_path, new_key())
    yield Contacts(database)
    database.close()


def refused(contacts: Contacts, peer_id: str, name: str, fingerprint: str) -> PeerKeyChangedError:
    with pytest.raises(PeerKeyChangedError) as raised:
        contacts.check(peer_id, name, fingerprint)
    return raised.value


def test_a_new_key_under_a_known_name_names_both_ids(contacts):
    contacts.pin(BOB_ID, "bob")
    error = refused(contacts, BOB_2_ID, "Bob", BOB_2_ID)
    assert (error.peer_id, error.known_id) == (BOB_2_ID, BOB_ID)


def test_the_app_says_it_in_plain_words_without_the_command_line_advice(contacts):
    contacts.pin(BOB_ID, "bob")
    error = refused(contacts, BOB_2_ID, "bob", BOB_2_ID)
    assert "messenger-cli" in str(error), "the CLI keeps its advice"
    assert for_people(error) == KEY_CHANGED
    assert "messenger-cli" not in KEY_CHANGED and "someone else" in KEY_CHANGED


def test_an_intercepted_key_is_not_called_a_known_name_and_offers_nothing_to_trust(contacts):
    contacts.pin(BOB_ID, "bob")
    error = refused(contacts, BOB_ID, "bob", BOB_2_ID)
    assert error.known_id == ""
    assert for_people(error) == str(error) and "intercepting" in str(error)


class _Quiet:
    """Just enough of a Client for ``emit_event``."""


def test_the_bridge_reports_a_failed_session_in_the_apps_words(contacts):
    contacts.pin(BOB_ID, "bob")
    error = refused(contacts, BOB_2_ID, "bob", BOB_2_ID)
    bridge = ClientBridge(_Quiet())  # type: ignore[arg-type]
    got: list[tuple[Any, ...]] = []
    bridge.sessionFailed.connect(lambda *args: got.append(args))

    bridge.emit_event(ev.SessionFailed("7", error))

    assert got == [("7", "peer_key_changed", KEY_CHANGED)]


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        (BOB_ID, True),
        ("B" * 64, False),
        ("b" * 63, False),
        ("b" * 64 + "\n", False),
        ("b" * 65, False),
        ("g" * 64, False),
        ("", False),
        (None, False),
    ],
)
def test_only_64_lower_case_hex_digits_are_a_person_id(text, ok):
    assert is_person_id(text) is ok


def test_a_chosen_name_is_cut_short_and_never_empty():
    assert shown_name("  bob \n  smith ", "fallback") == "bob smith"
    assert shown_name("x" * 500, "fallback") == "x" * 64
    assert shown_name(" \t", "b2b2b2b2b2b2") == "b2b2b2b2b2b2"
