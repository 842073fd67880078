"""Helpers shared by the GUI tests that drive real windows (see conftest.py for the loop)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QApplication, QLabel, QMessageBox

from messenger.store.profile import Profile
from messenger.ui.controller import AppController
from messenger.ui.main_window import MainWindow
from tests.support import Keys

#: Generous upper bound (ms) for anything that should happen "soon" (connecting, delivery).
SOON = 20_000
#: A ConnectionKeeper's pauses between attempts, shortened to keep the tests quick.
SHORT_PAUSES = (0.05, 0.1, 0.2)


def run(qtbot, coro: Coroutine[Any, Any, Any]) -> Any:
    """Finish a coroutine on the shared qasync loop (see tests/gui/conftest.py)."""
    future = asyncio.ensure_future(coro)
    qtbot.waitUntil(future.done, timeout=SOON)
    return future.result()


def open_window(qtbot, keys: Keys, folder: Path, identity: int, **settings: Any) -> MainWindow:
    """A shown window on a new profile in ``folder``: pool identity ``identity``, loaded,
    and ``settings`` saved (name, server). It is not connected."""
    keys.install_identity(folder, identity)
    profile = Profile.open(folder)
    profile.save_settings(**settings)
    controller = AppController(profile)
    run(qtbot, controller.load_identity())
    window = MainWindow(controller)
    qtbot.addWidget(window)
    window.show()
    return window


def connection_text(window: MainWindow) -> str:
    return window.findChild(QLabel, "connectionLabel").text()


def wait_for_message_box(qtbot, object_name: str) -> QMessageBox:
    """The top-level QMessageBox called ``object_name``, once it is showing."""

    def showing() -> QMessageBox | None:
        return next(
            (
                widget
                for widget in QApplication.topLevelWidgets()
                if isinstance(widget, QMessageBox)
                and widget.objectName() == object_name
                and widget.isVisible()
            ),
            None,
        )

    qtbot.waitUntil(lambda: showing() is not None, timeout=SOON)
    box = showing()
    assert box is not None, f"the {object_name} box closed again at once"
    return box


def list_loaded(qtbot, window: MainWindow) -> MainWindow:
    """Wait until the window has read its conversation list from the database."""
    qtbot.waitUntil(window.list_loaded.is_set, timeout=SOON)
    return window


def pair(qtbot, alice: MainWindow, bob: MainWindow) -> tuple[str, str]:
    """Alice makes a code, Bob joins it: each becomes the other's contact. Returns (Bob's
    id, Alice's id), the keys of their conversations in Alice's and Bob's windows."""
    info = run(qtbot, alice.controller.create_code())
    run(qtbot, bob.controller.join_code(info.code))
    assert alice.controller.identity is not None and bob.controller.identity is not None
    bob_id, alice_id = bob.controller.identity.fingerprint, alice.controller.identity.fingerprint
    for window, other in ((alice, bob_id), (bob, alice_id)):
        qtbot.waitUntil(
            lambda w=window, o=other: (  # type: ignore[misc]
                w.conversation_list.entry(o) is not None
                and o in w.pages
                and w.pages[o].loaded.is_set()
                and len(w.conversation_list.entries()) == len(w.pages)
            ),
            timeout=SOON,
        )
    return bob_id, alice_id


def reopen(qtbot, window: MainWindow) -> MainWindow:
    """Restart the app on the same profile folder: shut the controller and the window down,
    then open a new window there (not connected) and wait for its list."""
    folder = window.controller.profile.path
    window._quitting = True
    run(qtbot, window.controller.shutdown())
    window.close()
    profile = Profile.open(folder)
    controller = AppController(profile)
    run(qtbot, controller.load_identity())
    again = MainWindow(controller)
    qtbot.addWidget(again)
    again.show()
    return list_loaded(qtbot, again)
