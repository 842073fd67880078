"""The desktop app with a long history: 50 contacts with 10,000 messages each (issue 12).

    .venv/bin/python -m tests.bench.app_history [--contacts 50] [--messages 10000] [--dir DIR]

Two profiles are filled straight into their databases (no relay: one transaction per
contact, ``tests.history_seed``): "empty" (the contacts, no messages) and "full". For each,
in the same run:

1. launch to list: ``python -m messenger`` started as a fresh process until the window has
   painted its conversation list (a child script stops the clock, then quits);
2. switching conversations: from selecting a conversation never opened before until its
   latest page is read and painted (median and worst of ten);
3. scrolling back through a whole conversation: the view is scrolled to its top again and
   again, as a person would, until nothing older is left; the figure is the longest time
   the event loop did not run (a 5 ms timer notes its own lateness);
4. 1,000 waiting messages: a second, in-process client (a real contact) posts 1,000
   messages through a real relay process on 127.0.0.1 while the app is offline; then the
   app connects, with that conversation open. Measured: until all are stored and shown,
   and the longest stall meanwhile.

Not a test: it prints a table (and the numbers, as JSON, for docs/performance.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")

ROOT = Path(__file__).resolve().parents[2]
SWITCHES = 10
TIMEOUT = 300.0

#: Starts the app on a profile and prints when its list has been painted.
LAUNCH = textwrap.dedent(
    """
    import sys, time
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication
    app = QApplication(sys.argv[:1])
    from messenger.ui import app as ui_app
    from messenger.ui.main_window import MainWindow

    def check():
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
        if windows and windows[0].list_loaded.is_set():
            windows[0].conversation_list.viewport().repaint()
            print("listed", time.time(), windows[0].conversation_list.count(), flush=True)
            windows[0]._quitting = True
            windows[0].close()
        else:
            QTimer.singleShot(2, check)

    QTimer.singleShot(0, check)
    sys.exit(ui_app.main(["--profile", sys.argv[1]]))
    """
)


class StallMeter:
    """A 5 ms Qt timer that notes how late it fires: the longest gap the loop was busy."""

    def __init__(self, interval_ms: int = 5) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.interval = interval_ms / 1000
        self.worst = 0.0
        self._last = time.perf_counter()
        self._timer = QTimer()
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        self.worst = 0.0
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> float:
        self._timer.stop()
        self._tick()
        return self.worst

    def _tick(self) -> None:
        now = time.perf_counter()
        self.worst = max(self.worst, now - self._last - self.interval)
        self._last = now


# -- filling the profiles ---------------------------------------------------------------------


def fill(folder: Path, contacts: int, messages: int, sender_key: Any) -> dict[str, Any]:
    """A profile with ``contacts`` contacts of ``messages`` messages each, plus the sender
    (a real contact, for step 4, with no history). Returns what the steps need."""
    from messenger.store.profile import Profile
    from tests.history_seed import add_contact, spread

    profile = Profile.open(folder)
    profile.save_settings(name="Bench", server="127.0.0.1:9", host_scope="loopback")
    me = profile.unlock()
    rng = random.Random(11)
    ids = []
    for n in range(contacts):
        history = spread(messages, days=60, rng=rng, end=time.time() - 3600 - n * 60)
        ids.append(add_contact(profile.db, me.fingerprint, f"Person {n:02d}", history).id)
    sender = add_contact(
        profile.db, me.fingerprint, "Sender", contact_id=sender_key.fingerprint
    )
    profile.close()
    return {"me": me, "ids": ids, "sender": sender}


def sender_profile(folder: Path, key: Any, app_identity: Any, seeded: Any) -> None:
    """The second client's profile: the app's user as its contact, the other side of the
    conversation the app's profile was seeded with."""
    from messenger.store.profile import Profile
    from messenger.store.records import ContactRecord, ConversationRecord
    from tests.support import _write_private

    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    _write_private(folder / "identity.pem", key.to_pem())
    profile = Profile.open(folder, keyring=None)
    profile.unlock()
    peer = seeded.peer_side
    now = time.time()
    profile.db.upsert_contact(ContactRecord(id=app_identity.fingerprint, name="Bench",
                                            pinned_at=now, key_der=app_identity.public.der))
    profile.db.save_conversation(ConversationRecord(
        app_identity.fingerprint, peer.snapshot(), peer.send_token, peer.recv_token,
        peer.send_hint, peer.recv_hint, now, now))  # fmt: skip
    profile.close()


