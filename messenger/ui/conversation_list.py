"""The conversation list: one entry per contact (and per meeting still under way), most
recent first, each with name, verified mark, online dot, last message and time, unread badge.

Entries are keyed by the app's own keys: a contact's id, or a meeting's own key until it
becomes a contact. What an entry shows is an ``Entry``; the list paints it
(``EntryDelegate``) and keeps an item text that says the same in words, for screen readers.
The filter hides entries whose name does not match; it never reorders them.

Rows are found by key in a dict and placed by bisecting a list of their sort keys kept in
row order, not by scanning the rows: with 300 contacts, 1,000 arrivals scanned the list
~600,000 times and cost 1.4 s of the window's time.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from dataclasses import dataclass, replace

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter
from PySide6.QtWidgets import (
    QListWidget,
    QListWidgetItem,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
)

from messenger.ui.history_rows import when_label
from messenger.ui.theme import themed

__all__ = ["ENTRY_ROLE", "ConversationList", "Entry"]

ENTRY_ROLE = Qt.ItemDataRole.UserRole + 1
ROW_HEIGHT = 60
AVATAR = 38

_AVATAR_COLOURS = ("#2F6FED", "#1A7F37", "#B35900", "#8250DF", "#BF3989", "#0E7C86", "#6E7781")
_COLOURS = {
    "light": {"selected": "#DCE7FD", "hover": "#EAEFF7", "muted": "#5F6368", "verified": "#1A7F37",
              "badge": "#2F6FED", "online": "#1FA855", "ring": "#F5F6F8"},
    "dark": {"selected": "#2A3F66", "hover": "#2B2D31", "muted": "#A0A6AE", "verified": "#4AC26B",
             "badge": "#3A78F2", "online": "#3FB950", "ring": "#1E1F22"},
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Entry:
    key: str
    title: str
    #: A contact (the conversation outlives connections) or a meeting under way.
    contact: bool = True
    verified: bool = False
    online: bool = False
    #: The last message's first line, as the list shows it ("You: …", "📎 name").
    preview: str = ""
    #: When something last happened (sorts the list; its time or date is shown).
    activity: float = 0.0
    unread: int = 0
    #: A meeting's state in words ("Waiting for the other person", "Ended").
    state: str = ""

    def words(self) -> str:
        """What the entry shows, as one line of text (the item's text)."""
        parts = [self.title + (" (verified)" if self.verified else "")]
        if self.contact:
            parts.append("online" if self.online else "offline")
        if self.unread:
            parts.append(f"{self.unread} unread")
        if when := when_label(self.activity):
            parts.append(when)
        text = ", ".join(parts)
        second = self.state or self.preview
        return f"{text}: {second}" if second else text


class ConversationList(QListWidget):
    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("conversationList")
        self.setMinimumWidth(240)
        self.setUniformItemSizes(True)
        self.setMouseTracking(True)
        self.setItemDelegate(EntryDelegate(self))
        self._filter = ""
        #: Every entry's item by key, and the entries' sort keys in row order.
        self._items: dict[str, QListWidgetItem] = {}
        self._orders: list[tuple[float, str, str]] = []

    # -- entries ----------------------------------------------------------------------------

    def item_for(self, key: str) -> QListWidgetItem | None:
        return self._items.get(key)

    def entry(self, key: str) -> Entry | None:
        item = self.item_for(key)
        return item.data(ENTRY_ROLE) if item is not None else None

    def entries(self) -> list[Entry]:
        """Every entry, in the order shown (hidden ones too)."""
        return [self.item(row).data(ENTRY_ROLE) for row in range(self.count())]

    def visible_entries(self) -> list[Entry]:
        return [
            self.item(row).data(ENTRY_ROLE)
            for row in range(self.count())
            if not self.item(row).isHidden()
        ]

    def current_key(self) -> str | None:
        item = self.currentItem()
        entry: Entry | None = item.data(ENTRY_ROLE) if item is not None else None
        return entry.key if entry is not None else None

    def select(self, key: str) -> None:
        item = self.item_for(key)
        if item is not None:
            self.setCurrentItem(item)

    def put(self, entry: Entry) -> QListWidgetItem:
        """Add an entry, or replace the one with its key; it moves to its place."""
        item = self._items.get(entry.key)
        if item is None:
            item = QListWidgetItem()
            item.setSizeHint(QSize(200, ROW_HEIGHT))
            self._show(item, entry)
            order = _order(entry)
            row = bisect_left(self._orders, order)
            self._orders.insert(row, order)
            self._items[entry.key] = item
            self.insertItem(row, item)
        else:
            old = self._row_of(item.data(ENTRY_ROLE))
            self._show(item, entry)
            self._move(item, old)
        self._apply_filter(item)
        return item

    def put_all(self, entries: list[Entry]) -> None:
        """Many entries at once (the list at start): painted once."""
        self.setUpdatesEnabled(False)
        try:
            for entry in sorted(entries, key=_order):
                self.put(entry)
        finally:
            self.setUpdatesEnabled(True)

    def change(self, key: str, **changes: object) -> Entry | None:
        """Change some of an entry's fields (``Entry`` names); None if there is none."""
        entry = self.entry(key)
        if entry is None:
            return None
        updated = replace(entry, **changes)  # type: ignore[arg-type]
        self.put(updated)
        return updated

    def remove(self, key: str) -> None:
        item = self._items.pop(key, None)
        if item is not None:
            row = self._row_of(item.data(ENTRY_ROLE))
            del self._orders[row]
            self.takeItem(row)

    # -- the filter -------------------------------------------------------------------------

    def set_filter(self, text: str) -> None:
        self._filter = text.strip().casefold()
        for row in range(self.count()):
            self._apply_filter(self.item(row))

    def _apply_filter(self, item: QListWidgetItem) -> None:
        entry: Entry = item.data(ENTRY_ROLE)
        item.setHidden(bool(self._filter) and self._filter not in entry.title.casefold())

    # -- private ----------------------------------------------------------------------------

    def _show(self, item: QListWidgetItem, entry: Entry) -> None:
        item.setData(ENTRY_ROLE, entry)
        item.setText(entry.words())
        item.setToolTip("")

    def _row_of(self, entry: Entry) -> int:
        """The row of the item showing ``entry`` (sort keys are unique: they end in the key)."""
        return bisect_left(self._orders, _order(entry))

    def _move(self, item: QListWidgetItem, old: int) -> None:
        """Move ``item`` from row ``old`` to where its entry now sorts, without the move
        counting as a new selection."""
        del self._orders[old]
        order = _order(item.data(ENTRY_ROLE))
        target = bisect_left(self._orders, order)
        self._orders.insert(target, order)
        if target == old:
            return
        current = self.currentItem() is item
        self.blockSignals(True)
        try:
            self.takeItem(old)
            self.insertItem(target, item)
            if current:
                self.setCurrentItem(item)
        finally:
            self.blockSignals(False)


def _order(entry: Entry) -> tuple[float, str, str]:
    return (-entry.activity, entry.title.casefold(), entry.key)


class EntryDelegate(QStyledItemDelegate):
    """Paints an entry: avatar with online dot, name and mark, time, preview, badge."""

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        entry = index.data(ENTRY_ROLE)
        if not isinstance(entry, Entry):
            return
        colours = themed(_COLOURS)
        palette = option.palette
        rect: QRect = option.rect.adjusted(4, 1, -4, -1)
        state = option.state
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if state & QStyle.StateFlag.State_Selected:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(colours["selected"]))
            painter.drawRoundedRect(rect, 8, 8)
        elif state & QStyle.StateFlag.State_MouseOver:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(colours["hover"]))
            painter.drawRoundedRect(rect, 8, 8)
        self._avatar(painter, rect, entry, colours)
        text_left = rect.left() + 10 + AVATAR + 10
        text = QRect(text_left, rect.top() + 9, rect.right() - 10 - text_left, rect.height() - 18)
        base = QFont(option.font)
        small = QFont(base)
        small.setPointSizeF(max(7.0, base.pointSizeF() * 0.85))
        bold = QFont(base)
        bold.setBold(True)

        when = when_label(entry.activity)
        painter.setFont(small)
        when_width = QFontMetrics(small).horizontalAdvance(when) + 4 if when else 0
        painter.setPen(QColor(colours["muted"]))
        painter.drawText(text, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop, when)

        name_font = bold if entry.unread or not entry.contact else base
        mark = " \u2714" if entry.verified else ""
        metrics = QFontMetrics(name_font)
        room = text.width() - when_width - (metrics.horizontalAdvance(mark) if mark else 0) - 6
        name = metrics.elidedText(entry.title, Qt.TextElideMode.ElideRight, max(room, 20))
        painter.setFont(name_font)
        painter.setPen(palette.color(palette.ColorRole.Text))
        painter.drawText(text, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop, name)
        if mark:
            painter.setPen(QColor(colours["verified"]))
            mark_rect = text.adjusted(metrics.horizontalAdvance(name), 0, 0, 0)
            top_left = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop
            painter.drawText(mark_rect, top_left, mark)

        badge_width = self._badge(painter, text, entry, small, colours)
        second = entry.state or entry.preview
        painter.setFont(small)
        painter.setPen(QColor(colours["muted"]))
        elided = QFontMetrics(small).elidedText(
            second.replace("\n", " "), Qt.TextElideMode.ElideRight, text.width() - badge_width - 6
        )
        painter.drawText(text, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom, elided)
        painter.restore()

    def _avatar(self, painter: QPainter, rect: QRect, entry: Entry, colours: dict) -> None:
        circle = QRect(rect.left() + 10, rect.center().y() - AVATAR // 2, AVATAR, AVATAR)
        shade = int(hashlib.sha256(entry.key.encode()).hexdigest()[:4], 16)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(_AVATAR_COLOURS[shade % len(_AVATAR_COLOURS)]))
        painter.drawEllipse(circle)
        initial = (entry.title.strip()[:1] or "?").upper()
        painter.setPen(QColor("#FFFFFF"))
        font = QFont(painter.font())
        font.setBold(True)
        painter.setFont(font)
        painter.drawText(circle, Qt.AlignmentFlag.AlignCenter, initial)
        if entry.contact and entry.online:
            dot = QRect(circle.right() - 10, circle.bottom() - 10, 12, 12)
            painter.setBrush(QColor(colours["online"]))
            painter.setPen(QColor(colours["ring"]))
            painter.drawEllipse(dot)

    def _badge(
        self, painter: QPainter, text: QRect, entry: Entry, font: QFont, colours: dict
    ) -> int:
        if not entry.unread:
            return 0
        label = str(entry.unread) if entry.unread < 1000 else "999+"
        width = max(20, QFontMetrics(font).horizontalAdvance(label) + 12)
        height = QFontMetrics(font).height() + 2
        badge = QRect(text.right() - width, text.bottom() - height + 1, width, height)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(colours["badge"]))
        painter.drawRoundedRect(badge, height / 2, height / 2)
        painter.setFont(font)
        painter.setPen(QColor("#FFFFFF"))
        painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, label)
        return width

    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        return QSize(200, ROW_HEIGHT)
