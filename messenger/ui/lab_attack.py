"""The cipher lab's attack panel: runs an attack in a worker thread, shows its progress and
the best key and text as they improve, and can cancel it.

The attack is pure Python and CPU-bound, so it runs through ``loop.run_in_executor`` and
never on the UI thread; its progress reports hop back with ``call_soon_threadsafe``. The
search is rate-limited (a few reports a second), so the UI thread stays free to repaint and
to answer typing while it runs.
"""

from __future__ import annotations

import asyncio
import functools
import threading

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from qasync import asyncSlot

from messenger.crypto.classical import LabError, cipher_named
from messenger.crypto.classical.attacks import attack
from messenger.crypto.classical.search import AttackResult, Candidate
from messenger.ui.theme import ErrorLabel, hint_label, monospace_font, set_primary

__all__ = ["AttackPanel"]

_STEPS = 1000
#: The lab gives a substitution attack this long before it settles for its best.
DEFAULT_SECONDS = 6.0


class AttackPanel(QGroupBox):
    """Attack / Cancel, a progress bar, and the best key and text found so far."""

    #: The attack ended (finished or cancelled) with this result.
    finished = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Attack: from the ciphertext alone", parent)
        self.setObjectName("attackPanel")
        self.max_seconds = DEFAULT_SECONDS
        self.result: AttackResult | None = None
        self.best: Candidate | None = None
        self._cancel: threading.Event | None = None
        self._cipher = ""
        self._ciphertext = ""
        self._keep = False

        self.attack_button = QPushButton("Attack")
        self.attack_button.setObjectName("attackButton")
        set_primary(self.attack_button)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelAttack")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.attack_button.clicked.connect(self._attack_clicked)
        self.progress = QProgressBar()
        self.progress.setRange(0, _STEPS)
        self.progress.setValue(0)
        self.progress.setTextVisible(False)
        self.status = hint_label("The attack knows the cipher, never the key.")
        self.status.setObjectName("attackStatus")
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.key_label = QLabel("–")
        self.key_label.setObjectName("attackKey")
        self.key_label.setTextFormat(Qt.TextFormat.PlainText)
        self.key_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.key_label.setFont(monospace_font())
        self.score_label = QLabel("–")
        self.score_label.setObjectName("attackScore")
        self.score_label.setTextFormat(Qt.TextFormat.PlainText)
        self.text_view = QPlainTextEdit()
        self.text_view.setObjectName("attackText")
        self.text_view.setReadOnly(True)
        self.text_view.setPlaceholderText("The best plaintext found appears here.")
        self.text_view.setMinimumHeight(60)
        self.text_view.setMaximumHeight(84)
        self.error = ErrorLabel()

        buttons = QHBoxLayout()
        buttons.addWidget(self.attack_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.progress, 1)
        found = QHBoxLayout()
        found.addWidget(QLabel("Best key:"))
        found.addWidget(self.key_label, 1)
        found.addWidget(QLabel("English score:"))
        found.addWidget(self.score_label)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addWidget(self.error)
        layout.addLayout(found)
        layout.addWidget(self.text_view, 1)

    # -- running --------------------------------------------------------------------------

    def set_target(self, cipher: str, ciphertext: str, keep_punctuation: bool) -> None:
        """What the next attack will work on (the lab keeps this current as you type)."""
        self._cipher, self._ciphertext, self._keep = cipher, ciphertext, keep_punctuation

    @property
    def running(self) -> bool:
        return self._cancel is not None

    def cancel(self) -> None:
        """Ask the running attack to stop; it ends with the best it had."""
        if self._cancel is not None:
            self._cancel.set()
            self.status.setText("Cancelling…")
            self.cancel_button.setEnabled(False)

    @asyncSlot()
    async def _attack_clicked(self) -> None:
        await self.run_attack()

    async def run_attack(self) -> AttackResult | None:
        """Attack the current target off the UI thread; returns the result (None if the
        input could not be attacked: the reason is shown)."""
        if self.running:
            return None
        loop = asyncio.get_running_loop()
        cancel = threading.Event()
        self._cancel = cancel
        self.result, self.best = None, None
        self.error.clear_error()
        self.attack_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setValue(0)
        self.key_label.setText("–")
        self.score_label.setText("–")
        self.text_view.clear()
        title = cipher_named(self._cipher).title if self._cipher else ""
        self.status.setText(f"Attacking {title}…")

        def report(fraction: float, best: Candidate) -> None:  # in the worker thread
            loop.call_soon_threadsafe(self._show_progress, cancel, fraction, best)

        job = functools.partial(
            attack,
            self._cipher,
            self._ciphertext,
            keep_punctuation=self._keep,
            on_progress=report,
            cancel=cancel,
            max_seconds=self.max_seconds,
        )
        try:
            result = await loop.run_in_executor(None, job)
        except LabError as exc:
            self.error.show_error(str(exc))
            self.status.setText("Nothing to attack yet.")
            return None
        finally:
            self._cancel = None
            self.attack_button.setEnabled(True)
            self.cancel_button.setEnabled(False)
        self._show_result(result)
        return result

    def _show_progress(self, run: threading.Event, fraction: float, best: Candidate) -> None:
        if run is not self._cancel:  # a report from an attack that has ended since
            return
        self.progress.setValue(round(fraction * _STEPS))
        if best != self.best:
            self.best = best
            self._show_candidate(best.key, best.text, best.score)

    def _show_candidate(self, key: str, text: str, score: float) -> None:
        self.key_label.setText(key or "–")
        self.score_label.setText(f"{score:.2f} per quadgram (English ≈ -4, noise ≈ -7)")
        self.text_view.setPlainText(text)

    def _show_result(self, result: AttackResult) -> None:
        self.result = result
        self._show_candidate(result.key, result.text, result.score)
        if result.cancelled:
            self.status.setText(
                f"Cancelled after {result.seconds:.1f} s and {result.tried:,} keys: "
                "the best found until then."
            )
        else:
            self.progress.setValue(_STEPS)
            self.status.setText(f"Done: {result.tried:,} keys tried in {result.seconds:.1f} s.")
        self.finished.emit(result)
