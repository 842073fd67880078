"""Two real windows (two profiles) against a real relay process on 127.0.0.1.

Everything goes through the widgets a person uses: the new-session dialog, the composer,
the invitation prompt, the contact details. Waits are conditions with deadlines.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QLabel, QPushButton

from messenger.crypto.kdf import stretch_password
from messenger.crypto.rsa import format_fingerprint
from messenger.store.records import MessageStatus
from messenger.ui import app as ui_app
from messenger.ui.chat_view import ChatPage
from messenger.ui.contact_details import ContactDetailsDialog
from messenger.ui.controller import ServerChoice
from messenger.ui.main_window import MainWindow
from messenger.ui.new_session_dialog import NewSessionDialog
from tests.gui.helpers import SOON, open_window, run, wait_for_message_box
from tests.support import Keys, RelayProcess

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def relay(tmp_path: Path, keys: Keys) -> Iterator[RelayProcess]:
    data = tmp_path / "relay"
    keys.install_relay_key(data)
    process = RelayProcess(data, rotate_interval=1.0)
    yield process
    process.kill()


@pytest.fixture
def make_window(qtbot, qasync_loop, tmp_path: Path, keys: Keys, relay: RelayProcess):
    windows: list[MainWindow] = []

    def make(name: str, *, connect: bool = True) -> MainWindow:
        window = open_window(qtbot, keys, tmp_path / name, len(windows), name=name)
        if connect:
            window.attach(run(qtbot, window.controller.connect_to(ServerChoice(relay.addr))))
        windows.append(window)
        return window

    yield make
    for window in windows:
        run(qtbot, window.controller.shutdown())


def only_page(window: MainWindow) -> ChatPage:
    assert len(window.pages) == 1, window.pages
    return next(iter(window.pages.values()))


def ready(window: MainWindow) -> Callable[[], bool]:
    """The meeting is done: one page, the contact's, with its history read."""
    return lambda: (
        len(window.pages) == 1 and only_page(window).contact and only_page(window).loaded.is_set()
    )


def system_lines(page: ChatPage) -> list[str]:
    return page.system_lines()


def texts(page: ChatPage) -> list[str]:
    return [row.body for row in page.bubbles()]


def type_and_send(qtbot, page: ChatPage, text: str) -> None:
    page.composer.setFocus()
    page.composer.setPlainText(text)
    qtbot.keyClick(page.composer, Qt.Key.Key_Return)


