"""The app stays connected: a relay that goes away and comes back is reconnected to on its
own, and one that comes back with another key is not trusted silently.

A real relay process on a fixed loopback port is stopped and started again (same port);
waits are conditions with deadlines. The keeper's pauses are shortened to keep this quick.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QLabel

from messenger.ui import app as ui_app
from messenger.ui.controller import ServerChoice
from messenger.ui.reconnect import ConnectionKeeper
from tests.gui.helpers import (
    SHORT_PAUSES,
    SOON,
    connection_text,
    open_window,
    run,
    wait_for_message_box,
)
from tests.support import Keys, RelayProcess, free_port

pytestmark = pytest.mark.timeout(90)


class Relays:
    """Start, stop and restart a relay on one fixed port, as an admin restarting it would."""

    def __init__(self, tmp_path: Path, keys: Keys) -> None:
        self.port = free_port()
        self.tmp_path = tmp_path
        self.keys = keys
        self.process: RelayProcess | None = None

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, data_dir: str = "relay", key_index: int | None = None) -> None:
        """Start on the fixed port with the usual relay key, or an identity key as a
        different server key (``key_index``)."""
        data = self.tmp_path / data_dir
        key = None if key_index is None else self.keys.identity(key_index)
        self.keys.install_relay_key(data, key)
        self.process = RelayProcess(data, "--port", str(self.port))

    def stop(self) -> None:
        assert self.process is not None
        self.process.stop()
        self.process = None


@pytest.fixture
def relays(tmp_path: Path, keys: Keys) -> Iterator[Relays]:
    relays = Relays(tmp_path, keys)
    relays.start()
    yield relays
    if relays.process is not None:
        relays.process.kill()


@pytest.fixture
def kept_window(qtbot, qasync_loop, tmp_path: Path, keys: Keys, relays: Relays):
    """A window whose connection a ConnectionKeeper looks after, as the app's boot does."""
    window = open_window(qtbot, keys, tmp_path / "alice", 0, name="Alice")
    controller = window.controller
    keeper = ConnectionKeeper(
        controller, window, ServerChoice(relays.addr), ui_app.connect, delays=SHORT_PAUSES
    )
    keeper.start()
    assert keeper.task is not None
    task = keeper.task
    yield window, keeper, task
    keeper.stop()
    run(qtbot, controller.shutdown())
    qtbot.waitUntil(task.done, timeout=SOON)


def test_the_app_reconnects_by_itself_when_the_relay_comes_back(qtbot, kept_window, relays):
    window, _keeper, task = kept_window
    qtbot.waitUntil(lambda: connection_text(window) == "Connected", timeout=SOON)
    first_client = window.controller.client
    session = run(qtbot, window.controller.create_code())

    relays.stop()
    qtbot.waitUntil(lambda: "Trying again in" in window.statusBar().currentMessage(), timeout=SOON)
    assert connection_text(window) in {"Disconnected", "Connecting…"}
    page = window.page(session.key)
    assert page is not None and page.findChildren(QLabel, "systemLine"), "the session ended"
    assert not task.done(), "the keeper keeps trying while the relay is down"

    relays.start()
    qtbot.waitUntil(
        lambda: (
            window.controller.client is not first_client
            and window.controller.client is not None
            and window.controller.client.connected
        ),
        timeout=SOON,
    )
    qtbot.waitUntil(lambda: connection_text(window) == "Connected", timeout=SOON)
    assert window.statusBar().currentMessage() == "Connected again."
    again = run(qtbot, window.controller.create_code())
    assert again.code, "a new session can be started on the new connection"


def test_reconnect_now_skips_the_pause(qtbot, kept_window, relays):
    window, keeper, _task = kept_window
    qtbot.waitUntil(lambda: connection_text(window) == "Connected", timeout=SOON)
    keeper.delays = (3600.0,)  # without the button, the next attempt would be an hour away
    first_client = window.controller.client

    relays.stop()
    qtbot.waitUntil(lambda: "in 3600 s" in window.statusBar().currentMessage(), timeout=SOON)
    relays.start()
    window.reconnect_action.trigger()

    qtbot.waitUntil(
        lambda: (
            window.controller.client not in (None, first_client)
            and window.controller.client.connected
        ),
        timeout=SOON,
    )


def test_a_relay_back_with_another_key_is_not_trusted_silently(
    qtbot, kept_window, relays, keys: Keys
):
    window, _keeper, task = kept_window
    qtbot.waitUntil(lambda: connection_text(window) == "Connected", timeout=SOON)
    pinned = window.controller.profile.known_servers.get(relays.addr)
    first_client = window.controller.client

    relays.stop()
    relays.start("impostor", key_index=1)

    warning = wait_for_message_box(qtbot, "serverKeyChanged")
    assert window.controller.client is None or window.controller.client is first_client
    stay = next(b for b in warning.buttons() if b.text() == "Stay disconnected")
    stay.click()
    qtbot.waitUntil(task.done, timeout=SOON)
    assert "key has changed" in window.statusBar().currentMessage()
    assert window.controller.profile.known_servers.get(relays.addr) == pinned
