"""Screenshots for the README: two profiles talking through a relay, in a real window.

    make screenshots            # runs this under Xvfb, light and dark

Saves main window, new-session dialog and safety-number dialog PNGs to docs/screenshots/.
Run with ``MESSENGER_THEME=light|dark``; the file names carry the theme.
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
from PySide6.QtWidgets import QApplication, QMessageBox

from messenger.store.profile import Profile
from messenger.ui.controller import AppController, ServerChoice
from messenger.ui.icons import app_icon
from messenger.ui.main_window import MainWindow
from messenger.ui.new_session_dialog import NewSessionDialog
from messenger.ui.safety_dialog import SafetyDialog
from messenger.ui.settings_dialog import SettingsDialog
from messenger.ui.theme import apply_theme
from server.embedded import EmbeddedRelay

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


async def window_for(name: str, base: Path, address: str) -> MainWindow:
    profile = Profile.open(base / name)
    profile.save_settings(name=name)
    controller = AppController(profile)
    await controller.load_identity()
    window = MainWindow(controller)
    window.resize(980, 640)
    window.show()
    window.attach(await controller.connect_to(ServerChoice(address)))
    return window


def page_ready(window: MainWindow, session_id: str) -> Callable[[], bool]:
    return lambda: session_id in window.pages and window.pages[session_id].verify_button.isEnabled()


async def scene(theme: str) -> None:
    base = Path(tempfile.mkdtemp(prefix="messenger-shots-"))
    relay = EmbeddedRelay(base / "relay", rotate_interval=3.0)
    host, port = await relay.start()
    alice = await window_for("Alice", base, f"{host}:{port}")
    bob = await window_for("Bob", base, f"{host}:{port}")
    try:
        # An RSA session picked from the presence list (while both are still free).
        rsa = asyncio.ensure_future(
            alice.controller.invite(bob.controller.identity.fingerprint, "Bob")
        )
        await until(
            lambda: any(
                isinstance(w, QMessageBox) and w.isVisible() for w in QApplication.topLevelWidgets()
            )
        )
        box = next(
            w
            for w in QApplication.topLevelWidgets()
            if isinstance(w, QMessageBox) and w.isVisible()
        )
        next(b for b in box.buttons() if b.text() == "Accept").click()
        rsa_info = await rsa
        await until(page_ready(alice, rsa_info.key))
        alice.pages[rsa_info.key].composer.setPlainText("Now over RSA identities too.")
        alice.pages[rsa_info.key].composer.submit()
        # A password session by code, alongside it.
        info = await alice.controller.create_code()
        joined = await bob.controller.join_code(info.code)
        await until(page_ready(alice, info.key))
        lines = [
            (alice, info.key, "Hi Bob! The code worked on the first try."),
            (bob, joined.key, "Hello Alice. Shall we compare safety numbers?"),
            (alice, info.key, "Yes, reading mine now: 12 groups of five digits."),
        ]
        for window, session_id, text in lines:
            window.pages[session_id].composer.setPlainText(text)
            window.pages[session_id].composer.submit()
            await asyncio.sleep(0.3)
        await asyncio.sleep(3.5)  # let a rotation tick show in the password session
        alice.session_list.setCurrentRow(0)
        alice.session_list.setCurrentRow(1)
        await settle()
        alice.grab().save(str(OUT / f"main-window-{theme}.png"))

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

        safety = SafetyDialog(rsa_info.session.safety, "Bob", False, alice)
        safety.show()
        await settle()
        safety.grab().save(str(OUT / f"safety-number-{theme}.png"))
        safety.close()

        settings = SettingsDialog(alice.controller, alice)
        settings.show()
        await settle()
        settings.grab().save(str(OUT / f"settings-{theme}.png"))
        settings.close()
    finally:
        for window in (alice, bob):
            await window.controller.shutdown()
        await relay.stop()


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
