"""Quitting the real app (closing its window) shuts down cleanly: sessions are left, the
hosted relay stops, and the process exits 0 with no traceback.

It runs ``messenger`` in a child process, as a person starts it, because what broke here
only shows with the app's own event loop: Qt quit when its last window closed and stopped
the loop under the shutdown that was still awaiting on it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from messenger.store.profile import Profile
from tests.support import Keys

pytestmark = pytest.mark.timeout(90)

#: Waits (a condition, polled) until the window is connected, then closes it like Ctrl+Q.
CHILD = textwrap.dedent(
    """
    import sys
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication
    app = QApplication(sys.argv[:1])
    from messenger.ui import app as ui_app
    from messenger.ui.main_window import MainWindow

    def close_once_connected():
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
        client = windows[0].controller.client if windows else None
        if client is not None and client.connected:
            print("closing", flush=True)
            windows[0].close()
        else:
            QTimer.singleShot(50, close_once_connected)

    QTimer.singleShot(50, close_once_connected)
    code = ui_app.main(["--profile", sys.argv[1]])
    print("main returned", code, flush=True)
    sys.exit(code)
    """
)


def test_closing_the_window_quits_cleanly(tmp_path: Path, keys: Keys) -> None:
    folder = tmp_path / "alice"
    keys.install_identity(folder, 0)
    Profile.open(folder).save_settings(
        name="Alice", server="embedded", host_scope="loopback", host_port=0
    )

    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(folder)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )

    assert "closing" in done.stdout, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert (done.returncode, done.stdout.splitlines()[-1]) == (0, "main returned 0"), done.stderr
    assert Profile.open(folder).settings().get("geometry"), "the window's geometry was saved"
