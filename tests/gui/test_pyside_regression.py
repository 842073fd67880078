"""PySide6 6.12.0 crashes CPython 3.11 after a few thousand Qt calls that return nothing.

Each such call drops one reference to `None` too many; once None's refcount reaches zero the
interpreter aborts with `Fatal Python error: none_dealloc`. A GUI (and the socket notifiers
qasync drives) makes that many calls within seconds, so pyproject.toml pins
PySide6-Essentials to 6.11.3. See docs/decisions.md.
"""

import os
import subprocess
import sys
import textwrap

import PySide6

VOID_CALLS = 20_000
BROKEN_VERSION = "6.12.0"

# Runs in a child process: if the bug is back it kills the interpreter, and that must show
# up as one failed test with the crash message, not as pytest itself dying.
CHILD = textwrap.dedent(
    f"""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QLabel

    app = QApplication([])
    label = QLabel()
    timer = QTimer()
    for i in range({VOID_CALLS}):
        label.setText(str(i))
        timer.start(1000)
        timer.stop()
    app.processEvents()
    print("survived", {VOID_CALLS}, flush=True)
    """
)


def tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.splitlines()[-lines:])


def test_twenty_thousand_void_qt_calls_do_not_crash_the_interpreter():
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    child = subprocess.run(
        [sys.executable, "-c", CHILD],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert child.returncode == 0, (
        f"the Qt child process died (exit {child.returncode}) after void Qt calls; "
        f"PySide6 {PySide6.__version__} with Python {sys.version.split()[0]}. "
        f"stderr tail:\n{tail(child.stderr)}"
    )
    assert f"survived {VOID_CALLS}" in child.stdout, (
        f"child exited 0 but did not finish the loop.\nstdout tail:\n{tail(child.stdout)}"
        f"\nstderr tail:\n{tail(child.stderr)}"
    )


def test_installed_pyside6_is_not_the_version_that_crashes_python_3_11():
    assert PySide6.__version__ != BROKEN_VERSION, (
        f"PySide6 {BROKEN_VERSION} is installed: on CPython 3.11 it kills the process with "
        "'Fatal Python error: none_dealloc' after ~5,000 Qt calls that return nothing. "
        "Install the pinned PySide6-Essentials==6.11.3 (pip install -e '.[test]'); "
        "see docs/decisions.md."
    )
