"""The main window's way out: the title and tray badge that count unread messages, the
tray icon and its menu, and closing, which goes to the tray or quits, asking first while a
code or invitation is still waiting (quitting cancels it). Conversations with contacts
never hold quitting up: they carry on at the next start.

A mixin of ``MainWindow`` (kept apart so the window module stays about routing signals).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QMainWindow, QMenu, QMessageBox

from messenger.ui.theme import message_box
from messenger.ui.tray import TrayIcon

if TYPE_CHECKING:
    from PySide6.QtCore import SignalInstance

    from messenger.ui.controller import AppController
    from messenger.ui.conversation_list import ConversationList

    _Window = QMainWindow
else:
    _Window = object

__all__ = ["TrayAndQuit"]


class TrayAndQuit(_Window):
    """Needs ``controller``, ``tray``, ``_quitting`` and the ``closed`` signal of the window."""

    controller: AppController
    conversation_list: ConversationList
    tray: TrayIcon | None
    _quitting: bool
    _shown_unread: int | None
    _title_name: str
    if TYPE_CHECKING:
        closed: SignalInstance

    def _update_tray(self) -> None:
        """The unread count changed (or may have): the tray badge and the title follow."""
        count = self.unread_count()
        if count == getattr(self, "_shown_unread", None):
            return  # a burst of arrivals in the conversation in front changes nothing
        self._shown_unread = count
        if self.tray is not None:
            self.tray.set_unread(count)
        self._show_title(count)

    def unread_count(self) -> int:
        return sum(entry.unread for entry in self.conversation_list.entries())

    def update_title(self) -> None:
        """ "(3) Messenger — Alice": the unread count first (it shows in a taskbar), then
        whose Messenger this is (two profiles side by side look alike otherwise). Reads the
        name again (Settings may have changed it)."""
        self._title_name = self.controller.profile.name
        self._show_title(self.unread_count())

    def _show_title(self, count: int) -> None:
        name = getattr(self, "_title_name", "")
        title = f"Messenger \u2014 {name}" if name else "Messenger"
        self.setWindowTitle(f"({count}) {title}" if count else title)

    def set_tray(self, tray: TrayIcon) -> None:
        """Show the tray icon (where there is a tray): its menu shows the window or quits."""
        self.tray = tray
        menu = QMenu(self)
        menu.addAction("Show Messenger", self.bring_back)
        menu.addSeparator()
        menu.addAction("Quit", self.quit_app)
        tray.setContextMenu(menu)
        tray.activated.connect(
            lambda reason: (
                self.bring_back() if reason == TrayIcon.ActivationReason.Trigger else None
            )
        )
        tray.show()
        self._update_tray()

    def bring_back(self) -> None:
        self.showNormal()
        self.raise_()
        self.activateWindow()

    def keeps_running_in_tray(self) -> bool:
        return bool(
            self.tray is not None
            and self.tray.shown
            and self.controller.profile.settings().get("keep_in_tray", False)
        )

    def quit_app(self) -> None:
        """Conversation > Quit (Ctrl+Q) and the tray's Quit: quit even when the window would
        go to the tray, after asking if a code or invitation is still waiting."""
        self._ask_then_quit()

    def _ask_then_quit(self) -> None:
        if self._quitting or not self.controller.open_meetings():
            self._quitting = True
            self.close()
            return
        self._confirm_quit()

    def _confirm_quit(self) -> None:
        count = len(self.controller.open_meetings())
        waiting = (
            "your code or invitation that is still waiting"
            if count == 1
            else f"your {count} codes or invitations that are still waiting"
        )
        box = message_box(
            self,
            QMessageBox.Icon.Question,
            "Quit Messenger?",
            f"Quitting cancels {waiting}.",
            "Your conversations with contacts carry on: what they write waits for you.",
        )
        box.setObjectName("quitConfirm")
        quit_button = box.addButton("Cancel it and quit", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def answered(_result: int) -> None:
            if box.clickedButton() is quit_button:
                self._quitting = True
                self.close()

        box.finished.connect(answered)
        box.open()

    def closeEvent(self, event: QCloseEvent) -> None:
        """The window's close button: to the tray if the person chose that, else quit
        (asking first while a code or invitation is still waiting)."""
        if not self._quitting:
            if self.keeps_running_in_tray():
                event.ignore()
                self.hide()
                return
            if self.controller.open_meetings():
                event.ignore()
                self._confirm_quit()  # closes the window again once answered
                return
            self._quitting = True
        geometry = bytes(self.saveGeometry().toBase64().data()).decode()
        self.controller.profile.save_settings(geometry=geometry)
        super().closeEvent(event)
        if event.isAccepted():
            if self.tray is not None:
                self.tray.hide()
            self.closed.emit()
