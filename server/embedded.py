"""The relay hosted inside the desktop app ("host a server on this computer").

Same hub as ``messenger-server``, on the app's own asyncio loop, with its key in the
profile's folder so that the fingerprint people pinned survives restarts.

Others must be able to find it again: it listens on a stable port (5555 unless the person
chose another), and when that port is taken it tries the next ones (``PORT_TRIES``); the
app remembers the port it got, so it stays put from then on. ``host`` "" means every
interface (IPv4 and IPv6: what "others on my network can connect" needs), "127.0.0.1"
only this computer. Port 0 (tests) lets the system choose.
"""

from __future__ import annotations

import asyncio
import errno
from pathlib import Path

from server import identity
from server.config import ServerConfig
from server.hub import Hub

__all__ = ["ALL_INTERFACES", "DEFAULT_PORT", "LOOPBACK", "PORT_TRIES", "EmbeddedRelay"]

#: The port the app hosts on unless the person chose another (the relay's usual port too).
DEFAULT_PORT = 5555
#: Ports tried after the chosen one when it is taken: 5555, 5556, ... 5574.
PORT_TRIES = 20
#: asyncio's "every interface" (one socket per address family).
ALL_INTERFACES = ""
LOOPBACK = "127.0.0.1"


class EmbeddedRelay:
    def __init__(
        self,
        data_dir: Path,
        host: str = LOOPBACK,
        port: int = 0,
        rotate_interval: float = 300.0,
        port_tries: int = PORT_TRIES,
    ) -> None:
        self.config = ServerConfig(
            host=host, port=port, data_dir=data_dir, rotate_interval=rotate_interval
        )
        self.port_tries = 1 if port == 0 else max(1, port_tries)
        self.hub: Hub | None = None
        self.address: tuple[str, int] | None = None
        #: The relay key's fingerprint, once started: what others pin.
        self.fingerprint = ""

    @property
    def requested(self) -> tuple[str, int]:
        """The host and the first port asked for (what a settings change compares)."""
        return self.config.host, self.config.port

    async def start(self) -> tuple[str, int]:
        """Load or make the key (off the loop: generation takes seconds) and listen on the
        first free port from the one asked for; OSError if none of them is free."""
        loop = asyncio.get_running_loop()
        assert self.config.data_dir is not None
        key = await loop.run_in_executor(None, identity.load_or_generate, self.config.data_dir)
        self.fingerprint = key.fingerprint
        last_error: OSError | None = None
        for offset in range(self.port_tries):
            port = self.config.port + offset if self.config.port else 0
            if port > 65535:
                break
            hub = Hub(_with_port(self.config, port), key)
            try:
                self.address = await hub.start()
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
                last_error = exc
                continue
            self.hub = hub
            return self.address
        assert last_error is not None
        raise last_error

    async def stop(self) -> None:
        if self.hub is not None:
            await self.hub.close()
            self.hub = None


def _with_port(config: ServerConfig, port: int) -> ServerConfig:
    from dataclasses import replace

    return replace(config, port=port)
