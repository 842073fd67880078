"""The cipher lab's counterpoint: the same plaintext sealed twice the way Messenger seals a
message (padded to a size bucket, then AES-256-GCM), each time with a fresh random key and
nonce. Equal texts give unrelated ciphertexts, and their bytes are spread flat."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGroupBox, QLabel, QPlainTextEdit, QVBoxLayout, QWidget

from messenger.crypto.aead import KEY_SIZE, NONCE_SIZE, random_bytes, seal
from messenger.crypto.padding import pad
from messenger.ui.lab_charts import BarChart, byte_shares
from messenger.ui.theme import hint_label, monospace_font

__all__ = ["AesPanel", "seal_fresh"]


def seal_fresh(plaintext: str) -> bytes:
    """``nonce || ciphertext || tag`` of the padded text under a new random key and nonce
    (never a fixed IV: a nonce reused under one key would leak the XOR of two texts)."""
    key, nonce = random_bytes(KEY_SIZE), random_bytes(NONCE_SIZE)
    return nonce + seal(key, nonce, pad(plaintext.encode("utf-8")))


def _hex_view(object_name: str) -> QPlainTextEdit:
    view = QPlainTextEdit()
    view.setObjectName(object_name)
    view.setReadOnly(True)
    view.setFont(monospace_font())
    view.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
    view.setMinimumHeight(56)
    return view


class AesPanel(QGroupBox):
    """Two AES-256-GCM seals of the plaintext, in hex, and the byte histogram of both."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("The same plaintext under AES-256-GCM", parent)
        self.setObjectName("aesPanel")
        self.first_view = _hex_view("aesFirst")
        self.second_view = _hex_view("aesSecond")
        self.sealed: tuple[bytes, bytes] = (b"", b"")
        self.comparison = QLabel()
        self.comparison.setObjectName("aesComparison")
        self.comparison.setTextFormat(Qt.TextFormat.PlainText)
        self.comparison.setWordWrap(True)
        self.chart = BarChart.for_bytes()
        self.chart.setMinimumHeight(72)
        layout = QVBoxLayout(self)
        layout.setSpacing(4)
        layout.addWidget(
            hint_label(
                "Padded, then sealed with a fresh random key and nonce each time."
            )
        )
        layout.addWidget(QLabel("Sealed once (nonce, ciphertext, tag):"))
        layout.addWidget(self.first_view, 1)
        layout.addWidget(QLabel("Sealed again:"))
        layout.addWidget(self.second_view, 1)
        layout.addWidget(self.comparison)
        layout.addWidget(QLabel("Byte values of both: flat, nothing to count"))
        layout.addWidget(self.chart)

    def show_plaintext(self, plaintext: str) -> None:
        first, second = seal_fresh(plaintext), seal_fresh(plaintext)
        self.sealed = (first, second)
        self.first_view.setPlainText(first.hex(" ", 4))
        self.second_view.setPlainText(second.hex(" ", 4))
        same = sum(a == b for a, b in zip(first, second, strict=True))
        self.comparison.setText(
            f"Same text, {len(first)} bytes each: {same} equal by chance "
            f"(about {len(first) / 256:.1f} expected)."
        )
        self.chart.set_values(byte_shares(first + second))
