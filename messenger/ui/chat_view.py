"""One session's page: header, the conversation as bubbles, and the composer.

Bubbles are plain widgets in a scroll area: a conversation here is hundreds of lines, not
millions, and real widgets keep selection, wrapping and accessibility for free. Files come
in through the attach button or by dropping them on the page; their cards
(``transfer_widgets.TransferCard``) sit in the same column as the bubbles.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QMimeData, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QKeyEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from messenger.ui.file_choosers import ask_for_files
from messenger.ui.icons import attach_icon
from messenger.ui.transfer_widgets import TransferCard
from messenger.ui.wording import KEYS_RENEWED

#: What the tick shows: sent (sealed and handed to the relay) / delivered (sealed receipt).
TICK_SENT = "✓"
TICK_DELIVERED = "✓✓"
BUBBLE_MAX_WIDTH = 480


def clock(timestamp: float) -> str:
    return time.strftime("%H:%M", time.localtime(timestamp))


def local_files(mime: QMimeData) -> list[str]:
    """The local files (not folders, not web links) among dragged URLs."""
    if not mime.hasUrls():
        return []
    paths = (url.toLocalFile() for url in mime.urls() if url.isLocalFile())
    return [path for path in paths if path and Path(path).is_file()]


class Composer(QPlainTextEdit):
    """Enter sends, Shift+Enter starts a new line."""

    submitted = Signal(str)
    filesDropped = Signal(list)  # [local path]

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("composer")
        self.setPlaceholderText("Write a message…  (Enter sends, Shift+Enter for a new line)")
        self.setTabChangesFocus(True)
        self.setFixedHeight(72)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not (
            event.modifiers() & Qt.KeyboardModifier.ShiftModifier
        ):
            self.submit()
            return
        super().keyPressEvent(event)

    def submit(self) -> None:
        text = self.toPlainText().strip()
        if text:
            self.submitted.emit(text)

    # A text box takes dropped files as text (their URLs): hand them over as files instead.
    def canInsertFromMimeData(self, source: QMimeData) -> bool:
        return bool(local_files(source)) or super().canInsertFromMimeData(source)

    def insertFromMimeData(self, source: QMimeData) -> None:
        files = local_files(source)
        if files:
            self.filesDropped.emit(files)
        else:
            super().insertFromMimeData(source)


class Bubble(QFrame):
    """One message: text, time and (for ours) a delivery tick."""

    def __init__(self, text: str, timestamp: float, outgoing: bool) -> None:
        super().__init__()
        self.setObjectName("bubbleOutgoing" if outgoing else "bubbleIncoming")
        self.outgoing = outgoing
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 6)
        layout.setSpacing(2)
        self.text = QLabel(text)
        self.text.setObjectName("bubbleText")
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text.setTextFormat(Qt.TextFormat.PlainText)
        self.meta = QLabel(clock(timestamp) + (f"  {TICK_SENT}" if outgoing else ""))
        self.meta.setObjectName("bubbleMeta")
        self.meta.setAlignment(Qt.AlignmentFlag.AlignRight)
        layout.addWidget(self.text)
        layout.addWidget(self.meta)
        self.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Preferred)
        self.setMaximumWidth(BUBBLE_MAX_WIDTH)
        # A wrapped QLabel otherwise shrinks to a narrow column: give it its natural width,
        # up to the maximum, so short messages sit on one line and long ones wrap nicely.
        longest = max(
            (self.text.fontMetrics().horizontalAdvance(line) for line in text.splitlines() or [""]),
            default=0,
        )
        self.text.setMinimumWidth(min(longest + 4, BUBBLE_MAX_WIDTH - 32))
        self._time = timestamp

    @property
    def delivered(self) -> bool:
        return self.meta.text().endswith(TICK_DELIVERED)

    def mark_delivered(self) -> None:
        self.meta.setText(f"{clock(self._time)}  {TICK_DELIVERED}")
        self.meta.setToolTip("Delivered: the other person's app confirmed it")


class ChatPage(QWidget):
    """Messages of one session plus its composer."""

    sendRequested = Signal(str, str)  # conversation key, text
    verifyRequested = Signal(str)  # conversation key
    fileRequested = Signal(str, str)  # conversation key, local path

    def __init__(self, key: str, title: str, mode: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.key = key
        self.mode = mode
        self._bubbles: dict[str, Bubble] = {}
        self._ready = False
        self._ended = False
        #: Asks for files to send; tests swap it for a stub.
        self.choose_files: Callable[[QWidget], list[str]] = ask_for_files
        self.setAcceptDrops(True)

        header = QHBoxLayout()
        self.title = QLabel()
        self.title.setObjectName("chatTitle")
        self.title.setTextFormat(Qt.TextFormat.PlainText)  # a peer's name, whatever it holds
        self.title.setText(title)
        self.badge = QLabel("")
        self.badge.setObjectName("verifiedBadge")
        self.verify_button = QPushButton("Verify…")
        self.verify_button.setObjectName("verifyButton")
        self.verify_button.setEnabled(False)
        self.verify_button.setToolTip("Compare safety numbers with the other person")
        self.verify_button.clicked.connect(lambda: self.verifyRequested.emit(self.key))
        header.addWidget(self.title)
        header.addWidget(self.badge)
        header.addStretch(1)
        header.addWidget(self.verify_button)

        self.column = QVBoxLayout()
        self.column.setContentsMargins(12, 12, 12, 12)
        self.column.setSpacing(8)
        self.column.addStretch(1)
        inner = QWidget()
        inner.setObjectName("chatInner")
        inner.setLayout(self.column)
        self.scroll_area = QScrollArea()
        self.scroll_area.setObjectName("chatScroll")
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setWidget(inner)
        self.scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll_area.verticalScrollBar().rangeChanged.connect(self._stick_to_bottom)

        self.composer = Composer()
        self.composer.submitted.connect(self._submit)
        self.composer.filesDropped.connect(self._request_files)
        self.attach_button = QPushButton(attach_icon(), "")
        self.attach_button.setObjectName("attachButton")
        self.attach_button.setIconSize(QSize(20, 20))
        self.attach_button.setToolTip("Send a file (or drop files on the conversation)")
        self.attach_button.setAccessibleName("Attach a file")
        self.attach_button.setEnabled(False)
        self.attach_button.clicked.connect(self._attach)
        self.send_button = QPushButton("Send")
        self.send_button.setObjectName("sendButton")
        self.send_button.clicked.connect(self.composer.submit)
        bottom = QHBoxLayout()
        bottom.addWidget(self.composer, 1)
        bottom.addWidget(self.attach_button)
        bottom.addWidget(self.send_button)

        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(self.scroll_area, 1)
        layout.addLayout(bottom)

    # -- what the page shows ----------------------------------------------------------------

    def add_system_line(self, text: str) -> QLabel:
        """A centred line about the session; plain text (it quotes names and reasons)."""
        line = QLabel()
        line.setObjectName("systemLine")
        line.setTextFormat(Qt.TextFormat.PlainText)
        line.setText(text)
        line.setWordWrap(True)
        line.setAlignment(Qt.AlignmentFlag.AlignCenter)
        line.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.column.addWidget(line)
        return line

    def note_keys_renewed(self, when: float) -> QLabel:
        """A quiet "Keys renewed" line; renewals in a row update one line instead of adding
        more (they happen every few minutes, on both sides)."""
        last = self.column.itemAt(self.column.count() - 1)
        line = last.widget() if last is not None else None
        if isinstance(line, QLabel) and line.property("renewals"):
            count = int(line.property("renewals")) + 1
        else:
            line, count = self.add_system_line(""), 1
        line.setProperty("renewals", count)
        times = "" if count == 1 else f" ({count} times)"
        line.setText(f"{KEYS_RENEWED} at {clock(when)}{times}.")
        return line

    def add_message(self, message_id: str, text: str, timestamp: float, outgoing: bool) -> Bubble:
        bubble = Bubble(text, timestamp, outgoing)
        row = QHBoxLayout()
        if outgoing:
            row.addStretch(1)
        row.addWidget(bubble)
        if not outgoing:
            row.addStretch(1)
        self.column.addLayout(row)
        self._bubbles[message_id] = bubble
        return bubble

    def mark_delivered(self, message_id: str) -> None:
        bubble = self._bubbles.get(message_id)
        if bubble is not None:
            bubble.mark_delivered()

    def bubbles(self) -> list[Bubble]:
        return list(self._bubbles.values())

    def add_transfer(self, card: TransferCard) -> TransferCard:
        """Put a file card in the column: ours on the right, theirs on the left."""
        row = QHBoxLayout()
        if card.direction == "out":
            row.addStretch(1)
        row.addWidget(card)
        if card.direction != "out":
            row.addStretch(1)
        self.column.addLayout(row)
        return card

    def remove_transfer(self, card: TransferCard) -> None:
        for index in range(self.column.count()):
            item = self.column.itemAt(index)
            row = item.layout() if item is not None else None
            if row is not None and row.indexOf(card) >= 0:
                self.column.takeAt(index)
                card.setParent(None)
                card.deleteLater()
                row.deleteLater()
                return

    def transfers(self) -> list[TransferCard]:
        return self.findChildren(TransferCard)

    def set_ready(self, ready: bool) -> None:
        self._ready = ready
        self.verify_button.setEnabled(ready)
        self.attach_button.setEnabled(ready and not self._ended)

    def set_verified(self, verified: bool) -> None:
        self.badge.setText("✔ verified" if verified else "")

    def set_ended(self) -> None:
        self._ended = True
        self.composer.setEnabled(False)
        self.send_button.setEnabled(False)
        self.attach_button.setEnabled(False)
        self.composer.setPlaceholderText("This session has ended.")

    # -- private ----------------------------------------------------------------------------

    def _submit(self, text: str) -> None:
        self.sendRequested.emit(self.key, text)

    def clear_composer(self) -> None:
        self.composer.clear()

    # -- files: the attach button and drops ------------------------------------------------

    @property
    def takes_files(self) -> bool:
        return self._ready and not self._ended

    def _attach(self) -> None:
        self._request_files(self.choose_files(self))

    def _request_files(self, paths: list[str]) -> None:
        if self.takes_files:
            for path in paths:
                self.fileRequested.emit(self.key, path)

    def _consider_drag(self, event: QDragMoveEvent) -> None:
        if self.takes_files and local_files(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        self._consider_drag(event)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        self._consider_drag(event)

    def dropEvent(self, event: QDropEvent) -> None:
        files = local_files(event.mimeData())
        if not self.takes_files or not files:
            event.ignore()
            return
        event.acceptProposedAction()
        self._request_files(files)

    def _stick_to_bottom(self, _low: int, high: int) -> None:
        QTimer.singleShot(0, lambda: self.scroll_area.verticalScrollBar().setValue(high))
