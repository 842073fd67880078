"""Bar charts for the cipher lab, painted with QPainter: letter frequencies of a text
(with English's as markers to compare against) and byte-value histograms of AES output.

Colours come from the widget's palette, so the charts follow the light and dark themes.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from messenger.crypto.classical import ALPHABET, letters_only

__all__ = ["BYTE_BINS", "BarChart", "byte_shares", "letter_shares"]

#: Byte values are shown in 16 bins (0x00-0x0F, ..., 0xF0-0xFF) so a short text still fills them.
BYTE_BINS = 16
_BYTE_LABELS = [f"{n:X}" for n in range(BYTE_BINS)]


def letter_shares(text: str) -> list[float]:
    """The share of each letter A..Z among the letters of ``text`` (all 0 if none)."""
    letters = letters_only(text)
    total = len(letters) or 1
    return [letters.count(letter) / total for letter in ALPHABET]


def byte_shares(data: bytes) -> list[float]:
    """The share of bytes in each of the 16 value bins (by the high hex digit)."""
    counts = [0] * BYTE_BINS
    for byte in data:
        counts[byte >> 4] += 1
    total = len(data) or 1
    return [count / total for count in counts]


class BarChart(QWidget):
    """One bar per label, scaled to the tallest bar (or marker); ``reference`` values are
    drawn as short lines across the bars, e.g. English letter frequencies."""

    def __init__(self, labels: Sequence[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.labels = list(labels)
        self.values = [0.0] * len(self.labels)
        self.reference: list[float] | None = None
        self.setMinimumHeight(96)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)

    @classmethod
    def for_letters(cls, parent: QWidget | None = None) -> BarChart:
        return cls(ALPHABET, parent)

    @classmethod
    def for_bytes(cls, parent: QWidget | None = None) -> BarChart:
        chart = cls(_BYTE_LABELS, parent)
        chart.setToolTip("Bytes by value, in 16 bins (0 = 0x00-0x0F, ..., F = 0xF0-0xFF).")
        return chart

    def sizeHint(self) -> QSize:
        return QSize(max(260, 14 * len(self.labels)), 120)

    def set_values(self, values: Sequence[float], reference: Sequence[float] | None = None) -> None:
        if len(values) != len(self.labels):
            raise ValueError(f"expected {len(self.labels)} values, got {len(values)}")
        self.values = list(values)
        self.reference = list(reference) if reference is not None else None
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        palette = self.palette()
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        metrics = painter.fontMetrics()
        label_height = metrics.height() + 2
        area = QRectF(self.rect()).adjusted(2, 4, -2, -label_height)
        count = len(self.labels)
        slot = area.width() / count
        top = max([*self.values, *(self.reference or []), 1e-9])
        bar_colour = palette.color(QPalette.ColorRole.Highlight)
        text_colour = palette.color(QPalette.ColorRole.WindowText)
        marker_colour = QColor(text_colour)
        marker_colour.setAlphaF(0.55)

        painter.setPen(QPen(palette.color(QPalette.ColorRole.Mid), 1))
        painter.drawLine(QPointF(area.left(), area.bottom()), QPointF(area.right(), area.bottom()))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(bar_colour)
        for i, value in enumerate(self.values):
            height = area.height() * value / top
            bar = QRectF(area.left() + i * slot + slot * 0.15, area.bottom() - height,
                         slot * 0.7, height)  # fmt: skip
            painter.drawRoundedRect(bar, 1.5, 1.5)
        if self.reference is not None:
            painter.setPen(QPen(marker_colour, 2))
            for i, value in enumerate(self.reference):
                y = area.bottom() - area.height() * value / top
                x = area.left() + i * slot
                painter.drawLine(QPointF(x + slot * 0.05, y), QPointF(x + slot * 0.95, y))
        painter.setPen(text_colour)
        for i, label in enumerate(self.labels):
            cell = QRectF(area.left() + i * slot, area.bottom() + 1, slot, label_height)
            painter.drawText(cell, Qt.AlignmentFlag.AlignCenter, label)
        painter.end()