# -- step 1: launch ---------------------------------------------------------------------------


def launch(folder: Path) -> float:
    started = time.time()
    done = subprocess.run(
        [sys.executable, "-c", LAUNCH, str(folder)],
        capture_output=True, text=True, timeout=TIMEOUT, cwd=ROOT,
    )  # fmt: skip
    line = next((x for x in done.stdout.splitlines() if x.startswith("listed")), None)
    if line is None:
        raise RuntimeError(f"the app did not list its conversations:\n{done.stderr[-2000:]}")
    return float(line.split()[1]) - started


# -- steps 2 to 4, in process -----------------------------------------------------------------


async def in_process(folder: Path, seeded: dict[str, Any], relay: Any, sender_folder: Path,
                     sender_key: Any) -> dict[str, float]:  # fmt: skip
    from messenger.store.profile import Profile
    from messenger.ui.app import freeze_startup_objects
    from messenger.ui.controller import AppController, ServerChoice
    from messenger.ui.main_window import MainWindow

    results: dict[str, float] = {}
    controller = AppController(Profile.open(folder))
    await controller.load_identity()
    window = MainWindow(controller)
    window.resize(1000, 700)
    window.show()
    await freeze_startup_objects(window)  # as the app's boot does
    stalls = StallMeter()

    # 2. switching
    times = []
    for key in seeded["ids"][:SWITCHES]:
        started = time.perf_counter()
        window.conversation_list.select(key)
        page = window.pages[key]
        await page.loaded.wait()
        page.history.viewport().repaint()
        times.append(time.perf_counter() - started)
    results["switch_median"] = statistics.median(times)
    results["switch_worst"] = max(times)

    # 3. scrolling back through a whole conversation
    key = seeded["ids"][SWITCHES]
    window.conversation_list.select(key)
    page = window.pages[key]
    await page.loaded.wait()
    view = page.history
    stalls.start()
    started = time.perf_counter()
    while view.has_older:
        view.verticalScrollBar().setValue(0)
        while view.loading:
            await asyncio.sleep(0.002)
        await asyncio.sleep(0.002)
    results["scroll_total"] = time.perf_counter() - started
    results["scroll_stall"] = stalls.stop()
    results["scroll_rows"] = len(page.bubbles())

    # 4. 1,000 waiting messages
    sender = seeded["sender"]
    window.conversation_list.select(sender.id)
    page = window.pages[sender.id]
    await page.loaded.wait()
    window.attach(await controller.connect_to(ServerChoice(relay.addr)))  # tokens registered
    await controller._drop_connection()
    await post_waiting(sender_folder, sender_key, relay.addr, seeded["me"].fingerprint, 1000)
    stalls.start()
    started = time.perf_counter()
    window.attach(await controller.connect_to(ServerChoice(relay.addr)))
    while len(page.bubbles()) < 1000:
        await asyncio.sleep(0.005)
    results["arrivals_total"] = time.perf_counter() - started
    results["arrivals_stall"] = stalls.stop()
    stored = await controller.worker.run(lambda db: len(db.history(sender.id, limit=2000)))
    results["arrivals_stored"] = stored
    window._quitting = True
    await controller.shutdown()
    window.close()
    return results


