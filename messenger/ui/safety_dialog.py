"""The safety-number dialog: two people compare 60 digits (or scan a QR code) to rule out
anyone in the middle, then mark the session as verified."""

from __future__ import annotations

import re

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from messenger.ui.icons import icon
from messenger.ui.qr import qr_pixmap
from messenger.ui.theme import copyable_label, hint_label, plain_label, set_primary

__all__ = ["SafetyDialog", "format_safety_rows"]

GROUP = 5
GROUPS_PER_ROW = 4
QR_SIZE = 168


def format_safety_rows(safety: str) -> str:
    """``"12345 67890 ..."`` (60 digits) as three lines of four groups of five.

    Only the digits count, so any grouping the caller used is fine; short rows mean the
    number was short, which the person will notice when comparing.
    """
    digits = "".join(re.findall(r"\d", safety))
    groups = [digits[i : i + GROUP] for i in range(0, len(digits), GROUP)]
    rows = [groups[i : i + GROUPS_PER_ROW] for i in range(0, len(groups), GROUPS_PER_ROW)]
    return "\n".join(" ".join(row) for row in rows)


class SafetyDialog(QDialog):
    """Shows the session's safety number; emits ``verifiedChanged`` when the person marks
    (or unmarks) it as checked, so the caller can store it (``controller.mark_verified``)."""

    verifiedChanged = Signal(bool)

    def __init__(
        self, safety: str, peer_name: str, verified: bool, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.peer_name = peer_name or "the other person"
        self._verified = verified
        self.setWindowTitle(f"Verify {self.peer_name}")

        explanation = plain_label(
            f"Compare these numbers with {self.peer_name} in person or on a call. "
            "If they match, nobody is in the middle."
        )
        explanation.setWordWrap(True)

        self.digits_label = copyable_label(
            "safetyDigits", format_safety_rows(safety), mono=True, centered=True
        )

        self.qr_label = QLabel()
        self.qr_label.setObjectName("safetyQr")
        self.qr_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.qr_label.setToolTip("The same digits as a QR code, for scanning instead of reading.")
        # Render for the screen's pixel density so the modules stay sharp on HiDPI displays.
        ratio = self.devicePixelRatioF()
        pixmap = qr_pixmap("".join(re.findall(r"\d", safety)), round(QR_SIZE * ratio))
        pixmap.setDevicePixelRatio(ratio)
        self.qr_label.setPixmap(pixmap)

        self.status_icon = QLabel()
        self.status_icon.setPixmap(icon("verified").pixmap(20, 20))
        self.status_label = hint_label()
        status_row = QHBoxLayout()
        status_row.addWidget(self.status_icon)
        status_row.addWidget(self.status_label, 1)

        self.mark_button = QPushButton()
        self.mark_button.setObjectName("markVerified")
        self.mark_button.setAutoDefault(False)
        self.mark_button.clicked.connect(self._toggle)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.addButton(self.mark_button, QDialogButtonBox.ButtonRole.ActionRole)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 20, 20, 16)
        layout.setSpacing(14)
        layout.addWidget(explanation)
        layout.addWidget(self.digits_label)
        layout.addWidget(self.qr_label)
        layout.addLayout(status_row)
        layout.addWidget(buttons)
        self.setMinimumWidth(440)
        self._show_state()

    @property
    def verified(self) -> bool:
        return self._verified

    def _toggle(self) -> None:
        self._verified = not self._verified
        self._show_state()
        self.verifiedChanged.emit(self._verified)

    def _show_state(self) -> None:
        if self._verified:
            self.mark_button.setText("Mark as not verified")
            self.status_label.setText(f"You have marked {self.peer_name} as verified.")
        else:
            self.mark_button.setText("Mark as verified")
            self.status_label.setText("Not verified yet.")
        self.status_icon.setVisible(self._verified)
        # Verifying is the step we want people to take; undoing it is not.
        set_primary(self.mark_button, not self._verified)
