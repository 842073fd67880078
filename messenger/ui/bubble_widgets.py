"""The few rows of a conversation that need buttons: a puzzle ("Open in lab"), a message
that could not be sent ("Retry"), and the holder that places any of them (or a file card)
on its side of the column.

Everything a peer wrote is shown as plain text (``theme.plain_label``).
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from messenger.crypto.classical import CIPHERS
from messenger.store.records import MessageStatus
from messenger.ui.bubble_delegate import GAP, SIDE, TEXT_WIDTH, TICK_DELIVERED, TICK_SENT
from messenger.ui.history_rows import Row, short_time
from messenger.ui.theme import monospace_font, plain_label

__all__ = ["FailedBubble", "PuzzleBubble", "RowHolder", "cipher_title"]

BUBBLE_WIDTH = TEXT_WIDTH + 26


def cipher_title(name: str) -> str:
    """ "Caesar" for "caesar"; a name we do not know is shown as it came (plain text)."""
    cipher = CIPHERS.get(name.strip().lower())
    return cipher.title if cipher is not None else name[:40]


def _meta_text(row: Row) -> str:
    mark = ""
    if row.outgoing:
        mark = {
            MessageStatus.PENDING: "  \u25f7 waiting",
            MessageStatus.SENT: f"  {TICK_SENT}",
            MessageStatus.DELIVERED: f"  {TICK_DELIVERED}",
        }.get(row.status, "")
    return short_time(row.timestamp) + mark


def _natural_width(label: QLabel, text: str) -> None:
    """Fix a wrapped label's width to its longest line, up to the bubble's: left to
    itself it shrinks to a narrow column, and with a fixed width its height for that width
    (what the row is given) is exact."""
    label.ensurePolished()
    metrics = label.fontMetrics()
    longest = max(metrics.horizontalAdvance(line) for line in text.splitlines() or [""])
    label.setFixedWidth(min(longest + 6, BUBBLE_WIDTH - 26))


class _Bubble(QFrame):
    """A bubble frame on the theme's colours (the style sheets style these names)."""

    def __init__(self, row: Row) -> None:
        super().__init__()
        self.row = row
        self.setObjectName("bubbleOutgoing" if row.outgoing else "bubbleIncoming")
        self.setMaximumWidth(BUBBLE_WIDTH)
        self.column = QVBoxLayout(self)
        self.column.setContentsMargins(12, 8, 12, 6)
        self.column.setSpacing(4)
        self.meta = QLabel(_meta_text(row))
        self.meta.setObjectName("bubbleMeta")
        self.meta.setAlignment(Qt.AlignmentFlag.AlignRight)

    def set_row(self, row: Row) -> None:
        self.row = row
        self.meta.setText(_meta_text(row))


class PuzzleBubble(_Bubble):
    """A classical ciphertext sent to be solved; "Open in lab" loads it into the lab."""

    openRequested = Signal(str, str)  # cipher name, ciphertext

    def __init__(self, row: Row) -> None:
        super().__init__(row)
        self.cipher = row.meta or ""
        self.heading = plain_label(f"\U0001f9e9 Puzzle \u00b7 {cipher_title(self.cipher)}")
        self.heading.setObjectName("puzzleHeading")
        font = self.heading.font()
        font.setBold(True)
        self.heading.setFont(font)
        self.text = plain_label(row.body, "puzzleText")
        self.text.setFont(monospace_font())
        self.text.setWordWrap(True)
        _natural_width(self.text, row.body)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_button = QPushButton("Open in lab")
        self.open_button.setObjectName("openPuzzle")
        self.open_button.setToolTip("Load this ciphertext into the cipher lab to solve it")
        self.open_button.setEnabled(self.cipher.strip().lower() in CIPHERS)
        self.open_button.clicked.connect(lambda: self.openRequested.emit(self.cipher, row.body))
        bottom = QHBoxLayout()
        bottom.addWidget(self.open_button)
        bottom.addStretch(1)
        bottom.addWidget(self.meta)
        self.column.addWidget(self.heading)
        self.column.addWidget(self.text)
        self.column.addLayout(bottom)


class FailedBubble(_Bubble):
    """One of our messages the server refused: its text, why, and Retry."""

    retryRequested = Signal(str)  # message id

    def __init__(self, row: Row) -> None:
        super().__init__(row)
        self.text = plain_label(row.body, "bubbleText")
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        _natural_width(self.text, row.body)
        self.why = plain_label(f"Not sent: {row.error or 'the server refused it.'}", "failedNote")
        self.why.setWordWrap(True)
        self.retry_button = QPushButton("Retry")
        self.retry_button.setObjectName("retryButton")
        self.retry_button.clicked.connect(self._retry)
        bottom = QHBoxLayout()
        bottom.addWidget(self.retry_button)
        bottom.addStretch(1)
        bottom.addWidget(self.meta)
        self.column.addWidget(self.text)
        self.column.addWidget(self.why)
        self.column.addLayout(bottom)

    def _retry(self) -> None:
        self.retry_button.setEnabled(False)
        self.retryRequested.emit(self.row.msg_id)


class RowHolder(QWidget):
    """Holds a row's widget on its side of the column and reports when its height
    changes (a file card grows a progress bar), so the row can follow."""

    heightChanged = Signal()

    def __init__(self, widget: QWidget, outgoing: bool) -> None:
        super().__init__()
        self.setObjectName("rowHolder")
        self.widget = widget
        layout = QHBoxLayout(self)
        layout.setContentsMargins(SIDE, GAP, SIDE, GAP)
        if outgoing:
            layout.addStretch(1)
        layout.addWidget(widget)
        if not outgoing:
            layout.addStretch(1)
        widget.installEventFilter(self)

    def release(self) -> QWidget:
        """Take the widget back out (a file card lives on after its row is gone)."""
        self.widget.removeEventFilter(self)
        self.widget.setParent(None)
        return self.widget

    def wanted_height(self) -> int:
        """The row height the widget needs at the width it will get."""
        self.ensurePolished()  # the style sheet's paddings count
        width = min(self.widget.sizeHint().width(), self.widget.maximumWidth(), BUBBLE_WIDTH)
        height = max(self.widget.heightForWidth(width), self.widget.sizeHint().height())
        return height + 2 * GAP

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.widget and event.type() == QEvent.Type.LayoutRequest:
            self.heightChanged.emit()
        return False
