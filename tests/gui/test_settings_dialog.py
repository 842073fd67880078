"""Session > Settings…: what it shows, what it saves, and switching to another relay.

The dialog is opened through the window's menu action, as a person would, and driven through
its widgets. Switching servers uses two real relay processes and the connection keeper the
app runs; waits are conditions with deadlines.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog, QLabel

from messenger.crypto.rsa import PublicKey, format_fingerprint
from messenger.ui import app as ui_app
from messenger.ui.controller import EMBEDDED, ServerChoice
from messenger.ui.hosting import HostingDialog
from messenger.ui.main_window import MainWindow
from messenger.ui.reconnect import ConnectionKeeper
from messenger.ui.settings_dialog import SettingsDialog
from server.embedded import EmbeddedRelay
from tests.gui.helpers import SHORT_PAUSES, SOON, connection_text, open_window, run
from tests.support import Keys, RelayProcess

pytestmark = pytest.mark.timeout(90)


def start_relay(tmp_path: Path, keys: Keys, name: str) -> RelayProcess:
    """A relay with the shared test key (pins are per host:port, so two ports are two
    servers to the app)."""
    data = tmp_path / name
    keys.install_relay_key(data)
    return RelayProcess(data)


@pytest.fixture
def relay_a(tmp_path: Path, keys: Keys) -> Iterator[RelayProcess]:
    relay = start_relay(tmp_path, keys, "relay-a")
    yield relay
    relay.kill()


@pytest.fixture
def relay_b(tmp_path: Path, keys: Keys) -> Iterator[RelayProcess]:
    relay = start_relay(tmp_path, keys, "relay-b")
    yield relay
    relay.kill()


@pytest.fixture
def make_window(qtbot, qasync_loop, tmp_path: Path, keys: Keys):
    """Alice's window with her identity open and the given server saved; no connection."""
    windows: list[MainWindow] = []

    def make(server: str = EMBEDDED) -> MainWindow:
        window = open_window(qtbot, keys, tmp_path / "alice", 0, name="Alice", server=server)
        windows.append(window)
        return window

    yield make
    for window in windows:
        run(qtbot, window.controller.shutdown())


@pytest.fixture
def kept_window(qtbot, make_window, relay_a: RelayProcess):
    """A window connected to relay A and kept connected, as the app's boot does it."""
    window = make_window(relay_a.addr)
    keeper = ConnectionKeeper(
        window.controller,
        window,
        ServerChoice(relay_a.addr),
        ui_app.connect,
        delays=SHORT_PAUSES,
    )
    keeper.start()
    qtbot.waitUntil(lambda: connection_text(window) == "Connected", timeout=SOON)
    yield window, keeper
    keeper.stop()
    run(qtbot, window.controller.shutdown())
    assert keeper.task is not None
    qtbot.waitUntil(keeper.task.done, timeout=SOON)


def open_settings(window: MainWindow) -> SettingsDialog:
    window.settings_action.trigger()
    dialogs = [d for d in window.findChildren(SettingsDialog) if d.isVisible()]
    assert len(dialogs) == 1, "Session > Settings… opens one settings dialog"
    return dialogs[0]


def shown(label: QLabel) -> str:
    """A label's text as one line (fingerprints are shown on two)."""
    return " ".join(label.text().split())


def click(qtbot, button) -> None:
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


# -- what the dialog shows --------------------------------------------------------------------


def test_settings_show_the_server_in_use_its_key_and_your_id(qtbot, kept_window, relay_a, keys):
    window, _keeper = kept_window
    dialog = open_settings(window)

    assert window.settings_action.shortcut().toString() == "Ctrl+,"
    picker = dialog.server_picker
    assert picker.use_server.isChecked() and not picker.host_here.isChecked()
    assert dialog.server_picker.server_input.text() == relay_a.addr
    assert shown(dialog.findChild(QLabel, "serverKeyDigits")) == format_fingerprint(
        keys.relay.fingerprint
    )
    assert relay_a.addr in dialog.server_key_hint.text()
    assert shown(dialog.findChild(QLabel, "identityDigits")) == format_fingerprint(
        keys.identity(0).fingerprint
    )
    assert "without a passphrase" in dialog.findChild(QLabel, "keyProtection").text()
    assert dialog.name_input.text() == "Alice"
    assert dialog.findChild(QLabel, "profileFolder").text() == str(window.controller.profile.path)
    assert not dialog.switch_note.isVisible(), "no session open: nothing to warn about"

    click(qtbot, dialog.copy_button)
    assert QGuiApplication.clipboard().text() == format_fingerprint(keys.identity(0).fingerprint)
    assert dialog.key_note.isVisible()


def test_a_profile_that_hosts_its_server_shows_that_choice(qtbot, make_window):
    dialog = open_settings(make_window(EMBEDDED))
    assert dialog.server_picker.host_here.isChecked()
    assert not dialog.server_picker.server_input.isEnabled()
    assert not dialog.findChild(QLabel, "serverKeyDigits").isVisible()
    assert dialog.server_key_hint.text() == "Not connected yet."


# -- what it saves ----------------------------------------------------------------------------


