"""The load side of ``tests.bench.relay_load``: one scenario per run, against one relay
process (ours or the plain baseline), printing one JSON line of results.

    python -m tests.bench.relay_scenarios SCENARIO --kind messenger|plain --port P --pid PID
        [--identities N] [--sources N] [scenario options]

The relay's CPU is read from /proc/PID/stat at the edges of each measured part, so the
numbers are the relay's own, whatever this process costs. Not a test: asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import struct
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from messenger.crypto.aead import random_bytes
from messenger.protocol import wire
from server.__main__ import raise_open_files_limit
from tests.bench.bench_clients import (
    BaseConn,
    Conn,
    FastIdentity,
    identity_pool,
    now,
    open_conn,
    percentile,
    relay_cpu,
    relay_rss_kib,
    sources,
)

_STAMP = struct.Struct(">d")


class Rig:
    """The relay under load, and who connects to it from where."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.kind: str = args.kind
        self.port: int = args.port
        self.pid: int = args.pid
        self.identities = identity_pool(args.identities)
        self.sources = sources(args.sources)
        self._next = itertools.count()

    def cpu(self) -> float:
        return relay_cpu(self.pid)

    def identity(self, index: int) -> FastIdentity:
        return self.identities[index % len(self.identities)]

    async def connect(
        self, index: int | None = None, *, listed: bool = False, ticket: Any = None
    ) -> BaseConn:
        """A new connection, handshaken (full, or resumed with ``ticket``)."""
        index = next(self._next) if index is None else index
        conn = await open_conn(self.kind, self.port, self.sources[index % len(self.sources)])
        await conn.shake(  # type: ignore[attr-defined]
            self.identity(index), f"bench {index:05d}", listed=listed, ticket=ticket
        )
        return conn

    async def connect_many(
        self, count: int, concurrency: int = 64, **options: Any
    ) -> list[BaseConn]:
        conns: list[BaseConn] = []
        indexes = iter(range(count))

        async def worker() -> None:
            for index in indexes:
                conns.append(await self.connect(index, **options))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return conns


async def round_trips(conn: BaseConn, kind: str, count: int, gap: float) -> list[float]:
    """``count`` ping round trips on ``conn``, ``gap`` seconds apart (seconds each)."""
    samples: list[float] = []
    for n in range(count):
        started = now()
        if kind == "plain":
            conn.send(b"P", n.to_bytes(8, "big"))  # type: ignore[call-arg]
            while True:
                body = await conn.next_body()
                if body[:1] == b"Q":
                    break
        else:
            conn.send(wire.Ping(nonce=n))  # type: ignore[attr-defined]
            while not isinstance(await conn.next_message(), wire.Pong):  # type: ignore[attr-defined]
                pass
        samples.append(now() - started)
        if gap:
            await asyncio.sleep(gap)
    return samples


# -- handshakes --------------------------------------------------------------------------------


async def handshakes(rig: Rig, args: argparse.Namespace) -> dict[str, Any]:
    """As many handshakes as the relay takes (``--concurrency`` at a time) for
    ``--seconds``: the rate and the relay's CPU per handshake."""
    done = 0
    deadline = time.monotonic() + args.seconds

    async def worker(start: int) -> None:
        nonlocal done
        index = start
        while time.monotonic() < deadline:
            conn = await rig.connect(index)
            conn.abort()
            done += 1
            index += args.concurrency

    await rig.connect(0)  # warm up (keys parsed)
    cpu, started = rig.cpu(), time.monotonic()
    await asyncio.gather(*(worker(i) for i in range(args.concurrency)))
    seconds = time.monotonic() - started
    used = rig.cpu() - cpu
    return {"handshakes": done, "seconds": seconds, "rate": done / seconds,
            "cpu_ms_each": 1000 * used / max(1, done), "relay_cores": used / seconds}  # fmt: skip


async def storm(rig: Rig, args: argparse.Namespace) -> dict[str, Any]:
    """``--rate`` new handshakes a second (open loop) for ``--seconds``, while an honest
    client (another process: ``pinger``) measures its pings. This side only storms."""
    started = time.monotonic()
    tasks: set[asyncio.Task[None]] = set()
    done = failed = 0
    cpu = rig.cpu()

    async def one(index: int) -> None:
        nonlocal done, failed
        try:
            conn = await rig.connect(index)
            conn.abort()
            done += 1
        except (ConnectionError, OSError):
            failed += 1

    for index in itertools.count():
        due = started + index / args.rate
        if due - started >= args.seconds:
            break
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(index))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    seconds = time.monotonic() - started
    used = rig.cpu() - cpu
    return {"handshakes": done, "failed": failed, "rate": done / seconds,
            "relay_cores": used / seconds}  # fmt: skip


