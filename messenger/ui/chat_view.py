"""One conversation's page: header, the history column, and the composer.

A contact's page reads its history from the database a page at a time (``HistorySource``,
the app's ``ConversationBook``): the latest messages at once, older ones as the person
scrolls up (``history_view``). A meeting's page (a code or invitation still under way) has
no history yet: it shows what happens and keeps what is written until the meeting is done.

Messages that happen while the page is open come in as rows (``add_message``); those that
arrive before its first page is read wait and join after it, so nothing shows twice and
nothing is lost. File cards belong to the page for its whole life (``cards``), so a card
keeps its transfer whatever happens to its row.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Protocol

import shiboken6
from PySide6.QtCore import QMimeData, QSize, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QKeyEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from messenger.file_history import FileMeta
from messenger.store.records import MessageStatus
from messenger.ui.book import Page
from messenger.ui.file_choosers import ask_for_files
from messenger.ui.history_rows import Row, RowKind, message_key
from messenger.ui.history_view import HistoryView
from messenger.ui.icons import attach_icon
from messenger.ui.key_change import KeyChangeBar
from messenger.ui.transfer_widgets import TransferCard

__all__ = ["ChatPage", "Composer", "HistorySource", "local_files"]

log = logging.getLogger("messenger.ui")


class HistorySource(Protocol):
    """Where a contact's page reads its history (``book.ConversationBook``)."""

    async def latest(self, contact_id: str) -> Page: ...
    async def older(self, contact_id: str, before_id: int) -> Page: ...
    async def newer(self, contact_id: str, after_id: int) -> Page: ...
    async def around(self, contact_id: str, message_id: int) -> Page: ...


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


