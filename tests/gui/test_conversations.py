"""The conversation list is the app's own: entries, pages, unread marks and closing keep to
the conversation they belong to, whatever session numbers the relay hands out (it reuses
the lowest free one once a session has ended).

Two real windows against a real relay process on 127.0.0.1; waits are conditions with
deadlines.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from messenger.protocol.errors import MessengerError
from messenger.ui.controller import ServerChoice
from messenger.ui.main_window import MainWindow
from tests.gui.helpers import SOON, open_window, run
from tests.support import Keys, RelayProcess

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def relay(tmp_path: Path, keys: Keys) -> Iterator[RelayProcess]:
    data = tmp_path / "relay"
    keys.install_relay_key(data)
    process = RelayProcess(data)
    yield process
    process.kill()


@pytest.fixture
def make_window(qtbot, qasync_loop, tmp_path: Path, keys: Keys, relay: RelayProcess):
    windows: list[MainWindow] = []

    def make(name: str) -> MainWindow:
        window = open_window(qtbot, keys, tmp_path / name, len(windows), name=name)
        window.attach(run(qtbot, window.controller.connect_to(ServerChoice(relay.addr))))
        windows.append(window)
        return window

    yield make
    for window in windows:
        run(qtbot, window.controller.shutdown())


def entry_texts(window: MainWindow) -> list[str]:
    return [window.session_list.item(row).text() for row in range(window.session_list.count())]


def over(text: str) -> bool:
    """An entry whose session failed or ended (a wrong code ends the creator's session one
    way or the other, depending on which reaches the relay first)."""
    return "failed" in text or "ended" in text


def page_of_row(window: MainWindow, row: int):
    window.session_list.setCurrentRow(row)
    return window.stack.currentWidget()


def test_a_reused_session_number_gets_its_own_entry_and_page(qtbot, make_window):
    alice, bob = make_window("Alice"), make_window("Bob")

    # Bob types a wrong code three times: Alice's first code burns and its session fails
    # (a code survives two wrong guesses).
    first = run(qtbot, alice.controller.create_code())
    number = first.code.split("-")[0]
    for attempt in range(3):
        with pytest.raises(MessengerError):
            run(qtbot, bob.controller.join_code(f"{number}-wrong-guess{attempt}"))
    qtbot.waitUntil(lambda: over(entry_texts(alice)[0]), timeout=SOON)

    # Alice makes a new code (the relay hands out the freed number again) and Bob joins.
    second = run(qtbot, alice.controller.create_code())
    run(qtbot, bob.controller.join_code(second.code))
    qtbot.waitUntil(
        lambda: len(entry_texts(alice)) == 2 and "waiting" not in entry_texts(alice)[1],
        timeout=SOON,
    )
    texts = entry_texts(alice)
    assert over(texts[0]), "the dead entry keeps saying it is over"
    assert not over(texts[1]), texts
    dead_page, live_page = page_of_row(alice, 0), page_of_row(alice, 1)
    assert dead_page is not live_page, "each entry opens its own page"
    assert live_page.verify_button.isEnabled() and not dead_page.composer.isEnabled()

    # A message from Bob lands on the live page and marks the live entry unread.
    alice.session_list.setCurrentRow(0)
    bob_page = next(iter(bob.pages.values()))
    bob_page.composer.setPlainText("on the new code")
    bob_page.composer.submit()
    qtbot.waitUntil(lambda: "1 new" in entry_texts(alice)[1], timeout=SOON)
    assert [b.text.text() for b in live_page.bubbles()] == ["on the new code"]
    assert dead_page.bubbles() == []
    assert "new" not in entry_texts(alice)[0]

    # Closing the selected (dead) entry removes that one only; the live one stays live.
    alice.session_list.setCurrentRow(0)
    alice.close_action.trigger()
    qtbot.waitUntil(lambda: len(entry_texts(alice)) == 1, timeout=SOON)
    assert not over(entry_texts(alice)[0])
    assert page_of_row(alice, 0) is live_page
    assert live_page.composer.isEnabled()


def test_entries_keep_their_order_and_state_when_one_ends(qtbot, make_window):
    """Ending one of two conversations marks that entry only."""
    alice, bob = make_window("Alice"), make_window("Bob")
    first = run(qtbot, alice.controller.create_code())
    run(qtbot, bob.controller.join_code(first.code))
    second = run(qtbot, alice.controller.create_code())
    run(qtbot, bob.controller.join_code(second.code))
    qtbot.waitUntil(
        lambda: (
            len(entry_texts(alice)) == 2 and all("waiting" not in t for t in entry_texts(alice))
        ),
        timeout=SOON,
    )
    bob_entry = bob.session_list.item(0)
    bob.session_list.setCurrentItem(bob_entry)
    run(qtbot, bob.controller.close_session(bob.current_session()))
    qtbot.waitUntil(lambda: "ended" in entry_texts(alice)[0], timeout=SOON)
    assert "ended" not in entry_texts(alice)[1]
    assert page_of_row(alice, 1).composer.isEnabled()


def test_the_conversation_list_keys_are_the_apps_own(qtbot, make_window):
    alice, bob = make_window("Alice"), make_window("Bob")
    info = run(qtbot, alice.controller.create_code())
    run(qtbot, bob.controller.join_code(info.code))
    key = alice.current_session()
    assert key is not None
    assert key != info.session.id, "a relay number never names a conversation in the app"
