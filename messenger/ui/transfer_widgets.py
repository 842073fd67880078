"""File transfers in the chat column: one card per file, from the offer to the saved copy.

A card shows and asks; it never touches the network. The main window feeds it what the
bridge reports (``accepted``, ``update_progress``, ``completed``, ``cancelled``, ``failed``)
and turns its requests (``acceptRequested``, ``declineRequested``, ``cancelRequested``) into
controller calls. The text it shows for sizes, speed and time left comes from
``transfer_format``; its colours from ``transfer_style``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path

from PySide6.QtCore import QEvent, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QFont, QShowEvent
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from messenger.file_history import FileMeta, FileState
from messenger.ui.file_choosers import ask_for_folder
from messenger.ui.theme import current_theme, message_box, plain_tooltip, set_primary
from messenger.ui.transfer_format import SpeedMeter, human_duration, human_size
from messenger.ui.transfer_style import CARD_QSS

__all__ = ["FINAL_STATES", "TransferCard", "TransferState"]

CARD_WIDTH = 380
#: The progress bar counts in tenths of a percent: smooth for big files, and a Qt int
#: cannot hold a byte count past 2 GiB.
BAR_STEPS = 1000


class TransferState(StrEnum):
    PREPARING = "preparing"  #: ours, being read and hashed before the offer
    OFFERED = "offered"  #: theirs, waiting for the person's Save or Decline
    WAITING = "waiting"  #: ours, offered, waiting for the other person's answer
    STARTING = "starting"  #: accepted, no data moved yet
    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"


FINAL_STATES = frozenset({TransferState.DONE, TransferState.CANCELLED, TransferState.FAILED})


#: Which buttons each state shows (hidden ones are disabled too).
_BUTTONS: dict[TransferState, frozenset[str]] = {
    TransferState.PREPARING: frozenset(),
    TransferState.OFFERED: frozenset({"save", "decline"}),
    TransferState.WAITING: frozenset({"cancel"}),
    TransferState.STARTING: frozenset({"cancel"}),
    TransferState.RUNNING: frozenset({"cancel"}),
    TransferState.DONE: frozenset({"open"}),
    TransferState.CANCELLED: frozenset(),
    TransferState.FAILED: frozenset(),
}
_WITH_BAR = frozenset({TransferState.STARTING, TransferState.RUNNING})


def _badge_text(name: str) -> str:
    _stem, dot, extension = name.rpartition(".")
    if dot and _stem and 0 < len(extension) <= 4 and extension.isalnum():
        return extension.upper()
    return "FILE"


class TransferCard(QFrame):
    """One file transfer, either way: name, size, direction, progress and what to do."""

    acceptRequested = Signal(str)  # transfer id; the folder is in ``chosen_folder``
    declineRequested = Signal(str)
    cancelRequested = Signal(str)

    def __init__(
        self,
        transfer_id: str,
        name: str,
        size: int,
        direction: str,
        *,
        state: TransferState | None = None,
        clock: Callable[[], float] = time.monotonic,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("transferCard")
        self.setProperty("direction", direction)
        self.transfer_id = transfer_id
        self.name = name
        self.total = size
        self.direction = direction  # "in" or "out"
        self.transferred = 0
        #: The saved file (incoming) or the file sent (outgoing), once done.
        self.path: Path | None = None
        #: Where the person chose to save an incoming file.
        self.chosen_folder: Path | None = None
        #: Where the folder chooser starts.
        self.default_folder: Path = Path.home()
        self.choose_folder: Callable[[QWidget, str], str] = ask_for_folder
        self.open_url: Callable[[QUrl], object] = QDesktopServices.openUrl
        self._clock = clock
        self._meter = SpeedMeter()
        self._theme = ""

        self.badge = QLabel()
        self.badge.setObjectName("fileBadge")
        self.badge.setTextFormat(Qt.TextFormat.PlainText)
        self.badge.setText(_badge_text(name))
        self.badge.setFixedSize(44, 44)
        self.badge.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.name_label = QLabel()
        self.name_label.setObjectName("transferName")
        self.name_label.setTextFormat(Qt.TextFormat.PlainText)
        bold = self.name_label.font()
        bold.setWeight(QFont.Weight.DemiBold)  # here, not in the QSS: the elision measures it
        self.name_label.setFont(bold)
        self.name_label.setToolTip(plain_tooltip(name))
        arrow = "↓ Incoming" if direction == "in" else "↑ Outgoing"
        self.meta = QLabel(f"{arrow} · {human_size(size)}")
        self.meta.setObjectName("transferMeta")
        titles = QVBoxLayout()
        titles.setSpacing(2)
        titles.addWidget(self.name_label)
        titles.addWidget(self.meta)
        top = QHBoxLayout()
        top.setSpacing(10)
        top.addWidget(self.badge)
        top.addLayout(titles, 1)

        self.bar = QProgressBar()
        self.bar.setObjectName("transferProgress")
        self.bar.setRange(0, BAR_STEPS)
        self.bar.setTextVisible(False)
        self.bar.setValue(0)
        self.percent = QLabel("0%")
        self.percent.setObjectName("transferPercent")
        self.percent.setMinimumWidth(self.percent.fontMetrics().horizontalAdvance("100%") + 4)
        self.percent.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        bar_row = QHBoxLayout()
        bar_row.setSpacing(8)
        bar_row.addWidget(self.bar, 1)
        bar_row.addWidget(self.percent)
        self.speed = QLabel("")
        self.speed.setObjectName("transferSpeed")
        self.state_label = QLabel("")
        self.state_label.setObjectName("transferState")
        self.state_label.setWordWrap(True)
        self.state_label.setTextFormat(Qt.TextFormat.PlainText)
        self.state_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.decline_button = self._button("Decline", "declineFile", self._decline)
        self.cancel_button = self._button("Cancel", "cancelFile", self._cancel)
        self.open_button = self._button("Show in folder", "openFolder", self._open_folder)
        self.save_button = self._button("Save…", "acceptFile", self._save)
        self.save_button.setToolTip("Choose a folder and receive the file")
        set_primary(self.save_button)
        self._buttons = {
            "save": self.save_button,
            "decline": self.decline_button,
            "cancel": self.cancel_button,
            "open": self.open_button,
        }
        buttons = QHBoxLayout()
        buttons.setSpacing(6)
        buttons.addStretch(1)
        for button in (self.decline_button, self.cancel_button, self.open_button):
            buttons.addWidget(button)
        buttons.addWidget(self.save_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 12, 14, 10)
        layout.setSpacing(6)
        layout.addLayout(top)
        layout.addLayout(bar_row)
        layout.addWidget(self.speed)
        layout.addWidget(self.state_label)
        layout.addLayout(buttons)
        self._bar_row = (self.bar, self.percent)

        self.setFixedWidth(CARD_WIDTH)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Maximum)
        self.name_label.setText(
            self.name_label.fontMetrics().elidedText(
                name, Qt.TextElideMode.ElideMiddle, CARD_WIDTH - 28 - 44 - 10 - 8
            )
        )
        self._restyle()
        if state is None:
            state = TransferState.OFFERED if direction == "in" else TransferState.WAITING
        self.state = state
        self._show(state, self._initial_text(state))

    # -- fed by the main window ------------------------------------------------------------

    def offered(self, transfer_id: str) -> None:
        """Our file is offered now (it was PREPARING): wait for the other person."""
        self.transfer_id = transfer_id
        self._show(TransferState.WAITING, self._initial_text(TransferState.WAITING))

    def accepted(self, start_chunk: int = 0) -> None:
        """The other person accepted ours (``start_chunk`` > 0: they resume a partial copy)."""
        if self.state in FINAL_STATES:
            return
        text = "Resuming where the last attempt stopped…" if start_chunk else "Starting…"
        self._show(TransferState.STARTING, "")
        self.speed.setText(text)

    def update_progress(self, transferred: int, total: int) -> None:
        if self.state in FINAL_STATES:
            return
        self.total = total
        self.transferred = transferred
        self._meter.add(self._clock(), transferred)
        fraction = transferred / total if total else 1.0
        self.bar.setValue(round(fraction * BAR_STEPS))
        self.percent.setText(f"{int(fraction * 100)}%")
        parts = [f"{human_size(transferred)} of {human_size(total)}"]
        rate = self._meter.rate()
        if rate is not None and rate > 0:
            parts.append(f"{rate / 1e6:.1f} MB/s")
            if transferred < total:
                parts.append(f"{human_duration((total - transferred) / rate)} left")
        self.speed.setText(" · ".join(parts))
        if self.state is not TransferState.RUNNING:
            self._show(TransferState.RUNNING, "")

    def completed(self, path: str) -> None:
        self.path = Path(path)
        self.transferred = self.total
        self.bar.setValue(BAR_STEPS)
        self.percent.setText("100%")
        if self.direction == "in":
            try:
                where = str(Path("~") / self.path.relative_to(Path.home()))
            except ValueError:
                where = str(self.path)
            text = self.state_label.fontMetrics().elidedText(
                f"Saved to {where}", Qt.TextElideMode.ElideMiddle, CARD_WIDTH - 44
            )
            self.state_label.setToolTip(plain_tooltip(str(self.path)))
        else:
            text = "Sent. The other side checked it arrived whole."
        self._show(TransferState.DONE, text, tone="good")
        self.open_button.setVisible(self.file_is_there)
        self.open_button.setToolTip(plain_tooltip(str(self.path.parent)))

    def cancelled(self, by: str, reason: str) -> None:
        if self.state in FINAL_STATES:
            return
        if reason == "declined":
            text = "You declined this file." if by == "me" else "The other person declined it."
        elif by == "me":
            text = "You cancelled the transfer."
        elif reason in ("", "cancelled"):
            text = "The other person cancelled the transfer."
        else:
            text = f"The other side stopped it: {reason}"
        self._show(TransferState.CANCELLED, text, tone="muted")

    def failed(self, message: str) -> None:
        """Failed for ``message``; a later, more precise failure may replace the text."""
        if self.state in (TransferState.DONE, TransferState.CANCELLED):
            return
        self._show(TransferState.FAILED, message, tone="muted")

    def restore(self, meta: FileMeta) -> None:
        """Show how a transfer of an earlier run ended, as the history kept it."""
        if meta.state is FileState.DONE:
            self.completed(meta.path)
        elif meta.state is FileState.CANCELLED:
            self.cancelled(meta.by, meta.reason)
        elif meta.state is FileState.FAILED:
            self.failed(meta.reason or "The transfer failed.")
        elif meta.state is FileState.INTERRUPTED:
            again = "send it again" if self.direction == "out" else "ask for it again"
            self.failed(f"Stopped when Messenger closed; {again} if you still need it.")

    @property
    def file_is_there(self) -> bool:
        """The file is still where it was saved (or sent from)."""
        return self.path is not None and self.path.is_file()

    def showEvent(self, event: QShowEvent) -> None:
        """"Show in folder" is offered only while the file is where it was."""
        if self.state is TransferState.DONE:
            self.open_button.setVisible(self.file_is_there)
        super().showEvent(event)

    # -- the person's clicks ---------------------------------------------------------------

    def _save(self) -> None:
        folder = self.choose_folder(self, str(self.default_folder))
        if not folder or self.state is not TransferState.OFFERED:
            return  # chooser cancelled: the offer stays open
        self.chosen_folder = Path(folder)
        self._show(TransferState.STARTING, "")
        self.speed.setText("Starting…")
        self.acceptRequested.emit(self.transfer_id)

    def _decline(self) -> None:
        self._disable_all()
        self.declineRequested.emit(self.transfer_id)

    def _cancel(self) -> None:
        self._disable_all()  # the cancelled event brings the final state
        self.cancelRequested.emit(self.transfer_id)

    def _open_folder(self) -> None:
        """Open the folder in the file manager; where none is registered for folders
        (``openUrl`` says False), say so and offer the path to copy."""
        if self.path is None:
            return
        folder = str(self.path.parent)
        if not self.file_is_there:
            self.open_button.hide()
            gone = message_box(
                self,
                QMessageBox.Icon.Information,
                "Show in folder",
                f"{self.path.name} is no longer where it was saved.",
                f"It was in:\n{folder}",
            )
            gone.setObjectName("fileGone")
            gone.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            gone.open()
            return
        if self.open_url(QUrl.fromLocalFile(folder)) is not False:
            return
        box = message_box(
            self,
            QMessageBox.Icon.Information,
            "Open folder",
            "No file manager is set up to open folders on this computer.",
            f"The file is in:\n{folder}",
        )
        box.setObjectName("openFolderFailed")
        copy = box.addButton("Copy path", QMessageBox.ButtonRole.ActionRole)
        copy.clicked.disconnect()  # copying must not close the box
        copy.clicked.connect(lambda: QApplication.clipboard().setText(folder))
        box.addButton(QMessageBox.StandardButton.Close)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    # -- private ---------------------------------------------------------------------------

    def _button(self, text: str, name: str, slot: Callable[[], None]) -> QPushButton:
        button = QPushButton(text)
        button.setObjectName(name)
        button.clicked.connect(slot)
        return button

    def _disable_all(self) -> None:
        for button in self._buttons.values():
            button.setEnabled(False)

    def _initial_text(self, state: TransferState) -> str:
        return {
            TransferState.PREPARING: "Reading the file…",
            TransferState.OFFERED: "Wants to send you this file.",
            TransferState.WAITING: "Waiting for the other person to accept…",
        }.get(state, "")

    def _show(self, state: TransferState, text: str, tone: str = "") -> None:
        """Switch to ``state``: what is visible and enabled follows from it alone."""
        self.state = state
        shown = _BUTTONS[state]
        for key, button in self._buttons.items():
            button.setVisible(key in shown)
            button.setEnabled(key in shown)
        for widget in self._bar_row:
            widget.setVisible(state in _WITH_BAR)
        self.speed.setVisible(state in _WITH_BAR)
        self.state_label.setText(text)
        self.state_label.setVisible(bool(text))
        if self.state_label.property("tone") != tone:
            self.state_label.setProperty("tone", tone)
            self.state_label.style().unpolish(self.state_label)
            self.state_label.style().polish(self.state_label)

    def _restyle(self) -> None:
        app = QApplication.instance()
        theme = current_theme(app) if isinstance(app, QApplication) else "light"
        if theme != self._theme:
            self._theme = theme
            self.setStyleSheet(CARD_QSS[theme])

    def changeEvent(self, event: QEvent) -> None:
        if event.type() in (QEvent.Type.StyleChange, QEvent.Type.PaletteChange):
            self._restyle()
        super().changeEvent(event)