def new_session_dialog(qtbot, window: MainWindow) -> NewSessionDialog:
    """Session > New session… in ``window``, shown."""
    dialog = NewSessionDialog(window.controller, window)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def pair_by_code(qtbot, alice: MainWindow, bob: MainWindow) -> None:
    create = new_session_dialog(qtbot, alice)
    qtbot.mouseClick(create.create_tab.create_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: create.create_tab.code_label.text().count("-") == 2, timeout=SOON)
    code = create.create_tab.code_label.text()
    join = new_session_dialog(qtbot, bob)
    join.tabs.setCurrentWidget(join.findChild(object, "joinTab"))
    join.join_tab.code_input.setText(code)
    qtbot.mouseClick(join.join_tab.join_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(ready(alice), timeout=SOON)
    qtbot.waitUntil(ready(bob), timeout=SOON)


def test_a_code_made_in_one_window_pairs_the_other_and_messages_flow_both_ways(
    qtbot, make_window
) -> None:
    alice, bob = make_window("Alice"), make_window("Bob")
    pair_by_code(qtbot, alice, bob)
    page_a, page_b = only_page(alice), only_page(bob)

    type_and_send(qtbot, page_a, "Hello Bob")
    qtbot.waitUntil(lambda: texts(page_b) == ["Hello Bob"], timeout=SOON)
    assert page_a.composer.toPlainText() == "", "the composer empties after sending"
    type_and_send(qtbot, page_b, "Hi Alice")
    qtbot.waitUntil(lambda: "Hi Alice" in texts(page_a), timeout=SOON)

    qtbot.waitUntil(
        lambda: all(b.status is MessageStatus.DELIVERED for b in page_a.bubbles() if b.outgoing),
        timeout=SOON,
    )
    assert [b.outgoing for b in page_b.bubbles()] == [False, True]


def test_shift_enter_starts_a_new_line_instead_of_sending(qtbot, make_window) -> None:
    alice, bob = make_window("Alice"), make_window("Bob")
    pair_by_code(qtbot, alice, bob)
    page = only_page(alice)
    page.composer.setPlainText("first line")
    page.composer.moveCursor(page.composer.textCursor().MoveOperation.End)
    qtbot.keyClick(page.composer, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    assert page.bubbles() == []
    assert page.composer.toPlainText() == "first line\n"


def test_keys_renew_quietly_in_the_status_bar_and_messages_still_flow(qtbot, make_window):
    """Keys renew on the relay's ticks (every second here) while the conversation is
    active, even when only one side talks; the status bar counts it, the conversation
    itself stays free of it (keys turn over at every change of direction)."""
    alice, bob = make_window("Alice"), make_window("Bob")
    pair_by_code(qtbot, alice, bob)
    page_a, page_b = only_page(alice), only_page(bob)
    alice.conversation_list.select(page_a.key)
    type_and_send(qtbot, page_a, "one way")
    qtbot.waitUntil(lambda: alice.controller.key_steps(page_a.key) >= 1, timeout=SOON)
    steps = alice.controller.key_steps(page_a.key)
    type_and_send(qtbot, page_a, "still one way")
    qtbot.waitUntil(lambda: alice.controller.key_steps(page_a.key) > steps, timeout=SOON)
    qtbot.waitUntil(lambda: "renewed" in alice.status_bar.epoch_label.text(), timeout=SOON)
    status = alice.status_bar.epoch_label.text()
    assert "epoch" not in status.lower() and "RSA" not in status
    assert not any("renewed" in line for line in system_lines(page_a) + system_lines(page_b))
    type_and_send(qtbot, page_a, "after rotation")
    qtbot.waitUntil(lambda: "after rotation" in texts(page_b), timeout=SOON)


def test_a_wrong_password_is_reported_in_the_join_dialog_and_keeps_what_was_typed(
    qtbot, make_window
) -> None:
    alice, bob = make_window("Alice"), make_window("Bob")
    create = new_session_dialog(qtbot, alice)
    create.create_tab.own_password_check.setChecked(True)
    create.create_tab.own_password.setText("correct horse")
    qtbot.mouseClick(create.create_tab.create_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: create.create_tab.code_label.text().isdigit(), timeout=SOON)
    number = create.create_tab.code_label.text()

    join = new_session_dialog(qtbot, bob)
    join.tabs.setCurrentIndex(1)
    join.join_tab.number_check.setChecked(True)
    join.join_tab.session_number_input.setText(number)
    join.join_tab.join_password.setText("wrong horse")
    qtbot.mouseClick(join.join_tab.join_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "passwords did not match" in join.error_label.text(), timeout=SOON)
    assert join.isVisible()
    assert join.join_tab.session_number_input.text() == number
    assert join.join_tab.join_password.text() == "wrong horse"
    assert bob.pages == {}, "a failed join leaves no session behind"


def test_an_rsa_session_starts_from_the_presence_list_and_the_invitation_prompt(
    qtbot, make_window
) -> None:
    alice, bob = make_window("Alice"), make_window("Bob")
    dialog = new_session_dialog(qtbot, bob)
    dialog.tabs.setCurrentIndex(2)
    qtbot.waitUntil(lambda: dialog.people_tab.people_list.count() == 1, timeout=SOON)
    item = dialog.people_tab.people_list.item(0)
    assert "Alice" in item.text() and "free" in item.text()
    dialog.people_tab.people_list.setCurrentItem(item)
    item.setSelected(True)
    assert dialog.people_tab.invite_button.isEnabled()
    qtbot.mouseClick(dialog.people_tab.invite_button, Qt.MouseButton.LeftButton)

    box = wait_for_message_box(qtbot, "invitationBox")
    assert "Bob" in box.text()
    assert "RSA" not in box.text(), "plain words; the technical part is behind Details"
    assert format_fingerprint(bob.controller.identity.fingerprint) in box.detailedText()
    accept = next(b for b in box.buttons() if b.text() == "Accept")
    qtbot.mouseClick(accept, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(ready(alice), timeout=SOON)
    qtbot.waitUntil(ready(bob), timeout=SOON)
    assert only_page(alice).title.text() == "Bob"
    assert only_page(bob).title.text() == "Alice"
    for window in (alice, bob):
        lines = " ".join(system_lines(only_page(window)))
        assert "Invited session done" in lines
        assert "RSA" not in lines and "epoch" not in lines, lines
        assert "RSA" not in window.status_bar.epoch_label.text()

    digits = []
    for window in (alice, bob):
        qtbot.mouseClick(only_page(window).details_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda w=window: details_of(w) is not None, timeout=SOON)
        details = details_of(window)
        text = details.findChild(QLabel, "safetyDigits").text()
        digits.append("".join(ch for ch in text if ch.isdigit()))
        mark = details.findChild(QPushButton, "markVerified")
        qtbot.mouseClick(mark, Qt.MouseButton.LeftButton)
        details.close()
    assert len(digits[0]) == 60 and digits[0] == digits[1]
    qtbot.waitUntil(lambda: "verified" in only_page(bob).badge.text(), timeout=SOON)
    assert bob.controller.profile.contacts.get(alice.controller.identity.fingerprint).verified


def details_of(window: MainWindow) -> ContactDetailsDialog | None:
    found = window.findChild(ContactDetailsDialog)
    return found if found is not None and found.isVisible() else None


def test_a_changed_server_key_blocks_behind_a_plain_warning(
    qtbot, make_window, relay: RelayProcess
) -> None:
    window = make_window("Alice", connect=False)
    profile = window.controller.profile
    profile.known_servers.pin(relay.addr, "ab" * 32)  # what we "knew" before
    task = asyncio.ensure_future(
        ui_app.connect(window.controller, window, ServerChoice(relay.addr))
    )

    box = wait_for_message_box(qtbot, "serverKeyChanged")
    words = box.text() + box.informativeText()
    assert relay.addr in words
    assert "--server-fingerprint" not in words and "abab" not in words, "plain words up front"
    assert "abab abab" in box.detailedText(), "Details name the pinned key"
    assert "--server-fingerprint" not in box.detailedText()
    assert window.controller.client is None, "nothing connected behind the warning"
    stay = next(b for b in box.buttons() if b.text() == "Stay disconnected")
    qtbot.mouseClick(stay, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(task.done, timeout=SOON)
    assert "key has changed" in window.statusBar().currentMessage()
    assert profile.known_servers.get(relay.addr) == "ab" * 32, "the pin was not replaced"


def test_the_window_keeps_repainting_while_a_password_is_stretched(
    qtbot, make_window, monkeypatch
) -> None:
    """A 600,000-iteration PBKDF2 runs during pairing; the GUI thread must stay free."""
    alice, bob = make_window("Alice"), make_window("Bob")
    stretching = {"running": False, "ticks": 0}

    def slow_stretch(password: str, salt: bytes) -> bytes:
        stretching["running"] = True
        try:
            for _ in range(4):  # four real 600,000-iteration derivations: long enough to see
                key = stretch_password(password, salt)
            return key
        finally:
            stretching["running"] = False

    monkeypatch.setattr("messenger.session.stretch_password", slow_stretch)
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(
        lambda: stretching.__setitem__("ticks", stretching["ticks"] + stretching["running"])
    )
    timer.start()
    pair_by_code(qtbot, alice, bob)
    timer.stop()
    assert stretching["ticks"] >= 5, (
        f"only {stretching['ticks']} timer ticks while PBKDF2 ran: the GUI thread was blocked"
    )
