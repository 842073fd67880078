"""Relay settings: every limit is a keyword with a safe default."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import platformdirs

from messenger.protocol.framing import MAX_FRAME_BODY
from messenger.protocol.transport import HANDSHAKE_KEY_LIFETIME, MAX_HANDSHAKE_KEY_AGE
from messenger.protocol.wire import MAX_PEOPLE_PAGE

#: People in one ``people`` page, at most (clients ask for the next page).
MAX_PEOPLE_LISTED = MAX_PEOPLE_PAGE


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("messenger-server", appauthor=False))


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 5555
    data_dir: Path | None = None
    #: Seconds between rotation ticks sent to each paired session.
    rotate_interval: float = 300.0
    max_frame: int = MAX_FRAME_BODY
    #: A new connection must say hello within this many seconds.
    handshake_timeout: float = 10.0
    #: A connection that sends nothing (not even a ping) for this long is closed.
    idle_timeout: float = 120.0
    max_connections_per_address: int = 32
    max_sessions_per_connection: int = 32
    #: Wrong-password attempts a session number survives before it is burned.
    max_failed_pairings: int = 3
    #: Bytes queued for one client (frames the socket has not taken yet) before senders to
    #: it are made to wait (backpressure). One frame bigger than this still goes alone.
    send_queue_bytes: int = 4 * 1024 * 1024
    #: A sender waits this long for room in a client's queue; then that client, which has
    #: stopped reading, is disconnected (``timeout``).
    send_timeout: float = 30.0
    #: An invitation not answered within this many seconds is withdrawn.
    invite_timeout: float = 120.0
    #: Store and forward, per recipient: envelopes, bytes and seconds an envelope may wait.
    queue_max_messages: int = 10_000
    queue_max_bytes: int = 64 * 1024 * 1024
    queue_max_age: float = 30 * 24 * 3600.0
    #: New connections per second from one address that get a transport handshake (the
    #: relay's RSA work); up to ``handshake_burst`` at once (twice the connection limit, so
    #: a machine can reconnect everything while its old connections are still closing).
    #: More: ``busy`` and closed, before any RSA work.
    handshakes_per_second: float = 10.0
    handshake_burst: int = 64
    #: ``join`` requests per minute from one address (a full bucket holds a minute's worth);
    #: more get a ``busy`` error, so nobody sweeps session numbers quickly.
    joins_per_minute: float = 20.0
    #: Threads for the relay's handshake crypto, off the event loop.
    crypto_threads: int = 2
    #: Seconds one signed handshake key serves full handshakes before a new one is made and
    #: signed (0: a new one for every handshake, an RSA signature each). Clients refuse a
    #: key signed two days ago, so at most a day.
    handshake_key_lifetime: float = HANDSHAKE_KEY_LIFETIME
    #: The most people one ``people`` page lists (clients page through longer lists).
    max_people_listed: int = MAX_PEOPLE_LISTED
    #: Changes to the list of people gather this long, then every watcher gets them as one
    #: difference (encoded once): a burst of arrivals costs one message per watcher.
    presence_interval: float = 0.05
    #: Seconds a resumption ticket is good for (0: no tickets, every connection makes a
    #: full handshake). Connections get a fresh one before theirs expires.
    ticket_lifetime: float = 3600.0
    #: Connections the system may hold for us before we accept them (a restart with
    #: thousands of clients reconnecting at once; the kernel caps it at somaxconn).
    backlog: int = 4096

    def __post_init__(self) -> None:
        if not 0 < self.max_people_listed <= MAX_PEOPLE_LISTED:
            raise ValueError(f"max_people_listed must be 1..{MAX_PEOPLE_LISTED}")
        if self.send_queue_bytes < 1 or self.crypto_threads < 1 or self.handshake_burst < 1:
            raise ValueError("send_queue_bytes, crypto_threads and handshake_burst must be >= 1")
        if self.presence_interval < 0 or self.ticket_lifetime < 0:
            raise ValueError("presence_interval and ticket_lifetime must be 0 or more")
        if not 0 <= self.handshake_key_lifetime <= MAX_HANDSHAKE_KEY_AGE / 2:
            raise ValueError(
                f"handshake_key_lifetime must be 0..{MAX_HANDSHAKE_KEY_AGE / 2:g} seconds"
            )
        for name in ("send_timeout", "handshakes_per_second", "joins_per_minute"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be more than 0")
