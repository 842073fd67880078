"""``messenger-cli lab``: the cipher lab without a window, for scripts and teaching.

    messenger-cli lab encrypt|decrypt|attack --cipher NAME [--key K] [--keep-punctuation]

Reads all of stdin (one trailing newline is not part of the text), prints one JSON line and
exits. No profile and no relay are touched. A bad key or cipher name prints an ``error``
event and exits 1; argparse's usage errors exit 2. See docs/cli.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from messenger.crypto.classical import CIPHERS, BadKeyError, LabError, cipher_named
from messenger.crypto.classical.attacks import attack

__all__ = ["add_lab_arguments", "run_lab"]

ACTIONS = ("encrypt", "decrypt", "attack")
EXIT_OK, EXIT_ERROR = 0, 1


def add_lab_arguments(lab: argparse.ArgumentParser) -> None:
    """The ``lab`` command's own arguments (the parser itself lives in cli_args)."""
    lab.add_argument("action", choices=ACTIONS, help="what to do with the text on stdin")
    lab.add_argument(
        "--cipher", required=True, metavar="NAME", help=f"one of: {', '.join(CIPHERS)}"
    )
    lab.add_argument("--key", help="the key (encrypt: a random one if left out; attack: not used)")
    lab.add_argument(
        "--keep-punctuation",
        action="store_true",
        help="keep spaces, punctuation and case (default: upper-case letters only)",
    )
    lab.add_argument("--seed", type=int, help="attack: make the search repeatable")


def emit(event: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def read_text() -> str:
    text = sys.stdin.read()
    return text[:-1] if text.endswith("\n") else text


def run_lab(args: argparse.Namespace) -> int:
    """Carry out one lab command; returns the exit status."""
    try:
        cipher = cipher_named(args.cipher)
    except LabError as exc:
        emit("error", code="bad_cipher", message=str(exc))
        return EXIT_ERROR
    keep = args.keep_punctuation
    try:
        text = read_text()
        if args.action == "attack":
            result = attack(cipher.name, text, keep_punctuation=keep, seed=args.seed)
            emit(
                "lab_attack",
                cipher=cipher.name,
                key=result.key,
                text=result.text,
                score=round(result.score, 4),
                seconds=round(result.seconds, 3),
            )
            return EXIT_OK
        if args.key is None:
            if args.action == "decrypt":
                raise BadKeyError(f"decrypt needs --key: {cipher.key_hint}.")
            key = cipher.random_key()
        else:
            key = cipher.check_key(args.key)
        if args.action == "encrypt":
            out = cipher.encrypt(text, key, keep_punctuation=keep)
        else:
            out = cipher.decrypt(text, key, keep_punctuation=keep)
        emit("lab", action=args.action, cipher=cipher.name, key=key, text=out)
        return EXIT_OK
    except BadKeyError as exc:
        emit("error", code="bad_key", message=str(exc))
    except LabError as exc:
        emit("error", code="bad_text", message=str(exc))
    except KeyboardInterrupt:
        pass
    return EXIT_ERROR
