"""The relay the app hosts: a stable port, the next free one when it is taken."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from server.embedded import ALL_INTERFACES, DEFAULT_PORT, LOOPBACK, EmbeddedRelay
from tests.support import Keys


def occupied_port() -> socket.socket:
    """A listening socket on 127.0.0.1 whose port the relay must not get."""
    sock = socket.socket()
    sock.bind((LOOPBACK, 0))
    sock.listen()
    return sock


def test_the_relay_takes_the_next_port_when_the_chosen_one_is_taken(tmp_path: Path, keys: Keys):
    keys.install_relay_key(tmp_path / "relay")
    with occupied_port() as taken:
        port = taken.getsockname()[1]

        async def scenario() -> tuple[str, int]:
            relay = EmbeddedRelay(tmp_path / "relay", host=LOOPBACK, port=port)
            try:
                return await relay.start()
            finally:
                await relay.stop()

        host, bound = asyncio.run(scenario())
    assert host == LOOPBACK
    assert port < bound < port + 20


def test_the_relay_reports_its_key_fingerprint(tmp_path: Path, keys: Keys):
    keys.install_relay_key(tmp_path / "relay")

    async def scenario() -> str:
        relay = EmbeddedRelay(tmp_path / "relay")
        await relay.start()
        await relay.stop()
        return relay.fingerprint

    assert asyncio.run(scenario()) == keys.relay.fingerprint


def test_a_port_that_stays_taken_is_an_error(tmp_path: Path, keys: Keys):
    keys.install_relay_key(tmp_path / "relay")
    with occupied_port() as taken:
        relay = EmbeddedRelay(tmp_path / "relay", port=taken.getsockname()[1], port_tries=1)
        with pytest.raises(OSError):
            asyncio.run(relay.start())


def test_everyone_means_every_interface_on_the_usual_port(tmp_path: Path):
    relay = EmbeddedRelay(tmp_path, host=ALL_INTERFACES, port=DEFAULT_PORT)
    assert relay.requested == ("", 5555)
