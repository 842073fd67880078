"""First start with a server address: the welcome dialog checks it before Continue, says
in a sentence what is wrong, and offers "Use it anyway"; --server fills it in; status
messages read as sentences and fit the window.

A real relay process on 127.0.0.1 (and 127.0.0.1:1, where nothing listens).
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog

from messenger.crypto.rsa import format_fingerprint
from messenger.ui import app as ui_app
from messenger.ui.controller import ServerChoice
from messenger.ui.reconnect import ConnectionKeeper
from messenger.ui.welcome_dialog import WelcomeDialog
from tests.gui.helpers import SHORT_PAUSES, SOON, open_window, run
from tests.gui.test_dialogs import FakeIdentityController, FakeProfile, fill_welcome

pytestmark = pytest.mark.timeout(90)

NOWHERE = "127.0.0.1:1"


@pytest.fixture
def welcome(qtbot, qasync_loop):
    def make(server: str | None = None) -> WelcomeDialog:
        dialog = WelcomeDialog(FakeIdentityController(FakeProfile()), server=server)
        qtbot.addWidget(dialog)
        dialog.show()
        return dialog

    return make


def click(qtbot, button) -> None:
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_a_server_that_answers_shows_its_key_and_continues(qtbot, welcome, relay, keys):
    dialog = welcome()
    fill_welcome(dialog, server=relay.addr)
    click(qtbot, dialog.continue_button)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=SOON)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.choice is not None and dialog.choice.address == relay.addr
    picker = dialog.server_picker
    assert format_fingerprint(keys.relay.fingerprint)[:19] in picker.check_label.text()


def test_the_test_button_checks_without_continuing(qtbot, welcome, relay, keys):
    dialog = welcome()
    fill_welcome(dialog, server=relay.addr)
    picker = dialog.server_picker
    click(qtbot, picker.check_button)
    qtbot.waitUntil(lambda: "answers" in picker.check_label.text(), timeout=SOON)
    assert dialog.isVisible()
    assert format_fingerprint(keys.relay.fingerprint) in picker.check_label.toolTip()


def test_nothing_at_the_address_says_so_and_offers_to_go_on_anyway(qtbot, welcome):
    dialog = welcome()
    fill_welcome(dialog, server=NOWHERE)
    click(qtbot, dialog.continue_button)
    picker = dialog.server_picker
    qtbot.waitUntil(picker.anyway_button.isVisible, timeout=SOON)
    message = picker.check_label.text()
    assert message == (
        "Nothing answers at 127.0.0.1:1 (connection refused). Check the address and port, "
        "and that the server is running."
    )
    assert "Errno" not in message and "Connect call" not in message
    assert dialog.isVisible(), "a failed check keeps the dialog open"
    assert dialog.controller.loaded_with == [], "no key is made for an address that failed"

    click(qtbot, picker.anyway_button)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=SOON)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.choice is not None and dialog.choice.address == NOWHERE


def test_a_server_given_on_the_command_line_is_filled_in(qtbot, welcome):
    dialog = welcome(server="relay.example.org:6000")
    picker = dialog.server_picker
    assert picker.use_server.isChecked()
    assert picker.server_input.text() == "relay.example.org:6000"


def test_the_command_line_server_reaches_the_welcome(monkeypatch, qtbot, qasync_loop, tmp_path):
    seen: list[object] = []

    async def fake_run_dialog(dialog):
        seen.append(dialog.server_picker.server_input.text())
        return QDialog.DialogCode.Rejected

    monkeypatch.setattr(ui_app, "run_dialog", fake_run_dialog)
    from messenger.store.profile import Profile
    from messenger.ui.controller import AppController

    controller = AppController(Profile.open(tmp_path / "new"))
    assert run(qtbot, ui_app.unlock_identity(controller, server="10.0.0.9:5555")) is False
    assert seen == ["10.0.0.9:5555"]


def test_status_messages_are_sentences_that_fit(qtbot, qasync_loop, tmp_path, keys):
    window = open_window(qtbot, keys, tmp_path / "alice", 0, name="Alice")
    window.resize(780, 500)
    keeper = ConnectionKeeper(
        window.controller, window, ServerChoice(NOWHERE), ui_app.connect, delays=SHORT_PAUSES
    )
    keeper.start()
    bar = window.status_bar
    qtbot.waitUntil(lambda: "Trying again" in bar.full_message, timeout=SOON)
    keeper.stop()
    full = bar.full_message
    assert "Nothing answers at 127.0.0.1:1" in full
    assert "Errno" not in full and "Connect call failed" not in full
    shown = bar.currentMessage()
    assert bar.fontMetrics().horizontalAdvance(shown) <= bar.message_width()
    assert full in bar.toolTip() or bar.toolTip() == full
    run(qtbot, window.controller.shutdown())
    assert keeper.task is not None
    qtbot.waitUntil(keeper.task.done, timeout=SOON)