def test_a_bad_address_shows_an_error_keeps_the_text_and_saves_nothing(qtbot, make_window):
    window = make_window(EMBEDDED)
    requested: list[str] = []
    window.serverChangeRequested.connect(requested.append)
    dialog = open_settings(window)

    dialog.name_input.setText("Alice Liddell")
    click(qtbot, dialog.server_picker.use_server)
    dialog.server_picker.server_input.setText("relay.example.org:99999")
    click(qtbot, dialog.ok_button)

    assert dialog.isVisible(), "the dialog stays open to fix the address"
    assert dialog.error_label.isVisible()
    assert "port must be a number from 1 to 65535" in dialog.error_label.text()
    assert dialog.server_picker.server_input.text() == "relay.example.org:99999"
    assert dialog.name_input.text() == "Alice Liddell"
    settings = window.controller.profile.settings()
    assert (settings["name"], settings["server"]) == ("Alice", EMBEDDED)
    assert requested == []


def test_an_empty_name_is_refused_in_the_dialog(qtbot, make_window):
    window = make_window(EMBEDDED)
    dialog = open_settings(window)
    dialog.name_input.setText("   ")
    click(qtbot, dialog.ok_button)
    assert dialog.isVisible()
    assert "Type your name" in dialog.error_label.text()
    assert window.controller.profile.name == "Alice"


def test_a_new_name_is_saved_to_the_profile(qtbot, make_window):
    window = make_window(EMBEDDED)
    requested: list[str] = []
    window.serverChangeRequested.connect(requested.append)
    dialog = open_settings(window)

    dialog.name_input.setText("  Alice Liddell ")
    click(qtbot, dialog.ok_button)

    assert not dialog.isVisible()
    assert window.controller.profile.name == "Alice Liddell"
    assert window.controller.profile.settings()["server"] == EMBEDDED
    assert requested == [], "the server did not change, so the connection stays"


def test_cancel_saves_nothing(qtbot, make_window):
    window = make_window(EMBEDDED)
    dialog = open_settings(window)
    dialog.name_input.setText("Mallory")
    click(qtbot, dialog.server_picker.use_server)
    dialog.server_picker.server_input.setText("relay.example.org:5555")
    click(qtbot, dialog.buttons.button(dialog.buttons.StandardButton.Cancel))
    assert not dialog.isVisible()
    settings = window.controller.profile.settings()
    assert (settings["name"], settings["server"]) == ("Alice", EMBEDDED)


# -- switching servers ------------------------------------------------------------------------


def test_switching_to_another_relay_connects_there_and_ends_waiting_codes(
    qtbot, kept_window, relay_a, relay_b
):
    window, _keeper = kept_window
    controller = window.controller
    first_client = controller.client
    info = run(qtbot, controller.create_code())
    page = window.page(info.key)

    dialog = open_settings(window)
    assert not dialog.switch_note.isVisible()
    dialog.server_picker.server_input.setText(relay_b.addr)
    assert dialog.switch_note.isVisible(), "the person is told before OK"
    assert "code or invitation still waiting will end" in dialog.switch_note.text()
    assert "Conversations with your contacts carry on" in dialog.switch_note.text()
    click(qtbot, dialog.ok_button)

    qtbot.waitUntil(
        lambda: (
            controller.server_address == relay_b.addr
            and controller.client not in (None, first_client)
            and controller.client.connected
        ),
        timeout=SOON,
    )
    qtbot.waitUntil(lambda: connection_text(window) == "Connected", timeout=SOON)
    assert controller.profile.settings()["server"] == relay_b.addr
    assert "Ended: Messenger switched to another server." in page.system_lines()
    assert not page.composer.isEnabled(), "the ended code's composer is closed"
    relay_a.wait_until_gone(controller.identity.fingerprint)
    assert run(qtbot, controller.create_code()).code, "codes work on the new relay"


def test_a_keeper_that_stopped_trying_starts_again_for_another_server(qtbot, make_window):
    """After "Stay disconnected" on a changed key the keeper's loop has ended; choosing
    another server in Settings must still connect there."""
    window = make_window("127.0.0.1:1")
    attempts: list[str] = []

    async def stay_disconnected(_controller, _window, choice: ServerChoice) -> None:
        attempts.append(choice.address)

    keeper = ConnectionKeeper(
        window.controller, window, ServerChoice("127.0.0.1:1"), stay_disconnected
    )
    keeper.start()
    assert keeper.task is not None
    qtbot.waitUntil(keeper.task.done, timeout=SOON)
    assert attempts == ["127.0.0.1:1"]

    window.serverChangeRequested.emit("127.0.0.1:2")
    qtbot.waitUntil(lambda: attempts == ["127.0.0.1:1", "127.0.0.1:2"], timeout=SOON)
    qtbot.waitUntil(keeper.task.done, timeout=SOON)
    keeper.stop()


# -- the public key ---------------------------------------------------------------------------


