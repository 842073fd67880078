"""Puzzles between people (issue 14, item 4): the lab's "Send as puzzle" sends the classical
ciphertext into the conversation in front, sealed like any message and marked as a puzzle
of its cipher; the receiver's puzzle bubble opens it in their own lab, ready to attack.

Two real windows paired by code through a real relay process on 127.0.0.1.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from messenger.ui.bubble_widgets import PuzzleBubble
from messenger.ui.cipher_lab import CipherLab
from messenger.ui.controller import ServerChoice
from messenger.ui.main_window import MainWindow
from tests.gui.helpers import (
    SOON,
    list_loaded,
    open_window,
    pair,
    reopen,
    run,
    wait_for_message_box,
)
from tests.support import Keys, RelayProcess

pytestmark = pytest.mark.timeout(120)

PLAIN = "MEET ME AT THE OLD BRIDGE AT SEVEN AND BRING THE MAP"


@pytest.fixture
def windows(qtbot, qasync_loop, tmp_path: Path, keys: Keys, relay: RelayProcess):
    opened: list[MainWindow] = []
    for n, name in enumerate(("Alice", "Bob")):
        window = list_loaded(qtbot, open_window(qtbot, keys, tmp_path / name, n, name=name))
        window.attach(run(qtbot, window.controller.connect_to(ServerChoice(relay.addr))))
        opened.append(window)
    yield opened
    for window in opened:
        if window.controller.worker is not None:
            window._quitting = True
            run(qtbot, window.controller.shutdown())


def puzzles(window: MainWindow, key: str) -> list[PuzzleBubble]:
    page = window.page_for(key)
    found = []
    for row in page.bubbles():
        holder = page.history.holder(row.key)
        if row.message_kind == "puzzle" and holder is not None:
            found.append(holder.widget)
    return found


def test_a_puzzle_goes_from_one_lab_to_the_other(qtbot, windows):
    alice, bob = windows
    bob_id, alice_id = pair(qtbot, alice, bob)
    alice.conversation_list.select(bob_id)
    alice.lab_action.trigger()
    lab = alice.findChild(CipherLab)
    lab.select_cipher("caesar")
    lab.key_edit.setText("3")
    lab.plain_edit.setPlainText(PLAIN)
    ciphertext = lab.cipher_edit.toPlainText()
    assert ciphertext and ciphertext != PLAIN
    qtbot.mouseClick(lab.puzzle_button, Qt.MouseButton.LeftButton)

    qtbot.waitUntil(lambda: len(puzzles(alice, bob_id)) == 1, timeout=SOON)
    (sent,) = puzzles(alice, bob_id)
    assert sent.text.text() == ciphertext and "Caesar" in sent.heading.text()
    assert alice.conversation_list.entry(bob_id).preview == "You: \U0001f9e9 Puzzle"
    qtbot.waitUntil(lambda: "\u2713\u2713" in sent.meta.text(), timeout=SOON)  # delivered

    qtbot.waitUntil(lambda: len(puzzles(bob, alice_id)) == 1, timeout=SOON)
    (received,) = puzzles(bob, alice_id)
    assert received.text.text() == ciphertext
    assert bob.conversation_list.entry(alice_id).preview == "\U0001f9e9 Puzzle"
    assert received.open_button.isEnabled()
    qtbot.mouseClick(received.open_button, Qt.MouseButton.LeftButton)
    bob_lab = bob.findChild(CipherLab)
    qtbot.waitUntil(lambda: bob_lab is not None and bob_lab.isVisible(), timeout=SOON)
    assert bob_lab.cipher_name == "caesar"
    assert bob_lab.cipher_edit.toPlainText() == ciphertext
    assert bob_lab.key_edit.text() == "", "the key is for Bob to find"

    bob = reopen(qtbot, bob)  # the puzzle stays a puzzle in the history
    windows[1] = bob
    bob.conversation_list.select(alice_id)
    qtbot.waitUntil(lambda: len(puzzles(bob, alice_id)) == 1, timeout=SOON)


def test_send_as_puzzle_needs_a_conversation_in_front(qtbot, windows):
    alice, _bob = windows
    alice.lab_action.trigger()
    lab = alice.findChild(CipherLab)
    lab.select_cipher("caesar")
    lab.key_edit.setText("3")
    lab.plain_edit.setPlainText(PLAIN)
    qtbot.mouseClick(lab.puzzle_button, Qt.MouseButton.LeftButton)
    box = wait_for_message_box(qtbot, "puzzleNoConversation")
    assert "Open a conversation first" in box.text()
    box.close()
