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
    #: Bytes queued for one client (frames the socket has not taken yet) before senders to
    #: it are made to wait (backpressure). One frame bigger than this still goes alone.
    send_queue_bytes: int = 4 * 1024 * 1024
    #: A sender waits this long for room in a client's queue; then that client, which has
    #: stopped reading, is disconnected (``timeout``).
    send_timeout: float = 30.0
    #: An invitation not answered within this many seconds is withdrawn.
    invite_timeout: float = 120.0

    def __post_init__(self) -> None:
        if self.send_queue_bytes < 1:
            raise ValueError("send_queue_bytes must be >= 1")
        if not self.send_timeout > 0:
            raise ValueError("send_timeout must be more than 0")
