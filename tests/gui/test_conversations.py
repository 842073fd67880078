"""The conversation list (issue 12, item 1): one entry per contact with name, verified mark,
online or not, last message and time, unread badge, most recent first, a filter box; it
comes back after a restart as it was left. A code or invitation under way has an entry of
its own until it introduces a contact; entries are keyed by the app's own keys, whatever
session numbers the relay hands out (it reuses the lowest free one).

Real windows against a real relay process on 127.0.0.1; "restart" shuts a window and its
controller down and opens a new one on the same profile folder. Waits are conditions with
deadlines.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from messenger.protocol.errors import MessengerError
from messenger.ui.controller import ServerChoice
from messenger.ui.main_window import MainWindow
from tests.gui.helpers import SOON, list_loaded, open_window, pair, reopen, run
from tests.support import Keys, RelayProcess

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def windows(qtbot, qasync_loop, tmp_path: Path, keys: Keys, relay: RelayProcess):
    """Makes connected windows (``make``) and restarts them (``restart``); shuts every
    window that is still open down at the end."""
    opened: list[MainWindow] = []

    class Windows:
        def make(self, name: str, *, connect: bool = True) -> MainWindow:
            window = open_window(qtbot, keys, tmp_path / name, len(opened), name=name)
            list_loaded(qtbot, window)
            if connect:
                self.connect(window)
            opened.append(window)
            return window

        def connect(self, window: MainWindow) -> MainWindow:
            window.attach(run(qtbot, window.controller.connect_to(ServerChoice(relay.addr))))
            return window

        def restart(self, window: MainWindow, *, connect: bool = False) -> MainWindow:
            again = reopen(qtbot, window)
            opened[opened.index(window)] = again
            return self.connect(again) if connect else again

    yield Windows()
    for window in opened:
        window._quitting = True
        if window.controller.worker is not None:
            run(qtbot, window.controller.shutdown())


def titles(window: MainWindow) -> list[str]:
    return [entry.title for entry in window.conversation_list.entries()]


def write(window: MainWindow, key: str, text: str) -> None:
    window.conversation_list.select(key)
    page = window.page_for(key)
    page.composer.setPlainText(text)
    page.composer.submit()


def test_the_list_comes_back_after_a_restart_as_it_was_left(qtbot, windows):
    alice, bob, carol = windows.make("Alice"), windows.make("Bob"), windows.make("Carol")
    bob_id, alice_in_bob = pair(qtbot, alice, bob)
    carol_id, alice_in_carol = pair(qtbot, alice, carol)

    write(carol, alice_in_carol, "first from carol")
    qtbot.waitUntil(lambda: alice.conversation_list.entry(carol_id).unread == 1, timeout=SOON)
    alice.activateWindow()
    alice.conversation_list.select(carol_id)  # Alice reads Carol's message
    qtbot.waitUntil(lambda: alice.conversation_list.entry(carol_id).unread == 0, timeout=SOON)
    write(bob, alice_in_bob, "line one from bob\nline two")
    write(bob, alice_in_bob, "then bob again")
    qtbot.waitUntil(lambda: alice.conversation_list.entry(bob_id).unread == 2, timeout=SOON)
    before = alice.conversation_list.entries()
    assert titles(alice) == ["Bob", "Carol"], "most recent first"
    assert before[0].preview == "then bob again" and before[1].preview == "first from carol"
    assert all(entry.verified for entry in before), "a code verifies"
    assert all(entry.online for entry in before)

    alice = windows.restart(alice)

    after = alice.conversation_list.entries()
    assert [(e.key, e.title, e.preview, e.unread, e.verified) for e in after] == [
        (e.key, e.title, e.preview, e.unread, e.verified) for e in before
    ]
    assert not any(entry.online for entry in after), "not connected yet: nobody is online"
    assert abs(after[0].activity - before[0].activity) < 2
    assert alice.current_session() == carol_id, "the conversation open last opens again"
    assert alice.windowTitle().startswith("(2) "), "unread counts survive"
    assert "2 unread" in alice.conversation_list.item(0).text()

    alice.activateWindow()
    alice.conversation_list.select(bob_id)
    page = alice.pages[bob_id]
    qtbot.waitUntil(page.loaded.is_set, timeout=SOON)
    assert [row.body for row in page.bubbles()] == [
        "line one from bob\nline two",
        "then bob again",
    ]
    qtbot.waitUntil(lambda: alice.conversation_list.entry(bob_id).unread == 0, timeout=SOON)
    alice = windows.restart(alice)
    assert alice.conversation_list.entry(bob_id).unread == 0, "reading is kept too"
    assert alice.current_session() == bob_id


def test_a_meeting_has_its_own_entry_until_it_introduces_a_contact(qtbot, windows):
    alice, bob = windows.make("Alice"), windows.make("Bob")
    info = run(qtbot, alice.controller.create_code())
    entry = alice.conversation_list.entry(info.key)
    assert entry is not None and not entry.contact
    assert entry.title == f"Code {info.code}" and "Waiting" in entry.state

    run(qtbot, bob.controller.join_code(info.code))
    bob_id = bob.controller.identity.fingerprint
    qtbot.waitUntil(lambda: alice.conversation_list.entry(info.key) is None, timeout=SOON)
    qtbot.waitUntil(lambda: alice.conversation_list.entry(bob_id) is not None, timeout=SOON)
    assert titles(alice) == ["Bob"]
    assert alice.current_session() == bob_id, "the page in front became Bob's"
    assert list(alice.pages) == [bob_id]

    # Meeting again (a new code) leads back to the same single entry.
    again = run(qtbot, alice.controller.create_code())
    run(qtbot, bob.controller.join_code(again.code))
    qtbot.waitUntil(lambda: alice.conversation_list.entry(again.key) is None, timeout=SOON)
    assert titles(alice) == ["Bob"]


def test_the_filter_box_hides_the_other_names(qtbot, windows):
    alice, bob, carol = windows.make("Alice"), windows.make("Bob"), windows.make("Carol")
    bob_id, _ = pair(qtbot, alice, bob)
    carol_id, _ = pair(qtbot, alice, carol)
    alice.side.search_box.setText("CAR")
    shown = [entry.key for entry in alice.conversation_list.visible_entries()]
    assert shown == [carol_id]
    alice.side.search_box.clear()
    assert {e.key for e in alice.conversation_list.visible_entries()} == {bob_id, carol_id}


def test_each_contact_shows_online_or_offline(qtbot, windows):
    alice, bob = windows.make("Alice"), windows.make("Bob")
    bob_id, alice_id = pair(qtbot, alice, bob)
    page = alice.pages[bob_id]
    assert alice.conversation_list.entry(bob_id).online and page.presence.text() == "online"

    bob._quitting = True
    run(qtbot, bob.controller.shutdown())
    qtbot.waitUntil(lambda: not alice.conversation_list.entry(bob_id).online, timeout=SOON)
    assert page.presence.text() == "offline"
    assert "offline" in alice.conversation_list.item(0).text()

    bob = windows.restart(bob, connect=True)
    qtbot.waitUntil(lambda: alice.conversation_list.entry(bob_id).online, timeout=SOON)
    qtbot.waitUntil(lambda: bob.conversation_list.entry(alice_id).online, timeout=SOON)


def test_a_reused_session_number_gets_its_own_entry(qtbot, windows):
    alice, bob = windows.make("Alice"), windows.make("Bob")

    # Bob types a wrong code three times: Alice's first code burns and its entry ends.
    first = run(qtbot, alice.controller.create_code())
    number = first.code.split("-")[0]
    for attempt in range(3):
        with pytest.raises(MessengerError):
            run(qtbot, bob.controller.join_code(f"{number}-wrong-guess{attempt}"))
    qtbot.waitUntil(lambda: alice.conversation_list.entry(first.key).state == "Ended", timeout=SOON)

    # A new code (the relay hands out the freed number again) introduces Bob.
    second = run(qtbot, alice.controller.create_code())
    assert second.session.id == first.session.id or second.key != first.key
    run(qtbot, bob.controller.join_code(second.code))
    bob_id = bob.controller.identity.fingerprint
    qtbot.waitUntil(lambda: alice.conversation_list.entry(bob_id) is not None, timeout=SOON)
    assert alice.conversation_list.entry(first.key).state == "Ended", "the dead entry stays dead"
    assert alice.pages[first.key].ended and not alice.pages[bob_id].ended

    alice_id = alice.controller.identity.fingerprint
    qtbot.waitUntil(lambda: bob.conversation_list.entry(alice_id) is not None, timeout=SOON)
    write(bob, alice_id, "on the new code")
    qtbot.waitUntil(lambda: alice.conversation_list.entry(bob_id).unread == 1, timeout=SOON)
    assert alice.pages[first.key].bubbles() == []

    # Closing the dead entry removes that one only.
    alice.conversation_list.select(first.key)
    alice.close_action.trigger()
    qtbot.waitUntil(lambda: alice.conversation_list.entry(first.key) is None, timeout=SOON)
    assert titles(alice) == ["Bob"]


def test_the_list_keys_are_the_apps_own(qtbot, windows):
    alice, bob = windows.make("Alice"), windows.make("Bob")
    info = run(qtbot, alice.controller.create_code())
    assert info.key != info.session.id, "a relay number never names an entry"
    run(qtbot, bob.controller.join_code(info.code))
    bob_id = bob.controller.identity.fingerprint
    qtbot.waitUntil(lambda: alice.current_session() == bob_id, timeout=SOON)
    assert [entry.key for entry in alice.conversation_list.entries()] == [bob_id]
