"""``messenger-cli lab`` as a real process: JSON lines out, exit codes, no relay needed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEXT = (
    "Meet me by the old bridge at seven, and bring the map. If it rains we will wait "
    "under the trees on the north bank until the boat comes back across the water."
)


def lab(*args: str, stdin: str, profile: Path) -> tuple[int, list[dict[str, Any]], str]:
    """Run ``python -m messenger.cli --profile P lab ARGS`` with ``stdin``; (exit, events,
    stderr). The profile folder must stay untouched: the lab needs none."""
    done = subprocess.run(
        [sys.executable, "-m", "messenger.cli", "--profile", str(profile), "lab", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    events = [json.loads(line) for line in done.stdout.splitlines()]
    return done.returncode, events, done.stderr


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    return tmp_path / "never-created"


def test_encrypt_then_decrypt_gives_the_text_back(profile: Path) -> None:
    status, events, _ = lab(
        "encrypt", "--cipher", "vigenere", "--key", "lemon", "--keep-punctuation",
        stdin=TEXT + "\n", profile=profile,
    )  # fmt: skip
    assert status == 0
    [sealed] = events
    assert sealed["event"] == "lab" and sealed["action"] == "encrypt"
    assert sealed["key"] == "LEMON" and sealed["text"] != TEXT
    status, events, _ = lab(
        "decrypt", "--cipher", "vigenere", "--key", "LEMON", "--keep-punctuation",
        stdin=sealed["text"], profile=profile,
    )  # fmt: skip
    assert (status, events) == (
        0,
        [{"event": "lab", "action": "decrypt", "cipher": "vigenere", "key": "LEMON", "text": TEXT}],
    )
    assert not profile.exists()


def test_encrypt_without_a_key_picks_one_and_says_which(profile: Path) -> None:
    status, [sealed], _ = lab("encrypt", "--cipher", "mono", stdin="hello world", profile=profile)
    assert status == 0 and len(sealed["key"]) == 26 and sealed["text"].isupper()


def test_attack_recovers_a_caesar_message_from_ciphertext_alone(profile: Path) -> None:
    _, [sealed], _ = lab(
        "encrypt", "--cipher", "caesar", "--key", "11", stdin=TEXT, profile=profile
    )
    status, [found], _ = lab("attack", "--cipher", "caesar", stdin=sealed["text"], profile=profile)
    assert status == 0
    assert found["event"] == "lab_attack" and found["cipher"] == "caesar"
    assert found["key"] == "11" and found["text"] == sealed["text"].translate(
        str.maketrans("LMNOPQRSTUVWXYZABCDEFGHIJK", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    )
    assert isinstance(found["score"], float) and found["seconds"] >= 0


def test_a_bad_key_is_an_error_event_and_exit_1(profile: Path) -> None:
    status, events, stderr = lab(
        "encrypt", "--cipher", "transposition", "--key", "X1", stdin=TEXT, profile=profile
    )
    assert status == 1
    assert events[0]["event"] == "error" and events[0]["code"] == "bad_key"
    assert "letters A to Z only" in events[0]["message"]
    assert "Traceback" not in stderr


def test_an_unknown_cipher_is_an_error_event_and_exit_1(profile: Path) -> None:
    status, [error], _ = lab(
        "decrypt", "--cipher", "enigma", "--key", "A", stdin="", profile=profile
    )
    assert (status, error["event"], error["code"]) == (1, "error", "bad_cipher")


def test_a_usage_error_exits_2(profile: Path) -> None:
    status, events, stderr = lab("scramble", "--cipher", "caesar", stdin="", profile=profile)
    assert (status, events) == (2, [])
    assert "usage:" in stderr
