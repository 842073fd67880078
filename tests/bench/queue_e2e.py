"""The end-to-end row of ``tests.bench.queue``: N messages wait at a real relay for a
contact who is offline; the contact comes back; how long until every one is opened,
committed to the encrypted history, acknowledged, and reported.

    .venv/bin/python -m tests.bench.queue_e2e [--messages 10000]

Alice and Bob are in-process clients (our own classes) on fresh profiles; the relay is a
real process on 127.0.0.1. Not a test: it prints one line and asserts only that nothing
was lost.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from messenger import events as ev
from messenger.crypto.rsa import IdentityKey
from tests.support import InProcessClient, RelayProcess


async def _meet(alice_client, bob_client) -> str:  # type: ignore[no-untyped-def]
    session_b, code = await bob_client.create_session()
    session_a = await alice_client.join_session(code)
    await session_a.wait_ready()
    await session_b.wait_ready()
    return session_a.contact_id


async def run(count: int, folder: Path, relay_addr: str) -> tuple[float, float]:
    loop = asyncio.get_running_loop()
    keys = await asyncio.gather(
        *(loop.run_in_executor(None, IdentityKey.generate) for _ in range(2))
    )
    alice = InProcessClient(folder / "alice", keys[0], relay_addr, name="alice")
    bob = InProcessClient(folder / "bob", keys[1], relay_addr, name="bob")
    async with alice as alice_client:
        await alice_client.connect()
        async with bob as bob_client:
            await bob_client.connect()
            bob_id = await _meet(alice_client, bob_client)
        # Bob is gone; Alice writes.
        started = time.perf_counter()
        for i in range(count):
            await alice_client.courier.send_text(bob_id, f"waiting message {i}")
        while alice_client.courier.pending.get(bob_id):
            alice_client.courier.changed.clear()
            await alice_client.courier.changed.wait()
        sent = time.perf_counter() - started
    bob_again = InProcessClient(folder / "bob", keys[1], relay_addr, name="bob")
    async with bob_again as bob_client:
        arrived = 0
        started = time.perf_counter()
        await bob_client.connect()
        while arrived < count:
            event = await bob_client.events.get()
            if isinstance(event, ev.MessageReceived):
                arrived += 1
        taken = time.perf_counter() - started
    return sent, taken


def measure(count: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="bench-queue-e2e-") as tmp:
        folder = Path(tmp)
        (folder / "relay").mkdir()  # the relay makes its own key on first start
        relay = RelayProcess(folder / "relay")
        try:
            return asyncio.run(run(count, folder, relay.addr))
        finally:
            relay.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    args = parser.parse_args()
    sent, taken = measure(args.messages)
    print(f"{args.messages} messages: posted and committed by the relay in {sent:.2f} s "
          f"({args.messages / sent:,.0f}/s); taken in by the returning client in "
          f"{taken:.2f} s ({args.messages / taken:,.0f}/s)")


if __name__ == "__main__":
    main()
