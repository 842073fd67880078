"""A contact's details (issue 12, item 5): fingerprint, the safety number both sides see
(with its QR code), the verified mark (marked and unmarked), a local name that sticks, what a
key-change warning said, and "Delete conversation" that asks first and takes the history
with it.

Two real windows paired by code through a real relay process on 127.0.0.1.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QPushButton

from messenger.crypto.rsa import format_fingerprint
from messenger.ui.contact_details import ContactDetailsDialog
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


@pytest.fixture
def paired(qtbot, qasync_loop, tmp_path: Path, keys: Keys, relay: RelayProcess):
    windows: list[MainWindow] = []
    for n, name in enumerate(("Alice", "Bob")):
        window = list_loaded(qtbot, open_window(qtbot, keys, tmp_path / name, n, name=name))
        window.attach(run(qtbot, window.controller.connect_to(ServerChoice(relay.addr))))
        windows.append(window)
    alice, bob = windows
    bob_id, alice_id = pair(qtbot, alice, bob)
    yield windows, bob_id, alice_id
    for window in windows:
        if window.controller.worker is not None:
            window._quitting = True
            run(qtbot, window.controller.shutdown())


def open_details(qtbot, window: MainWindow, key: str) -> ContactDetailsDialog:
    window.conversation_list.select(key)
    qtbot.mouseClick(window.pages[key].details_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: (found := window.findChild(ContactDetailsDialog)) is not None and found.isVisible(),
        timeout=SOON,
    )
    return window.findChild(ContactDetailsDialog)


def digits(dialog: ContactDetailsDialog) -> str:
    return "".join(ch for ch in dialog.findChild(QLabel, "safetyDigits").text() if ch.isdigit())


def test_details_show_who_it_is_and_the_same_safety_number_on_both_sides(qtbot, paired):
    (alice, bob), bob_id, alice_id = paired
    mine, theirs = open_details(qtbot, alice, bob_id), open_details(qtbot, bob, alice_id)
    # shown on two lines, half the groups each
    shown = mine.findChild(QLabel, "contactFingerprint").text()
    assert shown.split() == format_fingerprint(bob_id).split() and shown.count("\n") == 1
    assert mine.findChild(QLabel, "theirName").text() == "Bob"
    assert len(digits(mine)) == 60 and digits(mine) == digits(theirs)
    assert not mine.findChild(QLabel, "safetyQr").pixmap().isNull()
    assert "met with a code" in mine.verified_label.text(), "a code verifies"
    assert not mine.key_note.isVisible(), "no key change, no note"


def test_the_verified_mark_can_be_taken_back_and_given_again(qtbot, paired):
    (alice, _bob), bob_id, _ = paired
    dialog = open_details(qtbot, alice, bob_id)
    mark = dialog.findChild(QPushButton, "markVerified")
    assert mark.text() == "Mark as not verified"
    qtbot.mouseClick(mark, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not alice.conversation_list.entry(bob_id).verified, timeout=SOON)
    assert alice.pages[bob_id].badge.text() == ""
    qtbot.waitUntil(lambda: not alice.controller.profile.contacts.get(bob_id).verified,
                    timeout=SOON)  # fmt: skip
    assert "Not verified" in dialog.verified_label.text()
    qtbot.mouseClick(mark, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: alice.conversation_list.entry(bob_id).verified, timeout=SOON)
    assert "compared safety numbers" in dialog.verified_label.text()
    assert "verified" in alice.pages[bob_id].badge.text()


def test_a_local_name_replaces_theirs_here_and_survives_a_restart(qtbot, paired):
    (alice, _bob), bob_id, _ = paired
    dialog = open_details(qtbot, alice, bob_id)
    dialog.local_name.setText("Bobby (work)")
    qtbot.mouseClick(dialog.save_name, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: alice.conversation_list.entry(bob_id).title == "Bobby (work)",
                    timeout=SOON)  # fmt: skip
    assert alice.pages[bob_id].title.text() == "Bobby (work)"
    dialog.close()
    alice = reopen(qtbot, alice)
    paired[0][0] = alice
    assert alice.conversation_list.entry(bob_id).title == "Bobby (work)"
    dialog = open_details(qtbot, alice, bob_id)
    assert dialog.findChild(QLabel, "theirName").text() == "Bob", "their own name stays known"
    dialog.local_name.clear()
    qtbot.mouseClick(dialog.save_name, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: alice.conversation_list.entry(bob_id).title == "Bob", timeout=SOON)


def test_what_a_key_change_warning_said_is_shown(qtbot, paired):
    (alice, _bob), bob_id, _ = paired
    contacts = alice.controller.profile.contacts
    note = "Replaces the key 1234 5678 (the same name, another key)."
    contacts.db.upsert_contact(replace(contacts.get(bob_id), key_change_note=note))
    dialog = open_details(qtbot, alice, bob_id)
    assert dialog.key_note.isVisible()
    assert dialog.key_note.text() == f"Key change: {note}"
    assert dialog.key_note.textFormat() == Qt.TextFormat.PlainText


def test_deleting_a_conversation_asks_first_and_takes_the_history(qtbot, paired):
    (alice, bob), bob_id, alice_id = paired
    bob.conversation_list.select(alice_id)
    bob.pages[alice_id].composer.setPlainText("keep this?")
    bob.pages[alice_id].composer.submit()
    qtbot.waitUntil(lambda: alice.conversation_list.entry(bob_id).unread == 1, timeout=SOON)

    dialog = open_details(qtbot, alice, bob_id)
    qtbot.mouseClick(dialog.delete_button, Qt.MouseButton.LeftButton)
    box = wait_for_message_box(qtbot, "deleteConfirm")
    assert "Bob" in box.text()
    qtbot.mouseClick(box.button(box.StandardButton.Cancel), Qt.MouseButton.LeftButton)
    assert alice.conversation_list.entry(bob_id) is not None, "Cancel keeps everything"

    qtbot.mouseClick(dialog.delete_button, Qt.MouseButton.LeftButton)
    box = wait_for_message_box(qtbot, "deleteConfirm")
    delete = next(b for b in box.buttons() if b.text() == "Delete")
    qtbot.mouseClick(delete, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: alice.conversation_list.entry(bob_id) is None, timeout=SOON)
    assert bob_id not in alice.pages
    worker = alice.controller.worker
    assert run(qtbot, worker.run(lambda db: db.history(bob_id, limit=10))) == []
    assert run(qtbot, worker.run(lambda db: db.contact(bob_id))) is None
    assert not alice.controller.is_contact(bob_id)
    alice = reopen(qtbot, alice)
    paired[0][0] = alice
    assert alice.conversation_list.entry(bob_id) is None
