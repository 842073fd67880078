"""The PyInstaller bundle works: run the built `dist/Messenger/Messenger`, not the source tree.

`make bundle-test` builds the bundle first when it is missing or older than the code, then
runs this file; the normal `make test` pytest run does not collect it (norecursedirs).
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import queue
import re
import signal
import socket
import subprocess
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUNDLE_DIR = ROOT / "dist" / "Messenger"
EXECUTABLE = BUNDLE_DIR / "Messenger"
INTERNAL = BUNDLE_DIR / "_internal"

PROJECT_VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
# MiB, as `du -sh` counts: issue 5's 130, plus the colour emoji font (10.5 MB, issue 10);
# docs/packaging.md: what dominates.
#: 140 MiB with the colour emoji font; +8 MiB for SQLCipher (its own libcrypto and sqlite),
#: which keeps the history encrypted at rest (docs/decisions.md).
SIZE_BUDGET_MB = 150
SELF_TEST_TIMEOUT = 120.0
SERVER_START_TIMEOUT = 60.0  # the first start generates the relay's RSA-3072 key
SERVER_STOP_TIMEOUT = 15.0

pytestmark = pytest.mark.skipif(
    not EXECUTABLE.exists(),
    reason="dist/Messenger/Messenger is not built: run `make bundle-test`, which builds it first",
)


def _lines_of(stream) -> queue.Queue[str | None]:
    """Read a pipe in a thread, so the test can wait for a line with a timeout."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _bundle_files() -> Iterator[Path]:
    return (p for p in BUNDLE_DIR.rglob("*") if p.is_file() and not p.is_symlink())


def test_self_test_passes_inside_the_bundle() -> None:
    """Qt offscreen, resources, and a password and an RSA session through an in-process relay:
    AES-GCM, RSA-OAEP/PSS, X25519, SPAKE2 (cryptography's HKDF) and msgpack all load."""
    done = subprocess.run(
        [str(EXECUTABLE), "--self-test"],
        capture_output=True,
        text=True,
        timeout=SELF_TEST_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    events = {}
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            event = json.loads(line)
            events[event["event"]] = event
    assert events.get("window", {}).get("shown_s") is not None, done.stdout
    result = events.get("self_test")
    assert result is not None and result["ok"] is True, f"{done.stdout}\n{done.stderr}"
    assert result["version"] == PROJECT_VERSION, "messenger.__version__ != pyproject.toml"


def test_server_only_listens_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    relay = subprocess.Popen(
        [str(EXECUTABLE), "--server-only", "--port", "0", "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = _lines_of(relay.stdout)
        seen: list[str] = []
        address = None
        while address is None:
            line = lines.get(timeout=SERVER_START_TIMEOUT)
            assert line is not None, "relay exited before listening:\n" + "".join(seen)
            seen.append(line)
            address = re.search(r"listening on (127\.0\.0\.1):(\d+)", line)
        host, port = address.group(1), int(address.group(2))
        assert port != 0
        # Announce an oversized frame: the relay must read it and hang up. That proves its
        # event loop serves, which it does only after installing its SIGTERM handler (it
        # prints "listening on" just before, so a SIGTERM sent at once can kill it outright).
        with socket.create_connection((host, port), timeout=10) as probe:
            probe.sendall(b"\xff\xff\xff\xff")
            with contextlib.suppress(ConnectionResetError):
                while probe.recv(4096):
                    pass

        relay.send_signal(signal.SIGTERM)
        assert relay.wait(timeout=SERVER_STOP_TIMEOUT) == 0
    finally:
        if relay.poll() is None:
            relay.kill()
            relay.wait()


#: Resource files the bundle leaves out on purpose (build.spec's DROPPED_DATAS): the cipher
#: lab's training text, from which the bundled statistics were made.
LEFT_OUT_RESOURCES = {"lab/web.txt.xz"}


def test_every_resource_file_is_in_the_bundle() -> None:
    """resources/ ships whole (but for what build.spec drops on purpose):
    messenger.resources.resource_path() looks under _MEIPASS."""
    source = ROOT / "resources"
    wanted = {
        p.relative_to(source)
        for p in source.rglob("*")
        if p.is_file() and p.relative_to(source).as_posix() not in LEFT_OUT_RESOURCES
    }
    bundled = {
        p.relative_to(INTERNAL / "resources")
        for p in (INTERNAL / "resources").rglob("*")
        if p.is_file()
    }
    assert wanted, "resources/ is empty"
    assert sorted(map(str, wanted - bundled)) == []
    for left_out in LEFT_OUT_RESOURCES:
        assert f"resources/{left_out}" in (ROOT / "build.spec").read_text(), left_out
        assert not (INTERNAL / "resources" / left_out).exists(), left_out
    for required in ("icons/app/messenger-256.png", "styles/light.qss", "messenger.desktop"):
        assert (INTERNAL / "resources" / required).is_file(), required


@pytest.mark.parametrize(
    "native_part",
    [
        "Crypto/Cipher/_raw_aes.*so",  # AES
        "Crypto/Cipher/_raw_aesni.*so",  # AES with AES-NI
        "Crypto/Hash/_ghash_clmul.*so",  # GCM
        "Crypto/Math/_nat.*so",  # RSA arithmetic
        "Crypto/PublicKey/_curve25519.*so",  # X25519
        "Crypto/Protocol/_scrypt.*so",  # scrypt (not called by the self-test)
        "cryptography/hazmat/bindings/_rust.*so",  # spake2's HKDF
        "msgpack/_cmsgpack.*so",  # msgpack would silently fall back to pure Python
    ],
)
def test_native_crypto_and_codec_parts_are_bundled(native_part: str) -> None:
    assert list(INTERNAL.glob(native_part)), f"{native_part} is missing from the bundle"


@pytest.mark.parametrize(
    "unused",
    [
        "*Qt6WebEngine*",
        "*Qt63D*",
        "*Qt6Multimedia*",
        "*Qt6Qml*",
        "*Qt6Quick*",
        "*Qt6Pdf*",
        "*Qt6VirtualKeyboard*",
        "*Qt6Network*",
        "*Qt6Wayland*",
        "*/Qt/translations/*",
        "*/libqgtk3.so",
    ],
)
def test_unused_qt_parts_are_left_out(unused: str) -> None:
    found = [
        str(p.relative_to(BUNDLE_DIR)) for p in _bundle_files() if fnmatch.fnmatch(str(p), unused)
    ]
    assert found == []


def test_no_link_in_the_bundle_points_at_a_dropped_file() -> None:
    links = [str(p.relative_to(BUNDLE_DIR)) for p in BUNDLE_DIR.rglob("*") if p.is_symlink()]
    assert [p for p in links if not (BUNDLE_DIR / p).exists()] == []


def test_bundle_fits_the_size_budget() -> None:
    files = sorted(((p.stat().st_size, p) for p in _bundle_files()), reverse=True)
    total_mb = sum(size for size, _ in files) / 2**20
    biggest = "\n".join(
        f"{size / 2**20:7.2f} MB {p.relative_to(BUNDLE_DIR)}" for size, p in files[:15]
    )
    assert total_mb <= SIZE_BUDGET_MB, f"{total_mb:.1f} MB; biggest files:\n{biggest}"


def test_the_bundle_carries_a_colour_emoji_font() -> None:
    """Emoji must not be boxes on a system without an emoji font (issue 10)."""
    font = INTERNAL / "resources" / "fonts" / "NotoColorEmoji.ttf"
    assert font.is_file(), "build.spec copies the build machine's NotoColorEmoji.ttf"
