"""The relay's crypto hot paths on pycryptodome and on OpenSSL (``cryptography``), same run.

    .venv/bin/python -m tests.bench.crypto_paths [--rounds 5]

Issue 13 lets OpenSSL serve a relay hot path only where a benchmark in the same run shows it
at least 5x faster (docs/decisions.md). This is that benchmark, for the two candidates:

- the client-relay transport AEAD: ``GcmKey`` on each backend, sealing and opening frames of
  64 B to 1 MiB under one key (pycryptodome builds a cipher per frame, as ``seal`` does);
- the relay's RSA-3072 private-key work per full handshake: a PSS signature
  (``IdentityKey.sign``) and an OAEP unwrap (``IdentityKey.unwrap``), against the same
  operations with the same parameters through OpenSSL.

Times are this process's CPU time (``time.process_time``), the median of ``--rounds``, so
other jobs on the machine inflate them less than wall time. Not a test: it prints a table
and asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from messenger.crypto.aead import GcmKey, counter_nonce
from messenger.crypto.rsa import IdentityKey

SIZES = [64, 256, 4096, 65536, 1 << 20]
FACTOR = 5.0


def per_call_us(run: Callable[[], object], count: int, rounds: int) -> float:
    """Median over ``rounds`` of the CPU time of ``count`` calls, in microseconds per call."""
    samples = []
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(count):
            run()
        samples.append((time.process_time() - start) / count * 1e6)
    return statistics.median(samples)


def calls_for(size: int) -> int:
    return max(20, min(5000, (4 << 20) // size))


def aead_rows(rounds: int) -> list[tuple[str, float, float]]:
    key = os.urandom(32)
    nonce = counter_nonce(1, 7)
    ours, ssl = GcmKey(key, backend="pycryptodome"), GcmKey(key, backend="openssl")
    rows = []
    for size in SIZES:
        body = os.urandom(size)
        sealed = ssl.seal(nonce, body)
        count = calls_for(size)
        for what, slow, fast in (
            ("seal", lambda b=body: ours.seal(nonce, b), lambda b=body: ssl.seal(nonce, b)),
            ("open", lambda s=sealed: ours.open(nonce, s), lambda s=sealed: ssl.open(nonce, s)),
        ):
            label = f"transport AEAD {what} {size:>7,} B"
            rows.append((label, per_call_us(slow, count, rounds), per_call_us(fast, count, rounds)))
    return rows


def rsa_rows(rounds: int) -> list[tuple[str, float, float]]:
    key = IdentityKey.generate()
    pem = key.to_pem()
    ssl = serialization.load_pem_private_key(pem, None)
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    message = os.urandom(300)
    wrapped = key.public.wrap(os.urandom(32))

    def ssl_sign() -> object:
        return ssl.sign(message, pss, hashes.SHA256())  # type: ignore[union-attr,call-arg]

    def ssl_unwrap() -> object:
        return ssl.decrypt(wrapped, oaep)  # type: ignore[union-attr]

    return [
        ("RSA-3072 PSS sign", per_call_us(lambda: key.sign(message), 40, rounds),
         per_call_us(ssl_sign, 40, rounds)),
        ("RSA-3072 OAEP unwrap", per_call_us(lambda: key.unwrap(wrapped), 40, rounds),
         per_call_us(ssl_unwrap, 40, rounds)),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    rows = aead_rows(args.rounds) + rsa_rows(args.rounds)
    print(f"\nCPU per call, median of {args.rounds} (load average {os.getloadavg()[0]:.2f})")
    print(f"{'operation':<38}{'pycryptodome':>14}{'OpenSSL':>12}{'speed-up':>10}  >= {FACTOR:g}x")
    for label, slow, fast in rows:
        factor = slow / fast
        verdict = "yes" if factor >= FACTOR else "no"
        print(f"{label:<38}{slow:12.1f}us{fast:10.1f}us{factor:9.1f}x  {verdict}")
    print()


if __name__ == "__main__":
    main()
