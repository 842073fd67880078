"""The desktop app's entry point: boot in a coroutine on qasync's loop, not in __init__.

Start-up order: profile -> identity (welcome on first start, passphrase if protected) ->
main window -> relay (embedded or configured) -> connect and stay connected (reconnecting after
a drop), where a changed server key stops everything behind a plainly worded, blocking warning.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import sys

import qasync
from PySide6.QtWidgets import QApplication, QDialog, QMessageBox

from messenger import __version__
from messenger.crypto.rsa import format_fingerprint
from messenger.protocol.errors import MessengerError, ServerKeyChangedError
from messenger.store.profile import Profile, ProfileError
from messenger.ui.bridge import ClientBridge
from messenger.ui.controller import EMBEDDED, AppController, ServerChoice
from messenger.ui.main_window import MainWindow
from messenger.ui.reconnect import ConnectionKeeper
from messenger.ui.theme import message_box
from messenger.ui.wording import for_people

log = logging.getLogger("messenger.ui")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="messenger", description="Messenger desktop app")
    parser.add_argument("--profile", metavar="DIR", help="profile folder (default: per-user)")
    parser.add_argument(
        "--server",
        metavar="HOST:PORT",
        help=f"relay to use this time ({EMBEDDED!r} hosts one here)",
    )
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="check this build offscreen (no profile touched), print JSON",
    )
    parser.add_argument(
        "--server-only",
        action="store_true",
        help="run the headless relay instead of the app (messenger-server options follow)",
    )
    parser.add_argument("--version", action="version", version=f"Messenger {__version__}")
    return parser


async def run_dialog(dialog: QDialog) -> int:
    """Show a dialog window-modally and wait for it without a nested event loop."""
    done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    dialog.finished.connect(lambda result: _settle(done, result))
    dialog.open()
    return await done


async def unlock_identity(controller: AppController, server: str | None = None) -> bool:
    """Open the identity key: first-start welcome, passphrase prompt, or just load it.
    ``server`` (``--server``) is filled into the welcome's address."""
    from messenger.ui.welcome_dialog import PassphraseDialog, WelcomeDialog

    profile = controller.profile
    if not profile.has_identity() or not profile.settings().get("server"):
        welcome = WelcomeDialog(controller, server=server if server != EMBEDDED else None)
        if await run_dialog(welcome) != QDialog.DialogCode.Accepted:
            return False
        controller.first_choice = welcome.choice
        return True
    if profile.needs_passphrase():
        return await run_dialog(PassphraseDialog(controller)) == QDialog.DialogCode.Accepted
    await controller.load_identity()
    return True


async def connect(
    controller: AppController, window: MainWindow, choice: ServerChoice
) -> ClientBridge | MessengerError | None:
    """One connection attempt. On a changed server key, block behind a warning that names
    both keys. Returns the attached bridge, the error, or None if the person chose to stay
    disconnected."""
    while True:
        try:
            bridge = await controller.connect_to(choice)
            window.attach(bridge)
            return bridge
        except ServerKeyChangedError as exc:
            box = message_box(
                window,
                QMessageBox.Icon.Critical,
                "The server's key has changed",
                f"The server at {controller.server_address or choice.address} shows a "
                "different key than the one Messenger remembered for it.",
                "That happens when the server was set up again, or when someone is "
                "intercepting your connection. Messenger did not connect. Trust the new key "
                "only if the server's operator tells you its key changed.",
            )
            box.setDetailedText(
                f"Remembered key:\n{format_fingerprint(exc.pinned)}\n\n"
                f"Key shown now:\n{format_fingerprint(exc.presented)}\n\n"
                "Ask the operator for the key their server shows "
                "(messenger-server fingerprint) and compare."
            )
            box.setObjectName("serverKeyChanged")
            stay_off = box.addButton("Stay disconnected", QMessageBox.ButtonRole.RejectRole)
            box.addButton("I checked: trust the new key", QMessageBox.ButtonRole.AcceptRole)
            box.setDefaultButton(stay_off)
            await run_dialog(box)
            if box.clickedButton() is stay_off:
                window.statusBar().showMessage("Not connected: the server's key has changed.")
                return None
            choice.expected_fingerprint = exc.presented
        except MessengerError as exc:
            address = controller.server_address or choice.address
            window.statusBar().showMessage(f"Not connected: {for_people(exc, address)}")
            return exc


