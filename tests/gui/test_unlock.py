"""Unlocking a protected profile (issue 12, item 7): the app asks for the passphrase once at
start and opens both the identity key and the encrypted history with it; a wrong passphrase
says so and changes nothing in the profile folder.

The boot step itself (``app.unlock_identity``) runs against a real profile folder.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel

from messenger.store.profile import Profile
from messenger.ui import app as ui_app
from messenger.ui.controller import AppController
from messenger.ui.main_window import MainWindow
from messenger.ui.welcome_dialog import PassphraseDialog, WelcomeDialog
from tests.gui.helpers import SOON, list_loaded, run
from tests.history_seed import add_contact

pytestmark = pytest.mark.timeout(120)

PASSPHRASE = "correct horse battery"


@pytest.fixture
def protected(tmp_path: Path) -> Path:
    """A profile with a passphrase, a contact and some history, as yesterday left it."""
    folder = tmp_path / "alice"
    profile = Profile.open(folder)
    me = profile.unlock(PASSPHRASE)
    add_contact(profile.db, me.fingerprint, "Bob",
                [("see you tomorrow", False, time.time() - 86400)], unread=1)  # fmt: skip
    profile.close()
    Profile.open(folder).save_settings(name="Alice", server="127.0.0.1:9")
    return folder


def dialogs(kind: type) -> list:
    return [w for w in QApplication.topLevelWidgets() if isinstance(w, kind) and w.isVisible()]


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_a_wrong_passphrase_says_so_and_the_right_one_opens_the_history(
    qtbot, qasync_loop, protected
):
    before = files(protected)
    controller = AppController(Profile.open(protected))
    unlocking = asyncio.ensure_future(ui_app.unlock_identity(controller))
    qtbot.waitUntil(lambda: len(dialogs(PassphraseDialog)) == 1, timeout=SOON)
    assert dialogs(WelcomeDialog) == [], "a known profile is not welcomed again"
    dialog = dialogs(PassphraseDialog)[0]
    qtbot.addWidget(dialog)
    assert any("identity key and your history" in label.text()
               for label in dialog.findChildren(QLabel)), "one passphrase opens both"  # fmt: skip

    dialog.passphrase_input.setText("wrong horse")
    qtbot.mouseClick(dialog.unlock_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.error_label.isVisible(), timeout=SOON)
    assert "passphrase is wrong" in dialog.error_label.text()
    assert "nothing in it was changed" in dialog.error_label.text()
    assert dialog.isVisible() and not unlocking.done()
    assert controller.identity is None and controller.book is None
    assert files(protected) == before, "a wrong passphrase changes nothing"

    dialog.passphrase_input.setText(PASSPHRASE)
    qtbot.mouseClick(dialog.unlock_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(unlocking.done, timeout=SOON)
    assert unlocking.result() is True
    assert len(dialogs(PassphraseDialog)) == 0, "asked once"
    assert controller.book is not None, "the history was opened with the same passphrase"

    window = MainWindow(controller)
    qtbot.addWidget(window)
    window.show()
    list_loaded(qtbot, window)
    (entry,) = window.conversation_list.entries()
    assert (entry.title, entry.preview, entry.unread) == ("Bob", "see you tomorrow", 1)
    window._quitting = True
    run(qtbot, controller.shutdown())


def test_quitting_at_the_passphrase_prompt_opens_nothing(qtbot, qasync_loop, protected):
    before = files(protected)
    controller = AppController(Profile.open(protected))
    unlocking = asyncio.ensure_future(ui_app.unlock_identity(controller))
    qtbot.waitUntil(lambda: len(dialogs(PassphraseDialog)) == 1, timeout=SOON)
    dialog = dialogs(PassphraseDialog)[0]
    qtbot.mouseClick(dialog.quit_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(unlocking.done, timeout=SOON)
    assert unlocking.result() is False
    assert controller.book is None
    assert files(protected) == before
