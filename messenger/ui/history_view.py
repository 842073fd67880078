"""A conversation's column: the history as a list view that grows a page at a time.

The view holds what has been loaded (the latest page at first, older pages as the person
scrolls up, newer ones on the way back down after a jump into the middle) and asks for
more with ``olderWanted`` / ``newerWanted``; the page reads the database and hands the
records back. Adding a page above keeps what is on screen where it is (the distance to the
bottom is kept across the insert), and the view follows new messages only while the person
is at the bottom.

Rows are painted (``bubble_delegate``) except those with buttons, which are widgets set on
their row (``bubble_widgets``). A file card outlives its row: when a row goes (the column
is reset for a jump), its card is taken back first and the next row for that transfer
shows the same card.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date

import shiboken6
from PySide6.QtCore import QItemSelectionModel, QModelIndex, QPoint, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QAbstractItemView, QApplication, QListView, QMenu, QWidget

from messenger.store.records import MessageRecord, MessageStatus
from messenger.ui.bubble_delegate import ROW_ROLE, SIDE, TEXT_WIDTH, BubbleDelegate, status_words
from messenger.ui.bubble_widgets import FailedBubble, PuzzleBubble, RowHolder
from messenger.ui.history_rows import Row, RowKind, day_row, rows_for, short_time

__all__ = ["HistoryView"]

#: Ask for the next page when the view is this close (pixels) to its top or bottom.
EDGE = 240
#: Where the view counts as "at the bottom" (it then follows new messages).
BOTTOM_SLACK = 24

#: Makes the widget for a file row (the page keeps the cards; see the module docstring).
FileWidget = Callable[[Row], QWidget]


def _needs_widget(row: Row) -> bool:
    return row.kind is RowKind.MESSAGE and (
        row.message_kind != "text" or row.status is MessageStatus.FAILED
    )


class HistoryView(QListView):
    olderWanted = Signal()
    newerWanted = Signal()
    retryRequested = Signal(str)  # message id
    puzzleOpened = Signal(str, str)  # cipher name, ciphertext

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("history")
        self._model = QStandardItemModel(self)
        self.setModel(self._model)
        self.delegate = BubbleDelegate(self.font(), self)
        self.setItemDelegate(self.delegate)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.verticalScrollBar().setSingleStep(24)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setUniformItemSizes(False)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setMinimumWidth(TEXT_WIDTH + 2 * SIDE + 60)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._menu)
        #: Older messages exist that are not loaded (scrolling up loads them).
        self.has_older = False
        #: Newer messages exist that are not loaded (after a jump; new ones wait too).
        self.has_newer = False
        #: A page was asked for and has not come yet.
        self.loading = False
        self.file_widget: FileWidget | None = None
        self._items: dict[str, QStandardItem] = {}
        self._holders: dict[str, RowHolder] = {}
        self._system_count = 0
        #: A scroll to the bottom is due (see ``_follow``).
        self._following = False
        self.verticalScrollBar().valueChanged.connect(self._scrolled)

    # -- reading ----------------------------------------------------------------------------

    def rows(self) -> list[Row]:
        root = self._model.invisibleRootItem()
        return [root.child(n).data(ROW_ROLE) for n in range(root.rowCount())]

    def row(self, key: str) -> Row | None:
        item = self._items.get(key)
        return item.data(ROW_ROLE) if item is not None else None

    def messages(self) -> list[Row]:
        return [row for row in self.rows() if row.kind is RowKind.MESSAGE]

    def holder(self, key: str) -> RowHolder | None:
        return self._holders.get(key)

    def oldest_id(self) -> int | None:
        ids = [row.db_id for row in self.messages() if row.db_id is not None]
        return min(ids) if ids else None

    def newest_id(self) -> int | None:
        ids = [row.db_id for row in self.messages() if row.db_id is not None]
        return max(ids) if ids else None

    def at_bottom(self) -> bool:
        bar = self.verticalScrollBar()
        return bar.value() >= bar.maximum() - BOTTOM_SLACK

    # -- loading pages ----------------------------------------------------------------------

    def show_records(
        self,
        records: list[MessageRecord],
        *,
        has_older: bool,
        has_newer: bool = False,
        focus: str | None = None,
    ) -> None:
        """Show ``records`` (history order) alone; then the bottom, or the row ``focus``."""
        self._clear()
        self.has_older, self.has_newer, self.loading = has_older, has_newer, False
        self._insert(0, rows_for(records))
        self.doItemsLayout()
        item = self._items.get(focus) if focus else None
        if item is not None:
            self.scrollTo(item.index(), QAbstractItemView.ScrollHint.PositionAtCenter)
            self.selectionModel().select(
                item.index(), QItemSelectionModel.SelectionFlag.ClearAndSelect
            )
        else:
            self.scrollToBottom()
        self._want_more()

    def prepend(self, records: list[MessageRecord], *, has_older: bool) -> None:
        """An older page: above what is shown, which stays where it is on screen."""
        self.loading, self.has_older = False, has_older
        records = [r for r in records if self._fresh(r)]
        if records:
            bar = self.verticalScrollBar()
            from_bottom = bar.maximum() - bar.value()
            rows = rows_for(records)
            self._insert(0, rows)
            after = self._model.item(len(rows))
            below = after.data(ROW_ROLE) if after is not None else None
            if below is not None and below.kind is RowKind.DAY and below.day == rows[-1].day:
                self._remove(len(rows))  # the day went on above: one separator for it
            self.doItemsLayout()
            bar.setValue(bar.maximum() - from_bottom)
        self._want_more()

    def append_page(self, records: list[MessageRecord], *, has_newer: bool) -> None:
        """A newer page on the way back down after a jump: below, nothing moves."""
        self.loading, self.has_newer = False, has_newer
        records = [r for r in records if self._fresh(r)]
        self._insert(self._model.rowCount(), rows_for(records, self._last_day()))
        self.doItemsLayout()
        self._want_more()

    def add_message(self, row: Row) -> bool:
        """A message that happened now (sent here or arrived); False if the view is not at
        the newest messages (it is loaded with them on the way down)."""
        old = self.row(row.key)
        if old is not None:  # seen already (an event and a read can race): never go back
            if old.status.rank > row.status.rank:
                row = row.with_status(old.status, old.error)
            self.update_row(row)
            return True
        if self.has_newer:
            return False
        following = self.at_bottom() or self._following
        rows = [row] if row.day == self._last_day() else [day_row(row.day), row]
        self._insert(self._model.rowCount(), rows)
        if following or row.outgoing:
            self._follow()
        return True

    def add_system(self, text: str) -> Row:
        """A quiet line of the app's own at the end (not kept in the history)."""
        self._system_count += 1
        row = Row(RowKind.SYSTEM, f"system:{self._system_count}", body=text)
        following = self.at_bottom() or self._following
        self._insert(self._model.rowCount(), [row])
        if following:
            self._follow()
        return row

    def update_row(self, row: Row) -> None:
        """A message's row changed (its status): repaint it, or swap its widget."""
        item = self._items.get(row.key)
        if item is None:
            return
        old = item.data(ROW_ROLE)
        if row.db_id is None and old.db_id is not None:
            row = replace(row, db_id=old.db_id)
        holder = self._holders.get(row.key)
        if holder is not None and _needs_widget(row) and _needs_widget(old):
            widget = holder.widget
            if isinstance(widget, PuzzleBubble | FailedBubble):
                widget.set_row(row)
            item.setData(row, ROW_ROLE)
            return
        if holder is not None:
            self._drop_holder(row.key)
            self.setIndexWidget(item.index(), None)  # type: ignore[arg-type]
        self._set(item, row)
        if _needs_widget(row):
            self._attach(item, row)

    def rename_row(self, old_key: str, new_key: str) -> None:
        """A row learned its real id (our file offer, made before it had one)."""
        item = self._items.pop(old_key, None)
        if item is None:
            return
        row: Row = item.data(ROW_ROLE)
        msg_id = new_key.split(":", 1)[1]
        item.setData(replace(row, key=new_key, msg_id=msg_id), ROW_ROLE)
        self._items[new_key] = item
        holder = self._holders.pop(old_key, None)
        if holder is not None:
            self._holders[new_key] = holder
            holder.heightChanged.disconnect()
            holder.heightChanged.connect(lambda: self._resize_holder(new_key))

    def remove_row(self, key: str) -> None:
        item = self._items.get(key)
        if item is not None:
            self._remove(item.row())

    # -- private ----------------------------------------------------------------------------

    def _follow(self) -> None:
        """Show the bottom once the rows added in this turn of the loop are laid out: one
        layout for a burst of arrivals, not one per message."""
        if not self._following:
            self._following = True
            QTimer.singleShot(0, self._to_bottom)

    def _to_bottom(self) -> None:
        self._following = False
        if shiboken6.isValid(self):
            self.doItemsLayout()
            self.scrollToBottom()

    def _fresh(self, record: MessageRecord) -> bool:
        return f"{'out' if record.outgoing else 'in'}:{record.msg_id}" not in self._items

    def _last_day(self) -> date | None:
        for n in range(self._model.rowCount() - 1, -1, -1):
            row: Row = self._model.item(n).data(ROW_ROLE)
            if row.kind is not RowKind.SYSTEM:
                return row.day
        return None

    def _item(self, row: Row) -> QStandardItem:
        item = QStandardItem()
        item.setEditable(False)
        item.setData(row, ROW_ROLE)
        item.setData(row.body, Qt.ItemDataRole.DisplayRole)
        item.setData(self._accessible(row), Qt.ItemDataRole.AccessibleTextRole)
        if not _needs_widget(row):
            item.setData(self.delegate.measure(row), Qt.ItemDataRole.SizeHintRole)
        return item

    def _set(self, item: QStandardItem, row: Row) -> None:
        item.setData(row, ROW_ROLE)
        item.setData(self._accessible(row), Qt.ItemDataRole.AccessibleTextRole)
        if not _needs_widget(row):
            item.setData(self.delegate.measure(row), Qt.ItemDataRole.SizeHintRole)

    def _accessible(self, row: Row) -> str:
        if row.kind is not RowKind.MESSAGE:
            return row.body
        who = "You" if row.outgoing else "They"
        status = f" ({status_words(row)})" if row.outgoing else ""
        return f"{who} at {short_time(row.timestamp)}{status}: {row.body}"

    def _insert(self, position: int, rows: list[Row]) -> None:
        if not rows:
            return
        items = [self._item(row) for row in rows]
        self._model.invisibleRootItem().insertRows(position, items)
        for row, item in zip(rows, items, strict=True):
            self._items[row.key] = item
            if _needs_widget(row):
                self._attach(item, row)

    def _attach(self, item: QStandardItem, row: Row) -> None:
        widget: QWidget
        if row.message_kind == "file" and self.file_widget is not None:
            widget = self.file_widget(row)
        elif row.message_kind == "puzzle":
            puzzle = PuzzleBubble(row)
            puzzle.openRequested.connect(self.puzzleOpened)
            widget = puzzle
        else:
            failed = FailedBubble(row)
            failed.retryRequested.connect(self.retryRequested)
            widget = failed
        holder = RowHolder(widget, row.outgoing)
        self._holders[row.key] = holder
        holder.heightChanged.connect(lambda key=row.key: self._resize_holder(key))
        item.setData(QSize(TEXT_WIDTH, holder.wanted_height()), Qt.ItemDataRole.SizeHintRole)
        self.setIndexWidget(item.index(), holder)

    def _resize_holder(self, key: str) -> None:
        holder, item = self._holders.get(key), self._items.get(key)
        if holder is None or item is None:
            return
        size = QSize(TEXT_WIDTH, holder.wanted_height())
        if item.data(Qt.ItemDataRole.SizeHintRole) != size:
            item.setData(size, Qt.ItemDataRole.SizeHintRole)

    def _drop_holder(self, key: str) -> None:
        """Before a row with a widget goes: a file card is taken back (it lives on)."""
        holder = self._holders.pop(key, None)
        if holder is not None and holder.widget.property("keepsAlive"):
            holder.release()

    def _remove(self, position: int) -> None:
        item = self._model.item(position)
        row = item.data(ROW_ROLE)
        if self._items.get(row.key) is item:  # a new row may have taken the key already
            self._drop_holder(row.key)
            del self._items[row.key]
        self._model.removeRow(position)

    def _clear(self) -> None:
        for key in list(self._holders):
            self._drop_holder(key)
        self._items.clear()
        self._model.clear()

    def _scrolled(self, value: int) -> None:
        if self.loading:
            return
        bar = self.verticalScrollBar()
        if self.has_older and value <= EDGE:
            self.loading = True
            self.olderWanted.emit()
        elif self.has_newer and value >= bar.maximum() - EDGE:
            self.loading = True
            self.newerWanted.emit()

    def _want_more(self) -> None:
        """Ask for another page at once if the rows do not fill the view yet."""
        self._scrolled(self.verticalScrollBar().value())

    # -- copying ----------------------------------------------------------------------------

    def selected_text(self) -> str:
        rows = [index.data(ROW_ROLE) for index in sorted(self.selectedIndexes(), key=_row_of)]
        return "\n".join(row.body for row in rows if isinstance(row, Row) and row.body)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.matches(QKeySequence.StandardKey.Copy):
            QApplication.clipboard().setText(self.selected_text())
            return
        super().keyPressEvent(event)

    def _menu(self, point: QPoint) -> None:
        index = self.indexAt(point)
        if index.isValid() and not self.selectionModel().isSelected(index):
            self.selectionModel().select(index, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        text = self.selected_text()
        if not text:
            return
        menu = QMenu(self)
        menu.addAction("Copy", lambda: QApplication.clipboard().setText(text))
        menu.exec(self.viewport().mapToGlobal(point))


def _row_of(index: QModelIndex) -> int:
    return index.row()

