"""Start-up time of the bundled app beside plain PySide6, measured in the same run.

    .venv/bin/python -m tests.bench.startup [--runs 5] [--warm-only] [--app PATH]

Each subject is launched as a fresh process ``--runs`` times; the clock stops at the line
that says a window is shown (for the app: ``{"event": "window", "shown_s": ...}`` from
``--self-test``, where ``shown_s`` is the app's own count from QApplication to shown) and
the process is then killed: the sessions the self-test runs next are not start-up. "cold"
empties the page cache before every launch (needs root: /proc/sys/vm/drop_caches), so the
files come from disk as after a reboot; "warm" follows one untimed launch. Not a test: it
prints a table and asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_APP = ROOT / "dist" / "Messenger" / "Messenger"
DROP_CACHES = Path("/proc/sys/vm/drop_caches")
TIMEOUT = 60.0

# A minimal Qt Widgets app: the floor any PySide6 window pays.
MINIMAL_WINDOW = """
from PySide6.QtWidgets import QApplication, QWidget
app = QApplication([])
w = QWidget()
w.resize(640, 480)
w.show()
app.processEvents()
print("shown", flush=True)
"""


@dataclass
class Subject:
    name: str
    command: list[str]
    marker: str | None  # stop the clock at the first stdout line containing this; None: exit
    times: dict[str, list[float]] = field(default_factory=dict)
    shown: dict[str, list[float]] = field(default_factory=dict)


def can_drop_caches() -> bool:
    return os.geteuid() == 0 and os.access(DROP_CACHES, os.W_OK)


def drop_caches() -> None:
    os.sync()
    DROP_CACHES.write_text("3\n")


def launch(subject: Subject, env: dict[str, str]) -> tuple[float, float | None]:
    """One fresh process: seconds to the marker line (or to exit), and the app's shown_s."""
    started = time.perf_counter()
    process = subprocess.Popen(
        subject.command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    try:
        if subject.marker is None:
            process.wait(timeout=TIMEOUT)
            return time.perf_counter() - started, None
        assert process.stdout is not None
        for line in process.stdout:
            if subject.marker in line:
                elapsed = time.perf_counter() - started
                shown = json.loads(line).get("shown_s") if line.startswith("{") else None
                return elapsed, shown
        raise RuntimeError(f"{subject.name}: exited {process.wait()} before {subject.marker!r}")
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def measure(subjects: list[Subject], modes: list[str], runs: int, env: dict[str, str]) -> None:
    for mode in modes:
        if mode == "warm":
            for subject in subjects:
                launch(subject, env)  # fill the page cache; not timed
        for _ in range(runs):
            for subject in subjects:  # interleaved, so a slow moment hits every subject
                if mode == "cold":
                    drop_caches()
                elapsed, shown = launch(subject, env)
                subject.times.setdefault(mode, []).append(elapsed)
                if shown is not None:
                    subject.shown.setdefault(mode, []).append(shown)


def report(subjects: list[Subject], modes: list[str], runs: int) -> None:
    width = max(len(s.name) for s in subjects)
    print(f"\nStart-up to window, {runs} launches each (seconds)\n")
    print(f"{'subject':<{width}}  mode   median     min     max   app shown_s (median)")
    print("-" * (width + 56))
    for mode in modes:
        for subject in subjects:
            times = subject.times[mode]
            shown = subject.shown.get(mode)
            shown_text = f"{statistics.median(shown):.3f}" if shown else "-"
            print(
                f"{subject.name:<{width}}  {mode:<5} {statistics.median(times):7.3f} "
                f"{min(times):7.3f} {max(times):7.3f}   {shown_text}"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="launches per subject and mode")
    parser.add_argument("--app", type=Path, default=DEFAULT_APP, help="the bundled executable")
    parser.add_argument("--warm-only", action="store_true", help="skip the cold launches")
    args = parser.parse_args(argv)

    if not args.app.exists():
        print(f"{args.app} is missing: build it with `make bundle`", file=sys.stderr)
        return 2
    subjects = [
        Subject("bundle: Messenger --self-test", [str(args.app), "--self-test"], '"window"'),
        Subject(
            "source: python -m messenger --self-test",
            [sys.executable, "-m", "messenger", "--self-test"],
            '"window"',
        ),
        Subject(
            "baseline: QApplication + QWidget.show()",
            [sys.executable, "-c", MINIMAL_WINDOW],
            "shown",
        ),
        Subject(
            "baseline: import PySide6.QtWidgets",
            [sys.executable, "-c", "import PySide6.QtWidgets"],
            None,
        ),
    ]
    modes = ["warm"]
    if not args.warm_only:
        if can_drop_caches():
            modes.insert(0, "cold")
        else:
            print("not root: cannot empty the page cache, so warm launches only", file=sys.stderr)

    scratch = Path(tempfile.mkdtemp(prefix="messenger-bench-"))
    # offscreen: no display needed; TMPDIR: the killed self-tests leave their folders here
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "TMPDIR": str(scratch)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    size = sum(
        p.stat().st_size for p in args.app.parent.rglob("*") if p.is_file() and not p.is_symlink()
    )
    print(f"{args.app} ({size / 2**20:.0f} MB), {os.cpu_count()} CPUs, modes: {', '.join(modes)}")
    try:
        measure(subjects, modes, args.runs, env)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    report(subjects, modes, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
