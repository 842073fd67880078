"""An invitation on screen that can no longer be accepted closes itself and says why."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from messenger.ui.controller import ServerChoice
from messenger.ui.main_window import MainWindow
from tests.gui.helpers import SOON, open_window, run, wait_for_message_box
from tests.support import Keys, RelayProcess

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def relay(tmp_path: Path, keys: Keys) -> Iterator[RelayProcess]:
    data = tmp_path / "relay"
    keys.install_relay_key(data)
    process = RelayProcess(data, "--invite-timeout", "2")
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


def invited(qtbot, inviter: MainWindow, invitee: MainWindow) -> QMessageBox:
    """``inviter`` invites ``invitee``; returns the invitee's prompt, showing, unanswered."""
    assert invitee.controller.identity is not None
    inviting = asyncio.ensure_future(
        inviter.controller.invite(invitee.controller.identity.fingerprint, "")
    )
    inviting.add_done_callback(lambda f: f.cancelled() or f.exception())  # it fails: fine
    box = wait_for_message_box(qtbot, "invitationBox")
    default = box.defaultButton()
    assert default is not None and default.text() == "Decline", "Enter must not accept"
    return box


def test_an_expired_invitation_closes_its_prompt_and_says_it_expired(qtbot, make_window):
    alice, bob = make_window("Alice"), make_window("Bob")
    box = invited(qtbot, bob, alice)

    qtbot.waitUntil(lambda: not box.isVisible(), timeout=SOON)
    notice = wait_for_message_box(qtbot, "invitationClosedBox")
    assert "expired" in notice.text()
    assert alice.pages == {}, "nothing was accepted into a dead session"


def test_a_withdrawn_invitation_closes_its_prompt_and_says_so(qtbot, make_window):
    alice, bob = make_window("Alice"), make_window("Bob")
    box = invited(qtbot, bob, alice)

    run(qtbot, bob.controller.shutdown())

    qtbot.waitUntil(lambda: not box.isVisible(), timeout=SOON)
    notice = wait_for_message_box(qtbot, "invitationClosedBox")
    assert "withdrawn" in notice.text() and "Bob" in notice.text()
    assert alice.pages == {}
