"""messenger-cli's command line: options, commands, and argument checks.

Kept apart from ``messenger.cli`` (which runs the commands) so that the whole command-line
surface, the part docs/cli.md describes, can be read in one place.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from messenger import __version__
from messenger.cli_lab import add_lab_arguments
from messenger.crypto.rsa import parse_fingerprint
from messenger.net.connection import parse_address


def parse_server(value: str) -> tuple[str, int]:
    try:
        return parse_address(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def fingerprint_arg(value: str) -> str:
    try:
        return parse_fingerprint(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="messenger-cli",
        description="Headless Messenger client: JSON Lines on stdout, one message per stdin line.",
    )
    parser.add_argument(
        "--server",
        type=parse_server,
        default=("127.0.0.1", 5555),
        metavar="HOST:PORT",
        help="relay address (default 127.0.0.1:5555)",
    )
    parser.add_argument("--profile", metavar="DIR", help="profile folder (default: per-user)")
    parser.add_argument("--name", help="display name shown to others (remembered)")
    parser.add_argument(
        "--passphrase-file",
        type=Path,
        metavar="FILE",
        help="file whose first line protects the identity key",
    )
    parser.add_argument(
        "--server-fingerprint",
        type=fingerprint_arg,
        metavar="FP",
        help="expect (and pin) this server key fingerprint",
    )
    parser.add_argument(
        "--require-known-server",
        action="store_true",
        help="refuse a server whose key is not pinned yet",
    )
    parser.add_argument(
        "--accept-files",
        type=Path,
        metavar="DIR",
        help="accept offered files into DIR (without it, offers are declined)",
    )
    parser.add_argument("--version", action="version", version=f"messenger-cli {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log to stderr")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    create = commands.add_parser("create", help="create a password session and print its code")
    create.add_argument("--password", help="use this password instead of generated words")
    join = commands.add_parser("join", help="join a session by code, or number + --password")
    join.add_argument("code", help="a code like 7-orbit-lantern, or a session number")
    join.add_argument("--password", help="the password, when joining by session number")
    commands.add_parser("whoami", help="print this profile's id and fingerprint")
    online = commands.add_parser(
        "online", help="list the people listed on the relay now (those who chose to be), then exit"
    )
    online.add_argument(
        "--search", default="", metavar="NAME", help="only people whose name starts with NAME"
    )
    wait = commands.add_parser("wait", help="stay online and accept the next RSA invitation")
    wait.add_argument(
        "--from",
        dest="from_id",
        type=fingerprint_arg,
        metavar="ID",
        help="accept only an invitation from this person",
    )
    invite = commands.add_parser("invite", help="start an RSA session with someone online")
    invite.add_argument("person", type=fingerprint_arg, metavar="ID")
    trust = commands.add_parser("trust", help="accept a person's new key after checking it")
    trust.add_argument("person", type=fingerprint_arg, metavar="ID")
    commands.add_parser("contacts", help="list your contacts")
    send = commands.add_parser(
        "send", help="write to a contact, online or not (TEXT, or each stdin line)"
    )
    send.add_argument("person", type=fingerprint_arg, metavar="ID")
    send.add_argument("text", nargs="?", help="the message (default: one per stdin line)")
    commands.add_parser("inbox", help="take in everything waiting at the relay, then exit")
    commands.add_parser("listen", help="take in what waits, then stay online for more")
    history = commands.add_parser("history", help="print the conversation with a contact")
    history.add_argument("person", type=fingerprint_arg, metavar="ID")
    history.add_argument(
        "--limit", type=positive_int, default=100, metavar="N", help="the last N messages (100)"
    )
    forget = commands.add_parser("forget", help="delete a contact's conversation and history")
    forget.add_argument("person", type=fingerprint_arg, metavar="ID")
    lab = commands.add_parser("lab", help="classical ciphers on stdin (no relay, no profile)")
    add_lab_arguments(lab)
    return parser


def positive_int(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number above 0, got {value!r}")
    return int(value)