class ChatPage(QWidget):
    """One conversation (a contact's), or a meeting until it becomes one."""

    sendRequested = Signal(str, str)  # key, text
    fileRequested = Signal(str, str)  # key, local path
    detailsRequested = Signal(str)  # key
    retryRequested = Signal(str, str)  # key, message id
    puzzleOpened = Signal(str, str)  # cipher name, ciphertext
    compareKeysRequested = Signal(str)  # key: a new key uses this contact's name
    #: A file card from the history was made (the window wires its buttons).
    cardMade = Signal(str, object)  # key, TransferCard

    def __init__(
        self,
        key: str,
        title: str,
        *,
        contact: bool = True,
        source: HistorySource | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.key = key
        self.contact = contact
        self._source = source
        #: File cards by transfer id, for the page's whole life.
        self.cards: dict[str, TransferCard] = {}
        #: Transfers that are running now (their rows read back as running, not stopped).
        self.running: Callable[[str], bool] = lambda _transfer_id: False
        self.loaded = asyncio.Event()
        self._early: list[Row] = []
        self._connected = True
        self._ended = False
        self._ready = contact
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
        self.presence = QLabel("")
        self.presence.setObjectName("presenceLabel")
        self.details_button = QPushButton("Details…")
        self.details_button.setObjectName("detailsButton")
        self.details_button.setToolTip("Safety number, verification, your name for them")
        self.details_button.clicked.connect(lambda: self.detailsRequested.emit(self.key))
        self.details_button.setVisible(contact)
        header.addWidget(self.title)
        header.addWidget(self.badge)
        header.addWidget(self.presence)
        header.addStretch(1)
        header.addWidget(self.details_button)

        self.banner = QLabel("")
        self.banner.setObjectName("reconnectBanner")
        self.banner.setWordWrap(True)
        self.banner.hide()
        self.key_change_bar = KeyChangeBar()
        self.key_change_bar.compareRequested.connect(
            lambda: self.compareKeysRequested.emit(self.key)
        )

        self.history = HistoryView()
        self.history.file_widget = self._file_card
        self.history.olderWanted.connect(self._older)
        self.history.newerWanted.connect(self._newer)
        self.history.retryRequested.connect(lambda msg_id: self.retryRequested.emit(key, msg_id))
        self.history.puzzleOpened.connect(self.puzzleOpened)

        self.composer = Composer()
        self.composer.submitted.connect(lambda text: self.sendRequested.emit(self.key, text))
        self.composer.filesDropped.connect(self._request_files)
        self.attach_button = QPushButton(attach_icon(), "")
        self.attach_button.setObjectName("attachButton")
        self.attach_button.setIconSize(QSize(20, 20))
        self.attach_button.setToolTip("Send a file (or drop files on the conversation)")
        self.attach_button.setAccessibleName("Attach a file")
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
        layout.addWidget(self.banner)
        layout.addWidget(self.key_change_bar)
        layout.addWidget(self.history, 1)
        layout.addLayout(bottom)
        self._update_controls()
        if source is None:
            self.loaded.set()

    # -- history ----------------------------------------------------------------------------

    async def load(self, message_id: int | None = None) -> None:
        """Show the latest page (or the page around ``message_id``: a search hit)."""
        if self._source is None:
            return
        if message_id is None:
            page = await self._source.latest(self.key)
            if not shiboken6.isValid(self.history):
                return  # the page was closed while its history was read
            self.history.show_records(page.records, has_older=page.has_older)
        else:
            page = await self._source.around(self.key, message_id)
            if not shiboken6.isValid(self.history):
                return
            focus = next((r for r in page.records if r.id == message_id), None)
            self.history.show_records(
                page.records,
                has_older=page.has_older,
                has_newer=page.has_newer,
                focus=message_key(focus.outgoing, focus.msg_id) if focus else None,
            )
        early, self._early = self._early, []
        for row in early:
            if row.kind is RowKind.SYSTEM:
                self.history.add_system(row.body)
            else:
                self.history.add_message(row)
        self.loaded.set()

    def _older(self) -> None:
        oldest = self.history.oldest_id()
        if self._source is None or oldest is None:
            self.history.loading = False
            return
        source = self._source

        async def read() -> None:
            try:
                page = await source.older(self.key, oldest)
            except BaseException:
                if shiboken6.isValid(self.history):
                    self.history.loading = False  # a later scroll may try again
                raise
            if shiboken6.isValid(self.history):
                self.history.prepend(page.records, has_older=page.has_older)

        _spawn(read())

    def _newer(self) -> None:
        newest = self.history.newest_id()
        if self._source is None or newest is None:
            self.history.loading = False
            return
        source = self._source

        async def read() -> None:
            try:
                page = await source.newer(self.key, newest)
            except BaseException:
                if shiboken6.isValid(self.history):
                    self.history.loading = False  # a later scroll may try again
                raise
            if shiboken6.isValid(self.history):
                self.history.append_page(page.records, has_newer=page.has_newer)

        _spawn(read())

    # -- what happens -----------------------------------------------------------------------

    def add_message(self, row: Row) -> None:
        """A message sent or received now (or a file offered)."""
        if not self.loaded.is_set():
            self._early.append(row)
        elif not self.history.add_message(row):
            self.history.has_newer = True  # it is read when the person scrolls down to it

    def set_status(self, msg_id: str, status: MessageStatus, error: str = "") -> bool:
        """One of our messages moved on; False if it is not on the page."""
        row = self.history.row(message_key(True, msg_id))
        if row is None:
            early = [r for r in self._early if r.key == message_key(True, msg_id)]
            for r in early:
                self._early[self._early.index(r)] = r.with_status(status, error)
            return bool(early)
        if row.status is MessageStatus.DELIVERED and status is not MessageStatus.DELIVERED:
            return True  # a late "sent" after the receipt changes nothing
        self.history.update_row(row.with_status(status, error))
        return True

    def add_system_line(self, text: str) -> None:
        """A quiet line about the conversation; plain text (it quotes names and reasons)."""
        if self.loaded.is_set():
            self.history.add_system(text)
        else:
            self._early.append(Row(RowKind.SYSTEM, "", body=text))

    def bubbles(self) -> list[Row]:
        """The messages on the page, oldest first (texts, puzzles and files)."""
        return self.history.messages()

    def system_lines(self) -> list[str]:
        return [row.body for row in self.history.rows() if row.kind is RowKind.SYSTEM]

    def transfers(self) -> list[TransferCard]:
        return list(self.cards.values())

    # -- file cards -------------------------------------------------------------------------

    def add_transfer(self, card: TransferCard, row: Row) -> None:
        """A file card for a transfer that starts now (its row joins the history)."""
        card.setProperty("keepsAlive", True)
        self.cards[row.msg_id] = card
        self.add_message(row)

    def rekey_transfer(self, card: TransferCard, transfer_id: str) -> None:
        """Our card, made before the offer had an id, now has one."""
        for old, known in list(self.cards.items()):
            if known is card and old != transfer_id:
                del self.cards[old]
                self.history.rename_row(message_key(True, old), message_key(True, transfer_id))
        self.cards[transfer_id] = card

    def remove_transfer(self, card: TransferCard) -> None:
        for transfer_id, known in list(self.cards.items()):
            if known is card:
                del self.cards[transfer_id]
                self.history.remove_row(message_key(card.direction == "out", transfer_id))
                card.deleteLater()

    def _file_card(self, row: Row) -> QWidget:
        """The card for a file row: the live one if the transfer runs, else one that shows
        how it ended (from the row's meta)."""
        card = self.cards.get(row.msg_id)
        if card is not None:
            return card
        meta = FileMeta.from_json(row.meta).as_stored(running=self.running(row.msg_id))
        card = TransferCard(row.msg_id, row.body, meta.size, "out" if row.outgoing else "in")
        card.setProperty("keepsAlive", True)
        card.restore(meta)
        self.cards[row.msg_id] = card
        self.cardMade.emit(self.key, card)
        return card

    # -- state ------------------------------------------------------------------------------

    def set_verified(self, verified: bool) -> None:
        self.badge.setText("✔ verified" if verified else "")

    def set_online(self, online: bool) -> None:
        self.presence.setText("online" if online else "offline")
        self.presence.setProperty("online", online)
        self.presence.style().unpolish(self.presence)  # the style sheet colours by it
        self.presence.style().polish(self.presence)

    def set_connected(self, connected: bool) -> None:
        """The relay link: while it is down the page says so, and writing still works."""
        self._connected = connected
        if self.contact and not self._ended:
            self.banner.setText(
                "Reconnecting… What you write now waits here and goes out once Messenger "
                "is connected again."
            )
            self.banner.setVisible(not connected)
        self._update_controls()

    def set_ready(self, ready: bool) -> None:
        self._ready = ready
        self._update_controls()

    def set_ended(self, why: str = "This code or invitation has ended.") -> None:
        """A meeting that will not become a conversation (its code burned, it was left)."""
        self._ended = True
        self.composer.setPlaceholderText(why)
        self.banner.hide()
        self._update_controls()

    @property
    def ended(self) -> bool:
        return self._ended

    def _update_controls(self) -> None:
        writable = not self._ended
        self.composer.setEnabled(writable)
        self.send_button.setEnabled(writable)
        self.attach_button.setEnabled(writable and self.takes_files)

    # -- files: the attach button and drops ------------------------------------------------

    @property
    def takes_files(self) -> bool:
        return not self._ended and (self.contact or self._ready)

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

    def clear_composer(self) -> None:
        self.composer.clear()


_tasks: set[asyncio.Future[None]] = set()


def _spawn(coro: Coroutine[Any, Any, None]) -> None:
    """Run a page read in the background (kept referenced until it ends); a failure is
    logged, since nobody awaits it."""
    task = asyncio.ensure_future(coro)
    _tasks.add(task)

    def done(finished: asyncio.Future[None]) -> None:
        _tasks.discard(finished)
        if not finished.cancelled() and finished.exception() is not None:
            log.warning("reading a page of history failed", exc_info=finished.exception())

    task.add_done_callback(done)