async def boot(app: QApplication, args: argparse.Namespace) -> int:
    # Quitting is closing the main window, and the loop must outlive it: shutting down
    # (leaving sessions, flushing, stopping a hosted relay) awaits on it. Were Qt to quit
    # when the last window closed, the loop would stop under that shutdown.
    app.setQuitOnLastWindowClosed(False)
    closing = asyncio.Event()
    app.aboutToQuit.connect(closing.set)
    try:
        profile = Profile.open(args.profile)
    except ProfileError as exc:
        message_box(None, QMessageBox.Icon.Critical, "Messenger", str(exc)).exec()
        return 1
    controller = AppController(profile)
    if not await unlock_identity(controller, args.server):
        return 0
    window = MainWindow(controller)
    window.closed.connect(closing.set)
    from messenger.ui.tray import TrayIcon

    window.set_tray(TrayIcon(window))
    window.show()
    window.spawn(freeze_startup_objects(window))
    choice = controller.first_choice or ServerChoice(
        args.server or str(profile.settings().get("server") or EMBEDDED)
    )
    keeper = ConnectionKeeper(controller, window, choice, connect)
    keeper.start()  # Settings may switch servers: the keeper then restarts its own task
    await closing.wait()
    keeper.stop()
    await controller.shutdown()
    if keeper.task is not None:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(keeper.task, 5)
    profile.close()
    return 0


async def freeze_startup_objects(window: MainWindow) -> None:
    """Once the conversation list is up, move every object made so far (Qt's wrappers, the
    modules, the list) out of the garbage collector's sight: they live as long as the app,
    and a full collection that scans them all again stalls the window for tens of
    milliseconds at random moments (while a long history scrolls, say)."""
    await window.list_loaded.wait()
    gc.freeze()


def self_test() -> int:
    """Build the window offscreen (Qt and resources load), then run two sessions."""
    import os
    import tempfile
    import time

    from messenger import selftest

    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    started = time.perf_counter()
    app = _application()
    from messenger.ui.icons import app_icon
    from messenger.ui.theme import apply_theme

    app.setWindowIcon(app_icon())
    apply_theme(app)
    with tempfile.TemporaryDirectory(prefix="messenger-selftest-ui-") as folder:
        window = MainWindow(AppController(Profile.open(folder)))
        window.show()
        if window.grab().isNull():
            print('{"event": "self_test", "ok": false, "error": "window did not render"}')
            return 1
        window.close()
    print(f'{{"event": "window", "shown_s": {time.perf_counter() - started:.3f}}}', flush=True)
    return selftest.main()


def main(argv: list[str] | None = None) -> int:
    argv = argv if argv is not None else sys.argv[1:]
    if "--server-only" in argv:
        from server.__main__ import main as server_main

        return server_main([a for a in argv if a != "--server-only"])
    args = build_parser().parse_args(argv)
    if args.self_test:
        return self_test()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    app = _application()
    app.setApplicationName("Messenger")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("messenger")
    from messenger.ui.icons import app_icon
    from messenger.ui.theme import apply_theme, follow_system_theme

    app.setWindowIcon(app_icon())
    apply_theme(app)
    follow_system_theme(app)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        status: int = loop.run_until_complete(boot(app, args))
        return status


def _application() -> QApplication:
    """The process's QApplication (a test may have made one already)."""
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        return existing
    return QApplication(sys.argv[:1])


def _settle(future: asyncio.Future[int], result: int) -> None:
    if not future.done():
        future.set_result(result)