async def post_waiting(folder: Path, key: Any, relay_addr: str, to: str, count: int) -> None:
    """The sender, online while the app is not, posts ``count`` messages and waits until the
    relay has every one."""
    from tests.support import InProcessClient

    client_folder = folder
    async with InProcessClient(client_folder, key, relay_addr) as client:
        await client.connect()
        for n in range(count):
            await client.courier.send_text(to, f"waiting message {n}: {'lorem ipsum ' * 3}")
        while client.courier.pending.get(to):
            client.courier.changed.clear()
            await client.courier.changed.wait()


def run_profile(name: str, folder: Path, contacts: int, messages: int, relay: Any,
                sender_key: Any, work: Path) -> dict[str, float]:  # fmt: skip
    import qasync
    from PySide6.QtWidgets import QApplication

    started = time.perf_counter()
    seeded = fill(folder, contacts, messages, sender_key)
    sender_folder = work / f"sender-{name}"
    sender_profile(sender_folder, sender_key, seeded["me"], seeded["sender"])
    filled = time.perf_counter() - started
    print(f"{name}: filled in {filled:.1f} s", file=sys.stderr, flush=True)
    results = {"fill": filled, "launch": min(launch(folder) for _ in range(3))}
    app = QApplication.instance() or QApplication(sys.argv[:1])
    from messenger.ui.theme import apply_theme

    apply_theme(app)  # type: ignore[arg-type]
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        results.update(loop.run_until_complete(
            in_process(folder, seeded, relay, sender_folder, sender_key)))  # fmt: skip
    return results


def table(empty: dict[str, float], full: dict[str, float], contacts: int, messages: int) -> str:
    def ms(value: float) -> str:
        return f"{value * 1000:.0f} ms"

    rows = [
        ("launch to list shown (fresh process, best of 3)",
         f"{empty['launch']:.2f} s", f"{full['launch']:.2f} s", "< 1.5 s"),
        (f"switching conversations (median of {SWITCHES})",
         ms(empty["switch_median"]), ms(full["switch_median"]), "< 100 ms"),
        (f"switching conversations (worst of {SWITCHES})",
         ms(empty["switch_worst"]), ms(full["switch_worst"]), "< 100 ms"),
        ("scrolling back through a conversation: longest stall",
         ms(empty["scroll_stall"]), ms(full["scroll_stall"]), "< 50 ms"),
        ("scrolling back: rows loaded, time to the first message",
         f"{empty['scroll_rows']:.0f}, {empty['scroll_total']:.1f} s",
         f"{full['scroll_rows']:.0f}, {full['scroll_total']:.1f} s", ""),
        ("1,000 waiting messages: longest stall",
         ms(empty["arrivals_stall"]), ms(full["arrivals_stall"]), "< 50 ms"),
        ("1,000 waiting messages: all stored and shown",
         f"{empty['arrivals_total']:.1f} s", f"{full['arrivals_total']:.1f} s", ""),
    ]  # fmt: skip
    lines = [
        f"| step | empty profile ({contacts} contacts, no messages) | "
        f"{contacts} \u00d7 {messages:,} messages | target |",
        "|---|---|---|---|",
    ]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=50)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--dir", type=Path, default=Path.cwd())
    args = parser.parse_args()
    from tests.support import RelayProcess, make_keys

    keys = make_keys(identities=1)
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench-app-") as tmp:
        work = Path(tmp)
        keys.install_relay_key(work / "relay")
        relay = RelayProcess(work / "relay", log_level="WARNING")
        try:
            empty = run_profile("empty", work / "empty", args.contacts, 0, relay,
                                keys.identity(0), work)  # fmt: skip
            full = run_profile("full", work / "full", args.contacts, args.messages, relay,
                               keys.identity(0), work)  # fmt: skip
        finally:
            relay.kill()
    print(table(empty, full, args.contacts, args.messages))
    print(json.dumps({"empty": empty, "full": full}, indent=1), file=sys.stderr)


if __name__ == "__main__":
    main()
