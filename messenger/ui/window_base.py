"""The main window's state and layout: conversations on the left (with one search box), the
conversation on the right, status at the bottom.

The list comes from the encrypted database when the window opens, before any connection:
yesterday's conversations are there as they were left, and each can be written to at once
(what is written waits in the outbox until a relay takes it). Pages are made when a
conversation is first opened and read their history a page at a time.

``WindowBase`` holds what every part of the window shares (the list, the pages, the
helpers); what the bridge reports is routed in ``window_events``, the person's actions in
``window_actions``, menus and wiring in ``main_window``, file cards in ``transfer_cards``,
the title, tray and quitting in ``window_exit``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Coroutine
from dataclasses import replace
from typing import Any

from PySide6.QtCore import QByteArray, QEvent, Qt, QTimer, Signal
from PySide6.QtWidgets import QLabel, QMainWindow, QMessageBox, QSplitter, QStackedWidget

from messenger.store.records import ConversationSummary, MessageRecord
from messenger.ui.chat_view import ChatPage
from messenger.ui.controller import AppController
from messenger.ui.conversation_list import Entry
from messenger.ui.side_panel import SidePanel
from messenger.ui.status_bar import WindowStatusBar
from messenger.ui.transfer_cards import TransferCards
from messenger.ui.tray import TrayIcon
from messenger.ui.window_exit import TrayAndQuit

log = logging.getLogger("messenger.ui")

EMPTY_TEXT = (
    "No conversations yet.\n\nPress Ctrl+N to make a code, enter one, or pick someone online."
)
PICK_TEXT = "Choose a conversation, or press Ctrl+N to start a new one."
#: How long arrivals in the conversation in front gather before they are marked read.
READ_DELAY_MS = 300


def preview_of(message: MessageRecord | None) -> str:
    """A message as one line of the list: "You: …", "📎 name", "🧩 Puzzle"."""
    if message is None:
        return ""
    if message.kind == "file":
        text = f"\U0001f4ce {message.body}"
    elif message.kind == "puzzle":
        text = "\U0001f9e9 Puzzle"
    else:
        lines = message.body.strip().splitlines()
        text = lines[0] if lines else ""
    return f"You: {text}" if message.outgoing else text


class WindowBase(TrayAndQuit, QMainWindow):
    #: Conversation > Reconnect now: skip the pause before the next connection attempt.
    reconnectRequested = Signal()
    #: Settings chose another server ("embedded" or "host:port"): connect there now.
    serverChangeRequested = Signal(str)
    #: The window was closed (Quit, Ctrl+Q, the title bar): the app shuts down after it.
    closed = Signal()

    def __init__(self, controller: AppController) -> None:
        super().__init__()
        self.controller = controller
        self.setMinimumSize(880, 520)
        self.pages: dict[str, ChatPage] = {}
        self._dialogs: list[Any] = []
        #: Invitation prompts on screen, by session, so an expired one can be closed.
        self._invitation_boxes: dict[str, QMessageBox] = {}
        #: Contacts whose name a new key used (contact id -> (new key's id, name it used)),
        #: until the person trusts it or it meets them.
        self._key_changes: dict[str, tuple[str, str]] = {}
        self.tray: TrayIcon | None = None
        #: Set once the person confirmed quitting (or nothing needed confirming).
        self._quitting = False
        self._connected = False
        self._tasks: set[asyncio.Future[Any]] = set()
        self._read_soon: set[str] = set()
        #: Set once the conversation list has been read (tests and benchmarks wait on it).
        self.list_loaded = asyncio.Event()

        self.side = SidePanel()
        self.conversation_list = self.side.conversations
        self.conversation_list.currentItemChanged.connect(self._show_selected)
        self.stack = QStackedWidget()
        self.placeholder = QLabel(EMPTY_TEXT)
        self.placeholder.setObjectName("placeholder")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.stack.addWidget(self.placeholder)
        splitter = QSplitter()
        splitter.addWidget(self.side)
        splitter.addWidget(self.stack)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([300, 640])
        self.setCentralWidget(splitter)

        self.status_bar = WindowStatusBar()
        self.setStatusBar(self.status_bar)
        self.transfers = TransferCards(controller, self.pages, self)
        controller.sessionRemoved.connect(self._drop_entry)
        self._restore_geometry()
        self.update_title()

    # -- the list ---------------------------------------------------------------------------

    async def load_conversations(self) -> None:
        """Fill the list from the database, and open the conversation open last time."""
        book = self.controller.book
        assert book is not None
        summaries = await book.summaries()
        self.conversation_list.put_all([self.entry_of(s) for s in summaries])
        self._update_tray()
        self._update_placeholder()
        last = await book.last_open()
        if last and self.conversation_list.current_key() is None:
            self.conversation_list.select(last)
        self.list_loaded.set()

    def entry_of(self, summary: ConversationSummary) -> Entry:
        courier = self.controller.courier
        contact = summary.contact
        return Entry(
            contact.id,
            contact.display_name,
            contact=True,
            verified=contact.verified,
            online=bool(courier and courier.online.get(contact.id, False)),
            preview=preview_of(summary.last_message),
            activity=summary.last_activity,
            unread=summary.unread,
        )

    async def refresh_entry(self, contact_id: str) -> Entry | None:
        """Read a contact's entry again (a new contact, a name that changed)."""
        book = self.controller.book
        summary = await book.summary(contact_id) if book is not None else None
        if summary is None:
            return None
        old = self.conversation_list.entry(contact_id)
        entry = self.entry_of(summary)
        if old is not None:  # what the window counted meanwhile stays
            entry = replace(entry, unread=max(entry.unread, old.unread))
        self.conversation_list.put(entry)
        page = self.pages.get(contact_id)
        if page is not None:
            page.title.setText(entry.title)
            page.set_verified(entry.verified)
        self._update_placeholder()
        return entry

    def current_session(self) -> str | None:
        """The key of the conversation in front (a contact id, or a meeting's key)."""
        return self.conversation_list.current_key()

    def page(self, key: str) -> ChatPage | None:
        return self.pages.get(key)

    def page_for(self, key: str, *, load: bool = True) -> ChatPage:
        """The page of an entry, made (and its history read) on first use."""
        page = self.pages.get(key)
        if page is not None:
            return page
        entry = self.conversation_list.entry(key)
        title = entry.title if entry is not None else key[:12]
        if self.controller.is_contact(key):
            page = ChatPage(key, title, contact=True, source=self.controller.book)
            page.running = functools.partial(self.controller.transfer_running, key)
            page.set_verified(bool(entry and entry.verified))
            page.set_online(bool(entry and entry.online))
            page.set_connected(self._connected)
            if load:
                self.spawn(page.load())
        else:
            info = self.controller.sessions.get(key)
            page = ChatPage(key, info.title if info is not None else title, contact=False)
        page.fileRequested.connect(self.transfers.send_file)
        page.cardMade.connect(self.transfers.wire)
        self._wire_page(page)
        self.pages[key] = page
        self.stack.addWidget(page)
        return page

    def _wire_page(self, page: ChatPage) -> None:
        """Connect a new page's requests (the window's actions)."""

    def _drop_entry(self, key: str) -> None:
        """An entry goes (a meeting closed or done, a conversation deleted)."""
        self.conversation_list.remove(key)
        page = self.pages.pop(key, None)
        if page is not None:
            self.stack.removeWidget(page)
            page.deleteLater()
        self._update_placeholder()
        self._update_tray()

    def _update_placeholder(self) -> None:
        self.placeholder.setText(PICK_TEXT if self.conversation_list.count() else EMPTY_TEXT)

    def _show_selected(self) -> None:
        key = self.current_session()
        page = self.page_for(key) if key else None
        self.stack.setCurrentWidget(page if page is not None else self.placeholder)
        if self.isActiveWindow():  # a conversation behind other windows is not read yet
            self._mark_read(key)
        if page is not None:
            page.composer.setFocus()
        self._update_epoch()
        book = self.controller.book
        if key and book is not None and self.controller.is_contact(key):
            self.spawn(book.remember_open(key))

    def _mark_read(self, key: str | None) -> None:
        entry = self.conversation_list.entry(key) if key else None
        if key is None or entry is None or not entry.unread:
            return
        self.conversation_list.change(key, unread=0)
        book = self.controller.book
        if book is not None and self.controller.is_contact(key):
            self.spawn(book.mark_read(key))
        self._update_tray()

    def mark_read_soon(self, key: str) -> None:
        """What arrives in the conversation in front is read: say so to the database once
        for a burst of arrivals (a thousand waiting messages), not once each."""
        if not self._read_soon:
            QTimer.singleShot(READ_DELAY_MS, self._flush_read)
        self._read_soon.add(key)

    def _flush_read(self) -> None:
        keys, self._read_soon = self._read_soon, set()
        book = self.controller.book
        for key in keys:
            if book is not None and self.controller.is_contact(key):
                self.spawn(book.mark_read(key))

    def changeEvent(self, event: QEvent) -> None:
        """Coming back to the window counts as reading the conversation in front."""
        if event.type() == QEvent.Type.ActivationChange and self.isActiveWindow():
            self._mark_read(self.current_session())
        super().changeEvent(event)

    def _update_epoch(self) -> None:
        key = self.current_session()
        if key and self.controller.is_contact(key):
            self.status_bar.show_conversation(self.controller.key_steps(key))
        else:
            self.status_bar.show_conversation(None)

    def focus_search(self) -> None:
        self.side.search_box.setFocus()
        self.side.search_box.selectAll()

    # -- plumbing ---------------------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Future[Any]:
        """Run a coroutine for the window (kept referenced until done; failures logged)."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if self.controller.worker is None:
            return  # shut down meanwhile: what it was doing no longer matters
        if task.cancelled() or task.exception() is None or _gone(task.exception()):
            return
        log.warning("a window task failed", exc_info=task.exception())

    def _restore_geometry(self) -> None:
        saved = self.controller.profile.settings().get("geometry")
        if isinstance(saved, str):
            self.restoreGeometry(QByteArray.fromBase64(saved.encode()))
        else:
            self.resize(1000, 660)


def _gone(error: BaseException | None) -> bool:
    """The widget a task was working for was deleted meanwhile (the window closed)."""
    return isinstance(error, RuntimeError) and "already deleted" in str(error)