async def pinger(rig: Rig, args: argparse.Namespace) -> dict[str, Any]:
    """An honest client's ping round trips, one every ``--gap`` s, for ``--seconds`` (or,
    with ``--until-eof``, from a ``ready`` line until its stdin closes)."""
    conn = await rig.connect(10_000)
    if args.until_eof:
        print(json.dumps({"ready": True}), flush=True)
        eof = asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        samples: list[float] = []
        while not eof.done():
            samples += await round_trips(conn, rig.kind, 1, args.gap)
    else:
        count = int(args.seconds / max(args.gap, 0.001))
        samples = await round_trips(conn, rig.kind, count, args.gap)
    ms = [s * 1000 for s in samples]
    return {"pings": len(ms), "p50": percentile(ms, 0.5), "p99": percentile(ms, 0.99),
            "max": max(ms)}  # fmt: skip


# -- idle connections --------------------------------------------------------------------------


async def idle(rig: Rig, args: argparse.Namespace) -> dict[str, Any]:
    """Open connections up to each of ``--steps``; at each, the relay's RSS per connection
    and its CPU per keepalive ping (each connection pings every ``--ping-every`` s)."""
    conns: list[BaseConn] = []
    base_rss = relay_rss_kib(rig.pid)
    results = []
    pinging: asyncio.Task[None] | None = None
    pings = [0]
    for step in args.steps:
        if pinging is not None:
            pinging.cancel()
        more = await rig.connect_many(step - len(conns), concurrency=64)
        for conn in more:
            conn.on_message = lambda _message: None
        conns += more
        rss = relay_rss_kib(rig.pid)
        pinging = asyncio.create_task(_keepalive(list(conns), args.ping_every, pings))
        await asyncio.sleep(args.ping_every)  # one round to settle
        cpu, mark, counted = rig.cpu(), time.monotonic(), pings[0]
        await asyncio.sleep(args.seconds)
        used, seconds, sent = rig.cpu() - cpu, time.monotonic() - mark, pings[0] - counted
        results.append({"connections": len(conns), "rss_kib_each": (rss - base_rss) / len(conns),
                        "pings_per_s": sent / seconds, "cpu_us_per_ping": 1e6 * used / max(1, sent),
                        "relay_cores": used / seconds})  # fmt: skip
    if pinging is not None:
        pinging.cancel()
    return {"steps": results}


async def _keepalive(conns: list[BaseConn], period: float, pings: list[int]) -> None:
    """Each connection pings once every ``period`` seconds, spread evenly; counts pings."""
    start = time.monotonic()
    for n in itertools.count():
        slot = n % len(conns)
        due = start + n * period / len(conns)
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        elif n % 64 == 0:
            await asyncio.sleep(0)
        conn = conns[slot]
        if isinstance(conn, Conn):
            conn.send(wire.Ping(nonce=n))
        else:
            conn.send(b"P", b"12345678")  # type: ignore[call-arg]
        pings[0] += 1


# -- messages ----------------------------------------------------------------------------------


