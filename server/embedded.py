"""The relay hosted inside the desktop app ("host a server on this computer").

Same hub as ``messenger-server``, on the app's own asyncio loop, with its key in the
profile's folder so that the fingerprint people pinned survives restarts.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from server import identity
from server.config import ServerConfig
from server.hub import Hub


class EmbeddedRelay:
    def __init__(
        self, data_dir: Path, host: str = "127.0.0.1", port: int = 0, rotate_interval: float = 300.0
    ) -> None:
        self.config = ServerConfig(
            host=host, port=port, data_dir=data_dir, rotate_interval=rotate_interval
        )
        self.hub: Hub | None = None
        self.address: tuple[str, int] | None = None

    async def start(self) -> tuple[str, int]:
        """Load or make the key (off the loop: generation takes seconds) and listen."""
        loop = asyncio.get_running_loop()
        assert self.config.data_dir is not None
        key = await loop.run_in_executor(None, identity.load_or_generate, self.config.data_dir)
        self.hub = Hub(self.config, key)
        self.address = await self.hub.start()
        return self.address

    async def stop(self) -> None:
        if self.hub is not None:
            await self.hub.close()
            self.hub = None
