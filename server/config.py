"""Relay settings: every limit is a keyword with a safe default."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import platformdirs

from messenger.protocol.framing import MAX_FRAME_BODY


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
    #: Frames queued for one slow client before senders to it are made to wait.
    send_queue_frames: int = 64
    #: An invitation not answered within this many seconds is withdrawn.
    invite_timeout: float = 120.0
    #: Store and forward, per recipient: envelopes, bytes and seconds an envelope may wait.
    queue_max_messages: int = 10_000
    queue_max_bytes: int = 64 * 1024 * 1024
    queue_max_age: float = 30 * 24 * 3600.0