class Pairs:
    """``count`` pairs of connections in sessions: a message one way, a receipt back."""

    def __init__(self, rig: Rig, count: int, size: int) -> None:
        self.rig = rig
        self.count = count
        self.size = size
        self.latencies: list[float] = []
        self.receipts = 0
        self.messages = 0
        self.recording = False
        self.on_receipt: Callable[[int], None] | None = None

    async def start(self) -> None:
        rig = self.rig
        self.senders: list[BaseConn] = []
        self.sessions: list[str] = []
        for pair in range(self.count):
            sender, receiver = await rig.connect(2 * pair), await rig.connect(2 * pair + 1)
            if isinstance(sender, Conn):
                sender.send(wire.CreateSession(salt=random_bytes(wire.SALT_SIZE), ref=1))
                created = await sender.next_message()
                assert isinstance(created, wire.SessionCreated), created
                receiver.send(wire.JoinSession(session=created.session))  # type: ignore[attr-defined]
                for side in (sender, receiver):
                    assert isinstance(await side.next_message(), wire.Paired)  # type: ignore[attr-defined]
                session = created.session
            else:
                session = pair.to_bytes(4, "big").hex()
                for side in (sender, receiver):
                    side.send(b"J", pair.to_bytes(4, "big"))  # type: ignore[call-arg]
                for side in (sender, receiver):
                    assert (await side.next_body())[:1] == b"K"
            self.senders.append(sender)
            self.sessions.append(session)
            sender.on_message = self._receipt_for(pair)
            receiver.on_message = self._message_for(receiver, pair, session)

    def _message_for(self, receiver: BaseConn, pair: int, session: str) -> Callable[[Any], None]:
        receipt_data = bytes(64)
        if isinstance(receiver, Conn):
            receipt = wire.encode(wire.Relay(session=session, data=receipt_data))

            def got(message: Any) -> None:
                if isinstance(message, wire.Relay):
                    self._arrived(message.data)
                    receiver.send_body(receipt)

            return got
        header = b"R" + pair.to_bytes(4, "big")

        def got_plain(body: bytes) -> None:
            if body[:1] == b"R":
                self._arrived(body[5:])
                receiver.send(b"R", header[1:] + receipt_data)  # type: ignore[call-arg]

        return got_plain

    def _receipt_for(self, pair: int) -> Callable[[Any], None]:
        def got(_message: Any) -> None:
            self.receipts += 1
            if self.on_receipt is not None:
                self.on_receipt(pair)

        return got

    def _arrived(self, data: bytes) -> None:
        self.messages += 1
        if self.recording:
            self.latencies.append(now() - _STAMP.unpack_from(data)[0])

    def send(self, pair: int) -> None:
        data = _STAMP.pack(now()) + bytes(self.size - 8)
        sender = self.senders[pair]
        if isinstance(sender, Conn):
            sender.send_body(wire.encode(wire.Relay(session=self.sessions[pair], data=data)))
        else:
            sender.send(b"R", pair.to_bytes(4, "big") + data)  # type: ignore[call-arg]


async def messages(rig: Rig, args: argparse.Namespace) -> dict[str, Any]:
    """Latency at each of ``--rates`` (open loop, spread over the pairs), then the highest
    rate the relay sustains (each pair keeps ``--window`` messages in flight)."""
    pairs = Pairs(rig, args.pairs, args.size)
    await pairs.start()
    results = []
    for rate in args.rates:
        pairs.latencies.clear()
        pairs.recording = True
        cpu, started, got = rig.cpu(), time.monotonic(), pairs.receipts
        for n in itertools.count():
            due = started + n / rate
            if due - started >= args.seconds:
                break
            delay = due - time.monotonic()
            if delay > 0.0005:
                await asyncio.sleep(delay)
            pairs.send(n % args.pairs)
        await _until(lambda got=got, n=n: pairs.receipts - got >= n, 10)  # type: ignore[misc]
        seconds = time.monotonic() - started
        used = rig.cpu() - cpu
        ms = [x * 1000 for x in pairs.latencies]
        results.append({"rate": rate, "sent": n, "p50": percentile(ms, 0.5),
                        "p99": percentile(ms, 0.99), "achieved": n / seconds,
                        "cpu_us_per_message": 1e6 * used / max(1, n)})  # fmt: skip
    pairs.recording = False
    # The highest sustained rate: a window per pair, refilled as receipts come back.
    sent = 0
    stop = False

    def refill(pair: int) -> None:
        nonlocal sent
        if not stop:
            pairs.send(pair)
            sent += 1

    pairs.on_receipt = refill
    for pair in range(args.pairs):
        for _ in range(args.window):
            refill(pair)
    await asyncio.sleep(1.0)  # ramp
    cpu, started, got = rig.cpu(), time.monotonic(), pairs.receipts
    await asyncio.sleep(args.seconds)
    seconds, done, used = time.monotonic() - started, pairs.receipts - got, rig.cpu() - cpu
    stop = True
    top = {
        "rate": done / seconds,
        "seconds": seconds,
        "cpu_us_per_message": 1e6 * used / max(1, done),
        "relay_cores": used / seconds,
    }
    return {"rates": results, "max": top}


async def _until(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.005)
    return True


# -- presence ----------------------------------------------------------------------------------


