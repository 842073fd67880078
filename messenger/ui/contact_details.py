"""A contact's details: who they are (key fingerprint), the safety number to compare (with
its QR code), the verified mark, our own name for them, what a key-change warning said, and
"Delete conversation".

The dialog only shows and asks; the window does the work (``renameRequested``,
``verifiedChanged``, ``deleteRequested``) through the database worker and the courier.
Their own name is a label they chose, shown as plain text like everything from a peer.
"""

from __future__ import annotations

import re
from dataclasses import replace

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from messenger.crypto.rsa import format_fingerprint
from messenger.store.records import ContactRecord, VerifiedBy
from messenger.ui.qr import qr_pixmap
from messenger.ui.theme import copyable_label, hint_label, message_box, plain_label, set_primary

__all__ = ["ContactDetailsDialog", "format_safety_rows"]

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


def verified_words(contact: ContactRecord) -> str:
    if not contact.verified:
        return "Not verified yet: compare the safety number with them to be sure."
    if contact.verified_by is VerifiedBy.CODE:
        return "Verified: you met with a code only the two of you knew."
    return "Verified: you compared safety numbers."


class ContactDetailsDialog(QDialog):
    renameRequested = Signal(str)  # our name for them ("" for theirs)
    verifiedChanged = Signal(bool)
    deleteRequested = Signal()

    def __init__(
        self, contact: ContactRecord, safety: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("contactDetails")
        self.contact = contact
        self._verified = contact.verified
        self.setWindowTitle(f"{contact.display_name} \u2014 details")
        self.setMinimumWidth(480)

        self.name_label = plain_label(contact.name, "theirName")
        self.local_name = QLineEdit(contact.local_name or "")
        self.local_name.setObjectName("localName")
        self.local_name.setPlaceholderText("Your own name for them (optional)")
        self.local_name.setMaxLength(64)
        self.save_name = QPushButton("Save name")
        self.save_name.setObjectName("saveName")
        self.save_name.setAutoDefault(False)
        self.save_name.clicked.connect(self._rename)
        self.local_name.returnPressed.connect(self._rename)
        name_row = QHBoxLayout()
        name_row.addWidget(self.local_name, 1)
        name_row.addWidget(self.save_name)
        groups = format_fingerprint(contact.id).split()
        half = (len(groups) + 1) // 2
        self.fingerprint = copyable_label(
            "contactFingerprint", " ".join(groups[:half]) + "\n" + " ".join(groups[half:]),
            mono=True,
        )

        form = QFormLayout()
        form.addRow("They call themselves", self.name_label)
        form.addRow("You call them", name_row)
        form.addRow("Key fingerprint", self.fingerprint)

        explanation = hint_label(
            "Compare this safety number with them in person or on a call. If it matches, "
            "nobody is in the middle."
        )
        self.digits = copyable_label(
            "safetyDigits", format_safety_rows(safety), mono=True, centered=True
        )
        self.qr = QLabel()
        self.qr.setObjectName("safetyQr")
        self.qr.setAlignment(Qt.AlignmentFlag.AlignCenter)
        ratio = self.devicePixelRatioF()
        pixmap = qr_pixmap("".join(re.findall(r"\d", safety)), round(QR_SIZE * ratio))
        pixmap.setDevicePixelRatio(ratio)
        self.qr.setPixmap(pixmap)

        self.verified_label = hint_label()
        self.verified_label.setObjectName("verifiedState")
        self.mark_button = QPushButton()
        self.mark_button.setObjectName("markVerified")
        self.mark_button.setAutoDefault(False)
        self.mark_button.clicked.connect(self._toggle)
        verified_row = QHBoxLayout()
        verified_row.addWidget(self.verified_label, 1)
        verified_row.addWidget(self.mark_button)

        self.key_note = hint_label(
            f"Key change: {contact.key_change_note}" if contact.key_change_note else ""
        )
        self.key_note.setObjectName("keyChangeNote")
        self.key_note.setTextFormat(Qt.TextFormat.PlainText)
        self.key_note.setVisible(bool(contact.key_change_note))

        self.delete_button = QPushButton("Delete conversation…")
        self.delete_button.setObjectName("deleteConversation")
        self.delete_button.setAutoDefault(False)
        self.delete_button.clicked.connect(self._confirm_delete)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.addButton(self.delete_button, QDialogButtonBox.ButtonRole.DestructiveRole)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 20, 20, 16)
        layout.setSpacing(12)
        layout.addLayout(form)
        layout.addWidget(explanation)
        layout.addWidget(self.digits)
        layout.addWidget(self.qr)
        layout.addLayout(verified_row)
        layout.addWidget(self.key_note)
        layout.addWidget(buttons)
        self._show_verified()

    @property
    def verified(self) -> bool:
        return self._verified

    def _rename(self) -> None:
        self.renameRequested.emit(self.local_name.text().strip())

    def _toggle(self) -> None:
        self._verified = not self._verified
        self.contact = _with_verified(self.contact, self._verified)
        self._show_verified()
        self.verifiedChanged.emit(self._verified)

    def _show_verified(self) -> None:
        self.verified_label.setText(verified_words(self.contact))
        self.mark_button.setText("Mark as not verified" if self._verified else "Mark as verified")
        set_primary(self.mark_button, not self._verified)

    def _confirm_delete(self) -> None:
        box = message_box(
            self,
            QMessageBox.Icon.Warning,
            "Delete this conversation?",
            f"Everything you and {self.contact.display_name} wrote is deleted from this "
            "computer, and they are no longer one of your contacts.",
            "Messages waiting to be sent are dropped. To talk again, you need a new code "
            "or invitation.",
        )
        box.setObjectName("deleteConfirm")
        delete = box.addButton("Delete", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def answered(_result: int) -> None:
            if box.clickedButton() is delete:
                self.deleteRequested.emit()
                self.accept()

        box.finished.connect(answered)
        box.open()


def _with_verified(contact: ContactRecord, verified: bool) -> ContactRecord:
    return replace(
        contact, verified=verified, verified_by=VerifiedBy.SAFETY_NUMBER if verified else None
    )
