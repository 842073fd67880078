"""Paints the conversation column: message bubbles, day separators and quiet lines.

A long history is a list view with a painted row per message, not a widget per message:
fifty bubble widgets took 150 ms to create and lay out here, a painted row costs a text
measurement once (``measure``, stored as the row's size hint, so the list view lays out
thousands of rows in C++ without calling back into Python) and a paint while it is on
screen. Rows that need buttons (files, puzzles, a failed message's Retry) are widgets that
the view places over their row instead (``history_view``).

Text is laid out with ``QTextLayout`` (wrapping at word boundaries, or anywhere for a long
link), always as plain text: a peer's message is never markup. A bubble is at most
``TEXT_WIDTH`` wide whatever the window's width, so a row's height never depends on the
window and the heights measured once stay right.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPointF, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen, QTextLayout, QTextOption
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from messenger.store.records import MessageStatus
from messenger.ui.history_rows import Row, RowKind, day_label, short_time
from messenger.ui.theme import themed

__all__ = [
    "ROW_ROLE",
    "TEXT_WIDTH",
    "TICK_DELIVERED",
    "TICK_SENT",
    "BubbleDelegate",
    "status_words",
]

#: The item data role holding a row's ``Row``.
ROW_ROLE = Qt.ItemDataRole.UserRole + 1
#: What the ticks say: sent (the relay has it), delivered (their app stored it).
TICK_SENT = "\u2713"
TICK_DELIVERED = "\u2713\u2713"
#: Widest text line in a bubble, in pixels.
TEXT_WIDTH = 420
SIDE = 14  #: space between a bubble and the column's edge
PAD_X, PAD_TOP, PAD_BOTTOM = 12, 8, 6
GAP = 3  #: above and below each row
RADIUS = 14
META_GAP = 2

_COLOURS = {
    "light": {
        "out_bg": "#2F6FED", "out_fg": "#FFFFFF", "out_meta": "#DCE7FD",
        "in_bg": "#E9ECF0", "in_fg": "#1F2328", "in_meta": "#5F6368",
        "day_bg": "#E3E8F0", "day_fg": "#4D535B", "system": "#80868B", "select": "#F2B600",
    },
    "dark": {
        "out_bg": "#2F6FED", "out_fg": "#FFFFFF", "out_meta": "#DCE7FD",
        "in_bg": "#33363C", "in_fg": "#E6E7EA", "in_meta": "#A0A6AE",
        "day_bg": "#3A3C42", "day_fg": "#C4C8CE", "system": "#8A9099", "select": "#F2B600",
    },
}  # fmt: skip


def status_words(row: Row) -> str:
    """The status of one of our messages, in words (tooltips, accessibility, tests)."""
    return {
        MessageStatus.PENDING: "Waiting to be sent",
        MessageStatus.SENT: "Sent: the server has it",
        MessageStatus.DELIVERED: "Delivered: their app stored it",
        MessageStatus.FAILED: "Not sent",
    }.get(row.status, "")


def _wrapped(text: str, font: QFont, width: int) -> tuple[QTextLayout, float, float]:
    """``text`` laid out in lines of at most ``width`` pixels: (layout, widest, height)."""
    layout = QTextLayout(text.replace("\n", "\u2028"), font)
    option = QTextOption()
    option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
    layout.setTextOption(option)
    layout.beginLayout()
    height, widest = 0.0, 0.0
    while True:
        line = layout.createLine()
        if not line.isValid():
            break
        line.setLineWidth(width)
        line.setPosition(QPointF(0, height))
        height += line.height()
        widest = max(widest, line.naturalTextWidth())
    layout.endLayout()
    return layout, widest, height


class BubbleDelegate(QStyledItemDelegate):
    """Measures and paints the painted rows of one history view."""

    def __init__(self, font: QFont, parent: object | None = None) -> None:
        super().__init__(parent)  # type: ignore[arg-type]
        self.font = QFont(font)
        self.meta_font = QFont(font)
        self.meta_font.setPointSizeF(max(7.0, font.pointSizeF() * 0.8))
        self.system_font = QFont(self.meta_font)
        self.system_font.setItalic(True)
        self.day_font = QFont(self.meta_font)
        self.day_font.setBold(True)

    # -- measuring --------------------------------------------------------------------------

    def measure(self, row: Row) -> QSize:
        """The height a painted row needs (its width is the column's, whatever it is)."""
        if row.kind is RowKind.DAY:
            _layout, _w, h = _wrapped("Today", self.day_font, TEXT_WIDTH)
            return QSize(TEXT_WIDTH, int(h) + 8 + 2 * 6)
        if row.kind is RowKind.SYSTEM:
            _layout, _w, h = _wrapped(row.body, self.system_font, TEXT_WIDTH + 2 * PAD_X)
            return QSize(TEXT_WIDTH, int(h) + 2 * 5)
        width, height = self._bubble_size(row)
        return QSize(width, height + 2 * GAP)

    def _bubble_size(self, row: Row) -> tuple[int, int]:
        _layout, text_w, text_h = _wrapped(row.body, self.font, TEXT_WIDTH)
        _meta, meta_w, meta_h = _wrapped(self._meta_text(row), self.meta_font, TEXT_WIDTH)
        width = int(max(text_w, meta_w + self._mark_width(row) + 6)) + 2 * PAD_X + 2
        return width, int(text_h + META_GAP + meta_h) + PAD_TOP + PAD_BOTTOM

    def _meta_text(self, row: Row) -> str:
        return short_time(row.timestamp)

    def _mark_width(self, row: Row) -> int:
        return 22 if row.outgoing else 0

    # No sizeHint here on purpose: the base class reads the row's SizeHintRole in C++, so a
    # layout of thousands of rows never calls into Python.

    # -- painting ---------------------------------------------------------------------------

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        row = index.data(ROW_ROLE)
        if not isinstance(row, Row):
            return
        colours = themed(_COLOURS)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = option.rect
        if row.kind is RowKind.DAY:
            self._paint_day(painter, rect, row, colours)
        elif row.kind is RowKind.SYSTEM:
            self._paint_system(painter, rect, row, colours)
        elif row.message_kind == "text" and row.status is not MessageStatus.FAILED:
            selected = bool(option.state & QStyle.StateFlag.State_Selected)
            self._paint_bubble(painter, rect, row, colours, selected)
        painter.restore()

    def _paint_day(self, painter: QPainter, rect: QRect, row: Row, colours: dict) -> None:
        label = day_label(row.day)
        layout, width, height = _wrapped(label, self.day_font, TEXT_WIDTH)
        pill = QRectF(0, 0, width + 24, height + 8)
        pill.moveCenter(QRectF(rect).center())
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(colours["day_bg"]))
        painter.drawRoundedRect(pill, pill.height() / 2, pill.height() / 2)
        painter.setPen(QColor(colours["day_fg"]))
        layout.draw(painter, QPointF(pill.left() + 12, pill.top() + 4))

    def _paint_system(self, painter: QPainter, rect: QRect, row: Row, colours: dict) -> None:
        width = min(rect.width() - 2 * SIDE, TEXT_WIDTH + 2 * PAD_X)
        layout, _widest, height = _wrapped(row.body, self.system_font, width)
        painter.setPen(QColor(colours["system"]))
        top = rect.top() + (rect.height() - height) / 2
        for n in range(layout.lineCount()):
            line = layout.lineAt(n)
            left = rect.left() + (rect.width() - line.naturalTextWidth()) / 2
            line.draw(painter, QPointF(left, top))

    def _paint_bubble(
        self, painter: QPainter, rect: QRect, row: Row, colours: dict, selected: bool
    ) -> None:
        width, height = self._bubble_size(row)
        width = min(width, rect.width() - 2 * SIDE)
        left = rect.right() - SIDE - width if row.outgoing else rect.left() + SIDE
        bubble = QRectF(left, rect.top() + GAP, width, height)
        side = "out" if row.outgoing else "in"
        painter.setPen(QPen(QColor(colours["select"]), 2) if selected else Qt.PenStyle.NoPen)
        painter.setBrush(QColor(colours[f"{side}_bg"]))
        painter.drawRoundedRect(bubble, RADIUS, RADIUS)
        layout, _w, _h = _wrapped(row.body, self.font, int(width - 2 * PAD_X))
        painter.setPen(QColor(colours[f"{side}_fg"]))
        layout.draw(painter, QPointF(bubble.left() + PAD_X, bubble.top() + PAD_TOP))
        meta, meta_w, meta_h = _wrapped(self._meta_text(row), self.meta_font, TEXT_WIDTH)
        mark = self._mark_width(row)
        meta_left = bubble.right() - PAD_X - mark - meta_w
        meta_top = bubble.bottom() - PAD_BOTTOM - meta_h
        painter.setPen(QColor(colours[f"{side}_meta"]))
        meta.draw(painter, QPointF(meta_left, meta_top))
        if row.outgoing:
            self._paint_mark(painter, QRectF(bubble.right() - PAD_X - mark + 4, meta_top,
                                             mark - 4, meta_h), row)  # fmt: skip

    def _paint_mark(self, painter: QPainter, box: QRectF, row: Row) -> None:
        """The outbox clock while it waits, one tick once sent, two once delivered."""
        if row.status is MessageStatus.PENDING:
            size = min(box.height() - 4, 10.0)
            face = QRectF(box.left(), box.center().y() - size / 2, size, size)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(QPen(painter.pen().color(), 1.2))
            painter.drawEllipse(face)
            centre = face.center()
            painter.drawLine(centre, QPointF(centre.x(), face.top() + 2))
            painter.drawLine(centre, QPointF(face.right() - 2.5, centre.y()))
            return
        tick = TICK_DELIVERED if row.status is MessageStatus.DELIVERED else TICK_SENT
        layout, _w, _h = _wrapped(tick, self.meta_font, 40)
        layout.draw(painter, box.topLeft())
