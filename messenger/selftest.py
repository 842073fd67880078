"""``Messenger --self-test``: prove a build works, without touching any profile.

Starts the relay in-process on a free loopback port, runs a password session and an RSA
session between two in-process clients (fresh keys in a temporary folder), exchanges a
message each way in each, and prints one JSON line with the result and timings.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from messenger import __version__
from messenger import events as ev
from messenger.client import Client
from messenger.courier import Courier
from messenger.crypto.rsa import IdentityKey
from messenger.session import Session
from messenger.store.profile import Profile
from messenger.store.worker import DatabaseWorker
from server.embedded import EmbeddedRelay

TIMEOUT = 60.0


async def _next(client: Client, kind: type, session: str | None = None) -> Any:
    """The next event of ``kind`` (for ``session``); earlier events of other kinds are dropped."""
    while True:
        event = await client.events.get()
        if isinstance(event, ev.SessionFailed | ev.Disconnected):
            raise RuntimeError(f"{type(event).__name__}: {event.error}")
        if isinstance(event, kind) and (
            session is None or getattr(event, "session", None) == session
        ):
            return event


async def _exchange(a: Client, sa: Session, b: Client, sb: Session) -> None:
    await sa.send_text("self-test ping")
    got = await _next(b, ev.MessageReceived, sb.id)
    assert got.text == "self-test ping"
    await sb.send_text("self-test pong")
    got = await _next(a, ev.MessageReceived, sa.id)
    assert got.text == "self-test pong"
    # b has consumed nothing since the ping, so the receipt for its pong is still queued.
    await _next(b, ev.MessageDelivered, sb.id)


async def _run(folder: Path) -> dict[str, Any]:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    loop = asyncio.get_running_loop()
    relay = EmbeddedRelay(folder / "relay", host="127.0.0.1", port=0, rotate_interval=1.0)
    # Profiles in the temporary folder, with no keyring: nothing of the person's is touched.
    profiles = [Profile.open(folder / name, keyring=None) for name in ("alice", "bob")]
    keys = await asyncio.gather(
        *(loop.run_in_executor(None, profile.unlock, None) for profile in profiles)
    )
    host, port = await relay.start()
    timings["keys_and_relay_s"] = time.perf_counter() - started
    workers = [DatabaseWorker(profile.db) for profile in profiles]
    alice, bob = (
        _client(host, port, key, name, worker)
        for key, name, worker in zip(keys, ("alice", "bob"), workers, strict=True)
    )
    for client in (alice, bob):
        await client.courier.load()
    try:
        await alice.connect()
        await bob.connect()
        mark = time.perf_counter()
        session_a, code = await alice.create_session()
        session_b = await bob.join_session(code)
        await _next(alice, ev.SessionReady, session_a.id)
        await _next(bob, ev.SessionReady, session_b.id)
        await _exchange(alice, session_a, bob, session_b)
        timings["password_session_s"] = time.perf_counter() - mark
        await session_a.leave()
        await _next(bob, ev.PeerLeft, session_b.id)

        mark = time.perf_counter()
        session_b = await bob.invite(alice.id)
        invited = await _next(alice, ev.Invited)
        accepted = await alice.answer_invitation(invited.session, accept=True)
        assert accepted is not None
        session_a = accepted
        ready_a = await _next(alice, ev.SessionReady, session_a.id)
        ready_b = await _next(bob, ev.SessionReady, session_b.id)
        assert ready_a.safety == ready_b.safety and ready_a.mode == "rsa"
        await _exchange(bob, session_b, alice, session_a)
        timings["rsa_session_s"] = time.perf_counter() - mark
    finally:
        for client in (alice, bob):
            await client.close()
            await client.courier.close()
        for worker in workers:
            await worker.close()
        for profile in profiles:
            profile.close()
        await relay.stop()
    timings["total_s"] = time.perf_counter() - started
    return {k: round(v, 3) for k, v in timings.items()}


def _client(host: str, port: int, key: IdentityKey, name: str, worker: DatabaseWorker) -> Client:
    events: asyncio.Queue[ev.ClientEvent] = asyncio.Queue()
    courier = Courier(key, worker, events.put_nowait)
    return Client(
        host, port, key, name=name, courier=courier, accept_invites=True, events=events
    )


def main() -> int:
    """Print one JSON line; exit 0 on success, 1 on failure."""
    result: dict[str, Any] = {"event": "self_test", "version": __version__}
    with tempfile.TemporaryDirectory(prefix="messenger-selftest-") as folder:
        try:
            timings = asyncio.run(asyncio.wait_for(_run(Path(folder)), TIMEOUT))
        except Exception as exc:  # report any failure as data, not a traceback
            result.update(ok=False, error=f"{type(exc).__name__}: {exc}")
            print(json.dumps(result), flush=True)
            return 1
    result.update(ok=True, **timings)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
