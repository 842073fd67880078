"""Screenshots for the README: two profiles talking through a relay, in a real window.

    make screenshots            # runs this under Xvfb, light and dark

Saves the main window (the conversation list beside a conversation with days of history),
search results, contact details, the outbox clock, the new-session dialog, settings and the
cipher lab to docs/screenshots/, and the presence list with contact markers, a notification
with the tray badge, and the welcome dialog's address check. Run with
``MESSENGER_THEME=light|dark``; the file names carry the theme. Each scene is its own
function, so new ones merge cleanly.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import qasync
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from messenger.store.profile import Profile
from messenger.ui.cipher_lab import CipherLab
from messenger.ui.controller import AppController, ServerChoice
from messenger.ui.hosting import HostingDialog, HostingView
from messenger.ui.icons import app_icon
from messenger.ui.main_window import MainWindow
from messenger.ui.new_session_dialog import NewSessionDialog
from messenger.ui.settings_dialog import SettingsDialog
from messenger.ui.theme import apply_theme, plain_label
from messenger.ui.tray import TrayIcon
from messenger.ui.welcome_dialog import WelcomeDialog
from server.embedded import EmbeddedRelay
from tests.screenshots import conversation_scenes

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


async def until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("screenshot scene did not come about")
        await asyncio.sleep(0.05)


async def settle() -> None:
    """Let layouts and paints finish before grabbing. Sleeping hands control back to
    qasync's loop, which runs Qt's events; calling QApplication.processEvents() from inside
    a coroutine instead re-enters the loop, and a task woken there is lost for good (seen
    as a hang at shutdown, "Cannot enter into task ... while another task is being
    executed")."""
    for _ in range(5):
        await asyncio.sleep(0.05)


async def window_for(name: str, base: Path, address: str, folder: str = "") -> MainWindow:
    profile = Profile.open(base / (folder or name))
    profile.save_settings(name=name)
    controller = AppController(profile)
    await controller.load_identity()
    window = MainWindow(controller)
    window.resize(980, 640)
    window.show()
    window.attach(await controller.connect_to(ServerChoice(address)))
    return window


LAB_TEXT = (
    "Meet me by the old bridge at seven, and bring the map. If it rains, we will wait under "
    "the trees on the north bank until the boat comes back across the water. Tell nobody "
    "where we are going; the fewer people who know, the safer we all are."
)


async def cipher_lab(window: MainWindow, theme: str) -> None:
    """Tools > Cipher lab, a substitution cipher broken by the Attack button."""
    window.lab_action.trigger()
    lab = window.findChild(CipherLab)
    assert lab is not None
    lab.resize(1180, 760)
    lab.select_cipher("mono")
    lab.key_edit.setText("ZEBRAS")
    lab.keep_box.setChecked(True)
    lab.plain_edit.setPlainText(LAB_TEXT)
    await lab.attack_panel.run_attack()
    await settle()
    lab.grab().save(str(OUT / f"cipher-lab-{theme}.png"))
    lab.close()


async def scene(theme: str) -> None:
    base = Path(tempfile.mkdtemp(prefix="messenger-shots-"))
    relay = EmbeddedRelay(base / "relay", rotate_interval=3.0)
    host, port = await relay.start()
    address = f"{host}:{port}"
    conversation_scenes.seed_alice(base / "Alice")
    alice = await window_for("Alice", base, address)
    bob = await window_for("Bob", base, address)
    try:
        # Alice and Bob meet by code: each becomes the other's (verified) contact.
        info = await alice.controller.create_code()
        await bob.controller.join_code(info.code)
        bob_id = bob.controller.identity.fingerprint  # type: ignore[union-attr]
        alice_id = alice.controller.identity.fingerprint  # type: ignore[union-attr]
        await until(lambda: bob_id in alice.pages and alice_id in bob.pages)
        await until(lambda: alice.pages[bob_id].loaded.is_set())
        await conversation_scenes.history_scene(theme, OUT, alice, bob, until, settle, base)

        dialog = NewSessionDialog(alice.controller, alice)
        dialog.show()
        dialog.create_tab.create_button.click()
        await until(lambda: dialog.create_tab.code_label.text().count("-") == 2)
        await settle()
        dialog.grab().save(str(OUT / f"new-session-{theme}.png"))
        dialog.tabs.setCurrentIndex(2)
        await until(lambda: dialog.people_tab.people_list.count() >= 1)
        await settle()
        dialog.grab().save(str(OUT / f"new-session-people-{theme}.png"))
        dialog.close()
        for key in alice.controller.open_meetings():
            await alice.controller.close_session(key)

        await conversation_scenes.details_scene(theme, OUT, alice, bob_id, settle)
        await conversation_scenes.search_scene(theme, OUT, alice, until, settle)

        settings = SettingsDialog(alice.controller, alice)
        settings.show()
        await settle()
        settings.grab().save(str(OUT / f"settings-{theme}.png"))
        settings.close()

        await cipher_lab(alice, theme)
        await presence_scene(theme, alice, bob, base, address)
        await notification_scene(theme, alice, bob, bob_id, alice_id)
        await welcome_scene(theme, address)
        await hosting_scene(theme, alice, relay.fingerprint)
        await conversation_scenes.outbox_scene(
            theme, OUT, alice, bob_id, relay.stop, until, settle
        )
    finally:
        for window in (alice, bob):
            window._quitting = True
            await window.controller.shutdown()
        await relay.stop()


async def presence_scene(
    theme: str, alice: MainWindow, bob: MainWindow, base: Path, address: str
) -> None:
    """Pick someone online, with contact markers: Bob (a verified contact, busy), someone
    new who calls himself Bob too, and Carol (new)."""
    bob_id = bob.controller.identity.fingerprint if bob.controller.identity else ""
    alice.controller.profile.contacts.mark_verified(bob_id)
    others = [
        await window_for("Bob", base, address, folder="Bob-impostor"),
        await window_for("Carol", base, address),
    ]
    try:
        dialog = NewSessionDialog(alice.controller, alice)
        dialog.show()
        dialog.tabs.setCurrentIndex(2)
        await until(lambda: dialog.people_tab.people_list.count() >= 3)
        dialog.resize(560, dialog.height())
        await settle()
        dialog.grab().save(str(OUT / f"presence-contacts-{theme}.png"))
        dialog.close()
    finally:
        for window in others:
            await window.controller.shutdown()
            window.close()


class NotificationShot(QWidget):
    """What the desktop shows for a message that arrives while Messenger is in the
    background: the tray icon with its unread badge, and the notification bubble. Drawn
    here from what the app's tray reported, because Xvfb has no tray or notification
    server to photograph."""

    def __init__(self, tray: TrayIcon, title: str, text: str, window_title: str) -> None:
        super().__init__()
        self.setObjectName("notificationShot")
        badge = QLabel()
        badge.setPixmap(tray.icon().pixmap(48, 48))
        badge.setToolTip(tray.toolTip())
        card = QFrame()
        card.setFrameShape(QFrame.Shape.StyledPanel)
        card.setObjectName("transferCard")  # the card look of the current theme
        logo = QLabel()
        logo.setPixmap(app_icon().pixmap(40, 40))
        heading = plain_label(title)
        font = heading.font()
        font.setBold(True)
        heading.setFont(font)
        body = plain_label(text)
        body.setWordWrap(True)
        words = QVBoxLayout()
        words.addWidget(heading)
        words.addWidget(body)
        inner = QHBoxLayout(card)
        inner.addWidget(logo, 0, Qt.AlignmentFlag.AlignTop)
        inner.addLayout(words, 1)
        taskbar = plain_label(window_title)
        taskbar.setObjectName("hintLabel")
        taskbar.setToolTip("The window's title, as a taskbar shows it")
        tray_row = QHBoxLayout()
        tray_row.addStretch(1)
        tray_row.addWidget(plain_label(f"Tray: {tray.toolTip()}"))
        tray_row.addWidget(badge)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(18, 18, 18, 18)
        layout.addWidget(card)
        layout.addLayout(tray_row)
        layout.addWidget(taskbar)
        self.setFixedWidth(420)


async def notification_scene(
    theme: str, alice: MainWindow, bob: MainWindow, alice_key: str, bob_key: str
) -> None:
    """Bob writes while Alice's window is minimised: the title counts it, the tray badge
    shows it, and one notification names Bob with a preview."""
    shown: list[tuple[str, str]] = []
    tray = TrayIcon(alice, available=lambda: True, show_message=lambda t, m: None)
    tray.notified.connect(lambda title, text: shown.append((title, text)))
    alice.set_tray(tray)
    alice.showMinimized()
    await settle()
    page = bob.page_for(bob_key)
    for text in ("Are you there? \U0001f600", "The file is ready when you are."):
        before = len(shown)
        page.composer.setPlainText(text)
        page.composer.submit()
        await until(lambda: len(shown) > before)  # noqa: B023 (awaited in this iteration)
    title, text = shown[-1]
    shot = NotificationShot(tray, title, text, f"Taskbar: \u201c{alice.windowTitle()}\u201d")
    shot.show()
    await settle()
    shot.grab().save(str(OUT / f"notification-{theme}.png"))
    shot.close()
    alice.showNormal()
    alice.conversation_list.select(alice_key)
    await settle()


async def hosting_scene(theme: str, alice: MainWindow, fingerprint: str) -> None:
    """The status bar's "Hosting" dialog. The scene's relay listens on loopback only, so the
    addresses shown are examples (documentation ranges), as a LAN would give them."""
    view = HostingView(["192.168.1.20:5555", "[fd00::20]:5555"], False, fingerprint)
    dialog = HostingDialog(view, alice)
    dialog.show()
    await settle()
    dialog.grab().save(str(OUT / f"hosting-{theme}.png"))
    dialog.close()


async def welcome_scene(theme: str, address: str) -> None:
    """The first-start welcome checks the server address: one that answers (with the start
    of its key) and one where nothing does (with "Use it anyway")."""
    base = Path(tempfile.mkdtemp(prefix="messenger-welcome-"))
    for name, typed in (("ok", address), ("failed", "127.0.0.1:1")):
        controller = AppController(Profile.open(base / name))
        dialog = WelcomeDialog(controller)
        dialog.name_input.setText("Alice")
        dialog.server_picker.use_server.setChecked(True)
        dialog.server_picker.server_input.setText(typed)
        dialog.show()
        dialog.server_picker.check_button.click()
        await until(lambda d=dialog: "Checking" not in d.server_picker.check_label.text())
        dialog.server_picker.server_input.deselect()
        await settle()
        dialog.grab().save(str(OUT / f"welcome-check-{name}-{theme}.png"))
        dialog.done(0)


def main() -> int:
    theme = os.environ.get("MESSENGER_THEME", "light")
    OUT.mkdir(parents=True, exist_ok=True)
    app = QApplication(sys.argv[:1])
    app.setWindowIcon(app_icon())
    apply_theme(app)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        loop.run_until_complete(scene(theme))
    print(f"saved {theme} screenshots to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
