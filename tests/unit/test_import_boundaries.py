"""Everything but messenger.ui must import no Qt.

The relay server runs headless on machines without Qt's system libraries, and
messenger-cli is used by scripts and bots: neither may drag in PySide6 (or qasync, which
imports it). Each import runs in a fresh interpreter, because this pytest process has
loaded Qt already for the GUI tests.
"""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

QT_PACKAGES = ("PySide6", "shiboken6", "qasync")

QT_FREE_MODULES = [
    "messenger",
    "messenger.crypto",
    "messenger.protocol",
    "messenger.protocol.double_ratchet",
    "messenger.net",
    "messenger.store",
    "messenger.client",
    "messenger.cli",
    "messenger.cli_lab",
    "messenger.crypto.classical.attacks",
    "server",
    "server.__main__",
    "server.mailbox",
]

CHILD = textwrap.dedent(
    """
    import importlib, json, sys
    importlib.import_module(sys.argv[1])
    qt = sorted(m for m in sys.modules if m.split(".")[0] in {packages!r})
    print(json.dumps(qt))
    """
).format(packages=set(QT_PACKAGES))


def qt_modules_pulled_in_by(module: str) -> list[str]:
    """Import `module` in a fresh interpreter; return the Qt modules it loaded."""
    child = subprocess.run(
        [sys.executable, "-c", CHILD, module],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if child.returncode != 0:
        stderr_tail = "\n".join(child.stderr.splitlines()[-20:])
        pytest.fail(f"`import {module}` failed in a fresh interpreter:\n{stderr_tail}")
    return json.loads(child.stdout.splitlines()[-1])


@pytest.mark.parametrize("module", QT_FREE_MODULES)
def test_module_imports_no_qt(module):
    pulled = qt_modules_pulled_in_by(module)
    assert pulled == [], (
        f"`import {module}` loads {', '.join(pulled)}; only messenger.ui may import Qt "
        "(the server and messenger-cli run headless)."
    )


def test_the_check_notices_a_module_that_imports_qt():
    assert "PySide6.QtCore" in qt_modules_pulled_in_by("PySide6.QtCore")


def test_the_check_finds_nothing_in_a_module_without_qt():
    assert qt_modules_pulled_in_by("json") == []
