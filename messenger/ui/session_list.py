"""The sessions column: peer name, mode icon, unread count and last message time."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QListWidget, QListWidgetItem

from messenger.ui.chat_view import clock
from messenger.ui.icons import icon
from messenger.ui.theme import plain_tooltip
from messenger.ui.wording import session_kind

SESSION_ID_ROLE = Qt.ItemDataRole.UserRole


class SessionList(QListWidget):
    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("sessionList")
        self.setMinimumWidth(220)
        self.setUniformItemSizes(True)
        self.setIconSize(QSize(20, 20))

    def add_session(self, key: str, title: str, mode: str) -> QListWidgetItem:
        item = QListWidgetItem()
        item.setData(SESSION_ID_ROLE, key)
        item.setData(
            Qt.ItemDataRole.UserRole + 1,
            {
                "title": title,
                "mode": mode,
                "unread": 0,
                "time": "",
                "state": "waiting",
                "verified": False,
            },
        )
        self.addItem(item)
        self._render(item)
        return item

    def item_for(self, key: str) -> QListWidgetItem | None:
        for row in range(self.count()):
            item = self.item(row)
            if item.data(SESSION_ID_ROLE) == key:
                return item
        return None

    def update_session(self, key: str, **changes: object) -> None:
        """Change any of title, mode, unread, time (a timestamp), state, verified."""
        item = self.item_for(key)
        if item is None:
            return
        data = dict(item.data(Qt.ItemDataRole.UserRole + 1))
        if "time" in changes and isinstance(changes["time"], float):
            changes["time"] = clock(changes["time"])
        data.update(changes)
        item.setData(Qt.ItemDataRole.UserRole + 1, data)
        self._render(item)

    def info(self, key: str) -> dict:
        item = self.item_for(key)
        return dict(item.data(Qt.ItemDataRole.UserRole + 1)) if item is not None else {}

    def remove_session(self, key: str) -> None:
        item = self.item_for(key)
        if item is not None:
            self.takeItem(self.row(item))

    def _render(self, item: QListWidgetItem) -> None:
        data = item.data(Qt.ItemDataRole.UserRole + 1)
        item.setIcon(icon("key" if data["mode"] == "rsa" else "lock"))
        verified = "  ✔ verified" if data["verified"] else ""
        unread = f"  ({data['unread']} new)" if data["unread"] else ""
        state = "" if data["state"] == "ready" else f" · {data['state']}"
        second = data["time"] or ""
        item.setText(f"{data['title']}{unread}\n{second}{state}{verified}")
        font = item.font()
        font.setBold(bool(data["unread"]))
        item.setFont(font)
        item.setToolTip(
            plain_tooltip(f"{data['title']}\n{session_kind(data['mode'])} · {data['state']}")
        )
