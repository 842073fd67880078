"""Notifications and quitting: the window title counts unread messages and names the
profile's person; a message that arrives while the window is away is notified (with or
without its text); quitting or closing asks first while a code is still waiting (and never
because of conversations, which carry on); the window can keep running in the tray.

Offscreen has no system tray: the tray's availability and its notification display are
injected. Two real windows pair through a real relay on 127.0.0.1.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from messenger.ui.controller import ServerChoice
from messenger.ui.main_window import MainWindow
from messenger.ui.tray import TrayIcon
from tests.gui.helpers import SOON, open_window, pair, run, wait_for_message_box
from tests.support import Keys, RelayProcess

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def make_window(qtbot, qasync_loop, tmp_path: Path, keys: Keys, relay: RelayProcess):
    windows: list[MainWindow] = []

    def make(name: str, **settings) -> MainWindow:
        window = open_window(qtbot, keys, tmp_path / name, len(windows), name=name, **settings)
        window.attach(run(qtbot, window.controller.connect_to(ServerChoice(relay.addr))))
        windows.append(window)
        return window

    yield make
    for window in windows:
        window._quitting = True
        run(qtbot, window.controller.shutdown())


def with_tray(window: MainWindow) -> list[tuple[str, str]]:
    """Give the window a tray that exists (injected); returns the notifications shown."""
    shown: list[tuple[str, str]] = []
    window.set_tray(TrayIcon(window, available=lambda: True, show_message=lambda t, m: None))
    assert window.tray is not None
    window.tray.notified.connect(lambda title, text: shown.append((title, text)))
    return shown


def send(window: MainWindow, text: str) -> None:
    page = next(iter(window.pages.values()))
    page.composer.setPlainText(text)
    page.composer.submit()


def test_the_title_names_the_person_and_counts_unread(qtbot, make_window):
    alice, bob = make_window("Alice"), make_window("Bob")
    assert alice.windowTitle() == "Messenger \u2014 Alice"
    notes = with_tray(alice)
    assert alice.tray is not None and alice.tray.shown, "the tray icon shows where a tray is"
    pair(qtbot, alice, bob)
    alice.showMinimized()
    send(bob, "one")
    send(bob, "two")
    qtbot.waitUntil(lambda: alice.windowTitle().startswith("(2) "), timeout=SOON)
    assert alice.windowTitle() == "(2) Messenger \u2014 Alice"
    assert alice.tray.unread == 2 and "2 unread" in alice.tray.toolTip()
    assert notes == [("Bob", "one"), ("Bob", "two")], "one notification per message"


def test_notifications_can_leave_the_text_out(qtbot, make_window):
    alice, bob = make_window("Alice", notification_previews=False), make_window("Bob")
    notes = with_tray(alice)
    pair(qtbot, alice, bob)
    alice.showMinimized()
    send(bob, "a secret")
    qtbot.waitUntil(lambda: bool(notes), timeout=SOON)
    assert notes == [("Bob", "New message")]


def test_no_tray_means_no_tray_icon_and_no_notification(qtbot, make_window):
    alice = make_window("Alice")
    alice.set_tray(TrayIcon(alice, available=lambda: False, show_message=lambda t, m: None))
    assert alice.tray is not None and not alice.tray.shown
    assert alice.tray.notify("Bob", "hi") is False


def test_quitting_asks_first_only_while_a_code_is_waiting(qtbot, make_window):
    alice, bob = make_window("Alice"), make_window("Bob")
    pair(qtbot, alice, bob)
    assert alice.controller.open_meetings() == [], "a conversation never holds quitting up"
    run(qtbot, alice.controller.create_code())
    closed: list[bool] = []
    alice.closed.connect(lambda: closed.append(True))
    alice.close()
    box = wait_for_message_box(qtbot, "quitConfirm")
    assert "cancels your code or invitation that is still waiting" in box.text()
    assert "conversations with contacts carry on" in box.informativeText()
    qtbot.mouseClick(box.button(box.StandardButton.Cancel), Qt.MouseButton.LeftButton)
    assert alice.isVisible() and closed == []
    alice.quit_app()
    box = wait_for_message_box(qtbot, "quitConfirm")
    quit_button = next(b for b in box.buttons() if b.text() == "Cancel it and quit")
    qtbot.mouseClick(quit_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: closed == [True], timeout=SOON)


def test_quitting_with_only_conversations_does_not_ask(qtbot, make_window):
    alice, bob = make_window("Alice"), make_window("Bob")
    pair(qtbot, alice, bob)
    closed: list[bool] = []
    alice.closed.connect(lambda: closed.append(True))
    alice.close()
    assert closed == [True]


def test_closing_a_waiting_code_asks_first(qtbot, make_window):
    alice = make_window("Alice")
    info = run(qtbot, alice.controller.create_code())
    alice.close_action.trigger()
    box = wait_for_message_box(qtbot, "closeConfirm")
    assert info.code in box.text()
    keep = next(b for b in box.buttons() if b.text() == "Keep waiting")
    qtbot.mouseClick(keep, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not box.isVisible(), timeout=SOON)
    assert list(alice.pages) == [info.key] and alice.controller.open_meetings()
    alice.close_action.trigger()
    box = wait_for_message_box(qtbot, "closeConfirm")
    end = next(b for b in box.buttons() if b.text() == "Cancel it")
    qtbot.mouseClick(end, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not alice.pages, timeout=SOON)
    assert alice.conversation_list.count() == 0


def test_closing_the_window_can_keep_it_running_in_the_tray(qtbot, make_window):
    alice = make_window("Alice", keep_in_tray=True)
    with_tray(alice)
    closed: list[bool] = []
    alice.closed.connect(lambda: closed.append(True))
    alice.close()
    assert not alice.isVisible(), "hidden to the tray"
    assert closed == [], "still running"
    alice.bring_back()
    assert alice.isVisible()
