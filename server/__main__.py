"""messenger-server: run the relay, or manage its key.

    messenger-server [--host H] [--port P] [--data-dir DIR] [--rotate-interval S] ...
    messenger-server keygen [--data-dir DIR] [--force]
    messenger-server fingerprint [--data-dir DIR]

At start it prints the key's fingerprint and one line when it listens (``listening on
HOST:PORT``; with ``--port 0`` that line names the port the OS chose), then logs one line
per connection event, never a secret. SIGINT/SIGTERM stop it cleanly: stop accepting, close
connections, exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import logging
import signal
import sys
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

from messenger import __version__
from messenger.crypto.rsa import IdentityKey, format_fingerprint
from messenger.protocol.transport import MAX_HANDSHAKE_KEY_AGE
from server import identity
from server.config import MAX_PEOPLE_LISTED, ServerConfig, default_data_dir
from server.hub import Hub

log = logging.getLogger("messenger.server")


def positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {value!r}") from None
    if not number > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {value!r}")
    return number


def non_negative_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {value!r}") from None
    if not number >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value!r}")
    return number


def people_page(value: str) -> int:
    number = positive_int(value)
    if number > MAX_PEOPLE_LISTED:
        raise argparse.ArgumentTypeError(f"at most {MAX_PEOPLE_LISTED}, got {value!r}")
    return number


def handshake_key_lifetime(value: str) -> float:
    number = non_negative_float(value)
    if number > MAX_HANDSHAKE_KEY_AGE / 2:
        raise argparse.ArgumentTypeError(
            f"at most {MAX_HANDSHAKE_KEY_AGE / 2:g} seconds (a day), got {value!r}"
        )
    return number


def positive_int(value: str) -> int:
    if not value.isdigit() or not int(value) > 0:
        raise argparse.ArgumentTypeError(f"expected a whole number above 0, got {value!r}")
    return int(value)


def byte_count(value: str) -> int:
    """``4194304``, ``512K`` or ``4M``: a number of bytes above 0."""
    units = {"K": 1024, "M": 1024 * 1024}
    text = value.strip().upper().removesuffix("IB").removesuffix("B")
    scale = units.get(text[-1:], 1)
    digits = text[:-1] if text[-1:] in units else text
    if not digits.isdigit() or not int(digits) > 0:
        raise argparse.ArgumentTypeError(f"expected a byte count like 4M or 65536, got {value!r}")
    return int(digits) * scale


def port_number(value: str) -> int:
    if not value.isdigit() or not 0 <= int(value) < 65536:
        raise argparse.ArgumentTypeError(f"expected a port from 0 to 65535, got {value!r}")
    return int(value)


def build_parser() -> argparse.ArgumentParser:
    defaults = ServerConfig()
    parser = argparse.ArgumentParser(
        prog="messenger-server", description="Messenger relay: routes sealed frames it cannot read."
    )
    parser.add_argument(
        "--host", default=defaults.host, help=f"address to listen on ({defaults.host})"
    )
    parser.add_argument(
        "--port",
        type=port_number,
        default=defaults.port,
        help=f"port to listen on, 0 for any free port ({defaults.port})",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"where the relay keeps its state (default {default_data_dir()})",
    )
    parser.add_argument(
        "--rotate-interval",
        type=positive_float,
        default=defaults.rotate_interval,
        help=f"seconds between key-rotation ticks per session ({defaults.rotate_interval:g})",
    )
    parser.add_argument(
        "--idle-timeout",
        type=positive_float,
        default=defaults.idle_timeout,
        help=f"close connections silent this long ({defaults.idle_timeout:g} s)",
    )
    parser.add_argument(
        "--handshake-timeout",
        type=positive_float,
        default=defaults.handshake_timeout,
        help=f"a new connection must say hello within this ({defaults.handshake_timeout:g} s)",
    )
    parser.add_argument(
        "--send-queue-bytes",
        type=byte_count,
        default=defaults.send_queue_bytes,
        help="bytes queued for one client before senders to it wait, e.g. 4M "
        f"({defaults.send_queue_bytes // 1024 // 1024} MiB)",
    )
    parser.add_argument(
        "--send-timeout",
        type=positive_float,
        default=defaults.send_timeout,
        help="a client that makes no room in its queue for this long is disconnected "
        f"({defaults.send_timeout:g} s)",
    )
    parser.add_argument(
        "--handshakes-per-second",
        type=positive_float,
        default=defaults.handshakes_per_second,
        help="new connections per second one address may handshake; more get 'busy' "
        f"({defaults.handshakes_per_second:g})",
    )
    parser.add_argument(
        "--handshake-burst",
        type=positive_int,
        default=defaults.handshake_burst,
        help=f"handshakes one address may start at once ({defaults.handshake_burst})",
    )
    parser.add_argument(
        "--joins-per-minute",
        type=positive_float,
        default=defaults.joins_per_minute,
        help="session joins per minute from one address; more get 'busy' "
        f"({defaults.joins_per_minute:g})",
    )
    parser.add_argument(
        "--crypto-threads",
        type=positive_int,
        default=defaults.crypto_threads,
        help=f"threads for the relay's RSA work ({defaults.crypto_threads})",
    )
    parser.add_argument(
        "--max-connections-per-address",
        type=positive_int,
        default=defaults.max_connections_per_address,
        help="connections one address may hold open at once "
        f"({defaults.max_connections_per_address})",
    )
    parser.add_argument(
        "--people-page",
        dest="max_people_listed",
        type=people_page,
        default=defaults.max_people_listed,
        help=f"people per page of the list clients read ({defaults.max_people_listed}, at most "
        f"{MAX_PEOPLE_LISTED})",
    )
    parser.add_argument(
        "--presence-interval",
        type=non_negative_float,
        default=defaults.presence_interval,
        help="seconds changes to the list of people gather before watchers get them as one "
        f"difference ({defaults.presence_interval:g})",
    )
    parser.add_argument(
        "--ticket-lifetime",
        type=non_negative_float,
        default=defaults.ticket_lifetime,
        help="seconds a resumption ticket is good for; 0 turns tickets off "
        f"({defaults.ticket_lifetime:g})",
    )
    parser.add_argument(
        "--handshake-key-lifetime",
        type=handshake_key_lifetime,
        default=defaults.handshake_key_lifetime,
        help="seconds one signed handshake key serves full handshakes before the next is "
        "made; 0 signs every handshake, at most a day "
        f"({defaults.handshake_key_lifetime:g})",
    )
    parser.add_argument(
        "--invite-timeout",
        type=positive_float,
        default=defaults.invite_timeout,
        help=f"withdraw invitations not answered within this ({defaults.invite_timeout:g} s)",
    )
    parser.add_argument(
        "--queue-max-messages",
        type=positive_int,
        default=defaults.queue_max_messages,
        help=f"envelopes kept per offline person ({defaults.queue_max_messages})",
    )
    parser.add_argument(
        "--queue-max-bytes",
        type=byte_count,
        default=defaults.queue_max_bytes,
        help=f"bytes kept per offline person ({defaults.queue_max_bytes})",
    )
    parser.add_argument(
        "--queue-max-age",
        type=positive_float,
        default=defaults.queue_max_age,
        help=f"seconds an envelope waits before it is dropped ({defaults.queue_max_age:g})",
    )
    parser.add_argument(
        "--loop",
        choices=["auto", "asyncio", "uvloop"],
        default="asyncio",
        help="event loop: asyncio (the default), uvloop (the [fast] extra: more messages a "
        "second, more memory under slow readers; docs/decisions.md), or auto (uvloop if "
        "installed)",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="INFO (default) logs connections by number and address, never who they are; "
        "DEBUG adds who authenticated and session events (see docs/security.md)",
    )
    parser.add_argument("--version", action="version", version=f"messenger-server {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    keygen = commands.add_parser("keygen", help="create the relay's RSA-3072 key")
    keygen.add_argument("--data-dir", type=Path, default=None, help="where to write it")
    keygen.add_argument(
        "--force",
        action="store_true",
        help="replace an existing key (every client will refuse the new one)",
    )
    show = commands.add_parser("fingerprint", help="print the relay key's fingerprint")
    show.add_argument("--data-dir", type=Path, default=None, help="where the key is")
    return parser


def loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop to run on: uvloop when asked or (``auto``) when it is installed."""
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise SystemExit(
                "messenger-server: --loop uvloop needs uvloop (pip install 'messenger[fast]')"
            ) from None
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


