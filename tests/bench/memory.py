"""Resident memory of the relay and both CLIs while a large file moves (issue 6 item 2).

    .venv/bin/python -m tests.bench.memory [--size-mib 2048] [--interval 0.1]

The same setup as ``tests.bench.transfer`` (b): a real messenger-server and two
messenger-cli processes in one session, then ``/send-file``. A thread reads VmRSS from
/proc/PID/status for all three every ``--interval`` seconds, from one second before the
offer until the transfer is checked. The idle column (session ready, nothing sent yet) is the
baseline of the same processes in the same run; the issue wants every process under 150 MiB
while a 2 GiB file moves. RSS at 10/50/90 % of the transfer shows growth: a window of 8 chunks
should keep it flat, so a rising row means something buffers without bound. Not a test: it
prints a table and asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.bench.transfer import (
    MIB,
    ROLES,
    MessengerRig,
    SendResult,
    children,
    load_text,
    make_random_file,
)

TARGET_MIB = 150
#: Idle samples taken before the offer, and the pause after the transfer before "final".
IDLE_SECONDS = 1.0


def status_kib(pid: int, key: str) -> int | None:
    """A ``kB`` field of /proc/PID/status (VmRSS, VmHWM); None once the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


@dataclass
class Sampler:
    """Samples VmRSS of each process every ``interval`` seconds in a daemon thread."""

    pids: dict[str, int]
    interval: float
    #: role -> [(time.monotonic(), RSS in KiB)]
    samples: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Sampler:
        self.samples = {role: [] for role in self.pids}
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            for role, pid in self.pids.items():
                kib = status_kib(pid, "VmRSS")
                if kib is not None:
                    self.samples[role].append((time.monotonic(), kib))
            next_at += self.interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def between(self, role: str, start: float, end: float) -> list[int]:
        return [kib for t, kib in self.samples[role] if start <= t <= end]

    def at(self, role: str, moment: float) -> int:
        """The sample closest to ``moment``."""
        return min(self.samples[role], key=lambda s: abs(s[0] - moment))[1]


def mib(kib: float) -> str:
    return f"{kib / 1024:7.1f}"


def report(
    size: int,
    result: SendResult,
    sampler: Sampler,
    idle_from: float,
    hwm: dict[str, int | None],
    loads: tuple[str, str],
) -> None:
    rate = size / result.transfer_s / MIB
    print(
        f"\nResident memory (MiB), {size / MIB:.0f} MiB file at {rate:.1f} MiB/s "
        f"({result.transfer_s:.1f} s; hash + offer {result.hash_offer_s:.1f} s), "
        f"one sample every {sampler.interval:g} s, {os.cpu_count()} CPUs, "
        f"load average 1/5/15 min: before {loads[0]}, after {loads[1]}\n"
    )
    header = (
        f"{'process':<10} {'idle':>7} {'hash':>7} {'peak':>7} {'@10%':>7} {'@50%':>7} "
        f"{'@90%':>7} {'final':>7} {'VmHWM':>7} {'+peak':>7}  under {TARGET_MIB} MiB"
    )
    print(header)
    print("-" * len(header))
    span = result.done_at - result.accepted_at
    for role in ROLES:
        idle = max(sampler.between(role, idle_from, result.command_at))
        hashing = max(sampler.between(role, result.command_at, result.accepted_at), default=idle)
        moving = sampler.between(role, result.accepted_at, result.done_at)
        peak = max([hashing, *moving])
        marks = [sampler.at(role, result.accepted_at + span * f) for f in (0.1, 0.5, 0.9)]
        final = sampler.samples[role][-1][1]
        high = hwm[role]
        print(
            f"{role:<10} {mib(idle)} {mib(hashing)} {mib(peak)} {' '.join(map(mib, marks))} "
            f"{mib(final)} {mib(high) if high else '      -'} {mib(peak - idle)}  "
            f"{'yes' if peak < TARGET_MIB * 1024 else 'NO'}"
        )
    print(
        "\nidle: session ready, nothing sent (the baseline); hash: the sender hashing before "
        "the offer;\npeak: the highest sample from /send-file to file_done; @N%: at N % of "
        "the transfer;\nfinal: after the file was checked; VmHWM: the kernel's peak over the "
        "process's life;\n+peak: peak - idle. Longest gap between the receiver's "
        f"file_progress events: {result.longest_gap:.2f} s."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=2048, help="file size (MiB)")
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between samples")
    args = parser.parse_args(argv)
    size = args.size_mib * MIB

    free = shutil.disk_usage(tempfile.gettempdir()).free
    if free < 2 * size + 512 * MIB:  # the file, the received copy, and room to spare
        print(
            f"only {free / MIB:.0f} MiB free in {tempfile.gettempdir()}: use a smaller --size-mib",
            file=sys.stderr,
        )
        return 2
    scratch = Path(tempfile.mkdtemp(prefix="messenger-bench-memory-"))
    try:
        print(f"writing {args.size_mib} MiB of random bytes in {scratch}", file=sys.stderr)
        source = scratch / "random.bin"
        digest = make_random_file(source, size)
        with children() as started:
            print("starting the relay and two CLIs", file=sys.stderr)
            rig = MessengerRig(scratch, started)
            load_before = load_text()
            with Sampler(rig.pids, args.interval) as sampler:
                idle_from = time.monotonic()
                time.sleep(IDLE_SECONDS)
                print("sending", file=sys.stderr)
                result = rig.send(source, digest, size)
                time.sleep(IDLE_SECONDS)
            hwm = {role: status_kib(pid, "VmHWM") for role, pid in rig.pids.items()}
            load_after = load_text()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    report(size, result, sampler, idle_from, hwm, (load_before, load_after))
    return 0


if __name__ == "__main__":
    sys.exit(main())
