"""File-transfer throughput through the relay, beside a no-crypto ceiling measured in the same run.

    .venv/bin/python -m tests.bench.transfer [--size-mib 1024] [--runs 1] [--block-kib 1024]

(a) baseline: a plain asyncio TCP relay process, a sender process and a receiver process move
the file's bytes (sender -> relay -> receiver, file to file, no crypto), timed from the
sender's first write to the receiver's last byte. (b) messenger: a real messenger-server and
two messenger-cli processes (create with --accept-files, join, ready), then ``/send-file``,
timed from the sender's ``file_accepted`` to the receiver's ``file_done``; the sender's
hash+offer time is reported apart, and the received file's SHA-256 is checked. (c) the cost
of one pass: AES-256-GCM seal and open of 1 MiB buffers (messenger.crypto.aead) and SHA-256,
in this process. Not a test: it prints a table and asserts nothing about speed.

Why the ratio is what it is (issue 6 item 10 asks messenger/baseline >= 0.5):

- Crypto. Per MiB of file the messenger path makes six AES-256-GCM passes, each over
  ~1.06 MiB (a 1 MiB chunk plus its header is padded to the next 64 KiB bucket, 1088 KiB):
  sender E2E seal + transport seal, relay transport open + transport seal, receiver
  transport open + E2E open; the receiver also runs SHA-256 over every byte. At the
  pycryptodome speeds the (c) rows measure (~1.1 GB/s per GCM pass at 1 MiB, a new cipher
  object per chunk included), that alone is ~6.5 ms of CPU per MiB, against ~3 ms per MiB
  for the whole baseline, which only copies between sockets and a file.
- Everything else. The "CPU during the timed part" rows show ~22 ms per MiB over the three
  messenger processes (receiver ~10.5, relay ~6.5, sender ~5): about two thirds of it is
  not crypto but copies (msgpack pack/unpack of the 1 MiB bin, framing, padding, slicing),
  socket writes, the receiver's file write, and per-chunk cipher setup (``AES.new`` for GCM
  showed as ~8 % of the sender's and relay's samples under py-spy).
- Cores. Three processes share two cores (and other jobs: see the load average), so the
  rate is at best cores / (CPU seconds per MiB summed over the processes): ~90 MiB/s on two
  idle cores at ~22 ms/MiB, ~45 MiB/s when another job holds one core (the "cores busy"
  row near 1.0). The "model" rows give the crypto-only bounds from (c); even with zero
  overhead the six GCM passes cap the path near 0.3 of a ~0.9 GB/s ceiling.
- Not the window: chunks go 8 at a time with a cumulative ack, and one probe run with the
  window raised to 32 was not faster. Not memory: see tests.bench.memory.
- Stalls. The receiver writes chunks and rewrites its small resume-state JSON (every 8
  chunks) on its event-loop thread, so a disk stall stops the whole pipeline; on this
  machine (ext4 mounted with ``discard``) the receiver was seen in D state for up to 2.4 s
  while writeback was busy, and one kernel stack caught in such a wait was openat(O_TRUNC)
  -> ext4_truncate -> blkdev_issue_discard (the JSON rewrite). The "longest gap" line
  (between the receiver's file_progress events, normally ~0.25 s) shows such a stall.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import json
import os
import queue
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from messenger.crypto.aead import counter_nonce, open_sealed, random_bytes, seal

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
MIB = 1024 * 1024
TARGET_RATIO = 0.5
#: Setting up (RSA key generation for the relay and two profiles) can take a while.
SETUP_TIMEOUT = 120.0
SERVER = [sys.executable, "-m", "server"]
_LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+)")

# The baseline's three roles, run as ``python -c BASELINE ROLE BLOCK [PORT PATH]``. Each
# client says who it is in one byte and waits for the relay's one-byte answer, so the
# receiver is known to the relay before the sender starts.
BASELINE = r"""
import asyncio, json, sys, time

role, block = sys.argv[1], int(sys.argv[2])


def say(**fields):
    print(json.dumps(fields), flush=True)


