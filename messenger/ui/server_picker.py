"""Choosing the relay: "host a server on this computer" or "use a server" at host:port.

The first-start welcome and Settings ask the same question the same way; this widget is that
question, with the address check both use. It saves nothing: its dialog decides when.

Hosting here has two details: who may connect (others on the network, or only this
computer) and the port (5555 unless taken; see ``server.embedded``).
"""

from __future__ import annotations

import re

import shiboken6
from PySide6.QtCore import Signal
from PySide6.QtGui import QIntValidator
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)
from qasync import asyncSlot

from messenger.crypto.rsa import format_fingerprint
from messenger.ui.controller import EMBEDDED, HOST_EVERYONE, HOST_LOOPBACK
from messenger.ui.probe import ProbeError, probe_server
from messenger.ui.theme import grow_to_fit, hint_label, plain_tooltip
from server.embedded import DEFAULT_PORT

__all__ = ["ServerPicker", "server_address_problem"]

_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-]+)$")
#: Lines the "host here" hint up with its radio button's text.
_HINT_INDENT = 26


def server_address_problem(address: str) -> str | None:
    """None if ``address`` is a usable "host:port", else a sentence saying what is wrong."""
    example = "Type the server as host:port, for example relay.example.org:5555."
    host, sep, port = address.strip().rpartition(":")
    if not sep or not host or not port:
        return example
    if not _HOST.match(host):
        return f"\u201c{host}\u201d is not a host name or IP address. {example}"
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        return f"The port must be a number from 1 to 65535. {example}"
    return None


