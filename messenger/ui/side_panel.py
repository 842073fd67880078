"""The window's left column: one search box over the conversation list, as in Signal and
Telegram. Typing filters the list by name at once and, after a pause, searches every
conversation's messages (the encrypted database's full-text index); a hit opens its
conversation at that message.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QLabel, QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from messenger.ui.book import Found
from messenger.ui.conversation_list import ConversationList
from messenger.ui.history_rows import when_label

__all__ = ["SEARCH_PAUSE_MS", "SidePanel"]

#: How long typing must pause before the messages are searched.
SEARCH_PAUSE_MS = 250
HIT_ROLE = Qt.ItemDataRole.UserRole + 1
SNIPPET = 90
#: Characters kept before the hit: the column is narrow, and the hit must show.
LEAD = 12


def snippet(body: str, query: str) -> str:
    """The part of ``body`` around the first word of ``query`` that it contains."""
    flat = " ".join(body.split())
    words = [w.casefold() for w in query.split() if w.strip()]
    at = min((i for w in words if (i := flat.casefold().find(w)) >= 0), default=0)
    start = max(0, at - LEAD)
    if start and (space := flat.find(" ", start, at)) >= 0:
        start = space + 1  # begin at a whole word
    text = flat[start : start + SNIPPET]
    return ("…" if start else "") + text + ("…" if start + SNIPPET < len(flat) else "")


class SidePanel(QWidget):
    #: The person paused typing: search the messages for this (blank: clear the hits).
    searchWanted = Signal(str)
    #: A hit was chosen: contact id, message row id.
    hitChosen = Signal(str, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.search_box = QLineEdit()
        self.search_box.setObjectName("searchBox")
        self.search_box.setPlaceholderText("Search names and messages  (Ctrl+F)")
        self.search_box.setClearButtonEnabled(True)
        # Escape leaves a search, as in Signal and Telegram.
        QShortcut(
            QKeySequence(Qt.Key.Key_Escape), self.search_box, self.search_box.clear,
            context=Qt.ShortcutContext.WidgetShortcut,
        )  # fmt: skip
        self.conversations = ConversationList()
        self.hits_label = QLabel("Messages")
        self.hits_label.setObjectName("hitsLabel")
        self.hits = QListWidget()
        self.hits.setObjectName("searchResults")
        self.hits.setWordWrap(True)
        self.hits.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.hits.itemActivated.connect(self._chosen)
        self.hits.itemClicked.connect(self._chosen)
        self._pause = QTimer(self)
        self._pause.setSingleShot(True)
        self._pause.setInterval(SEARCH_PAUSE_MS)
        self._pause.timeout.connect(lambda: self.searchWanted.emit(self.query))
        self.search_box.textChanged.connect(self._typed)
        self.search_box.returnPressed.connect(self._search_now)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.search_box)
        layout.addWidget(self.conversations, 3)
        layout.addWidget(self.hits_label)
        layout.addWidget(self.hits, 2)
        self._show_hits(False)

    @property
    def query(self) -> str:
        return self.search_box.text().strip()

    def show_found(self, query: str, found: list[Found]) -> None:
        """The hits of a search (ignored if the box says something else by now)."""
        if query != self.query:
            return
        self.hits.clear()
        for hit in found:
            who = "You" if hit.message.outgoing else hit.contact.display_name
            when = when_label(hit.message.stored_at)
            text = snippet(hit.message.body, query)
            item = QListWidgetItem(f"{hit.contact.display_name} \u00b7 {when}\n{who}: {text}")
            item.setData(HIT_ROLE, (hit.contact.id, hit.message.id))
            self.hits.addItem(item)
        self.hits_label.setText(
            f"Messages ({len(found)})" if found else "No messages found"
        )
        self._show_hits(True)

    def clear(self) -> None:
        self.search_box.clear()

    def _typed(self, text: str) -> None:
        self.conversations.set_filter(text)
        # No name matches: the hits get the column (an empty list would only take room).
        matching = bool(self.conversations.visible_entries())
        self.conversations.setVisible(not text.strip() or matching)
        if text.strip():
            self._pause.start()
        else:
            self._pause.stop()
            self.hits.clear()
            self._show_hits(False)

    def _search_now(self) -> None:
        if self.query:
            self._pause.stop()
            self.searchWanted.emit(self.query)

    def _show_hits(self, shown: bool) -> None:
        self.hits_label.setVisible(shown)
        self.hits.setVisible(shown)

    def _chosen(self, item: QListWidgetItem) -> None:
        contact_id, message_id = item.data(HIT_ROLE)
        self.hitChosen.emit(contact_id, message_id)
