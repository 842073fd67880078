"""A known name with a new key: the bar on the known contact's page, and the dialog that
sets the two keys side by side and lets the person trust the new one once they checked it.

The core refuses such a session (``PeerKeyChangedError``, see ``store.contacts``); the
error names both ids as data, and the controller reports them (``peerKeyChanged``). Only
the ids are trusted here, and only once they look like ids: the name is whatever the
newcomer chose, so it is shown as plain text and never used to find anyone.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from messenger.crypto.rsa import format_fingerprint
from messenger.protocol.wire import is_person_id
from messenger.store.records import ContactRecord
from messenger.ui.theme import copyable_label, hint_label, plain_label, set_primary

__all__ = ["KeyChangeBar", "KeyChangeDialog", "is_person_id", "shown_name"]

#: The longest stretch of a newcomer's chosen name that is shown.
NAME_SHOWN = 64


def shown_name(name: str, fallback: str) -> str:
    """A name someone chose, cut to a sane length (``fallback`` if they chose none)."""
    name = " ".join(name.split())[:NAME_SHOWN]
    return name or fallback


def _two_lines(person_id: str) -> str:
    groups = format_fingerprint(person_id).split()
    half = (len(groups) + 1) // 2
    return " ".join(groups[:half]) + "\n" + " ".join(groups[half:])


class KeyChangeBar(QFrame):
    """The warning above a known contact's conversation while a new key uses their name."""

    compareRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("keyChangeBar")
        self.text = plain_label("", "keyChangeText")
        self.text.setWordWrap(True)
        self.compare_button = QPushButton("Compare keys…")
        self.compare_button.setObjectName("compareKeysButton")
        self.compare_button.setAutoDefault(False)
        self.compare_button.clicked.connect(self.compareRequested)
        row = QHBoxLayout(self)
        row.setContentsMargins(10, 6, 10, 6)
        row.addWidget(self.text, 1)
        row.addWidget(self.compare_button)
        self.hide()

    def show_change(self, newcomer: str, known: str) -> None:
        self.text.setText(
            f"Someone with a different key calls themselves \u201c{newcomer}\u201d: it may "
            f"be someone else. Compare keys with {known} another way (in person or on a "
            "call) before you trust it."
        )
        self.show()


class KeyChangeDialog(QDialog):
    """The known contact's key beside the new one; "Not now" is the default answer."""

    trustRequested = Signal()

    def __init__(
        self,
        known: ContactRecord,
        new_id: str,
        newcomer: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("keyChangeDialog")
        self.setWindowTitle("Compare keys")
        self.setMinimumWidth(520)
        who = known.display_name

        heading = plain_label(
            f"Someone calling themselves \u201c{newcomer}\u201d has a different key from the "
            f"{who} you know.",
            "keyChangeHeading",
        )
        heading.setWordWrap(True)
        self.known_fingerprint = copyable_label("knownFingerprint", _two_lines(known.id), mono=True)
        self.new_fingerprint = copyable_label("newFingerprint", _two_lines(new_id), mono=True)
        form = QFormLayout()
        # Row labels quote names: plain labels (a bare string would be a QLabel guessing
        # rich text).
        form.addRow(plain_label(f"{who} (the key you know)", "knownName"), self.known_fingerprint)
        form.addRow(plain_label("The new key", "newName"), self.new_fingerprint)

        explanation = hint_label(
            f"If {who} set up Messenger again (a new computer, a reinstall), they have a new "
            "key. But anyone can call themselves by that name. Ask them for their new key in "
            "person or on a call, not through this new key, and trust it only if it is the "
            f"same. Then meet again (a new code or invitation); your conversation with the "
            f"old key stays, as \u201c{known.name} (old key)\u201d."
        )

        self.not_now = QPushButton("Not now")
        self.not_now.setObjectName("notNowButton")
        self.trust_button = QPushButton("I checked: trust the new key")
        self.trust_button.setObjectName("trustNewKeyButton")
        self.trust_button.setAutoDefault(False)
        set_primary(self.not_now)
        buttons = QDialogButtonBox()
        buttons.addButton(self.trust_button, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(self.not_now, QDialogButtonBox.ButtonRole.RejectRole)
        self.not_now.setDefault(True)
        self.not_now.clicked.connect(self.reject)
        self.trust_button.clicked.connect(self._trust)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 20, 20, 16)
        layout.setSpacing(12)
        layout.addWidget(heading)
        layout.addLayout(form)
        layout.addWidget(explanation)
        layout.addWidget(buttons)
        self.not_now.setFocus()

    def _trust(self) -> None:
        self.trustRequested.emit()
        self.accept()
