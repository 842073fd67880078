"""The cipher lab window, driven like a person would: type, pick a cipher and key, attack,
cancel, open a puzzle. Waits are conditions with deadlines, never fixed sleeps."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from messenger.crypto.classical import CIPHERS, normalise
from messenger.store.profile import Profile
from messenger.ui.cipher_lab import CipherLab
from messenger.ui.controller import AppController
from messenger.ui.main_window import MainWindow

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("qasync_loop")]

PLAIN = (
    "The meeting has moved to Thursday afternoon because the main hall is being painted. "
    "Please bring the printed reports, your laptop and a copy of last year's budget, and "
    "tell the new members where the building is. If the weather is good we can walk to "
    "the station together afterwards and have dinner at the small place near the river."
)


@pytest.fixture
def lab(qtbot: QtBot) -> CipherLab:
    window = CipherLab()
    qtbot.addWidget(window)
    window.show()
    return window


def type_plaintext(qtbot: QtBot, lab: CipherLab, text: str) -> None:
    lab.plain_edit.clear()
    lab.plain_edit.setFocus()
    qtbot.keyClicks(lab.plain_edit, text)


def test_typing_enciphers_live_with_the_chosen_cipher_and_key(qtbot: QtBot, lab: CipherLab) -> None:
    lab.select_cipher("vigenere")
    lab.key_edit.clear()
    qtbot.keyClicks(lab.key_edit, "lemon")
    type_plaintext(qtbot, lab, "attack at dawn")
    assert lab.cipher_edit.toPlainText() == "LXFOPVEFRNHR"
    qtbot.mouseClick(lab.keep_box, Qt.MouseButton.LeftButton)
    assert lab.cipher_edit.toPlainText() == "lxfopv ef rnhr"
    assert lab.cipher_chart.values[ord("F") - 65] == pytest.approx(2 / 12)


def test_typing_ciphertext_deciphers_it_with_the_key(qtbot: QtBot, lab: CipherLab) -> None:
    lab.select_cipher("caesar")
    lab.key_edit.setText("3")
    lab.cipher_edit.clear()
    lab.cipher_edit.setFocus()
    qtbot.keyClicks(lab.cipher_edit, "PHHW PH")
    assert lab.plain_edit.toPlainText() == "MEETME"


def test_a_bad_key_is_explained_in_the_window(qtbot: QtBot, lab: CipherLab) -> None:
    lab.select_cipher("transposition")
    lab.key_edit.setText("7")
    assert lab.key_error.isVisible()
    assert "letters A to Z only" in lab.key_error.text()
    lab.key_edit.setText("MAPLE")
    assert not lab.key_error.isVisible()


def test_each_cipher_starts_with_a_key_that_works(lab: CipherLab) -> None:
    for name in CIPHERS:
        lab.select_cipher(name)
        assert not lab.key_error.isVisible(), name
        assert lab.cipher_edit.toPlainText(), name


def test_attack_shows_progress_and_recovers_the_text(qtbot: QtBot, lab: CipherLab) -> None:
    lab.select_cipher("mono")
    lab.key_edit.setText("QWERTYUIOPASDFGHJKLZXCVBNM")
    lab.plain_edit.setPlainText(PLAIN)
    panel = lab.attack_panel
    seen: list[int] = []
    panel.progress.valueChanged.connect(seen.append)
    with qtbot.waitSignal(panel.finished, timeout=30_000) as finished:
        qtbot.mouseClick(panel.attack_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not panel.attack_button.isEnabled(), timeout=5_000)
        assert panel.cancel_button.isEnabled()
    result = finished.args[0]
    assert not result.cancelled
    wanted = normalise(PLAIN)
    shown = panel.text_view.toPlainText()
    assert sum(a == b for a, b in zip(shown, wanted, strict=True)) / len(wanted) >= 0.95
    assert panel.key_label.text() == result.key
    assert panel.progress.value() == panel.progress.maximum()
    assert any(0 < value < panel.progress.maximum() for value in seen)  # it moved on the way
    assert panel.attack_button.isEnabled() and not panel.cancel_button.isEnabled()
    assert panel.key_label.textFormat() == Qt.TextFormat.PlainText


def test_cancel_stops_a_long_attack_and_the_window_stays_responsive(
    qtbot: QtBot, lab: CipherLab
) -> None:
    # Letters that are not English never settle on one best key: without Cancel this
    # attack would run for its whole minute.
    rng = random.Random(3)
    noise = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(2000))
    lab.select_cipher("mono")
    lab.key_edit.setText("ZEBRAS")
    lab.plain_edit.setPlainText(noise)
    panel = lab.attack_panel
    panel.max_seconds = 60.0
    qtbot.mouseClick(panel.attack_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.best is not None, timeout=10_000)  # progress got through

    # While it runs, typing still enciphers at once: the UI thread is not blocked.
    lab.select_cipher("caesar")
    lab.key_edit.setText("1")
    type_plaintext(qtbot, lab, "abc")
    assert lab.cipher_edit.toPlainText() == "BCD"
    assert panel.running

    with qtbot.waitSignal(panel.finished, timeout=5_000) as finished:
        clicked = time.monotonic()
        qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    result = finished.args[0]
    assert result.cancelled
    assert time.monotonic() - clicked < 3
    assert result.seconds < 30
    assert "Cancelled" in panel.status.text()
    assert not panel.running and panel.attack_button.isEnabled()


def test_a_puzzle_opens_ready_to_attack(qtbot: QtBot, lab: CipherLab) -> None:
    secret = "Wkh vkls vdlov dw gdzq, eulqj wkh pds dqg d zdup frdw."
    lab.open_puzzle("caesar", secret)
    assert lab.cipher_name == "caesar"
    assert lab.cipher_edit.toPlainText() == secret
    assert lab.key_edit.text() == "" and lab.plain_edit.toPlainText() == ""
    assert lab.keep_box.isChecked() and not lab.key_error.isVisible()
    with qtbot.waitSignal(lab.attack_panel.finished, timeout=10_000) as finished:
        qtbot.mouseClick(lab.attack_panel.attack_button, Qt.MouseButton.LeftButton)
    assert finished.args[0].text == "The ship sails at dawn, bring the map and a warm coat."


def test_send_as_puzzle_hands_over_cipher_and_ciphertext(qtbot: QtBot, lab: CipherLab) -> None:
    lab.select_cipher("vigenere")
    lab.key_edit.setText("LEMON")
    lab.plain_edit.setPlainText("attack at dawn")
    with qtbot.waitSignal(lab.puzzleRequested, timeout=1_000) as sent:
        qtbot.mouseClick(lab.puzzle_button, Qt.MouseButton.LeftButton)
    assert sent.args == ["vigenere", "LXFOPVEFRNHR"]


def test_aes_seals_the_same_text_differently_every_time(lab: CipherLab) -> None:
    lab.plain_edit.setPlainText("attack at dawn")
    first, second = lab.aes_panel.sealed
    assert first != second and len(first) == len(second)
    assert first[:12] != second[:12]  # fresh nonces
    assert lab.aes_panel.first_view.toPlainText().replace(" ", "").replace("\n", "") == first.hex()
    assert max(lab.aes_panel.chart.values) < 0.2  # no bin stands out like E does


def test_the_menu_action_opens_one_lab_window(qtbot: QtBot, tmp_path: Path) -> None:
    window = MainWindow(AppController(Profile.open(tmp_path / "profile")))
    qtbot.addWidget(window)
    window.show()
    assert window.lab_action.shortcut().toString() == "Ctrl+L"
    window.lab_action.trigger()
    lab = window.findChild(CipherLab)
    assert lab is not None
    qtbot.waitUntil(lab.isVisible, timeout=5_000)
    assert lab.isWindow() and not lab.isModal()
    lab.close()
    window.lab_action.trigger()  # the same window comes back, with what it held
    assert window.findChildren(CipherLab) == [lab] and lab.isVisible()
    lab.close()