async def relay():
    receiver = asyncio.get_running_loop().create_future()
    finished = asyncio.Event()

    async def accept(reader, writer):
        kind = await reader.readexactly(1)
        writer.write(b"k")
        await writer.drain()
        if kind == b"R":
            receiver.set_result(writer)
            await finished.wait()
            return
        out = await receiver
        cpu = time.process_time()
        while data := await reader.read(block):
            out.write(data)
            await out.drain()
        out.close()
        await out.wait_closed()
        writer.close()
        say(cpu=time.process_time() - cpu)
        finished.set()

    server = await asyncio.start_server(accept, "127.0.0.1", 0, limit=block)
    say(port=server.sockets[0].getsockname()[1])
    await asyncio.Event().wait()


async def connect(kind):
    port = int(sys.argv[3])
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=block)
    writer.write(kind)
    await writer.drain()
    await reader.readexactly(1)
    return reader, writer


async def receive():
    reader, writer = await connect(b"R")
    say(ready=True)
    first = last = cpu = None
    count = 0
    with open(sys.argv[4], "wb") as out:
        while data := await reader.read(block):
            last = time.monotonic()
            if first is None:
                first, cpu = last, time.process_time()
            out.write(data)
            count += len(data)
    writer.close()
    say(first=first, last=last, bytes=count, cpu=time.process_time() - cpu)


async def send():
    reader, writer = await connect(b"S")
    start, cpu = time.monotonic(), time.process_time()
    with open(sys.argv[4], "rb", buffering=0) as source:
        while data := source.read(block):
            writer.write(data)
            await writer.drain()
    writer.close()
    await writer.wait_closed()
    say(start=start, cpu=time.process_time() - cpu)


