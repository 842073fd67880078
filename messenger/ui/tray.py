"""The system-tray icon: the app icon with a red unread-count badge, and notifications.

Desktops without a tray (and the offscreen platform used by tests) get an object that
accepts every call and shows nothing, so callers never have to check first. Whether a tray
exists and how a notification is shown can be injected (tests, screenshots); ``notified``
reports every notification that was shown.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QIcon, QPainter, QPixmap
from PySide6.QtGui import Qt as GuiQt
from PySide6.QtWidgets import QSystemTrayIcon

from messenger.ui.icons import app_icon

__all__ = ["TrayIcon", "badge_text"]

#: Tray icons are drawn at these sizes; the desktop scales the nearest one.
_SIZES = (16, 22, 24, 32, 48, 64)
_BADGE_COLOUR = QColor("#E5484D")
NOTIFY_MS = 5000


def notification_text(text: str) -> str:
    """``text`` safe for a desktop notification: some notification servers (and Qt's own
    balloon) render markup, and a peer's name or message must never paint a fake badge, so
    text that looks like HTML gets look-alike angle brackets instead."""
    if not GuiQt.mightBeRichText(text):
        return text
    return text.replace("<", "\u2039").replace(">", "\u203a")


def badge_text(count: int) -> str:
    """What the badge says: the count, capped so it still fits ("99+")."""
    return "99+" if count > 99 else str(count)


def _badged(base: QIcon, count: int) -> QIcon:
    """``base`` with a red badge in the top-right corner; at 16-24 px a count would be an
    unreadable smudge, so small sizes get a plain dot."""
    result = QIcon()
    text = badge_text(count)
    for size in _SIZES:
        pixmap = base.pixmap(size, size)
        if pixmap.isNull():
            pixmap = QPixmap(size, size)
            pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(_BADGE_COLOUR)
        if size < 32:
            dot = size * 0.45
            painter.drawEllipse(QRectF(size - dot, 0, dot, dot))
        else:
            height = size * 0.5
            font = QFont()
            font.setBold(True)
            font.setPixelSize(round(height * (0.72 if len(text) < 3 else 0.6)))
            text_width = QFontMetricsF(font).horizontalAdvance(text)
            width = min(float(size), max(height, text_width + height * 0.45))
            badge = QRectF(size - width, 0, width, height)
            painter.drawRoundedRect(badge, height / 2, height / 2)
            painter.setFont(font)
            painter.setPen(QColor("white"))
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, text)
        painter.end()
        result.addPixmap(pixmap)
    return result


ShowMessage = Callable[[str, str], object]


class TrayIcon(QSystemTrayIcon):
    """The app's tray entry. ``show()`` does nothing when the desktop has no tray."""

    #: A notification was shown: title, text (as shown).
    notified = Signal(str, str)

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        available: Callable[[], bool] | None = None,
        show_message: ShowMessage | None = None,
    ) -> None:
        super().__init__(parent)
        self._base = app_icon()
        self._available = available or QSystemTrayIcon.isSystemTrayAvailable
        self._show_message = show_message
        self.unread = 0
        #: In the tray now (``isVisible`` cannot tell where there is no real tray).
        self.shown = False
        self.setIcon(self._base)
        self.setToolTip("Messenger")

    def available(self) -> bool:
        return self._available()

    def setVisible(self, visible: bool) -> None:
        """Qt warns (and some platforms misbehave) when showing a tray icon with no tray."""
        if visible and not self.available():
            return
        self.shown = visible
        if self._show_message is None:  # a real tray
            super().setVisible(visible)

    def show(self) -> None:
        self.setVisible(True)

    def badge(self) -> QIcon:
        return self.icon()

    def set_unread(self, count: int) -> None:
        """Badge the icon with ``count`` unread messages (no badge at 0)."""
        count = max(0, count)
        if count == self.unread:
            return
        self.unread = count
        self.setIcon(_badged(self._base, count) if count else self._base)
        self.setToolTip(f"Messenger \u2014 {count} unread" if count else "Messenger")

    def notify(self, title: str, text: str) -> bool:
        """A desktop notification, where the tray supports them; returns whether one was
        shown."""
        if not self.shown:
            return False
        title, text = notification_text(title), notification_text(text)
        if self._show_message is not None:
            self._show_message(title, text)
        elif QSystemTrayIcon.supportsMessages():
            self.showMessage(title, text, self._base, NOTIFY_MS)
        else:
            return False
        self.notified.emit(title, text)
        return True