def test_export_writes_the_public_key_and_never_the_private_one(
    qtbot, make_window, tmp_path: Path, monkeypatch, keys
):
    target = tmp_path / "exported" / "alice.pem"
    target.parent.mkdir()
    asked: list[str] = []

    def choose(_parent, caption: str, *_args, **_kwargs) -> tuple[str, str]:
        asked.append(caption)
        return str(target), "PEM public key (*.pem)"

    monkeypatch.setattr(QFileDialog, "getSaveFileName", choose)
    dialog = open_settings(make_window(EMBEDDED))
    click(qtbot, dialog.export_button)

    assert asked == ["Export your public key"]
    data = target.read_bytes()
    assert b"PRIVATE" not in data
    assert PublicKey.from_pem(data).fingerprint == keys.identity(0).fingerprint
    assert str(target) in dialog.key_note.text()


def test_cancelling_the_export_writes_nothing(qtbot, make_window, tmp_path: Path, monkeypatch):
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *_a, **_k: ("", ""))
    dialog = open_settings(make_window(EMBEDDED))
    before = set(tmp_path.rglob("*"))
    click(qtbot, dialog.export_button)
    assert set(tmp_path.rglob("*")) == before
    assert not dialog.key_note.isVisible() and not dialog.error_label.isVisible()


# -- hosting a server here --------------------------------------------------------------------


def test_hosting_here_shows_the_address_to_give_its_key_and_a_copy_button(qtbot, make_window):
    window = make_window(EMBEDDED)
    controller = window.controller
    controller.profile.save_settings(host_scope="loopback", host_port=0)
    window.attach(run(qtbot, controller.connect_to(ServerChoice(EMBEDDED))))
    relay = controller.relay
    assert relay is not None and relay.address is not None
    assert relay.address[0] == "127.0.0.1", "tests host on loopback only"
    address = f"127.0.0.1:{relay.address[1]}"

    dialog = open_settings(window)
    panel = dialog.hosting_panel
    assert panel is not None and panel.isVisible()
    assert panel.address_label.text() == address
    assert "Only this computer" in panel.where_hint.text()
    assert shown(panel.fingerprint_label) == format_fingerprint(relay.fingerprint)
    click(qtbot, panel.copy_button)
    assert QGuiApplication.clipboard().text() == address
    dialog.close()

    button = window.status_bar.hosting_button
    assert button.isVisible() and str(relay.address[1]) in button.text()
    assert address in button.toolTip()
    click(qtbot, button)
    hosting = window.findChild(HostingDialog)
    assert hosting is not None and hosting.panel.address_label.text() == address


def test_hosting_for_everyone_is_the_default_on_port_5555(qtbot, make_window):
    window = make_window(EMBEDDED)
    assert window.controller.new_relay().requested == ("", 5555), "every interface"
    picker = open_settings(window).server_picker
    assert picker.scope.currentData() == "everyone"
    assert picker.port_input.text() == "5555"
    window.controller.profile.save_settings(host_scope="loopback", host_port=6000)
    assert window.controller.new_relay().requested == ("127.0.0.1", 6000)


def test_others_are_given_this_computers_network_addresses(qtbot, make_window, tmp_path):
    window = make_window(EMBEDDED)
    controller = window.controller
    controller.find_addresses = lambda: ["192.0.2.7", "fd00::2"]
    controller.relay = EmbeddedRelay(tmp_path, host="", port=5555)
    controller.relay.address = ("0.0.0.0", 5555)  # as if started: nothing is bound here
    controller.relay.fingerprint = "ab" * 32
    view = controller.hosting_view()
    controller.relay = None
    assert view is not None
    assert view.addresses == ["192.0.2.7:5555", "[fd00::2]:5555"]
    assert not view.loopback_only
    assert "192.0.2.7:5555" in view.summary and "abab abab" in view.summary


def test_a_taken_port_moves_to_the_next_one_and_is_remembered(qtbot, make_window):
    window = make_window(EMBEDDED)
    controller = window.controller
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        controller.profile.save_settings(host_scope="loopback", host_port=port)
        window.attach(run(qtbot, controller.connect_to(ServerChoice(EMBEDDED))))
    assert controller.relay is not None and controller.relay.address is not None
    bound = controller.relay.address[1]
    assert bound != port
    assert controller.profile.settings()["host_port"] == bound, "remembered for next time"


def test_changing_the_hosting_port_reconnects(qtbot, make_window):
    window = make_window(EMBEDDED)
    window.controller.profile.save_settings(host_scope="loopback", host_port=0)
    requested: list[str] = []
    window.serverChangeRequested.connect(requested.append)
    dialog = open_settings(window)
    dialog.server_picker.port_input.setText("6001")
    click(qtbot, dialog.ok_button)
    assert requested == [EMBEDDED]
    assert window.controller.hosting_settings() == ("loopback", 6001)


def test_hosting_here_does_not_announce_a_first_contact(qtbot, make_window):
    """The server is this app's own: "its key is now pinned" would only puzzle."""
    window = make_window(EMBEDDED)
    window.controller.profile.save_settings(host_scope="loopback", host_port=0)
    window.attach(run(qtbot, window.controller.connect_to(ServerChoice(EMBEDDED))))
    assert "First contact" not in window.statusBar().currentMessage()
    assert window.status_bar.hosting_button.isVisible()
