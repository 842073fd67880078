"""Cost of the double ratchet per message, in this process.

    .venv/bin/python -m tests.bench.ratchet [--messages 2000]

Rows: encrypt and decrypt of a short text within one chain (two HMACs, one HKDF, one
AES-256-GCM over a 256-byte bucket); a message that turns the direction of talk (the
receiver's DH step: two X25519 agreements, a key generation and two root KDFs); a message
that skips 100 keys; saving and loading the state. Times are CPU time of this process
(``time.process_time``), so other jobs on the machine do not inflate them; the median of five
runs. Not a test: it prints a table and asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

from messenger.crypto.x25519 import EphemeralKey
from messenger.protocol.double_ratchet import Ratchet

AD = b"alice-fingerprint|bob-fingerprint"
TEXT = b"a short chat message, as most are"


def pair() -> tuple[Ratchet, Ratchet]:
    sk = os.urandom(32)
    a0, b0 = EphemeralKey.generate(), EphemeralKey.generate()
    return Ratchet.initiator(sk, a0, b0.public_bytes), Ratchet.responder(sk, b0, a0.public_bytes)


def per_call_us(run: Callable[[], object], count: int) -> float:
    """Median of five CPU timings of ``count`` calls, in microseconds per call."""
    samples = []
    for _ in range(5):
        start = time.process_time()
        for _ in range(count):
            run()
        samples.append((time.process_time() - start) / count * 1e6)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    count = parser.parse_args().messages
    rows: list[tuple[str, float]] = []

    alice, bob = pair()
    rows.append(("encrypt, same chain", per_call_us(lambda: alice.encrypt(TEXT, AD), count)))

    alice, bob = pair()
    messages = iter([alice.encrypt(TEXT, AD) for _ in range(5 * count)])
    rows.append(
        ("decrypt, same chain", per_call_us(lambda: bob.decrypt(next(messages), AD), count))
    )

    alice, bob = pair()
    sides = [(alice, bob), (bob, alice)]
    turns = iter(range(10**9))

    def turn() -> None:
        sender, receiver = sides[next(turns) % 2]
        receiver.decrypt(sender.encrypt(TEXT, AD), AD)

    turn_us = per_call_us(turn, max(count // 10, 10))
    rows.append(("encrypt + decrypt, direction turns (DH step)", turn_us))

    def skip_100() -> None:
        sender, receiver = pair()
        for _ in range(100):
            sender.encrypt(TEXT, AD)
        receiver.decrypt(sender.encrypt(TEXT, AD), AD)

    rows.append(("set-up + 100 encrypts + decrypt skipping 100", per_call_us(skip_100, 20)))

    alice, bob = pair()
    for _ in range(200):
        alice.encrypt(TEXT, AD)
    bob.decrypt(alice.encrypt(TEXT, AD), AD)  # 200 skipped keys kept
    state = bob.to_bytes()
    rows.append((f"to_bytes, 200 skipped keys ({len(state)} B)", per_call_us(bob.to_bytes, count)))
    rows.append(
        ("from_bytes, 200 skipped keys", per_call_us(lambda: Ratchet.from_bytes(state), 200))
    )

    width = max(len(name) for name, _ in rows)
    print(f"{'operation':<{width}}  CPU µs per call")
    for name, micros in rows:
        print(f"{name:<{width}}  {micros:10.1f}")


if __name__ == "__main__":
    main()
