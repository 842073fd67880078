"""Helpers shared by the integration and GUI suites: a real relay process on 127.0.0.1,
pre-made keys (RSA-3072 generation takes seconds each), and line readers for child pipes;
and, for the transfer tests at every level, ``files_below``.

Nothing here sleeps to wait for something: every wait is a condition with a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from messenger.crypto.rsa import IdentityKey

HOST = "127.0.0.1"
#: Generous upper bound for anything that should happen "soon" (pairing, delivery).
SOON = 20.0
#: Distinct client identities available to one test (CLIs and raw connections).
IDENTITIES = 3
_LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+)")
_AUTHENTICATED = re.compile(r"conn (\d+): authenticated as ([0-9a-f]+)")
#: An address for commands that never talk to a relay (whoami, trust, contacts).
NOWHERE = f"{HOST}:9"

Event = dict[str, Any]
Predicate = Callable[[Event], bool]


def event(name: str, **fields: Any) -> Predicate:
    """A predicate matching an event by name and (optionally) exact field values."""

    def matches(ev: Event) -> bool:
        return ev.get("event") == name and all(ev.get(k) == v for k, v in fields.items())

    matches.__name__ = f"{name} event" + (f" with {fields}" if fields else "")
    return matches


def free_port() -> int:
    """A port that nothing listens on (bound and released at once)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _terminate(proc: subprocess.Popen[Any], grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL if it lingers. Only ever touches this one process id."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(5)


def files_below(folder: Path) -> list[str]:
    """Every file below ``folder``, hidden partial files included, as sorted relative paths
    (none if the folder does not exist)."""
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if not p.is_dir())


# -- keys -------------------------------------------------------------------------------------


def _new_key_pem(_: int) -> bytes:
    return IdentityKey.generate().to_pem()


@dataclass(frozen=True)
class Keys:
    """The session's pre-made keys, as unencrypted PKCS#8 PEM."""

    relay_pem: bytes
    identity_pems: tuple[bytes, ...]

    @property
    def relay(self) -> IdentityKey:
        return IdentityKey.from_pem(self.relay_pem)

    def identity(self, index: int) -> IdentityKey:
        return IdentityKey.from_pem(self.identity_pems[index % len(self.identity_pems)])

    def install_relay_key(self, data_dir: Path, key: IdentityKey | None = None) -> None:
        """Put the relay key (or ``key``, for a relay whose key changed) where
        ``messenger-server`` looks, so it does not generate one."""
        key = self.relay if key is None else key
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        _write_private(data_dir / "server_key.pem", key.to_pem())
        (data_dir / "server_key.pub.pem").write_bytes(key.public.to_pem())

    def install_identity(self, profile: Path, index: int) -> None:
        profile.mkdir(parents=True, exist_ok=True, mode=0o700)
        _write_private(
            profile / "identity.pem", self.identity_pems[index % len(self.identity_pems)]
        )


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


# -- line readers -----------------------------------------------------------------------------


