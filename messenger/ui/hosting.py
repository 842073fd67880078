"""Hosting the relay here: the addresses others type to reach it, and a panel that shows
them with a Copy button and the relay's key fingerprint (Settings and the status bar's
"Hosting" dialog).

``local_addresses`` only asks this computer about its own network interfaces: nothing is
sent anywhere. Loopback and link-local addresses are left out (nobody else can use them).
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import struct
import sys
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from messenger.crypto.rsa import format_fingerprint
from messenger.ui.icons import icon
from messenger.ui.theme import copyable_label, hint_label

__all__ = [
    "HostingDialog",
    "HostingPanel",
    "HostingView",
    "address_text",
    "local_addresses",
]

#: Linux's ioctl for an interface's IPv4 address.
_SIOCGIFADDR = 0x8915
_IF_INET6 = Path("/proc/net/if_inet6")
COPIED_FEEDBACK_MS = 1500


def _usable(text: str) -> bool:
    try:
        address = ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return False
    return not (address.is_loopback or address.is_link_local or address.is_unspecified)


def _linux_ipv4() -> list[str]:
    import fcntl

    found = []
    for _index, name in socket.if_nameindex():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                packed = fcntl.ioctl(
                    probe.fileno(), _SIOCGIFADDR, struct.pack("256s", name.encode()[:15])
                )
            except OSError:
                continue  # down, or no IPv4 address
        found.append(socket.inet_ntoa(packed[20:24]))
    return found


def _linux_ipv6() -> list[str]:
    found = []
    with contextlib.suppress(OSError):
        for line in _IF_INET6.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 4 and fields[3] == "00":  # global scope
                raw = bytes.fromhex(fields[0])
                found.append(socket.inet_ntop(socket.AF_INET6, raw))
    return found


def local_addresses() -> list[str]:
    """This computer's addresses that others on its networks can reach (IPv4 first)."""
    candidates: list[str] = []
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, ImportError):
            candidates += _linux_ipv4()
        candidates += _linux_ipv6()
    if not candidates:
        with contextlib.suppress(OSError):
            infos = socket.getaddrinfo(socket.gethostname(), None, type=socket.SOCK_STREAM)
            candidates += [str(info[4][0]) for info in infos]
    unique = list(dict.fromkeys(a for a in candidates if _usable(a)))
    return sorted(unique, key=lambda a: ":" in a)


def address_text(host: str, port: int) -> str:
    """host:port, with IPv6 hosts in brackets (as the address field expects them)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class HostingView:
    """What the panel shows: the addresses for others, whether only this computer can use
    them, and the relay's fingerprint. Made by ``AppController.hosting_view``."""

    def __init__(self, addresses: list[str], loopback_only: bool, fingerprint: str) -> None:
        self.addresses = addresses
        self.loopback_only = loopback_only
        self.fingerprint = fingerprint

    @property
    def summary(self) -> str:
        """One paragraph with everything, for a tooltip."""
        where = "\n".join(self.addresses)
        lines = [f"Hosting a server here. Others connect to:\n{where}"]
        if self.loopback_only:
            lines.append("Only this computer can reach it.")
        if self.fingerprint:
            lines.append(f"Its key:\n{format_fingerprint(self.fingerprint)}")
        return "\n".join(lines)


class HostingPanel(QWidget):
    """The addresses to give others (Copy puts the first on the clipboard) and the key to
    tell them, so they can check the first connection."""

    def __init__(self, view: HostingView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = view
        self.address_label = copyable_label(
            "hostingAddresses", "\n".join(view.addresses), mono=True
        )
        self.copy_button = QPushButton(icon("copy"), "Copy")
        self.copy_button.setObjectName("copyHostingAddress")
        self.copy_button.setAutoDefault(False)
        self.copy_button.setEnabled(bool(view.addresses))
        self.copy_button.clicked.connect(self._copy)
        self._copied = QTimer(self)
        self._copied.setSingleShot(True)
        self._copied.setInterval(COPIED_FEEDBACK_MS)
        self._copied.timeout.connect(lambda: self.copy_button.setText("Copy"))
        if view.loopback_only:
            where = (
                "Only this computer can reach this server (no network address was found, or "
                "you chose \u201conly this computer\u201d)."
            )
        else:
            where = "Give others this address; they choose \u201cUse a server\u201d and type it."
        self.where_hint = hint_label(where)
        groups = format_fingerprint(view.fingerprint).split() if view.fingerprint else []
        lines = [" ".join(groups[i : i + 8]) for i in range(0, len(groups), 8)]
        self.fingerprint_label = copyable_label("hostingFingerprint", "\n".join(lines), mono=True)
        self.fingerprint_hint = hint_label(
            "Tell them this key too (read it out, or send it another way): their app shows "
            "it on the first connection."
        )
        address_row = QHBoxLayout()
        address_row.setContentsMargins(0, 0, 0, 0)
        address_row.addWidget(self.address_label, 1)
        address_row.addWidget(self.copy_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addLayout(address_row)
        layout.addWidget(self.where_hint)
        if view.fingerprint:
            layout.addWidget(self.fingerprint_label)
            layout.addWidget(self.fingerprint_hint)

    def _copy(self) -> None:
        if self.view.addresses:
            QGuiApplication.clipboard().setText(self.view.addresses[0])
            self.copy_button.setText("Copied")
            self._copied.start()


class HostingDialog(QDialog):
    """The status bar's "Hosting" button opens this: the panel, and Close."""

    def __init__(self, view: HostingView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Hosting a server")
        self.setMinimumWidth(520)
        self.panel = HostingPanel(view)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        heading = QLabel("This computer runs a Messenger server.")
        heading.setObjectName("headingLabel")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 18, 20, 14)
        layout.setSpacing(12)
        layout.addWidget(heading)
        layout.addWidget(self.panel)
        layout.addWidget(buttons)


AddressFinder = Callable[[], list[str]]
