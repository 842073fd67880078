"""First start (``WelcomeDialog``) and later starts with a protected key (``PassphraseDialog``).

Both open the identity key through ``controller.load_identity``, which runs in the executor:
creating an RSA-3072 key or deriving a passphrase key takes up to seconds, and the window
has to keep painting meanwhile. Problems show in the dialog's ``errorLabel``; what the
person typed stays.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from qasync import asyncSlot

from messenger.protocol.errors import MessengerError
from messenger.protocol.wire import MAX_NAME_LEN
from messenger.store.files import ProfileError
from messenger.ui.controller import ServerChoice, hosting_from
from messenger.ui.icons import app_icon
from messenger.ui.server_picker import ServerPicker
from messenger.ui.theme import ErrorLabel, grow_to_fit, hint_label, message_box, set_primary

if TYPE_CHECKING:
    from messenger.ui.controller import AppController

__all__ = ["PassphraseDialog", "WelcomeDialog"]


def _progress_row(object_name: str) -> tuple[QWidget, QProgressBar, QLabel]:
    """An indeterminate bar with a caption, hidden until a slow step starts."""
    box = QWidget()
    bar = QProgressBar()
    bar.setObjectName(object_name)
    bar.setRange(0, 0)
    bar.setTextVisible(False)
    caption = hint_label(wrap=False)
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(6)
    layout.addWidget(caption)
    layout.addWidget(bar)
    box.setVisible(False)
    return box, bar, caption


class WelcomeDialog(QDialog):
    """Name, optional passphrase and server, then the identity key is created (or opened).

    After ``accept()``, ``choice`` says where to connect.
    """

    def __init__(
        self,
        controller: AppController,
        parent: QWidget | None = None,
        server: str | None = None,
    ) -> None:
        """``server``: an address given on the command line (``--server``), filled in."""
        super().__init__(parent)
        self.controller = controller
        self.choice: ServerChoice | None = None
        self._working = False
        #: The person chose "Use it anyway" for this address after a failed check.
        self._anyway = ""
        #: The "Quit Messenger?" question, while it is open.
        self._leaving: QMessageBox | None = None
        profile = controller.profile
        self._has_identity = profile.has_identity()
        # An existing key needs its passphrase only if it was saved with one.
        self._asks_passphrase = not self._has_identity or profile.identity_is_encrypted()
        self.setWindowTitle("Welcome to Messenger")
        self.setWindowIcon(app_icon())
        self.setMinimumWidth(500)

        logo = QLabel()
        logo.setPixmap(app_icon().pixmap(48, 48))
        heading = QLabel("Welcome to Messenger")
        heading.setObjectName("headingLabel")
        intro = hint_label(
            "Messages are encrypted on this computer, and only the person you talk to can "
            "read them. Choose your name and where to connect."
        )
        title_text = QVBoxLayout()
        title_text.setSpacing(4)
        title_text.addWidget(heading)
        title_text.addWidget(intro)
        title_row = QHBoxLayout()
        title_row.setSpacing(14)
        title_row.addWidget(logo, 0, Qt.AlignmentFlag.AlignTop)
        title_row.addLayout(title_text, 1)

        try:
            saved_name, saved_server = profile.name, profile.settings().get("server")
        except ProfileError:  # damaged settings.json: reported when Continue saves the name
            saved_name, saved_server = "", None

        self.name_input = QLineEdit(saved_name)
        self.name_input.setObjectName("nameInput")
        self.name_input.setMaxLength(MAX_NAME_LEN)
        self.name_input.setPlaceholderText("How others see you, e.g. Alice")
        self.passphrase_input = QLineEdit()
        self.passphrase_input.setObjectName("passphraseInput")
        self.passphrase_input.setEchoMode(QLineEdit.EchoMode.Password)
        self.passphrase_confirm = QLineEdit()
        self.passphrase_confirm.setObjectName("passphraseConfirm")
        self.passphrase_confirm.setEchoMode(QLineEdit.EchoMode.Password)
        if self._has_identity:
            self.passphrase_input.setPlaceholderText("The passphrase you chose")
            passphrase_hint = hint_label(
                "Your key on this computer is protected by a passphrase: type it to open it.",
                top=True,
            )
        else:
            self.passphrase_input.setPlaceholderText("Optional")
            self.passphrase_confirm.setPlaceholderText("Type it again")
            passphrase_hint = hint_label(
                "A passphrase protects your key on this computer; you\u2019ll need it at every "
                "start. Leave it empty for none.",
                top=True,
            )

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        form.setHorizontalSpacing(12)
        form.setVerticalSpacing(8)
        form.addRow("Your name", self.name_input)
        form.addRow("Passphrase", self.passphrase_input)
        form.addRow("Confirm", self.passphrase_confirm)
        form.addRow("", passphrase_hint)
        passphrase_rows = (self.passphrase_input, self.passphrase_confirm, passphrase_hint)
        for widget in passphrase_rows:
            form.setRowVisible(widget, self._asks_passphrase)
        if self._has_identity:
            form.setRowVisible(self.passphrase_confirm, False)

        try:
            hosting = hosting_from(profile.settings())
        except ProfileError:
            hosting = hosting_from({})
        if server:
            saved_server = server
        self.server_picker = ServerPicker(saved_server, hosting=hosting)
        self.server_picker.useAnyway.connect(self._use_anyway)
        server_box = QGroupBox("Server")
        QVBoxLayout(server_box).addWidget(self.server_picker)

        self.error_label = ErrorLabel()
        self.progress_box, self.key_progress, self.progress_label = _progress_row("keyProgress")

        self.continue_button = QPushButton("Continue")
        self.continue_button.setObjectName("continueButton")
        set_primary(self.continue_button)
        self.continue_button.setDefault(True)
        self.continue_button.clicked.connect(self._continue)
        button_row = QHBoxLayout()
        button_row.addStretch(1)
        button_row.addWidget(self.continue_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 22, 24, 18)
        layout.setSpacing(14)
        layout.addLayout(title_row)
        layout.addLayout(form)
        layout.addWidget(server_box)
        layout.addWidget(self.error_label)
        layout.addWidget(self.progress_box)
        layout.addStretch(1)
        layout.addLayout(button_row)
        self._inputs: tuple[QWidget, ...] = (
            self.name_input,
            self.passphrase_input,
            self.passphrase_confirm,
            self.server_picker,
        )

    def _problem(self) -> tuple[str, QWidget] | None:
        """The first thing to fix and the field to put the cursor in, or None."""
        if not self.name_input.text().strip():
            return "Type your name, so the other person knows who you are.", self.name_input
        if (
            not self._has_identity
            and self.passphrase_input.text() != self.passphrase_confirm.text()
        ):
            return "The two passphrases are different; type them again.", self.passphrase_confirm
        return self.server_picker.problem()

    def reject(self) -> None:
        """Escape (or the title bar's close) asks before it quits the app; it is ignored
        while the key is being made: the dialog's answer is needed."""
        if self._working or self._leaving is not None:
            return
        box = message_box(
            self,
            QMessageBox.Icon.Question,
            "Quit Messenger?",
            "Messenger needs your name and a server before it can start.",
            "Nothing has been saved yet.",
        )
        box.setObjectName("leaveWelcome")
        leave = box.addButton("Quit", QMessageBox.ButtonRole.DestructiveRole)
        stay = box.addButton("Keep setting up", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(stay)
        box.setEscapeButton(stay)
        self._leaving = box

        def answered(_result: int) -> None:
            self._leaving = None
            if box.clickedButton() is leave:
                QDialog.reject(self)

        box.finished.connect(answered)
        box.open()

    def _set_busy(self, busy: bool) -> None:
        self._working = busy
        for widget in (*self._inputs, self.continue_button):
            widget.setEnabled(not busy)
        self.progress_box.setVisible(busy)
        if busy:
            grow_to_fit(self)

    def _use_anyway(self) -> None:
        self._anyway = self.server_picker.chosen()
        self.continue_button.click()

    @asyncSlot()
    async def _continue(self) -> None:
        self.error_label.clear_error()
        problem = self._problem()
        if problem is not None:
            self.error_label.show_error(*problem)
            return
        name = self.name_input.text().strip()
        address = self.server_picker.chosen()
        picker = self.server_picker
        if picker.use_server.isChecked() and address != self._anyway:
            if not picker.check_passed():
                self._set_busy(True)
                try:
                    await picker.run_check()
                finally:
                    self._set_busy(False)
            if not picker.check_passed():
                return  # the check says why, with "Use it anyway"
        passphrase = self.passphrase_input.text() if self._asks_passphrase else ""
        self.progress_label.setText(
            "Opening your identity key\u2026"
            if self._has_identity
            else "Creating your identity key\u2026"
        )
        failure: str | None = None
        self._set_busy(True)
        try:
            scope, port = self.server_picker.hosting()
            self.controller.profile.save_settings(name=name, host_scope=scope, host_port=port)
            await self.controller.load_identity(passphrase or None)
        except (ProfileError, MessengerError) as exc:
            failure = str(exc)
        except OSError as exc:
            failure = f"Could not save your profile: {exc.strerror or exc}."
        finally:
            self._set_busy(False)
        if failure is not None:
            self.error_label.show_error(failure)
            if self._asks_passphrase:
                self.passphrase_input.setFocus()
                self.passphrase_input.selectAll()
            return
        self.choice = ServerChoice(address)
        self.accept()


class PassphraseDialog(QDialog):
    """Asks for the passphrase of an existing, protected identity key and opens it."""

    def __init__(self, controller: AppController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self._working = False
        self.setWindowTitle("Unlock Messenger")
        self.setWindowIcon(app_icon())
        self.setMinimumWidth(420)

        logo = QLabel()
        logo.setPixmap(app_icon().pixmap(40, 40))
        text = QLabel("Type your passphrase to open your identity key and your history.")
        text.setWordWrap(True)
        top = QHBoxLayout()
        top.setSpacing(12)
        top.addWidget(logo)
        top.addWidget(text, 1)

        self.passphrase_input = QLineEdit()
        self.passphrase_input.setObjectName("passphraseInput")
        self.passphrase_input.setEchoMode(QLineEdit.EchoMode.Password)
        self.passphrase_input.setPlaceholderText("Passphrase")
        self.error_label = ErrorLabel()
        self.progress_box, self.key_progress, progress_label = _progress_row("keyProgress")
        progress_label.setText("Opening your identity key and history\u2026")

        self.quit_button = QPushButton("Quit")
        self.quit_button.setObjectName("quitButton")
        self.quit_button.setAutoDefault(False)
        self.quit_button.clicked.connect(self.reject)
        self.unlock_button = QPushButton("Unlock")
        self.unlock_button.setObjectName("unlockButton")
        set_primary(self.unlock_button)
        self.unlock_button.setDefault(True)
        self.unlock_button.clicked.connect(self._unlock)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.quit_button)
        buttons.addWidget(self.unlock_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 20, 20, 16)
        layout.setSpacing(12)
        layout.addLayout(top)
        layout.addWidget(self.passphrase_input)
        layout.addWidget(self.error_label)
        layout.addWidget(self.progress_box)
        layout.addStretch(1)
        layout.addLayout(buttons)

    def reject(self) -> None:
        """Escape is ignored while the key is being opened (it takes a moment)."""
        if not self._working:
            super().reject()

    @asyncSlot()
    async def _unlock(self) -> None:
        self.error_label.clear_error()
        passphrase = self.passphrase_input.text()
        if not passphrase:
            self.error_label.show_error("Type your passphrase.")
            return
        failure: str | None = None
        self._working = True
        self.unlock_button.setEnabled(False)
        self.quit_button.setEnabled(False)
        self.passphrase_input.setEnabled(False)
        self.progress_box.setVisible(True)
        grow_to_fit(self)
        try:
            await self.controller.load_identity(passphrase)
        except (ProfileError, MessengerError) as exc:
            failure = str(exc)
        finally:
            self._working = False
            self.progress_box.setVisible(False)
            self.passphrase_input.setEnabled(True)
            self.quit_button.setEnabled(True)
            self.unlock_button.setEnabled(True)
        if failure is not None:
            self.error_label.show_error(failure)
            self.passphrase_input.setFocus()
            self.passphrase_input.selectAll()
            return
        self.accept()
