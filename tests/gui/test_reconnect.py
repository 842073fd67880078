"""The app stays connected: a relay that goes away and comes back is reconnected to on its
own, and one that comes back with another key is not trusted silently. Conversations carry
on across the drop (issue 12, item 6): the page says it is reconnecting, what is written
meanwhile waits with the outbox clock and goes out once the relay is back; only a code
still waiting ends.

A real relay process on a fixed loopback port is stopped and started again (same port);
waits are conditions with deadlines. The keeper's pauses are shortened to keep this quick.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from messenger.store.records import MessageStatus
from messenger.ui import app as ui_app
from messenger.ui.controller import ServerChoice
from messenger.ui.reconnect import ConnectionKeeper
from tests.gui.helpers import (
    SHORT_PAUSES,
    SOON,
    connection_text,
    list_loaded,
    open_window,
    pair,
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
    window, keeper = kept(qtbot, keys, tmp_path / "alice", 0, "Alice", relays)
    assert keeper.task is not None
    task = keeper.task
    yield window, keeper, task
    keeper.stop()
    run(qtbot, window.controller.shutdown())
    qtbot.waitUntil(task.done, timeout=SOON)


def kept(qtbot, keys: Keys, folder: Path, identity: int, name: str, relays: Relays):
    window = list_loaded(qtbot, open_window(qtbot, keys, folder, identity, name=name))
    keeper = ConnectionKeeper(
        window.controller, window, ServerChoice(relays.addr), ui_app.connect, delays=SHORT_PAUSES
    )
    keeper.start()
    return window, keeper


def connected(window) -> bool:
    client = window.controller.client
    return connection_text(window) == "Connected" and client is not None and client.connected


def test_conversations_carry_on_across_a_relay_restart(qtbot, kept_window, relays, keys, tmp_path):
    alice, _keeper, task = kept_window
    bob, bob_keeper = kept(qtbot, keys, tmp_path / "bob", 1, "Bob", relays)
    try:
        qtbot.waitUntil(lambda: connected(alice) and connected(bob), timeout=SOON)
        bob_id, alice_id = pair(qtbot, alice, bob)
        code = run(qtbot, alice.controller.create_code())  # a code still waiting
        alice.conversation_list.select(bob_id)
        page = alice.pages[bob_id]
        assert page.banner.isHidden()
        first_client = alice.controller.client

        relays.stop()
        qtbot.waitUntil(
            lambda: "Trying again in" in alice.statusBar().currentMessage(), timeout=SOON
        )
        assert connection_text(alice) in {"Disconnected", "Connecting…"}
        assert page.banner.isVisible() and "Reconnecting" in page.banner.text()
        assert page.composer.isEnabled(), "a conversation is never ended by a drop"
        assert not alice.conversation_list.entry(bob_id).online
        assert alice.conversation_list.entry(code.key).state == "Ended", "codes end, though"
        assert not task.done(), "the keeper keeps trying while the relay is down"

        page.composer.setPlainText("written while the relay was away")
        page.composer.submit()
        qtbot.waitUntil(lambda: len(page.bubbles()) == 1, timeout=SOON)
        assert page.bubbles()[0].status is MessageStatus.PENDING, "the outbox clock"

        relays.start()
        qtbot.waitUntil(
            lambda: alice.controller.client not in (None, first_client) and connected(alice),
            timeout=SOON,
        )
        assert alice.statusBar().currentMessage() == "Connected again."
        qtbot.waitUntil(page.banner.isHidden, timeout=SOON)
        qtbot.waitUntil(
            lambda: page.bubbles()[0].status is MessageStatus.DELIVERED, timeout=SOON
        )
        bob_page = bob.page_for(alice_id)
        qtbot.waitUntil(
            lambda: [r.body for r in bob_page.bubbles()] == ["written while the relay was away"],
            timeout=SOON,
        )
        qtbot.waitUntil(lambda: alice.conversation_list.entry(bob_id).online, timeout=SOON)
        again = run(qtbot, alice.controller.create_code())
        assert again.code, "a new code can be made on the new connection"
    finally:
        bob_keeper.stop()
        run(qtbot, bob.controller.shutdown())


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
