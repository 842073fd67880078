"""Writing to anyone in the list, online or not (issue 12, item 2): a message waits in the
outbox with a clock while the relay is away (through a restart of the app), gets one tick
when the relay has it and two when the contact's app stored it; a message the relay
refuses says why and has Retry.

Real windows, a real relay process on a fixed loopback port (stopped and started like an
admin would); waits are conditions with deadlines.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from messenger.store.records import MessageStatus
from messenger.ui.bubble_widgets import FailedBubble
from messenger.ui.controller import ServerChoice
from messenger.ui.main_window import MainWindow
from tests.gui.helpers import SOON, list_loaded, open_window, pair, reopen, run
from tests.gui.test_reconnect import Relays
from tests.support import Keys

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def relays(tmp_path: Path, keys: Keys) -> Iterator[Relays]:
    relays = Relays(tmp_path, keys)
    relays.start()
    yield relays
    if relays.process is not None:
        relays.process.kill()


@pytest.fixture
def windows(qtbot, qasync_loop, tmp_path: Path, keys: Keys, relays: Relays):
    opened: list[MainWindow] = []

    class Windows:
        def make(self, name: str) -> MainWindow:
            window = open_window(qtbot, keys, tmp_path / name, len(opened), name=name)
            list_loaded(qtbot, window)
            opened.append(window)
            return self.connect(window)

        def connect(self, window: MainWindow) -> MainWindow:
            window.attach(run(qtbot, window.controller.connect_to(ServerChoice(relays.addr))))
            return window

        def stop(self, window: MainWindow) -> None:
            window._quitting = True
            run(qtbot, window.controller.shutdown())

        def restart(self, window: MainWindow) -> MainWindow:
            again = reopen(qtbot, window)
            opened[opened.index(window)] = again
            return again

    yield Windows()
    for window in opened:
        if window.controller.worker is not None:
            window._quitting = True
            run(qtbot, window.controller.shutdown())


def write(window: MainWindow, key: str, text: str) -> None:
    window.conversation_list.select(key)
    page = window.page_for(key)
    page.composer.setPlainText(text)
    page.composer.submit()


def statuses(window: MainWindow, key: str) -> list[tuple[str, MessageStatus]]:
    return [(r.body, r.status) for r in window.page_for(key).bubbles() if r.outgoing]


def test_a_message_waits_with_a_clock_then_gets_one_tick_then_two(qtbot, windows, relays):
    alice, bob = windows.make("Alice"), windows.make("Bob")
    bob_id, alice_id = pair(qtbot, alice, bob)
    windows.stop(bob)  # Bob is offline from here on

    relays.stop()
    qtbot.waitUntil(lambda: alice.status_bar.connection_label.text() == "Disconnected",
                    timeout=SOON)  # fmt: skip
    write(alice, bob_id, "written with no relay")
    qtbot.waitUntil(lambda: len(statuses(alice, bob_id)) == 1, timeout=SOON)
    assert statuses(alice, bob_id) == [("written with no relay", MessageStatus.PENDING)]
    assert alice.conversation_list.entry(bob_id).preview == "You: written with no relay"

    alice = windows.restart(alice)  # the outbox comes back with the app
    alice.conversation_list.select(bob_id)
    qtbot.waitUntil(alice.page_for(bob_id).loaded.is_set, timeout=SOON)
    assert statuses(alice, bob_id) == [("written with no relay", MessageStatus.PENDING)]
    assert len(run(qtbot, alice.controller.worker.run(lambda db: db.outbox()))) == 1

    relays.start()
    windows.connect(alice)
    qtbot.waitUntil(
        lambda: statuses(alice, bob_id) == [("written with no relay", MessageStatus.SENT)],
        timeout=SOON,
    )  # one tick: the relay keeps it for Bob

    bob = windows.connect(windows.restart(bob))
    qtbot.waitUntil(
        lambda: statuses(alice, bob_id) == [("written with no relay", MessageStatus.DELIVERED)],
        timeout=SOON,
    )  # two ticks: Bob's app stored it
    bob.conversation_list.select(alice_id)
    qtbot.waitUntil(
        lambda: [r.body for r in bob.page_for(alice_id).bubbles()] == ["written with no relay"],
        timeout=SOON,
    )


@pytest.fixture
def small_queue(tmp_path: Path, keys: Keys, relays: Relays) -> Relays:
    """The relay again, keeping only two envelopes per offline person."""
    relays.stop()
    data = tmp_path / "relay"
    from tests.support import RelayProcess

    relays.process = RelayProcess(data, "--port", str(relays.port), "--queue-max-messages", "2")
    return relays


def test_a_refused_message_says_why_and_retry_sends_it(qtbot, windows, small_queue):
    alice, bob = windows.make("Alice"), windows.make("Bob")
    bob_id, alice_id = pair(qtbot, alice, bob)
    windows.stop(bob)
    for text in ("one", "two", "three"):
        write(alice, bob_id, text)
    qtbot.waitUntil(
        lambda: [s for _t, s in statuses(alice, bob_id)]
        == [MessageStatus.SENT, MessageStatus.SENT, MessageStatus.FAILED],
        timeout=SOON,
    )
    page = alice.page_for(bob_id)
    failed = page.history.holder(f"out:{page.bubbles()[2].msg_id}").widget
    assert isinstance(failed, FailedBubble)
    assert failed.text.text() == "three"
    assert "queue on the server is full" in failed.why.text(), failed.why.text()

    bob = windows.connect(windows.restart(bob))  # Bob takes his messages: room again
    qtbot.waitUntil(
        lambda: [s for _t, s in statuses(alice, bob_id)][:2] == [MessageStatus.DELIVERED] * 2,
        timeout=SOON,
    )
    qtbot.mouseClick(failed.retry_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: statuses(alice, bob_id)[2] == ("three", MessageStatus.DELIVERED), timeout=SOON
    )
    assert page.history.holder(f"out:{page.bubbles()[2].msg_id}") is None, "painted again"
    bob.conversation_list.select(alice_id)
    qtbot.waitUntil(
        lambda: [r.body for r in bob.page_for(alice_id).bubbles()] == ["one", "two", "three"],
        timeout=SOON,
    )
