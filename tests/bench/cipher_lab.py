"""How well the cipher lab's attacks work, on passages held out from the training text.

    python -m tests.bench.cipher_lab [--passages 100] [--quick] [--jobs 2]

For each cipher and passage length: ``--passages`` held-out passages (upper-case letters;
messenger/crypto/classical/corpus.py) are each encrypted under a random key and attacked
from the ciphertext alone. Keys: Caesar a shift 1-25; substitution a random alphabet;
transposition a random keyword of 2-10 letters (2-10 columns); Vigenère a random keyword of
1-12 letters. "Solved" means the exact plaintext came back, except for substitution, where
it means at least 95 % of the letters are right (letters that never occur cannot be
placed). Not a test: it prints tables and asserts nothing. ``--quick`` runs the target
lengths only, with 20 passages.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import random
import statistics
import time
from dataclasses import dataclass

from messenger.crypto.classical import ALPHABET, CIPHERS
from messenger.crypto.classical.attacks import attack
from messenger.crypto.classical.corpus import held_out_passages

#: Passage lengths per cipher; the issue's target length is marked in TARGETS.
LENGTHS = {
    "caesar": [10, 15, 20, 30, 40],
    "mono": [100, 150, 200, 300, 400],
    "transposition": [100, 150, 200, 300],
    "vigenere": [100, 150, 200, 300, 600],
}
#: (length, share of passages that must be solved) from issue 14.
TARGETS = {"caesar": (40, 1.0), "mono": (300, 0.9), "transposition": (300, 0.9),
           "vigenere": (600, 0.9)}  # fmt: skip
MONO_LETTERS_RIGHT = 0.95
MONO_SECONDS = 5.0


@dataclass(frozen=True)
class Trial:
    cipher: str
    length: int
    index: int
    passage: str


@dataclass(frozen=True)
class Outcome:
    solved: bool
    letters_right: float
    seconds: float


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def random_key(cipher: str, rng: random.Random) -> str:
    if cipher == "transposition":
        return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(2, 10)))
    if cipher == "vigenere":
        return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 12)))
    return CIPHERS[cipher].random_key(rng)


def run_trial(trial: Trial) -> Outcome:
    rng = random.Random(f"{trial.cipher}/{trial.length}/{trial.index}")
    key = random_key(trial.cipher, rng)
    ciphertext = CIPHERS[trial.cipher].encrypt(trial.passage, key)
    result = attack(trial.cipher, ciphertext, seed=trial.index)
    right = sum(a == b for a, b in zip(result.text, trial.passage, strict=True))
    share = right / len(trial.passage)
    solved = share >= MONO_LETTERS_RIGHT if trial.cipher == "mono" else share == 1.0
    return Outcome(solved, share, result.seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.cipher_lab")
    parser.add_argument("--passages", type=int, default=100, help="passages per length")
    parser.add_argument("--quick", action="store_true", help="target lengths, 20 passages")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--cipher", choices=list(LENGTHS), action="append", help="only these")
    args = parser.parse_args(argv)
    passages = 20 if args.quick and args.passages == 100 else args.passages
    ciphers = args.cipher or list(LENGTHS)
    print(f"# cipher lab attacks on held-out passages, {passages} per length")
    print(f"# {cpu_model()}, {os.cpu_count()} cores, "
          f"{args.jobs} worker(s), load {os.getloadavg()[0]:.2f}, "
          f"{time.strftime('%Y-%m-%d')}, Python {platform.python_version()}")  # fmt: skip
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
        for cipher in ciphers:
            lengths = [TARGETS[cipher][0]] if args.quick else LENGTHS[cipher]
            print(f"\n## {CIPHERS[cipher].title}")
            print("| letters | solved | letters right (mean) | mean s | max s |")
            print("|---:|---:|---:|---:|---:|")
            for length in lengths:
                trials = [
                    Trial(cipher, length, i, p)
                    for i, p in enumerate(held_out_passages(length, passages))
                ]
                outcomes = pool.map(run_trial, trials, chunksize=1)
                solved = sum(o.solved for o in outcomes) / len(outcomes)
                seconds = [o.seconds for o in outcomes]
                right = statistics.mean(o.letters_right for o in outcomes)
                target_length, target = TARGETS[cipher]
                mark = ""
                if length == target_length:
                    met = solved >= target
                    if cipher == "mono":
                        met = met and max(seconds) < MONO_SECONDS
                    mark = f" (target {target:.0%}: {'met' if met else 'NOT met'})"
                print(
                    f"| {length} | {solved:.0%}{mark} | {right:.1%} | "
                    f"{statistics.mean(seconds):.2f} | {max(seconds):.2f} |",
                    flush=True,
                )
    print(f"\n# {time.perf_counter() - started:.0f} s in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
