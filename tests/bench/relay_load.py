"""The relay under load, beside a plain asyncio relay measured in the same run.

    .venv/bin/python -m tests.bench.relay_load [--quick] [--parts a,b,...] [--loops asyncio,uvloop]

Parts (each runs against the plain relay, ``tests.bench.plain_relay``, then against
``messenger-server`` on each event loop in ``--loops``; a fresh relay process for each):

- ``handshakes``: full handshakes as fast as the relay takes them; rate, relay CPU each.
- ``storm``: an honest client's ping round trips idle and during a storm of 150 new
  handshakes a second (the pinger is its own process).
- ``idle``: 1k, 5k and 10k idle connections (from many 127.x.y.z addresses); relay RSS per
  connection, and relay CPU per keepalive ping at one ping per connection every 5 s.
- ``messages``: 100 pairs in sessions, a message (200 bytes) one way and a receipt (64 bytes)
  back; latency p50/p99 at 200, 1,000 and 3,000 messages a second, relay CPU per message
  and receipt, and the highest rate sustained (8 messages in flight per pair).
- ``presence``: 250, 500 and 1,000 watchers of the list of people; the time and relay CPU for
  one arrival to reach them all; a burst of 50 arrivals with 1,000 watchers (an honest
  client's longest ping shows the longest stall); 1,000 listed watchers leaving at once.
- ``reconnect``: 2,000 clients; the relay restarts (SIGTERM, same data folder and port) and
  all reconnect at once, with the tickets of their last connection and without.

The load side is ``tests.bench.relay_scenarios`` (its own process; identities from a pool
made once in /tmp, their client-side crypto by OpenSSL): its CPU is not the relay's, and
the relay's CPU is read from /proc. The relay runs with its default limits except those a
load from one machine trips (handshake rate and connections per address: raised).
Not a test: it prints tables with ratios and asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.bench.bench_clients import POOL_DIR, identity_pool

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
_LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+)")
#: Limits a load from one machine would trip (they are per address).
OPEN_LIMITS = [
    "--handshakes-per-second", "1000000", "--handshake-burst", "1000000",
    "--max-connections-per-address", "100000",
]  # fmt: skip


def env() -> dict[str, str]:
    out = {**os.environ, "PYTHONUNBUFFERED": "1"}
    out["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), out.get("PYTHONPATH")]))
    return out


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Relay:
    """One relay process: ``plain``, or ``messenger`` on ``loop``."""

    kind: str
    loop: str
    scratch: Path
    port: int = 0
    proc: subprocess.Popen[str] | None = None

    @property
    def label(self) -> str:
        return "plain asyncio relay" if self.kind == "plain" else f"messenger relay ({self.loop})"

    def start(self, extra: list[str] | None = None) -> Relay:
        port = str(self.port or 0)
        if self.kind == "plain":
            command = [PY, "-m", "tests.bench.plain_relay", "--port", port]
            command += ["--uvloop"] if self.loop == "uvloop" else []
        else:
            data = self.scratch / "relay-data"
            if not (data / "server_key.pem").exists():
                data.mkdir(mode=0o700, exist_ok=True)
                shutil.copy(sorted(POOL_DIR.glob("*.pem"))[0], data / "server_key.pem")
                os.chmod(data / "server_key.pem", 0o600)
            command = [PY, "-m", "server", "--host", "127.0.0.1", "--port", port,
                       "--data-dir", str(data), "--loop", self.loop, *OPEN_LIMITS,
                       *(extra or [])]  # fmt: skip
        log = (self.scratch / f"{self.kind}-{self.loop}.log").open("a")
        self.proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=log, text=True, cwd=ROOT, env=env()
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 60
        for line in self.proc.stdout:
            if match := _LISTENING.search(line):
                self.port = int(match.group(1))
                break
            if time.monotonic() > deadline:
                break
        if not self.port:
            raise RuntimeError(f"{self.label} did not start; see {log.name}")
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None


def scenario(relay: Relay, name: str, *args: str, stdin: bool = False) -> subprocess.Popen[str]:
    command = [PY, "-m", "tests.bench.relay_scenarios", name, "--kind", relay.kind,
               "--port", str(relay.port), "--pid", str(relay.pid), *args]  # fmt: skip
    if _has_uvloop():
        command.append("--uvloop")
    return subprocess.Popen(
        command,
        stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env(),
    )


def result_of(proc: subprocess.Popen[str], timeout: float = 900) -> dict[str, Any]:
    out, _ = proc.communicate(timeout=timeout)
    for line in reversed(out.splitlines()):
        if line.startswith('{"result"'):
            result: dict[str, Any] = json.loads(line)["result"]
            return result
    raise RuntimeError(f"the scenario printed no result (exit {proc.returncode}): {out[-500:]}")


def run(relay: Relay, name: str, *args: str, extra: list[str] | None = None) -> dict[str, Any]:
    relay.start(extra)
    try:
        return result_of(scenario(relay, name, *args))
    finally:
        relay.stop()


def _has_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


# -- parts -------------------------------------------------------------------------------------


def part_handshakes(relays: list[Relay], quick: bool) -> dict[str, Any]:
    seconds = "4" if quick else "8"
    return {r.label: run(r, "handshakes", "--seconds", seconds, "--concurrency", "24")
            for r in relays}  # fmt: skip


def part_storm(relays: list[Relay], quick: bool) -> dict[str, Any]:
    seconds = "4" if quick else "8"
    out = {}
    for relay in relays:
        relay.start()
        try:
            idle = result_of(scenario(relay, "pinger", "--seconds", "2", "--gap", "0.01"))
            pinger = scenario(relay, "pinger", "--seconds", seconds, "--gap", "0.01")
            stormer = scenario(relay, "storm", "--rate", "150", "--seconds", seconds)
            out[relay.label] = {"idle": idle, "during": result_of(pinger),
                                "storm": result_of(stormer)}  # fmt: skip
        finally:
            relay.stop()
    return out


def part_idle(relays: list[Relay], quick: bool) -> dict[str, Any]:
    steps = "1000,2000" if quick else "1000,5000,10000"
    return {r.label: run(r, "idle", "--steps", steps, "--seconds", "4", "--ping-every", "5",
                         "--sources", "250") for r in relays}  # fmt: skip


def part_messages(relays: list[Relay], quick: bool) -> dict[str, Any]:
    seconds = "3" if quick else "6"
    rates = "200,1000,3000,8000"
    return {r.label: run(r, "messages", "--pairs", "100", "--seconds", seconds,
                         "--rates", rates, "--window", "8") for r in relays}  # fmt: skip


def part_presence(relays: list[Relay], quick: bool) -> dict[str, Any]:
    sizes = [250, 1000] if quick else [250, 500, 1000]
    out: dict[str, Any] = {}
    for relay in relays:
        rows = []
        for watchers in sizes:
            last = watchers == sizes[-1]
            args = ["--watchers", str(watchers), "--identities", "512", "--sources", "100"]
            if last:
                args += ["--burst", "50"]
            rows.append(run(relay, "presence", *args))
            if last:
                rows.append(run(relay, "presence", "--watchers", str(watchers), "--departure",
                                "--identities", "512", "--sources", "100"))  # fmt: skip
        out[relay.label] = rows
    return out


def part_reconnect(relays: list[Relay], quick: bool) -> dict[str, Any]:
    clients = "500" if quick else "2000"
    out: dict[str, Any] = {}
    for relay in relays:
        modes = [False] if relay.kind == "plain" else [False, True]
        for tickets in modes:
            relay.port = free_port()
            relay.start()
            try:
                args = ["--clients", clients, "--sources", "100", "--identities", "512"]
                proc = scenario(relay, "reconnect", *args, *(["--tickets"] if tickets else []),
                                stdin=True)  # fmt: skip
                assert proc.stdout is not None and proc.stdin is not None
                ready = json.loads(proc.stdout.readline())
                relay.stop()
                relay.start()
                proc.stdin.write(f"{relay.pid}\n")
                proc.stdin.flush()
                result = result_of(proc)
                result["tickets_held"] = ready.get("tickets", 0)
                label = relay.label + (" with tickets" if tickets else "")
                out[label] = result
            finally:
                relay.stop()
                relay.port = 0
    return out


PARTS = {
    "handshakes": part_handshakes,
    "storm": part_storm,
    "idle": part_idle,
    "messages": part_messages,
    "presence": part_presence,
    "reconnect": part_reconnect,
}


# -- report ------------------------------------------------------------------------------------


def ratio(ours: float, plain: float) -> str:
    return f"{ours / plain:.2f}x" if plain else "-"


def report(results: dict[str, Any], header: dict[str, str]) -> None:
    print(f"\nRelay under load, {header['date']}, {header['machine']}")
    print(f"load average 1/5/15 min: before {header['load_before']}, after {header['load_after']}")
    plain = "plain asyncio relay"
    if "handshakes" in results:
        print("\n## Handshakes (full, as fast as the relay takes them; 24 at a time)")
        print(f"{'relay':<34}{'per s':>9}{'CPU/handshake':>15}{'relay cores':>13}")
        for label, r in results["handshakes"].items():
            print(f"{label:<34}{r['rate']:9.0f}{r['cpu_ms_each']:13.2f}ms{r['relay_cores']:13.2f}")
    if "storm" in results:
        print("\n## Ping round trip, idle and during a storm of 150 handshakes/s")
        print(f"{'relay':<34}{'idle p50/p99':>16}{'storm p50/p99/max':>24}{'storm rate':>12}")
        for label, r in results["storm"].items():
            i, d = r["idle"], r["during"]
            print(f"{label:<34}{i['p50']:7.2f}/{i['p99']:6.2f}ms"
                  f"{d['p50']:9.2f}/{d['p99']:6.2f}/{d['max']:6.1f}ms"
                  f"{r['storm']['rate']:10.0f}/s")  # fmt: skip
    if "idle" in results:
        print("\n## Idle connections: RSS each, keepalive CPU per ping (one ping per conn per 5 s)")
        base = {s["connections"]: s for s in results["idle"].get(plain, {}).get("steps", [])}
        print(f"{'relay':<34}{'conns':>7}{'RSS each':>11}{'ratio':>8}{'CPU/ping':>11}{'ratio':>8}")
        for label, r in results["idle"].items():
            for s in r["steps"]:
                b = base.get(s["connections"], {})
                print(f"{label:<34}{s['connections']:7d}{s['rss_kib_each']:9.1f}kB"
                      f"{ratio(s['rss_kib_each'], b.get('rss_kib_each', 0)):>8}"
                      f"{s['cpu_us_per_ping']:9.1f}us"
                      f"{ratio(s['cpu_us_per_ping'], b.get('cpu_us_per_ping', 0)):>8}")  # fmt: skip
    if "messages" in results:
        print("\n## Messages: 100 pairs, a message and its receipt")
        base = results["messages"].get(plain, {})
        base_rates = {x["rate"]: x for x in base.get("rates", [])}
        print(f"{'relay':<34}{'rate':>7}{'p50':>9}{'p99':>9}{'CPU/msg+rcpt':>14}{'ratio':>8}")
        for label, r in results["messages"].items():
            for x in r["rates"]:
                b = base_rates.get(x["rate"], {})
                print(f"{label:<34}{x['rate']:7.0f}{x['p50']:7.2f}ms{x['p99']:7.2f}ms"
                      f"{x['cpu_us_per_message']:12.0f}us"
                      f"{ratio(x['cpu_us_per_message'], b.get('cpu_us_per_message', 0)):>8}"
                      )  # fmt: skip
            top = r["max"]
            b = base.get("max", {})
            print(f"{label:<34}{'max':>7} {top['rate']:7.0f} msg/s "
                  f"({ratio(top['rate'], b.get('rate', 0))})"
                  f"{top['cpu_us_per_message']:10.0f}us"
                  f"{ratio(top['cpu_us_per_message'], b.get('cpu_us_per_message', 0)):>8}"
                  )  # fmt: skip
    if "presence" in results:
        print("\n## Presence: one arrival, a burst of 50, everyone leaving")
        for label, rows in results["presence"].items():
            for r in rows:
                if "departure" in r:
                    d = r["departure"]
                    print(f"{label:<34}{r['watchers']:5d} watchers leave at once: "
                          f"{d['cpu_s']:.2f} s CPU, busy {d['busy_s']:.2f} s")  # fmt: skip
                    continue
                one = r["one"]
                print(f"{label:<34}{r['watchers']:5d} watchers: one arrival reaches all in "
                      f"{1000 * one['reach_s']:.0f} ms ({1000 * one['after_welcome_s']:.0f} ms "
                      f"after its welcome), {one['cpu_ms']:.0f} ms relay CPU")  # fmt: skip
                if "burst" in r:
                    b = r["burst"]
                    print(f"{'':<34}      burst of {b['arrivals']}: all reached in "
                          f"{b['reach_s']:.2f} s, {b['cpu_ms']:.0f} ms CPU, failed {b['failed']}, "
                          f"ping p99 {b['ping_p99_ms']:.1f} ms, "
                          f"max {b['ping_max_ms']:.1f} ms ({b.get('pings', 0)} pings "
                          "from another process)")  # fmt: skip
    if "reconnect" in results:
        print("\n## Reconnect storm after a relay restart")
        for label, r in results["reconnect"].items():
            print(f"{label:<46}{r['clients']:6d} clients back in {r['seconds']:6.2f} s, "
                  f"relay CPU {r['relay_cpu_s']:6.2f} s, failed {r['failed']}, "
                  f"retried {r.get('retries', 0)}")  # fmt: skip
    print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default=",".join(PARTS))
    parser.add_argument("--loops", default="asyncio,uvloop" if _has_uvloop() else "asyncio")
    parser.add_argument("--quick", action="store_true", help="smaller and shorter")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args(argv)
    print("identity pool ...", file=sys.stderr)
    identity_pool(512)
    scratch = Path(tempfile.mkdtemp(prefix="messenger-relay-load-"))
    header = {
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "machine": f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}",
        "load_before": "/".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    results: dict[str, Any] = {}
    failed: dict[str, str] = {}
    try:
        for name in args.parts.split(","):
            relays = [Relay("plain", "asyncio", scratch)]
            relays += [Relay("messenger", loop, scratch) for loop in args.loops.split(",")]
            print(f"part {name} ...", file=sys.stderr)
            try:
                results[name] = PARTS[name](relays, args.quick)
            except Exception as exc:  # one broken part must not lose the others' figures
                print(f"part {name} failed: {exc!r}", file=sys.stderr)
                failed[name] = repr(exc)
                for relay in relays:
                    relay.stop()
            if args.json:
                args.json.write_text(json.dumps({"header": header, "results": results,
                                                 "failed": failed}, indent=1))  # fmt: skip
    finally:
        header["load_after"] = "/".join(f"{x:.2f}" for x in os.getloadavg())
        with contextlib.suppress(OSError):
            shutil.rmtree(scratch)
    if args.json:
        args.json.write_text(
            json.dumps({"header": header, "results": results, "failed": failed}, indent=1)
        )
    report(results, header)
    for name, error in failed.items():
        print(f"part {name} failed: {error}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