asyncio.run({"relay": relay, "receiver": receive, "sender": send}[role]())
"""


def child_env() -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


class Child:
    """A child process; a thread reads its stdout lines, each stamped with time.monotonic()."""

    def __init__(self, name: str, command: list[str], scratch: Path, stdin: bool = False) -> None:
        self.name = name
        self.log = scratch / f"{name}.stderr"
        #: Every stdout line consumed so far, with the time it was read.
        self.seen: list[tuple[float, str]] = []
        self._lines: queue.Queue[tuple[float, str | None]] = queue.Queue()
        with self.log.open("wb") as stderr:
            self.popen = subprocess.Popen(
                command,
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                cwd=ROOT,
                env=child_env(),
            )
        threading.Thread(target=self._read, name=f"{name}-stdout", daemon=True).start()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self._lines.put((time.monotonic(), line.rstrip("\n")))
        self._lines.put((time.monotonic(), None))

    def expect(
        self, matches: Callable[[str], bool], timeout: float, what: str
    ) -> tuple[float, str]:
        """The first line (from now on) that ``matches``, with the time it was read."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                stamp, line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise self._failure(f"no {what} within {timeout:.0f} s") from None
            if line is None:
                raise self._failure(f"exited ({self.popen.wait()}) before {what}")
            self.seen.append((stamp, line))
            if matches(line):
                return stamp, line

    def expect_event(self, name: str, timeout: float, **fields: Any) -> tuple[float, dict]:
        """The first JSON event called ``name`` with these field values."""

        def matches(line: str) -> bool:
            if not line.startswith("{"):
                return False
            event = json.loads(line)
            if event.get("event") in {"error", "file_error", "file_cancelled"}:
                raise self._failure(f"got {line}")
            return event.get("event") == name and all(event.get(k) == v for k, v in fields.items())

        stamp, line = self.expect(matches, timeout, f"{name} event")
        return stamp, json.loads(line)

    def send_line(self, text: str) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.write(text + "\n")
        self.popen.stdin.flush()

    def _failure(self, message: str) -> RuntimeError:
        tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
        return RuntimeError(
            f"{self.name}: {message}\nstdout: {[line for _, line in self.seen[-10:]]}\n"
            f"stderr tail:\n{tail}"
        )

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM, then SIGKILL if it lingers. Only ever touches this one process id."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    self.popen.kill()
                self.popen.wait(5)
        for stream in (self.popen.stdin, self.popen.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


@contextlib.contextmanager
def children() -> Iterator[list[Child]]:
    """Every Child appended to the list is stopped on the way out, whatever happened."""
    started: list[Child] = []
    try:
        yield started
    finally:
        for child in reversed(started):
            child.stop()


def make_random_file(path: Path, size: int) -> str:
    """Write ``size`` random bytes; return their SHA-256 (hex). The file is flushed to disk
    (it stays in the page cache) so that writing it back does not compete with the runs."""
    digest = hashlib.sha256()
    with path.open("wb") as out:
        left = size
        while left:
            block = os.urandom(min(MIB, left))
            digest.update(block)
            out.write(block)
            left -= len(block)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb", buffering=0) as handle:
        while block := handle.read(4 * MIB):
            digest.update(block)
    return digest.hexdigest()


def transfer_timeout(size: int) -> float:
    """Generous: 20 MB/s would be a disaster, not a slow run."""
    return 60.0 + size / 20e6


# -- (a) baseline -------------------------------------------------------------------------------

#: The three processes of either path, in the order the tables list them.
ROLES = ("relay", "sender", "receiver")


@dataclass(frozen=True)
class Timed:
    """One timed transfer: wall seconds and each process's CPU seconds during it."""

    seconds: float
    cpu: dict[str, float]


def run_baseline(source: Path, digest: str, size: int, block: int, scratch: Path) -> Timed:
    """From the sender's first write to the receiver's last byte."""
    target = scratch / "baseline.received"

    def role(name: str, *args: object) -> list[str]:
        return [sys.executable, "-c", BASELINE, name, str(block), *map(str, args)]

    try:
        with children() as started:
            relay = Child("baseline-relay", role("relay"), scratch)
            started.append(relay)
            _, line = relay.expect(lambda s: s.startswith("{"), SETUP_TIMEOUT, "port")
            port = json.loads(line)["port"]
            receiver = Child("baseline-receiver", role("receiver", port, target), scratch)
            started.append(receiver)
            receiver.expect(lambda s: "ready" in s, SETUP_TIMEOUT, "ready")
            sender = Child("baseline-sender", role("sender", port, source), scratch)
            started.append(sender)
            timeout = transfer_timeout(size)
            lines = {
                "sender": sender.expect(lambda s: "start" in s, timeout, "start")[1],
                "receiver": receiver.expect(lambda s: "last" in s, timeout, "last byte")[1],
                "relay": relay.expect(lambda s: "cpu" in s, timeout, "relay done")[1],
            }
        reports = {name: json.loads(line) for name, line in lines.items()}
        received = reports["receiver"]["bytes"]
        if received != size or file_sha256(target) != digest:
            raise RuntimeError(f"baseline: received {received} of {size} bytes or wrong SHA-256")
        seconds = reports["receiver"]["last"] - reports["sender"]["start"]
        return Timed(seconds, {name: reports[name]["cpu"] for name in ROLES})
    finally:
        target.unlink(missing_ok=True)


# -- (b) messenger ------------------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process (from /proc, in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass(frozen=True)
class SendResult:
    command_at: float  # /send-file written to the sender's stdin
    accepted_at: float  # the sender's file_accepted
    done_at: float  # the receiver's file_done
    hash_cpu: float  # the sender's CPU seconds from /send-file to file_accepted
    cpu: dict[str, float]  # each process's CPU seconds from file_accepted to file_done
    #: The longest time between two of the receiver's file_progress events (a stall shows).
    longest_gap: float

    @property
    def hash_offer_s(self) -> float:
        return self.accepted_at - self.command_at

    @property
    def transfer_s(self) -> float:
        return self.done_at - self.accepted_at

    @property
    def timed(self) -> Timed:
        return Timed(self.transfer_s, self.cpu)


class MessengerRig:
    """A messenger-server and two messenger-cli processes in one ready session."""

    def __init__(self, scratch: Path, started: list[Child]) -> None:
        self.scratch = scratch
        self.inbox = scratch / "inbox"
        self.inbox.mkdir()
        cli = [sys.executable, "-m", "messenger.cli"]
        accept = ["--accept-files", str(self.inbox)]
        self.relay = Child(
            "messenger-server",
            [*SERVER, "--host", HOST, "--port", "0", "--data-dir", str(scratch / "server")],
            scratch,
        )
        started.append(self.relay)
        _, line = self.relay.expect(_LISTENING.search, SETUP_TIMEOUT, "listening line")
        match = _LISTENING.search(line)
        assert match is not None
        server = ["--server", f"{HOST}:{match.group(1)}"]
        self.receiver = Child(
            "receiver-cli",
            [*cli, *server, "--profile", str(scratch / "receiver"), *accept, "create"],
            scratch,
            stdin=True,
        )
        started.append(self.receiver)
        _, code = self.receiver.expect_event("code", SETUP_TIMEOUT)
        self.sender = Child(
            "sender-cli",
            [*cli, *server, "--profile", str(scratch / "sender"), "join", code["code"]],
            scratch,
            stdin=True,
        )
        started.append(self.sender)
        self.sender.expect_event("ready", SETUP_TIMEOUT)
        self.receiver.expect_event("ready", SETUP_TIMEOUT)

    @property
    def pids(self) -> dict[str, int]:
        """Process ids by role: relay, sender, receiver."""
        return dict(zip(ROLES, (self.relay.pid, self.sender.pid, self.receiver.pid), strict=True))

    def send(self, source: Path, digest: str, size: int) -> SendResult:
        """Send one file; check the receiver's SHA-256 and the bytes on disk, then delete them."""
        timeout = transfer_timeout(size)
        hash_cpu = cpu_seconds(self.sender.pid)
        command_at = time.monotonic()
        self.sender.send_line(f"/send-file {source}")
        accepted_at, _ = self.sender.expect_event("file_accepted", timeout)
        cpu = {role: cpu_seconds(pid) for role, pid in self.pids.items()}
        hash_cpu = cpu["sender"] - hash_cpu
        seen_before = len(self.receiver.seen)
        done_at, done = self.receiver.expect_event("file_done", timeout, direction="in")
        cpu = {role: cpu_seconds(pid) - cpu[role] for role, pid in self.pids.items()}
        self.sender.expect_event("file_done", SETUP_TIMEOUT, direction="out")
        progress = [accepted_at]
        progress += [t for t, line in self.receiver.seen[seen_before:] if "file_progress" in line]
        gap = max(b - a for a, b in itertools.pairwise([*progress, done_at]))
        received = Path(done["path"])
        try:
            if done["sha256"] != digest or file_sha256(received) != digest:
                raise RuntimeError(f"messenger: {received} does not have the SHA-256 sent")
        finally:
            received.unlink(missing_ok=True)
        return SendResult(command_at, accepted_at, done_at, hash_cpu, cpu, gap)


def run_messenger(source: Path, digest: str, size: int, scratch: Path) -> SendResult:
    rig_dir = Path(tempfile.mkdtemp(prefix="rig-", dir=scratch))
    try:
        with children() as started:
            return MessengerRig(rig_dir, started).send(source, digest, size)
    finally:
        shutil.rmtree(rig_dir, ignore_errors=True)


# -- (c) the cost of one pass -------------------------------------------------------------------


def pass_speeds(budget: float = 1.0) -> dict[str, float]:
    """MiB/s of AES-256-GCM seal and open (1 MiB, as messenger.crypto.aead does them) and
    SHA-256, each run for about ``budget`` seconds in this one process."""
    key, data = random_bytes(32), os.urandom(MIB)
    sealed = seal(key, counter_nonce(1, 0), data)

    def rate(step: Callable[[int], object]) -> float:
        step(0)  # warm up
        count, started = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - started) < budget:
            step(count)
            count += 1
        return count / elapsed

    return {
        "AES-256-GCM seal": rate(lambda i: seal(key, counter_nonce(1, i), data)),
        "AES-256-GCM open": rate(lambda _: open_sealed(key, counter_nonce(1, 0), sealed)),
        "SHA-256": rate(lambda _: hashlib.sha256(data).digest()),
    }