class _Lines:
    """Collects the lines of one pipe in a daemon thread; waiters block on a condition."""

    def __init__(self, stream: Any, parse: Callable[[str], Any] | None = None) -> None:
        self.items: list[Any] = []
        self.closed = False
        self._parse = parse
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: Any) -> None:
        try:
            for line in stream:
                item = self._parse(line) if self._parse else line.rstrip("\n")
                with self._cond:
                    self.items.append(item)
                    self._cond.notify_all()
        except (OSError, ValueError):
            pass
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def snapshot(self) -> list[Any]:
        with self._cond:
            return list(self.items)

    def wait_until(self, check: Callable[[list[Any]], Any], timeout: float) -> Any:
        """Return check(items) once it is truthy; None at the deadline or when the pipe ends."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                result = check(self.items)
                if result:
                    return result
                remaining = deadline - time.monotonic()
                if self.closed or remaining <= 0:
                    return None
                self._cond.wait(remaining)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


# -- the relay --------------------------------------------------------------------------------


class RelayProcess:
    """``python -m server`` on 127.0.0.1 with an OS-chosen port.

    It logs at ``log_level`` (None: the relay's default, INFO). Tests use DEBUG by default:
    only there does the relay log which identity each connection proved, which
    ``connections_of`` reads.
    """

    def __init__(
        self,
        data_dir: Path,
        *extra: str,
        rotate_interval: float = 300.0,
        log_level: str | None = "DEBUG",
    ) -> None:
        self.args = [
            sys.executable,
            "-m",
            "server",
            "--host",
            HOST,
            "--port",
            "0",
            "--data-dir",
            str(data_dir),
            "--rotate-interval",
            str(rotate_interval),
            *(["--log-level", log_level] if log_level else []),
            *extra,
        ]
        self.proc = subprocess.Popen(
            self.args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            start_new_session=True,
        )
        self._stdout = _Lines(self.proc.stdout)
        self._log = _Lines(self.proc.stderr)
        match = self._stdout.wait_until(
            lambda lines: next(filter(None, map(_LISTENING.search, lines)), None), SOON
        )
        if match is None:
            self.kill()
            raise AssertionError(
                f"relay did not announce its port; stdout={self._stdout.snapshot()} "
                f"log tail:\n{self.log_tail()}"
            )
        self.port = int(match.group(1))

    @property
    def addr(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def log(self) -> list[str]:
        """The relay's log lines (stderr) so far."""
        return self._log.snapshot()

    def log_tail(self, lines: int = 15) -> str:
        return "\n".join(self._log.snapshot()[-lines:])

    def wait_for_log(self, check: Callable[[list[str]], Any], timeout: float, what: str) -> Any:
        result = self._log.wait_until(check, timeout)
        if not result:
            pytest.fail(f"relay: no {what} within {timeout:g} s; log tail:\n{self.log_tail()}")
        return result

    @property
    def data_dir(self) -> Path:
        return Path(self.args[self.args.index("--data-dir") + 1])

    @property
    def output(self) -> list[str]:
        """The relay's stdout lines so far (its key fingerprint, the listening line)."""
        return self._stdout.snapshot()

    def connections_of(self, person_id: str, lines: list[str] | None = None) -> list[int]:
        """The relay's connection numbers that authenticated as ``person_id`` (from its log)."""
        return [
            int(match.group(1))
            for match in map(_AUTHENTICATED.search, self.log if lines is None else lines)
            if match and person_id.startswith(match.group(2))
        ]

    def wait_until_gone(self, person_id: str, timeout: float = SOON) -> None:
        """Wait until every connection that authenticated as ``person_id`` is logged as closed."""

        def gone(lines: list[str]) -> bool:
            return all(
                any(f"conn {conn}: disconnected" in line for line in lines)
                for conn in self.connections_of(person_id, lines)
            )

        self.wait_for_log(gone, timeout, f"disconnect of every connection of {person_id[:16]}")

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM and wait; returns the exit code (None if it had to be killed)."""
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _terminate(self.proc)
            return None
        self._log.join(2)
        return code

    def kill(self) -> None:
        _terminate(self.proc)


def make_keys(identities: int = IDENTITIES) -> Keys:
    """One relay key and ``identities`` client keys, made two at a time."""
    with ProcessPoolExecutor(max_workers=2) as pool:
        pems = list(pool.map(_new_key_pem, range(1 + identities)))
    return Keys(pems[0], tuple(pems[1:]))


# -- our own client core, in the test's process ----------------------------------------------


class InProcessClient:
    """``Client`` on a fresh profile (no keyring) holding a pool identity: for tests that
    play a hostile peer with our own classes, or look inside the client core. Use as
    ``async with InProcessClient(folder, key, relay_addr) as client:``."""

    def __init__(self, folder: Path, key: IdentityKey, relay_addr: str, **options: Any) -> None:
        from messenger.store.profile import Profile

        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        _write_private(folder / "identity.pem", key.to_pem())
        self.profile = Profile.open(folder, keyring=None)
        self.relay_addr = relay_addr
        self.options = options

    async def __aenter__(self) -> Any:
        from messenger.client import Client
        from messenger.courier import Courier
        from messenger.store.worker import DatabaseWorker
        from messenger.transfer_link import TransferLink

        loop = asyncio.get_running_loop()
        identity = await loop.run_in_executor(None, self.profile.unlock, None)
        self.worker = DatabaseWorker(self.profile.db)
        events: asyncio.Queue[Any] = asyncio.Queue()
        courier = Courier(identity, self.worker, events.put_nowait)
        policy = self.options.pop("file_policy", None)
        courier.links = lambda contact: TransferLink(contact, courier, events.put_nowait, policy)
        await courier.load()
        host, port = self.relay_addr.rsplit(":", 1)
        self.client = Client(
            host, int(port), identity, courier=courier, events=events, **self.options
        )
        return self.client

    async def __aexit__(self, *exc: object) -> None:
        await self.client.close()
        await self.client.courier.close()
        await self.worker.close()
        self.profile.close()
