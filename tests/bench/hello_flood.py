"""An honest client's ping round trip while another process floods the relay with hellos.

    .venv/bin/python -m tests.bench.hello_flood [--seconds 5] [--threads 8] [--addresses 1]
        [--relay-args "--crypto-threads 2"]
    .venv/bin/python -m tests.bench.hello_flood flood --port P [--seconds 3] [--threads 8]
        [--addresses 1]

Every ``client_hello`` costs the relay an RSA-3072 signature; issue 9 measured another
client's ping going from 1.6 ms to 45 ms under ~600 hellos/s from one process. The first form
starts a real messenger-server (its own key, 127.0.0.1, port 0), connects an honest client
from 127.0.0.200, measures its ping round trips idle and then while a flood process runs, and
prints a table. The second form is only the flood (``tests/integration/test_relay_limits.py``
runs it): ``--threads`` connections at a time, each sending one hello and reading the answer
(``server_hello``, or an ``error`` such as ``busy``), spread over ``--addresses`` source
addresses 127.0.0.1, 127.0.0.2, ... (all loopback), so ``--addresses 50`` gets past the
per-address limits and shows what the crypto threads alone do. It prints one JSON line of
counts. Not a test: asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from messenger.crypto.aead import random_bytes
from messenger.protocol import wire
from messenger.protocol.framing import FrameDecoder, encode_frame

HOST = "127.0.0.1"
HONEST_SOURCE = "127.0.0.200"


def one_hello(port: int, source: str) -> str:
    """Connect, say hello, read one frame: ``server_hello``, the error code, or ``closed``."""
    hello = wire.ClientHello(
        version=wire.PROTOCOL_VERSION, eph=random_bytes(32), nonce=random_bytes(32)
    )
    try:
        with socket.create_connection((HOST, port), timeout=10, source_address=(source, 0)) as s:
            s.sendall(encode_frame(wire.encode(hello)))
            decoder = FrameDecoder()
            while (body := decoder.next_frame()) is None:
                data = s.recv(65536)
                if not data:
                    return "closed"
                decoder.receive_data(data)
    except OSError as exc:
        return type(exc).__name__
    message = wire.decode(body)
    return message.code if isinstance(message, wire.Error) else message.TYPE


def flood(port: int, seconds: float, threads: int, addresses: int) -> Counter[str]:
    counts: Counter[str] = Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker(index: int) -> None:
        source = f"127.0.0.{1 + index % addresses}"
        while time.monotonic() < deadline:
            outcome = one_hello(port, source)
            with lock:
                counts[outcome] += 1

    pool = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return counts


def _flood_main(args: argparse.Namespace) -> None:
    started = time.monotonic()
    counts = flood(args.port, args.seconds, args.threads, args.addresses)
    elapsed = time.monotonic() - started
    print(json.dumps({"counts": dict(counts), "seconds": elapsed}), flush=True)


# -- the whole measurement --------------------------------------------------------------------


def _pings(connection, count: int) -> list[float]:
    from tests.integration.test_relay_limits import ping_round_trip

    return [ping_round_trip(connection, n) for n in range(count)]


def _bench_main(args: argparse.Namespace) -> None:
    from tests.integration.test_relay_limits import RawConnectionFrom
    from tests.support import RelayProcess, make_keys

    keys = make_keys(1)
    with tempfile.TemporaryDirectory() as scratch:
        data_dir = Path(scratch) / "relay"
        keys.install_relay_key(data_dir)
        relay = RelayProcess(data_dir, "--log-level", "WARNING", *args.relay_args.split())
        try:
            honest = RawConnectionFrom(relay.port, keys.identity(0), HONEST_SOURCE)
            honest.handshake("honest")
            idle = _pings(honest, 200)
            flooder = subprocess.Popen(
                [
                    sys.executable, "-m", "tests.bench.hello_flood", "flood",
                    "--port", str(relay.port), "--seconds", str(args.seconds),
                    "--threads", str(args.threads), "--addresses", str(args.addresses),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )  # fmt: skip
            during: list[float] = []
            while flooder.poll() is None:
                during += _pings(honest, 10)
            report = json.loads(flooder.stdout.read() if flooder.stdout else "{}")
            honest.close()
        finally:
            relay.kill()

    def row(label: str, samples: list[float]) -> str:
        ms = sorted(x * 1000 for x in samples)
        p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
        return (
            f"{label:<12} n={len(ms):<6} p50={statistics.median(ms):7.2f} ms  "
            f"p99={p99:7.2f} ms  max={ms[-1]:7.2f} ms"
        )

    counts = report.get("counts", {})
    total = sum(counts.values())
    rate = total / report.get("seconds", args.seconds)
    print(f"relay args: {args.relay_args or '(defaults)'}; flood from {args.addresses} address(es)")
    print(f"flood: {total} hellos in {report.get('seconds', 0):.1f} s ({rate:.0f}/s): {counts}")
    print(row("idle", idle))
    print(row("under flood", during))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="hello_flood", description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", nargs="?", choices=["bench", "flood"], default="bench")
    parser.add_argument("--port", type=int, default=0, help="flood: the relay's port")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--addresses", type=int, default=1, help="127.0.0.1 .. 127.0.0.N")
    parser.add_argument("--relay-args", default="", help="bench: extra messenger-server flags")
    args = parser.parse_args(argv)
    if args.mode == "flood":
        _flood_main(args)
    else:
        _bench_main(args)


if __name__ == "__main__":
    main()