class Watchers:
    """``count`` connections watching the list of people; counts what each has heard."""

    def __init__(self, rig: Rig, count: int, listed: bool) -> None:
        self.rig, self.count, self.listed = rig, count, listed
        self.heard: dict[int, set[str]] = {}
        self.last_heard = 0.0

    async def start(self, offset: int = 20_000) -> None:
        self.conns = await self.rig.connect_many(self.count, concurrency=64, listed=self.listed)
        for index, conn in enumerate(self.conns):
            heard = self.heard.setdefault(index, set())
            if isinstance(conn, Conn):
                conn.send(wire.ListPeople(watch=True, limit=1))
                while not isinstance(await conn.next_message(), wire.People):
                    pass
                conn.on_message = self._heard_messenger(heard)
            else:
                conn.send(b"L")  # type: ignore[call-arg]
                while (await conn.next_body())[:1] != b"E":
                    pass
                conn.on_message = self._heard_plain(heard)

    def _heard_messenger(self, heard: set[str]) -> Callable[[Any], None]:
        def got(message: Any) -> None:
            if isinstance(message, wire.PeopleChanged):
                heard.update(p.id for p in message.people)
                self.last_heard = now()

        return got

    def _heard_plain(self, heard: set[str]) -> Callable[[Any], None]:
        def got(body: bytes) -> None:
            if body[:1] == b"A":
                heard.add(body[1:33].hex())
                self.last_heard = now()

        return got

    def all_heard(self, ids: set[str]) -> bool:
        return all(ids <= heard for heard in self.heard.values())


async def presence(rig: Rig, args: argparse.Namespace) -> dict[str, Any]:
    """One arrival seen by ``--watchers`` watchers, then a burst of ``--burst`` arrivals at
    once (an honest pinger measures the relay's stalls), then every watcher leaving at once."""
    newcomers = iter(range(50_000, 60_000))
    watchers = Watchers(rig, args.watchers, listed=args.departure)
    await watchers.start()
    out: dict[str, Any] = {"watchers": args.watchers}
    # One arrival.
    index = next(newcomers)
    cpu, started = rig.cpu(), now()
    await rig.connect(index, listed=True)
    welcomed = now()
    ids = {rig.identity(index).fingerprint}
    await _until(lambda: watchers.all_heard(ids), 30)
    out["one"] = {"reach_s": watchers.last_heard - started, "after_welcome_s":
                  watchers.last_heard - welcomed, "cpu_ms": 1000 * (rig.cpu() - cpu)}  # fmt: skip
    # A burst, while an honest client measures the relay's stalls. It is its own process:
    # in this one, its pongs would wait behind the burst's handshakes and the watchers'
    # thousands of differences, and show our stalls, not the relay's.
    if args.burst:
        probe = await _start_pinger(rig, args)
        indexes = [next(newcomers) for _ in range(args.burst)]
        burst_ids = {rig.identity(i).fingerprint for i in indexes}
        cpu, started = rig.cpu(), now()
        results = await asyncio.gather(
            *(rig.connect(i, listed=True) for i in indexes), return_exceptions=True
        )
        await _until(lambda: watchers.all_heard(burst_ids), 60)
        reached = watchers.last_heard - started
        used = rig.cpu() - cpu
        pings = await _stop_pinger(probe)
        out["burst"] = {"arrivals": args.burst, "failed": sum(isinstance(r, BaseException)
                        for r in results), "reach_s": reached, "cpu_ms": 1000 * used,
                        "ping_max_ms": pings["max"], "ping_p99_ms": pings["p99"],
                        "pings": pings["pings"]}  # fmt: skip
    # Everyone leaves at once.
    if args.departure:
        cpu, started = rig.cpu(), time.monotonic()
        for conn in watchers.conns:
            conn.abort()
        out["departure"] = await _quiet_cpu(rig, cpu, started)
    return out


async def _start_pinger(rig: Rig, args: argparse.Namespace) -> asyncio.subprocess.Process:
    """A ``pinger --until-eof`` process against the same relay, once it is connected."""
    command = ["-m", "tests.bench.relay_scenarios", "pinger", "--kind", rig.kind,
               "--port", str(rig.port), "--pid", str(rig.pid), "--until-eof", "--gap", "0.005",
               "--identities", str(args.identities), "--sources", str(args.sources),
               *(["--uvloop"] if args.uvloop else [])]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    while b'"ready"' not in (line := await proc.stdout.readline()):
        if not line:
            raise RuntimeError("the pinger ended before it was connected")
    return proc


async def _stop_pinger(proc: asyncio.subprocess.Process) -> dict[str, Any]:
    """Close the pinger's stdin and take its result."""
    assert proc.stdin is not None
    proc.stdin.close()
    out, _ = await proc.communicate()
    for line in reversed(out.decode().splitlines()):
        if line.startswith('{"result"'):
            result: dict[str, Any] = json.loads(line)["result"]
            return result
    raise RuntimeError("the pinger printed no result")


