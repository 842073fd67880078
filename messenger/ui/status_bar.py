"""The main window's status bar: the connection, the server's pinned key, the conversation in
front.

It only shows what the window tells it. Transient messages (``showMessage``: a first
contact with a server, a lost connection) go over the labels as in any QStatusBar; a
message too long for the bar is cut with "…" and the tooltip carries all of it.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QStatusBar, QToolButton, QWidget

from messenger.crypto.rsa import format_fingerprint
from messenger.ui.theme import plain_tooltip
from messenger.ui.wording import keys_renewed_text

__all__ = ["STATE_TEXT", "WindowStatusBar"]

STATE_TEXT = {"connecting": "Connecting…", "connected": "Connected", "disconnected": "Disconnected"}


class WindowStatusBar(QStatusBar):
    """Connection state on the left, the server key beside it, the conversation's key
    renewals on the right (permanent, so a transient message never hides it)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.connection_label = QLabel(STATE_TEXT["connecting"])
        self.connection_label.setObjectName("connectionLabel")
        self.fingerprint_label = QLabel("")
        self.fingerprint_label.setObjectName("serverFingerprint")
        self.epoch_label = QLabel("")
        self.epoch_label.setObjectName("epochLabel")
        #: Shown while a server is hosted here; the window opens the "Hosting" dialog.
        self.hosting_button = QToolButton()
        self.hosting_button.setObjectName("hostingButton")
        self.hosting_button.setAutoRaise(True)
        self.hosting_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.hosting_button.hide()
        self.addWidget(self.connection_label)
        self.addWidget(self.fingerprint_label, 1)
        self.addPermanentWidget(self.hosting_button)
        self.addPermanentWidget(self.epoch_label)

    #: The last message in full (``currentMessage()`` is what fits).
    full_message = ""

    def message_width(self) -> int:
        """Room for a transient message: the bar less its permanent widgets and margins."""
        permanent = sum(
            w.sizeHint().width() + 8
            for w in (self.hosting_button, self.epoch_label)
            if w.isVisible()
        )
        return max(80, self.width() - permanent - 24)

    def showMessage(self, text: str, timeout: int | None = 0) -> None:
        self.full_message = text
        shown = self.fontMetrics().elidedText(
            text, Qt.TextElideMode.ElideRight, self.message_width()
        )
        self.setToolTip(plain_tooltip(text) if shown != text else "")
        super().showMessage(shown, timeout or 0)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self.currentMessage() and self.full_message:
            shown = self.fontMetrics().elidedText(
                self.full_message, Qt.TextElideMode.ElideRight, self.message_width()
            )
            if shown != self.currentMessage():
                QStatusBar.showMessage(self, shown)

    def show_connection(self, state: str) -> None:
        self.connection_label.setText(STATE_TEXT.get(state, state))

    def show_server_key(self, fingerprint: str, first_use: bool) -> None:
        short = format_fingerprint(fingerprint)[:19]
        self.fingerprint_label.setText(f"Server key {short}…")
        self.fingerprint_label.setToolTip(
            f"Server fingerprint:\n{format_fingerprint(fingerprint)}\n"
            + ("Pinned now, on first contact." if first_use else "Matches the pinned key.")
        )
        if first_use:
            self.showMessage("First contact with this server: its key is now pinned.", 10_000)

    def show_hosting(self, port: int | None, tooltip: str = "") -> None:
        """A "Hosting on port N" button while a server runs here; hidden otherwise."""
        self.hosting_button.setVisible(port is not None)
        self.hosting_button.setText(f"Hosting on port {port}" if port is not None else "")
        self.hosting_button.setToolTip(plain_tooltip(tooltip))

    def show_conversation(self, key_steps: int | None) -> None:
        """How often the keys of the conversation in front were renewed (blank without
        one): a conversation is end-to-end encrypted with keys that keep changing."""
        if key_steps is None:
            self.epoch_label.setText("")
            self.epoch_label.setToolTip("")
            return
        renewed = keys_renewed_text(key_steps)
        self.epoch_label.setText(
            f"End-to-end encrypted \u00b7 {renewed}" if renewed else "End-to-end encrypted"
        )
        self.epoch_label.setToolTip(
            f"Double Ratchet; our sending keys took {key_steps} fresh X25519 steps.\n"
            "Keys are renewed as you talk and every few minutes, so a key stolen later "
            "cannot read earlier messages."
        )