def model_bounds(speeds: dict[str, float]) -> dict[str, float]:
    """MiB/s the crypto alone allows: all passes spread over the cores, and the receiver alone."""
    padded = 1088 / 1024  # a 1 MiB chunk in its 64 KiB padding bucket
    seal_s = padded / speeds["AES-256-GCM seal"]
    open_s = padded / speeds["AES-256-GCM open"]
    sha_s = 1 / speeds["SHA-256"]
    cores = min(os.cpu_count() or 1, len(ROLES))
    return {
        f"model: 3 seal + 3 open + SHA-256 on {cores} cores": cores
        / (3 * seal_s + 3 * open_s + sha_s),
        "model: receiver alone (2 open + SHA-256)": 1 / (2 * open_s + sha_s),
    }


# -- report -------------------------------------------------------------------------------------


def load_text() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def rate_columns(size: int, seconds: float) -> str:
    return f"{size / seconds / 1e6:9.1f} {size / seconds / MIB:9.1f} {seconds:9.2f}"


def median_timed(runs: list[Timed]) -> Timed:
    return Timed(
        statistics.median(r.seconds for r in runs),
        {role: statistics.median(r.cpu[role] for r in runs) for role in ROLES},
    )


def cpu_table(size: int, columns: dict[str, Timed]) -> None:
    """CPU seconds per process during the timed part: who works, and how idle the cores are."""
    mib = size / MIB
    print("\n" + f"{'CPU during the timed part':<28}", end="")
    print("".join(f" {name + ': s':>14} {'ms/MiB':>8}" for name in columns))
    for role in ROLES:
        cells = (f" {t.cpu[role]:14.2f} {t.cpu[role] / mib * 1000:8.2f}" for t in columns.values())
        print(f"    {role:<24}" + "".join(cells))
    busy = (f" {sum(t.cpu.values()) / t.seconds:14.2f} {'':8}" for t in columns.values())
    print((f"    {'cores busy (CPU s / wall s)':<24}" + "".join(busy)).rstrip())