async def _quiet_cpu(rig: Rig, cpu: float, started: float) -> dict[str, float]:
    """The relay's CPU from ``cpu`` until it stops using any for half a second."""
    last, last_change = rig.cpu(), time.monotonic()
    while time.monotonic() - last_change < 0.5:
        await asyncio.sleep(0.05)
        current = rig.cpu()
        if current != last:
            last, last_change = current, time.monotonic()
    return {"cpu_s": last - cpu, "busy_s": last_change - started}


# -- a reconnect storm -------------------------------------------------------------------------


async def reconnect(rig: Rig, args: argparse.Namespace) -> dict[str, Any]:
    """``--clients`` connections; the orchestrator restarts the relay (we say ``ready`` and
    wait for a line on stdin naming the new pid); then all reconnect at once, with the
    tickets they were given (``--tickets``) or without."""
    conns = await rig.connect_many(args.clients, concurrency=64)
    tickets: list[Any] = []
    for conn in conns:
        if isinstance(conn, Conn) and args.tickets:
            conn.send(wire.Ping(nonce=1))
            while not isinstance(await conn.next_message(), wire.Pong):
                pass
            tickets.append(conn.ticket)
        else:
            tickets.append(None)
    print(json.dumps({"ready": True, "tickets": sum(t is not None for t in tickets)}),
          flush=True)  # fmt: skip
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    rig.pid = int(line)
    for conn in conns:
        conn.abort()
    cpu, started = rig.cpu(), time.monotonic()
    failed = retries = 0

    async def back(index: int) -> None:
        nonlocal failed, retries
        for _attempt in range(50):
            try:
                await rig.connect(index, ticket=tickets[index])
                return
            except Exception:
                # Refused, reset, or given up on by the relay ("the handshake took too
                # long": thousands of full handshakes at once queue for its RSA threads).
                # A used or refused ticket is gone: a full handshake next time.
                tickets[index] = None
                retries += 1
                await asyncio.sleep(0.05)
        failed += 1

    await asyncio.gather(*(back(index) for index in range(args.clients)))
    seconds = time.monotonic() - started
    used = rig.cpu() - cpu
    return {"clients": args.clients, "seconds": seconds, "relay_cpu_s": used,
            "failed": failed, "retries": retries, "tickets": args.tickets}  # fmt: skip


SCENARIOS: dict[str, Callable[[Rig, argparse.Namespace], Awaitable[dict[str, Any]]]] = {
    "handshakes": handshakes,
    "storm": storm,
    "pinger": pinger,
    "idle": idle,
    "messages": messages,
    "presence": presence,
    "reconnect": reconnect,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="relay_scenarios")
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--kind", choices=["messenger", "plain"], default="messenger")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--identities", type=int, default=64)
    parser.add_argument("--sources", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=24)
    parser.add_argument("--rate", type=float, default=150.0)
    parser.add_argument("--gap", type=float, default=0.01)
    parser.add_argument("--steps", type=lambda s: [int(x) for x in s.split(",")],
                        default=[1000])  # fmt: skip
    parser.add_argument("--ping-every", type=float, default=5.0)
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--size", type=int, default=200)
    parser.add_argument("--rates", type=lambda s: [float(x) for x in s.split(",")],
                        default=[200.0, 1000.0, 3000.0])  # fmt: skip
    parser.add_argument("--window", type=int, default=8)
    parser.add_argument("--watchers", type=int, default=250)
    parser.add_argument("--burst", type=int, default=0)
    parser.add_argument("--departure", action="store_true")
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--tickets", action="store_true")
    parser.add_argument("--until-eof", action="store_true", help="pinger: until stdin closes")
    parser.add_argument("--uvloop", action="store_true", help="run this side on uvloop")
    args = parser.parse_args(argv)
    raise_open_files_limit()  # thousands of client sockets in this one process
    rig = Rig(args)
    scenario = SCENARIOS[args.scenario]

    async def run() -> dict[str, Any]:
        return await scenario(rig, args)

    if args.uvloop:
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            result = runner.run(run())
    else:
        result = asyncio.run(run())
    print(json.dumps({"result": result}), flush=True)
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    os._exit(0)  # thousands of sockets: no need to close each politely


if __name__ == "__main__":
    main()
