"""Settings (Session > Settings…): the server, the name others see, and your identity key.

Nothing is saved until OK, so Cancel really cancels. A new server is handed to the main
window (``serverChanged``), which ends the open sessions and has the connection keeper go
there (``ConnectionKeeper.switch_to``); every attempt goes through the usual server key check,
so a changed key still stops behind the blocking warning. Problems show in ``errorLabel`` and
leave what was typed. The export writes the public key only: the private key never leaves
the profile folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication, QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from messenger.crypto.rsa import format_fingerprint
from messenger.protocol.wire import MAX_NAME_LEN
from messenger.store.files import ProfileError
from messenger.ui.controller import EMBEDDED
from messenger.ui.hosting import HostingPanel
from messenger.ui.server_picker import ServerPicker
from messenger.ui.theme import (
    ErrorLabel,
    copyable_label,
    grow_to_fit,
    hint_label,
    set_primary,
)

if TYPE_CHECKING:
    from messenger.ui.controller import AppController

__all__ = ["SettingsDialog"]

#: Groups of four hex digits per line: a whole fingerprint on one line (79 characters)
#: would make the dialog wider than a comfortable reading width.
_GROUPS_PER_LINE = 8


def _fingerprint_lines(fingerprint: str) -> str:
    """A fingerprint as two lines of grouped digits, easy to read out and compare."""
    groups = format_fingerprint(fingerprint).split() if fingerprint else []
    lines = (groups[i : i + _GROUPS_PER_LINE] for i in range(0, len(groups), _GROUPS_PER_LINE))
    return "\n".join(" ".join(line) for line in lines)


def _form() -> QFormLayout:
    form = QFormLayout()
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
    form.setHorizontalSpacing(12)
    form.setVerticalSpacing(8)
    return form


class SettingsDialog(QDialog):
    """Server, profile and identity key in three boxes; OK saves, Cancel forgets."""

    #: The person chose another server ("embedded" or "host:port"); already saved.
    serverChanged = Signal(str)

    def __init__(self, controller: AppController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        profile = controller.profile
        try:
            saved_name, saved_server = profile.name, profile.settings().get("server")
        except ProfileError:  # damaged settings.json: reported when OK saves
            saved_name, saved_server = "", None
        self._saved_name = saved_name
        # As at start-up (app.boot): no server saved means hosting one here.
        self._saved_server = (
            saved_server if isinstance(saved_server, str) and saved_server else EMBEDDED
        )
        self._saved_hosting = controller.hosting_settings()
        self.setWindowTitle("Settings")
        self.setMinimumWidth(580)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 16, 20, 14)
        layout.setSpacing(12)
        layout.addWidget(self._server_box())
        layout.addWidget(self._profile_box())
        layout.addWidget(self._identity_box())
        self.error_label = ErrorLabel()
        layout.addWidget(self.error_label)
        layout.addStretch(1)

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.setObjectName("settingsButtons")
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        set_primary(self.ok_button)
        self.ok_button.setDefault(True)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self._update_switch_note()

    # -- the three boxes --------------------------------------------------------------------

    def _server_box(self) -> QGroupBox:
        """The welcome dialog's two choices, the key of the server in use, and a note when
        changing it would end codes or invitations still waiting."""
        self.server_picker = ServerPicker(self._saved_server, hosting=self._saved_hosting)
        self.server_picker.changed.connect(self._update_switch_note)

        fingerprint = self.controller.server_fingerprint
        self.server_key = copyable_label(
            "serverKeyDigits", _fingerprint_lines(fingerprint), mono=True
        )
        self.server_key.setVisible(bool(fingerprint))
        address = self.controller.server_address
        self.server_key_hint = hint_label(
            f"Of {address}, the server last connected to." if fingerprint else "Not connected yet.",
            wrap=False,
            top=True,
        )
        key_form = _form()
        key_form.addRow("Server key", self.server_key)
        key_form.addRow("", self.server_key_hint)
        view = self.controller.hosting_view()
        self.hosting_panel = HostingPanel(view) if view is not None else None
        if self.hosting_panel is not None:
            # Hosting here: the key in use is the hosted server's, shown with its addresses.
            key_form.setRowVisible(self.server_key, False)
            key_form.setRowVisible(self.server_key_hint, False)
            key_form.addRow("Others connect to", self.hosting_panel)
        self.switch_note = hint_label(top=True)

        box = QGroupBox("Server")
        box_layout = QVBoxLayout(box)
        box_layout.setSpacing(6)
        box_layout.addWidget(self.server_picker)
        box_layout.addSpacing(4)
        box_layout.addLayout(key_form)
        box_layout.addWidget(self.switch_note)
        return box

    def _profile_box(self) -> QGroupBox:
        self.name_input = QLineEdit(self._saved_name)
        self.name_input.setObjectName("nameInput")
        self.name_input.setMaxLength(MAX_NAME_LEN)
        self.name_input.setPlaceholderText("How others see you, e.g. Alice")
        folder = str(self.controller.profile.path)
        self.profile_folder = copyable_label("profileFolder", folder)
        self.profile_folder.setWordWrap(True)
        self.profile_folder.setToolTip(folder)
        form = _form()
        form.addRow("Your name", self.name_input)
        form.addRow(
            "",
            hint_label("Others see a new name from your next connection on.", wrap=False, top=True),
        )
        form.addRow("Profile folder", self.profile_folder)
        settings = self.controller.profile.settings()
        self.previews_check = QCheckBox("Show message text in notifications")
        self.previews_check.setObjectName("notificationPreviews")
        self.previews_check.setChecked(bool(settings.get("notification_previews", True)))
        self.tray_check = QCheckBox("Keep running in the tray when the window is closed")
        self.tray_check.setObjectName("keepInTray")
        self.tray_check.setChecked(bool(settings.get("keep_in_tray", False)))
        tray = getattr(self.parent(), "tray", None)
        if tray is None or not tray.shown:
            self.tray_check.setEnabled(False)
            self.tray_check.setToolTip("This desktop has no system tray.")
        form.addRow("Notifications", self.previews_check)
        form.addRow("", self.tray_check)
        box = QGroupBox("Profile")
        box.setLayout(form)
        return box

    def _identity_box(self) -> QGroupBox:
        """Your id as others see and pin it; copy it, or export the public key to share."""
        identity = self.controller.identity
        fingerprint = identity.fingerprint if identity is not None else ""
        self.identity_key = copyable_label(
            "identityDigits", _fingerprint_lines(fingerprint), mono=True
        )
        protected = self.controller.profile.identity_is_encrypted()
        self.key_protection = QLabel(
            "Protected by a passphrase on this computer."
            if protected
            else "Saved without a passphrase: anyone who can open your profile folder can use it."
        )
        self.key_protection.setObjectName("keyProtection")
        self.key_protection.setWordWrap(True)
        self.copy_button = QPushButton("Copy fingerprint")
        self.copy_button.setObjectName("copyFingerprint")
        self.copy_button.clicked.connect(self._copy_fingerprint)
        self.export_button = QPushButton("Export public key…")
        self.export_button.setObjectName("exportPublicKey")
        self.export_button.clicked.connect(self._export_public_key)
        for button in (self.copy_button, self.export_button):
            button.setAutoDefault(False)  # Enter means OK
            button.setEnabled(identity is not None)
        buttons = QHBoxLayout()
        buttons.setSpacing(8)
        buttons.addWidget(self.copy_button)
        buttons.addWidget(self.export_button)
        buttons.addStretch(1)
        self.key_note = hint_label(top=True)
        self.key_note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.key_note.hide()
        form = _form()
        form.addRow("Your ID", self.identity_key)
        form.addRow("Key file", self.key_protection)
        form.addRow("", buttons)
        form.addRow("", self.key_note)
        box = QGroupBox("Your identity key")
        box.setLayout(form)
        return box

    def showEvent(self, event: QShowEvent) -> None:
        """Start tall enough for the wrapped hints (a window sizes itself by size hint,
        which squashes word-wrapped labels)."""
        super().showEvent(event)
        grow_to_fit(self)

    # -- reacting to the person -------------------------------------------------------------

    def _update_switch_note(self) -> None:
        """Say before OK that a new server cancels the codes and invitations still waiting
        (they cannot move; conversations with contacts carry on)."""
        count = len(self.controller.open_meetings())
        if count:
            waiting = (
                "Your code or invitation still waiting"
                if count == 1
                else f"Your {count} codes or invitations still waiting"
            )
            self.switch_note.setText(
                f"{waiting} will end when Messenger switches servers. Conversations with "
                "your contacts carry on."
            )
        self.switch_note.setVisible(bool(count) and self._server_changes())
        grow_to_fit(self)

    def _show_key_note(self, text: str) -> None:
        self.error_label.clear_error()
        self.key_note.setText(text)
        self.key_note.show()
        grow_to_fit(self)

    def _copy_fingerprint(self) -> None:
        identity = self.controller.identity
        if identity is not None:
            QGuiApplication.clipboard().setText(format_fingerprint(identity.fingerprint))
            self._show_key_note("Your fingerprint is on the clipboard.")

    def _export_public_key(self) -> None:
        """Save the public key as PEM. A plain slot, not a coroutine: the file chooser is a
        modal dialog (see ``file_choosers``)."""
        identity = self.controller.identity
        if identity is None:
            return
        start = str(Path.home() / "messenger-public-key.pem")
        path, _filter = QFileDialog.getSaveFileName(
            self, "Export your public key", start, "PEM public key (*.pem);;All files (*)"
        )
        if not path:
            return
        try:
            Path(path).write_bytes(identity.public.to_pem())
        except OSError as exc:
            self.error_label.show_error(f"Could not save {path}: {exc.strerror or exc}.")
            return
        self._show_key_note(f"Saved your public key to {path}.")

    def _server_changes(self) -> bool:
        """Whether OK would reconnect: another server, or the hosted one set up otherwise."""
        server = self.server_picker.chosen()
        if server != self._saved_server:
            return True
        return server == EMBEDDED and self.server_picker.hosting() != self._saved_hosting

    def _problem(self) -> tuple[str, QWidget] | None:
        """The first thing to fix and the field to put the cursor in, or None."""
        if not self.name_input.text().strip():
            return "Type your name, so the other person knows who you are.", self.name_input
        return self.server_picker.problem()

    def accept(self) -> None:
        """Save what changed and close; a new server is announced after saving."""
        self.error_label.clear_error()
        problem = self._problem()
        if problem is not None:
            self.error_label.show_error(*problem)
            return
        name, server = self.name_input.text().strip(), self.server_picker.chosen()
        changes: dict[str, object] = {}
        if name != self._saved_name:
            changes["name"] = name
        if server != self._saved_server:
            changes["server"] = server
        reconnect = self._server_changes()
        saved = self.controller.profile.settings()
        for setting, check, default in (
            ("notification_previews", self.previews_check, True),
            ("keep_in_tray", self.tray_check, False),
        ):
            if bool(saved.get(setting, default)) != check.isChecked():
                changes[setting] = check.isChecked()
        scope, port = self.server_picker.hosting()
        if (scope, port) != self._saved_hosting:
            changes.update(host_scope=scope, host_port=port)
        if changes:
            try:
                self.controller.profile.save_settings(**changes)
            except (ProfileError, OSError) as exc:
                why = f"{exc.strerror}." if isinstance(exc, OSError) else str(exc)
                self.error_label.show_error(f"Could not save your settings: {why}")
                return
        super().accept()
        update_title = getattr(self.parent(), "update_title", None)
        if update_title is not None:
            update_title()
        if reconnect:
            self.serverChanged.emit(server)