def report(
    size: int,
    baseline: list[Timed],
    messenger: list[SendResult],
    speeds: dict[str, float],
    loads: tuple[str, str],
    block: int,
) -> None:
    base = median_timed(baseline)
    mess = median_timed([r.timed for r in messenger])
    hash_s = statistics.median(r.hash_offer_s for r in messenger)
    runs = len(baseline)
    print(
        f"\nFile transfer, {size / MIB:.0f} MiB, {runs} run(s) (median), {os.cpu_count()} CPUs, "
        f"load average 1/5/15 min: before {loads[0]}, after {loads[1]}\n"
    )
    header = f"{'path':<52} {'MB/s':>9} {'MiB/s':>9} {'seconds':>9}  ratio"
    print(header)
    print("-" * len(header))
    name = f"(a) baseline: asyncio relay, no crypto, {block // 1024} KiB"
    print(f"{name:<52} {rate_columns(size, base.seconds)}  1.00")
    print(
        f"{'(b) messenger: file_accepted -> file_done':<52} {rate_columns(size, mess.seconds)}"
        f"  {base.seconds / mess.seconds:.2f}  (target >= {TARGET_RATIO})"
    )
    print(f"{'    sender hash + offer (until file_accepted)':<52} {rate_columns(size, hash_s)}")
    if runs > 1:
        print(f"\n    baseline runs (s): {', '.join(f'{r.seconds:.2f}' for r in baseline)}")
        print(f"    messenger runs (s): {', '.join(f'{r.transfer_s:.2f}' for r in messenger)}")
    gap = max(r.longest_gap for r in messenger)
    print(f"    longest gap between the receiver's file_progress events: {gap:.2f} s")
    cpu_table(size, {"baseline": base, "messenger": mess})
    print(f"\n{'(c) one pass over 1 MiB buffers, one process':<52} {'MB/s':>9} {'MiB/s':>9}")
    for name, mib_s in {**speeds, **model_bounds(speeds)}.items():
        print(f"    {name:<48} {mib_s * MIB / 1e6:9.1f} {mib_s:9.1f}")
    print("\nreceived SHA-256 matched the source in every run")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="file size (MiB)")
    parser.add_argument("--runs", type=int, default=1, help="runs of each path, interleaved")
    parser.add_argument("--block-kib", type=int, default=1024, help="baseline read/write size")
    args = parser.parse_args(argv)
    size, block = args.size_mib * MIB, args.block_kib * 1024

    scratch = Path(tempfile.mkdtemp(prefix="messenger-bench-transfer-"))
    try:
        print(f"writing {args.size_mib} MiB of random bytes in {scratch}", file=sys.stderr)
        source = scratch / "random.bin"
        digest = make_random_file(source, size)
        load_before = load_text()
        baseline: list[Timed] = []
        messenger: list[SendResult] = []
        for run in range(args.runs):  # interleaved, so a busy moment hits both paths
            print(f"run {run + 1}: baseline", file=sys.stderr)
            baseline.append(run_baseline(source, digest, size, block, scratch))
            print(f"run {run + 1}: messenger", file=sys.stderr)
            messenger.append(run_messenger(source, digest, size, scratch))
        load_after = load_text()
        speeds = pass_speeds()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    report(size, baseline, messenger, speeds, (load_before, load_after), block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