class ServerPicker(QWidget):
    """Two radio buttons and an address field; ``chosen()`` is ``EMBEDDED`` or the address."""

    #: The choice or the typed address changed.
    changed = Signal()
    #: An address check ended: (address, fingerprint or "" if nothing answered).
    checked = Signal(str, str)
    #: "Use it anyway" after a failed check: go on with the address.
    useAnyway = Signal()

    def __init__(
        self,
        saved: object,
        parent: QWidget | None = None,
        hosting: tuple[str, int] = (HOST_EVERYONE, DEFAULT_PORT),
    ) -> None:
        """``saved``: the profile's setting as stored (anything but an address means
        hosting here, as at start-up); ``hosting``: who may connect, and the port."""
        super().__init__(parent)
        self.host_here = QRadioButton("Host a server on this computer")
        self.host_here.setObjectName("hostHere")
        self.use_server = QRadioButton("Use a server")
        self.use_server.setObjectName("useServer")
        self.server_input = QLineEdit()
        self.server_input.setObjectName("serverInput")
        self.server_input.setPlaceholderText("host:port")
        group = QButtonGroup(self)
        group.addButton(self.host_here)
        group.addButton(self.use_server)
        if isinstance(saved, str) and saved and saved != EMBEDDED:
            self.server_input.setText(saved)
            self.use_server.setChecked(True)
        else:
            self.host_here.setChecked(True)
        self.server_input.setEnabled(self.use_server.isChecked())
        self.use_server.toggled.connect(self._mode_toggled)
        self.server_input.textChanged.connect(self.changed)
        self.server_input.textChanged.connect(self._forget_check)
        #: The last address checked and what answered there ("" for nothing).
        self.checked_address = ""
        self.checked_fingerprint = ""
        self.check_button = QPushButton("Test")
        self.check_button.setObjectName("checkServer")
        self.check_button.setAutoDefault(False)
        self.check_button.setToolTip("Check that a Messenger server answers at this address")
        self.check_button.clicked.connect(self.run_check)
        self.check_label = hint_label()
        self.check_label.setObjectName("serverCheck")
        self.check_label.setIndent(_HINT_INDENT)
        self.check_label.hide()
        self.anyway_button = QPushButton("Use it anyway")
        self.anyway_button.setObjectName("useAnyway")
        self.anyway_button.setAutoDefault(False)
        self.anyway_button.hide()
        self.anyway_button.clicked.connect(self.useAnyway)

        self.scope = QComboBox()
        self.scope.setObjectName("hostScope")
        self.scope.addItem("Others on my network can connect", HOST_EVERYONE)
        self.scope.addItem("Only this computer", HOST_LOOPBACK)
        scope, port = hosting
        self.scope.setCurrentIndex(max(0, self.scope.findData(scope)))
        # A field with a validator rather than a spin box: a port is typed, not stepped
        # through, and the style sheet's padding leaves a spin box without arrows no room.
        self.port_input = QLineEdit(str(port) if port else "")
        self.port_input.setObjectName("hostPort")
        self.port_input.setValidator(QIntValidator(0, 65535, self.port_input))
        self.port_input.setPlaceholderText("any free")  # empty or 0: the system picks (tests)
        self.port_input.setMaximumWidth(
            self.port_input.fontMetrics().horizontalAdvance("655350") + 24
        )
        self.port_input.setToolTip(
            f"Others type this computer's address and this port ({DEFAULT_PORT} unless you "
            "change it). If it is taken, Messenger uses the next free one and remembers it."
        )
        self.scope.currentIndexChanged.connect(lambda _i: self.changed.emit())
        self.port_input.textChanged.connect(lambda _t: self.changed.emit())
        hosting_row = QHBoxLayout()
        hosting_row.setContentsMargins(_HINT_INDENT, 0, 0, 0)
        hosting_row.addWidget(self.scope, 1)
        hosting_row.addWidget(QLabel("Port"))
        hosting_row.addWidget(self.port_input)
        self._hosting_widgets = (self.scope, self.port_input)

        hint = hint_label(
            "Messenger runs the server itself; Settings shows the address to give others.",
            wrap=False,
        )
        hint.setIndent(_HINT_INDENT)
        server_row = QHBoxLayout()
        server_row.addWidget(self.use_server)
        server_row.addWidget(self.server_input, 1)
        server_row.addWidget(self.check_button)
        anyway_row = QHBoxLayout()
        anyway_row.addStretch(1)
        anyway_row.addWidget(self.anyway_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.host_here)
        layout.addLayout(hosting_row)
        layout.addWidget(hint)
        layout.addLayout(server_row)
        layout.addWidget(self.check_label)
        layout.addLayout(anyway_row)
        self._update_enabled()

    def chosen(self) -> str:
        return EMBEDDED if self.host_here.isChecked() else self.server_input.text().strip()

    def hosting(self) -> tuple[str, int]:
        """Who may connect to the server hosted here, and its port."""
        text = self.port_input.text().strip()
        return str(self.scope.currentData()), int(text) if text.isdigit() else 0

    def _update_enabled(self) -> None:
        for widget in self._hosting_widgets:
            widget.setEnabled(self.host_here.isChecked())
        self.check_button.setEnabled(self.use_server.isChecked())

    def check_passed(self) -> bool:
        """The address chosen now answered as a Messenger server when last checked."""
        return bool(self.checked_fingerprint) and self.checked_address == self.chosen()

    def _forget_check(self) -> None:
        self.checked_address = self.checked_fingerprint = ""
        self.check_label.hide()
        self.anyway_button.hide()

    @asyncSlot()
    async def run_check(self) -> None:
        """Connect to the typed address, fetch the server's key, say what answered."""
        problem = self.problem()
        if problem is not None or not self.use_server.isChecked():
            if problem is not None:
                self._show_check(problem[0], ok=False, anyway=False)
            return
        address = self.chosen()
        self.check_button.setEnabled(False)
        self._show_check(f"Checking {address}\u2026", ok=None, anyway=False)
        try:
            fingerprint = await probe_server(address)
        except ProbeError as exc:
            fingerprint, message = "", str(exc)
        else:
            grouped = format_fingerprint(fingerprint)
            message = (
                f"\u2714 A Messenger server answers at {address}. Its key: {grouped[:19]}\u2026"
            )
        if not shiboken6.isValid(self):
            return
        self.check_button.setEnabled(self.use_server.isChecked())
        if address != self.chosen():
            return  # the person typed on meanwhile
        self.checked_address, self.checked_fingerprint = address, fingerprint
        self._show_check(message, ok=bool(fingerprint), anyway=not fingerprint)
        if fingerprint:
            self.check_label.setToolTip(
                plain_tooltip(f"Key of the server at {address}:\n{format_fingerprint(fingerprint)}")
            )
        self.checked.emit(address, fingerprint)

    def _show_check(self, text: str, *, ok: bool | None, anyway: bool) -> None:
        """Show a check's outcome: ``ok`` None while it runs, then True or False."""
        self.check_label.setText(text)
        self.check_label.setProperty("tone", {None: "", True: "good", False: "error"}[ok])
        self.check_label.style().unpolish(self.check_label)
        self.check_label.style().polish(self.check_label)
        self.check_label.setToolTip(plain_tooltip(text))
        self.check_label.show()
        self.anyway_button.setVisible(anyway)
        grow_to_fit(self)

    def problem(self) -> tuple[str, QWidget] | None:
        """What is wrong with the typed address (and the field), if an address is chosen."""
        if self.use_server.isChecked():
            problem = server_address_problem(self.server_input.text())
            if problem is not None:
                return problem, self.server_input
        return None

    def _mode_toggled(self, use_server: bool) -> None:
        self.server_input.setEnabled(use_server)
        self._update_enabled()
        if use_server:
            self.server_input.setFocus()
        self.changed.emit()
