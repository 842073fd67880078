"""The cipher lab window: classical ciphers live as you type, their letter frequencies, a
one-click attack, and the same text under Messenger's AES-256-GCM for contrast.

Either text box can lead: typing plaintext enciphers it, typing (or pasting) ciphertext
deciphers it with the key shown. ``open_puzzle`` loads a ciphertext someone sent, ready to
attack; ``puzzleRequested`` asks the messaging side to send the current one (wired later).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from messenger.crypto.classical import CIPHERS, LabError, cipher_named
from messenger.crypto.classical.stats import english
from messenger.ui.lab_aes import AesPanel
from messenger.ui.lab_attack import AttackPanel
from messenger.ui.lab_charts import BarChart, letter_shares
from messenger.ui.theme import ErrorLabel, hint_label

__all__ = ["CipherLab", "show_cipher_lab"]

SAMPLE_TEXT = (
    "Meet me by the old bridge at seven, and bring the map. If it rains, we will wait "
    "under the trees on the north bank until the boat comes back across the water."
)
DEFAULT_KEYS = {"caesar": "3", "mono": "ZEBRAS", "transposition": "ZEBRAS", "vigenere": "LEMON"}
#: What each cipher does to the letter-frequency bars, said under the charts.
FREQUENCY_NOTES = {
    "caesar": "Caesar slides the bars along: the tallest ciphertext bar is most likely E.",
    "mono": "Substitution shuffles the bars but keeps their heights: count, then match.",
    "transposition": "Transposition only moves letters, so the bars do not change at all.",
    "vigenere": "Vigenère mixes several shifts and flattens the bars, until the key "
    "length splits the text into Caesar columns.",
}


def _text_box(object_name: str, placeholder: str) -> QPlainTextEdit:
    box = QPlainTextEdit()
    box.setObjectName(object_name)
    box.setPlaceholderText(placeholder)
    box.setTabChangesFocus(True)
    return box


def _heading(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("headingLabel")
    return label


class CipherLab(QWidget):
    """Plaintext, cipher, key and ciphertext side by side, with attack and AES panels."""

    #: "Send as puzzle": (cipher name, ciphertext) for the messaging side to send.
    puzzleRequested = Signal(str, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setWindowTitle("Cipher lab")
        self.setObjectName("cipherLab")
        self._keys = dict(DEFAULT_KEYS)
        self._leading = "plain"  # which box the person typed in last
        self._updating = False  # True while the lab itself fills a box

        self.cipher_box = QComboBox()
        self.cipher_box.setObjectName("cipherChoice")
        for cipher in CIPHERS.values():
            self.cipher_box.addItem(cipher.title, cipher.name)
        self.key_edit = QLineEdit(self._keys["caesar"])
        self.key_edit.setObjectName("keyEdit")
        self.new_key_button = QPushButton("New key")
        self.new_key_button.setObjectName("newKey")
        self.new_key_button.setToolTip("A random key for this cipher.")
        self.keep_box = QCheckBox("Keep spaces and punctuation")
        self.keep_box.setObjectName("keepPunctuation")
        self.puzzle_button = QPushButton("Send as puzzle…")
        self.puzzle_button.setObjectName("sendPuzzle")
        self.puzzle_button.setToolTip("Send this ciphertext in a conversation, to be solved.")
        self.key_error = ErrorLabel()

        self.plain_edit = _text_box("plainEdit", "Type a message here…")
        self.cipher_edit = _text_box("cipherEdit", "…or paste a ciphertext here.")
        self.plain_chart = BarChart.for_letters()
        self.plain_chart.setObjectName("plainChart")
        self.cipher_chart = BarChart.for_letters()
        self.cipher_chart.setObjectName("cipherChart")
        self.frequency_note = hint_label()
        self.frequency_note.setObjectName("frequencyNote")
        self.attack_panel = AttackPanel()
        self.aes_panel = AesPanel()

        controls = QHBoxLayout()
        controls.addWidget(QLabel("Cipher:"))
        controls.addWidget(self.cipher_box)
        controls.addSpacing(8)
        controls.addWidget(QLabel("Key:"))
        controls.addWidget(self.key_edit, 1)
        controls.addWidget(self.new_key_button)
        controls.addSpacing(8)
        controls.addWidget(self.keep_box)
        controls.addStretch()
        controls.addWidget(self.puzzle_button)

        columns = QHBoxLayout()
        columns.setSpacing(14)
        for title, edit, chart in (
            ("Plaintext", self.plain_edit, self.plain_chart),
            ("Ciphertext", self.cipher_edit, self.cipher_chart),
        ):
            column = QVBoxLayout()
            column.addWidget(_heading(title))
            column.addWidget(edit, 1)
            column.addWidget(QLabel("Letter frequencies (lines: English)"))
            column.addWidget(chart)
            columns.addLayout(column, 3)
        columns.addWidget(self.aes_panel, 3)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 14, 16, 14)
        layout.setSpacing(10)
        layout.addWidget(
            hint_label(
                "Classical ciphers hide letters but not their statistics; press Attack to "
                "watch them fall. AES-256-GCM, beside them, leaves nothing to count."
            )
        )
        layout.addLayout(controls)
        layout.addWidget(self.key_error)
        layout.addLayout(columns, 5)
        layout.addWidget(self.frequency_note)
        layout.addWidget(self.attack_panel, 2)
        self.resize(1180, 780)

        self.cipher_box.currentIndexChanged.connect(self._cipher_changed)
        self.key_edit.textChanged.connect(self._key_changed)
        self.new_key_button.clicked.connect(self.new_key)
        self.keep_box.toggled.connect(lambda _checked: self._refresh())
        self.plain_edit.textChanged.connect(lambda: self._typed("plain"))
        self.cipher_edit.textChanged.connect(lambda: self._typed("cipher"))
        self.puzzle_button.clicked.connect(self._send_puzzle)
        self.plain_edit.setPlainText(SAMPLE_TEXT)
        self._cipher_changed()

    # -- what the person sees -------------------------------------------------------------

    @property
    def cipher_name(self) -> str:
        return str(self.cipher_box.currentData())

    def select_cipher(self, name: str) -> None:
        """Choose the cipher called ``name``; raises ``UnknownCipherError`` otherwise."""
        self.cipher_box.setCurrentIndex(list(CIPHERS).index(cipher_named(name).name))

    def new_key(self) -> None:
        self.key_edit.setText(cipher_named(self.cipher_name).random_key())

    def open_puzzle(self, cipher_name: str, ciphertext: str) -> None:
        """Load a ciphertext someone sent, with its cipher chosen and no key: ready for the
        Attack button (or for guessing keys)."""
        self.select_cipher(cipher_name)
        self.keep_box.setChecked(any(not ("A" <= ch <= "Z") for ch in ciphertext))
        self._set_box(self.plain_edit, "")
        self._leading = "cipher"
        self.key_edit.setText("")
        self._set_box(self.cipher_edit, ciphertext)
        self._refresh()
        self.show()
        self.raise_()
        self.activateWindow()

    # -- reacting ---------------------------------------------------------------------------

    def _cipher_changed(self) -> None:
        cipher = cipher_named(self.cipher_name)
        self.key_edit.setPlaceholderText(cipher.key_hint)
        self.key_edit.setText(self._keys[cipher.name])  # refreshes through _key_changed
        self.frequency_note.setText(FREQUENCY_NOTES[cipher.name])
        self._refresh()

    def _key_changed(self, key: str) -> None:
        self._keys[self.cipher_name] = key
        self._refresh()

    def _typed(self, box: str) -> None:
        if not self._updating:
            self._leading = box
            self._refresh()

    def _refresh(self) -> None:
        """Recompute the side the person did not type in, then the charts and panels."""
        cipher = cipher_named(self.cipher_name)
        key = self.key_edit.text()
        keep = self.keep_box.isChecked()
        source, target = (
            (self.plain_edit, self.cipher_edit)
            if self._leading == "plain"
            else (self.cipher_edit, self.plain_edit)
        )
        if not key.strip():
            self.key_error.clear_error()
            self._set_box(target, "")
        else:
            try:
                if self._leading == "plain":
                    result = cipher.encrypt(source.toPlainText(), key, keep_punctuation=keep)
                else:
                    result = cipher.decrypt(source.toPlainText(), key, keep_punctuation=keep)
            except LabError as exc:
                self.key_error.show_error(str(exc))
            else:
                self.key_error.clear_error()
                self._set_box(target, result)
        plaintext, ciphertext = self.plain_edit.toPlainText(), self.cipher_edit.toPlainText()
        freq = list(english().letter_freq)
        self.plain_chart.set_values(letter_shares(plaintext), freq)
        self.cipher_chart.set_values(letter_shares(ciphertext), freq)
        self.attack_panel.set_target(cipher.name, ciphertext, keep)
        self.aes_panel.show_plaintext(plaintext)
        self.puzzle_button.setEnabled(bool(ciphertext.strip()))

    def _set_box(self, box: QPlainTextEdit, text: str) -> None:
        if box.toPlainText() == text:
            return
        self._updating = True
        try:
            box.setPlainText(text)
        finally:
            self._updating = False

    def _send_puzzle(self) -> None:
        ciphertext = self.cipher_edit.toPlainText()
        if ciphertext.strip():
            self.puzzleRequested.emit(self.cipher_name, ciphertext)

    def closeEvent(self, event: QCloseEvent) -> None:
        """Closing hides the lab (it keeps its texts for next time) and stops an attack."""
        self.attack_panel.cancel()
        super().closeEvent(event)


def show_cipher_lab(parent: QWidget) -> CipherLab:
    """The one lab window of ``parent`` (made on first use), shown and raised."""
    lab = parent.findChild(CipherLab)
    if lab is None:
        lab = CipherLab(parent)
    lab.show()
    lab.raise_()
    lab.activateWindow()
    return lab