#: glibc's mallopt parameters: the size from which blocks get their own mapping, and how
#: much free memory at the top of the heap is kept before it is given back.
_M_MMAP_THRESHOLD = -3
_M_TRIM_THRESHOLD = -1
#: Blocks this big or bigger (frame buffers: up to 2 MiB) are mapped on their own and go
#: back to the system when freed; smaller ones (reads of 256 KiB) stay on the heap.
MMAP_THRESHOLD = 1024 * 1024
#: Pinning the mmap threshold also stops glibc adjusting the trim threshold, which then
#: stays at 128 KiB: the heap was shrunk and grown again all the time, a system call each,
#: and a relay at 1,000 messages a second had a p99 latency of 19-23 ms instead of 0.7 ms
#: (``python -m tests.bench.relay_load --parts messages``). Twice the mmap threshold is
#: where glibc's own adjustment would have put it.
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD


def return_frame_buffers_to_the_system() -> bool:
    """Pin glibc's mmap threshold; True if it was set (Linux with glibc).

    glibc raises the threshold each time a mapped block is freed, so after a few 2 MiB
    frames every frame buffer comes from the heap and stays with the process once freed:
    the relay's memory under a flood becomes its high-water mark, fragmented. Measured with
    issue 9's slow-reader attack (16 pairs, 2 MiB frames; tests/integration/
    test_relay_limits.py): +91 to +103 MiB without, +84 to +86 MiB with it (+64 to +66 MiB
    on 2026-12-01, with or without the trim threshold)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        pinned = bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
        libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
        return pinned
    except (OSError, AttributeError):
        return False  # not glibc (musl has no mallopt): its own policy applies


def raise_open_files_limit() -> None:
    """Each connection is a file descriptor: take the hard limit the system allows (the
    soft one is often 1024, far below what the relay can hold)."""
    with contextlib.suppress(ImportError, ValueError, OSError):
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = 1 << 20 if hard == resource.RLIM_INFINITY else hard
        if soft != resource.RLIM_INFINITY and soft < target:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    known = {f.name for f in fields(ServerConfig)}
    values = {k: v for k, v in vars(args).items() if k in known and v is not None}
    return ServerConfig(**values)


def prepare_data_dir(config: ServerConfig) -> Path:
    data_dir = config.data_dir or default_data_dir()
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return data_dir


async def serve(config: ServerConfig, server_key: IdentityKey) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    # Handlers first: whoever reads "listening" may send SIGTERM at once and expects exit 0.
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    hub = Hub(config, server_key)
    host, port = await hub.start()
    print(f"messenger-server {__version__} listening on {host}:{port}", flush=True)
    await stop.wait()
    log.info("stopping: closing %d connection(s)", hub.connection_count)
    await hub.close()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Session events say who is who and who pairs with whom: only when asked to debug.
    logging.getLogger("messenger.server.sessions").setLevel(
        logging.DEBUG if args.log_level == "DEBUG" else logging.WARNING
    )
    config = config_from_args(args)
    data_dir = config.data_dir or default_data_dir()
    try:
        if args.command == "keygen":
            key = identity.generate(data_dir, overwrite=args.force)
            print(f"wrote {identity.private_key_path(data_dir)}")
            print(f"fingerprint {format_fingerprint(key.fingerprint)}")
            return 0
        if args.command == "fingerprint":
            print(format_fingerprint(identity.load_public(data_dir).fingerprint))
            return 0
        prepare_data_dir(config)
        key = identity.load_or_generate(data_dir)
        print(f"server key fingerprint {format_fingerprint(key.fingerprint)}", flush=True)
        raise_open_files_limit()
        return_frame_buffers_to_the_system()
        with asyncio.Runner(loop_factory=loop_factory(args.loop)) as runner:
            runner.run(serve(config, key))
    except identity.ServerKeyError as exc:
        print(f"messenger-server: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(
            f"messenger-server: cannot start on {config.host}:{config.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
