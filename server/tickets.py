"""Resumption tickets: a client that reconnects skips the RSA work of a full handshake.

After a full handshake (or a resumed one) the relay hands the client a ticket, sealed in
the transport: the client's id and identity key and a secret both sides derived from that
connection's keys (``transport.ticket_secret``), sealed under the relay's ticket key, which
only the relay holds. On its next connection the client shows the ticket in its
``client_hello``; the relay opens it, and both sides mix the secret with a fresh X25519
agreement into the new connection's keys (see docs/protocol.md, "Resumption"). Costs: an
AES-GCM open, an X25519 agreement and an HKDF, against an RSA signature and an RSA
decryption (and the client's RSA signature) for a full handshake.

Format (opaque to clients)::

    ticket = version:1 (=1) | key id:8 | nonce:12 | AES-256-GCM(ticket key, nonce, body,
                                                                aad = version || key id)
    body   = msgpack [id:16, issued, expires, person id, identity key DER, secret:32]
    ticket key = HKDF-SHA256(the ticket.key file, 32, salt = relay key fingerprint,
                             info = "messenger v3 ticket key"),  key id = its SHA-256[:8]

- **Short-lived**: a ticket expires ``lifetime`` seconds after it was issued (wall clock, so
  the expiry holds across a restart); the relay hands live connections a fresh one before.
- **Single use**: the relay remembers every ticket id it redeemed until the ticket would
  have expired, and refuses it again. The list is saved in ``tickets.used`` when the relay
  stops and read when it starts, so a planned restart does not reopen used tickets (a crash
  loses the list: see docs/security.md).
- **Bound to the relay key**: the ticket key is derived with the relay key's fingerprint,
  so after ``keygen --force`` no earlier ticket opens; the client then gets a full handshake
  and meets its pin (``server_key_changed``).
- The ticket key file (32 random bytes, 0600) survives restarts: that is what makes a
  restart with thousands of clients cheap.
"""

from __future__ import annotations

import contextlib
import os
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import msgpack
from Crypto.Hash import SHA256

from messenger.crypto.aead import KEY_SIZE, NONCE_SIZE, GcmKey, random_bytes
from messenger.crypto.errors import AuthenticationError, CryptoError
from messenger.crypto.kdf import hkdf_sha256
from messenger.crypto.rsa import PublicKey

TICKET_KEY_FILE = "ticket.key"
USED_FILE = "tickets.used"
VERSION = 1
ID_SIZE = 16
#: Tickets longer than this are not ours: not even opened.
MAX_TICKET = 2048
_KEY_INFO = b"messenger v3 ticket key"
_HEADER = struct.Struct(">B8s")
_USED_ENTRY = struct.Struct(">16sd")
#: Identity keys parsed from tickets, kept (a DER parse is ~0.5 ms; returning people are many).
_KEY_CACHE = 4096


@dataclass(frozen=True, slots=True)
class Redeemed:
    """What a good ticket says: who the client proved to be, and the secret it must know."""

    person_id: str
    key: PublicKey
    secret: bytes

    def __repr__(self) -> str:
        return f"Redeemed(person_id={self.person_id[:16]}..., secret=...)"


class TicketBook:
    """Issues and redeems tickets under one relay key. Thread-safe: the relay redeems in its
    crypto threads."""

    def __init__(
        self,
        master: bytes,
        relay_fingerprint: str,
        lifetime: float,
        *,
        clock: Callable[[], float] = time.time,
        used: dict[bytes, float] | None = None,
    ) -> None:
        if len(master) != KEY_SIZE:
            raise ValueError(f"the ticket master key is {KEY_SIZE} bytes")
        key = hkdf_sha256(master, KEY_SIZE, salt=bytes.fromhex(relay_fingerprint), info=_KEY_INFO)
        self._gcm = GcmKey(key)
        self._key_id = SHA256.new(key).digest()[:8]
        self.lifetime = lifetime
        self._clock = clock
        self._lock = threading.Lock()
        self._used: dict[bytes, float] = dict(used or {})
        self._keys: dict[bytes, PublicKey] = {}

    def issue(self, person_id: str, key_der: bytes, secret: bytes) -> bytes:
        now = self._clock()
        body = msgpack.packb(
            [random_bytes(ID_SIZE), now, now + self.lifetime, person_id, key_der, secret],
            use_bin_type=True,
        )
        header = _HEADER.pack(VERSION, self._key_id)
        nonce = random_bytes(NONCE_SIZE)
        return header + nonce + self._gcm.seal(nonce, body, header)

    def redeem(self, ticket: bytes) -> Redeemed | None:
        """The ticket's contents, once; None for anything else (not ours, another relay key,
        expired, already used, damaged). Each refusal looks the same to the client: a full
        handshake instead."""
        if not _HEADER.size + NONCE_SIZE < len(ticket) <= MAX_TICKET:
            return None
        header = ticket[: _HEADER.size]
        version, key_id = _HEADER.unpack(header)
        if version != VERSION or key_id != self._key_id:
            return None
        nonce = ticket[_HEADER.size : _HEADER.size + NONCE_SIZE]
        try:
            body = self._gcm.open(nonce, ticket[_HEADER.size + NONCE_SIZE :], header)
            ticket_id, issued, expires, person_id, key_der, secret = msgpack.unpackb(body)
        except (AuthenticationError, ValueError, TypeError):
            return None
        now = self._clock()
        if not issued - 60 <= now < expires:
            return None
        with self._lock:
            if ticket_id in self._used:
                return None
            self._used[ticket_id] = expires
            if len(self._used) % 1024 == 0:
                self._forget_expired(now)
            key = self._keys.get(key_der)
        if key is None:
            try:
                key = PublicKey.from_der(key_der)
            except CryptoError:
                return None
            with self._lock:
                if len(self._keys) >= _KEY_CACHE:
                    self._keys.clear()
                self._keys[key_der] = key
        if key.fingerprint != person_id:
            return None
        return Redeemed(person_id, key, secret)

    def _forget_expired(self, now: float) -> None:
        for ticket_id in [t for t, expires in self._used.items() if expires <= now]:
            del self._used[ticket_id]

    def used(self) -> dict[bytes, float]:
        """Redeemed tickets that have not expired yet: id -> expiry."""
        with self._lock:
            self._forget_expired(self._clock())
            return dict(self._used)


def ticket_master(data_dir: Path) -> bytes:
    """The relay's ticket key, from ``data_dir/ticket.key``; made (0600) on first use.
    Blocking, once at start."""
    path = data_dir / TICKET_KEY_FILE
    try:
        master = path.read_bytes()
    except FileNotFoundError:
        master = b""
    if len(master) == KEY_SIZE:
        return master
    master = random_bytes(KEY_SIZE)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(master)
        handle.flush()
        os.fsync(handle.fileno())
    return master


def load_used(data_dir: Path) -> dict[bytes, float]:
    """The used tickets a previous run saved (``save_used``); empty if none or damaged."""
    try:
        data = (data_dir / USED_FILE).read_bytes()
    except OSError:
        return {}
    if len(data) % _USED_ENTRY.size:
        return {}
    return dict(_USED_ENTRY.iter_unpack(data))


def save_used(data_dir: Path, used: dict[bytes, float]) -> None:
    """Keep the used tickets for the next run (0600, replaced atomically)."""
    path = data_dir / USED_FILE
    tmp = path.with_suffix(".tmp")
    data = b"".join(_USED_ENTRY.pack(ticket_id, expires) for ticket_id, expires in used.items())
    with contextlib.suppress(OSError):
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
