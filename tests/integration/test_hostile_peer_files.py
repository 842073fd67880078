"""A hostile peer against a real messenger-cli that accepts files (``--accept-files``, so no
clicks are needed): whatever ids and names it sends, nothing is written, moved or deleted
outside the accept folder.

The peer is our own client core in this process, paired by code with the victim through
a real relay, sending payloads a well-behaved peer never would.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from messenger.client import Client
from messenger.protocol.payloads import FileChunk, FileOffer
from messenger.protocol.transfer import CHUNK_SIZE
from tests.integration.conftest import CliProcess
from tests.support import SOON, Keys, event

pytestmark = pytest.mark.timeout(60)

PAYLOAD = b"hostile bytes " * 100


def tree(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` but the profiles' databases, which their owners rewrite as
    they work (the write-ahead log, its checkpoint and removal when the CLI exits)."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink() and not p.name.startswith("profile.db")
    }


async def hostile_session(relay_addr: str, code: str, keys: Keys):
    host, port = relay_addr.rsplit(":", 1)
    attacker = Client(host, int(port), keys.identity(2), name="mallory")
    await attacker.connect()
    session = await attacker.join_session(code)
    async with asyncio.timeout(SOON):
        await session.wait_ready()
    return attacker, session


@pytest.mark.parametrize(
    "evil_id",
    ["../../../PWNED", "../contacts.json", "/tmp/PWNED", "a" * 31 + "/", "A" * 32, "x"],
)
def test_a_transfer_id_that_is_not_32_hex_digits_is_refused_and_writes_nothing(
    relay, make_cli, keys, tmp_path, evil_id
):
    inbox = tmp_path / "victim-inbox"
    victim: CliProcess = make_cli(relay.addr, "--accept-files", str(inbox), "create", name="v")
    code = victim.wait_for(event("code"))["code"]
    before = tree(tmp_path)
    digest = hashlib.sha256(PAYLOAD).digest()

    async def attack() -> None:
        attacker, session = await hostile_session(relay.addr, code, keys)
        try:
            # A first, honest offer of the same content makes the second one take the
            # "second copy" path that used to name the partial file after the id.
            honest = "0" * 32
            for transfer_id in (honest, evil_id):
                await session._send_payload(
                    FileOffer(
                        id=transfer_id,
                        name="x.bin",
                        size=len(PAYLOAD),
                        sha256=digest,
                        chunk_size=CHUNK_SIZE,
                    )
                )
            await session._send_payload(FileChunk(id=evil_id, index=0, data=PAYLOAD))
            async with asyncio.timeout(SOON):
                await session.wait_closed()
        finally:
            await attacker.close()

    asyncio.run(attack())

    failure = victim.wait_for(event("error"))
    assert failure["code"] == "protocol", failure
    after = tree(tmp_path)
    new = set(after) - set(before)
    assert all(name.startswith("victim-inbox/") for name in new), new
    assert not any("PWNED" in name for name in after)
    for folder in tmp_path.parents[:3]:
        assert not list(folder.glob("*PWNED*")), folder
    assert all(after[name] == before[name] for name in before if name in after)
    assert set(before) <= set(after), "nothing the victim had was deleted"


def test_a_symlinked_partial_folder_is_not_followed(relay, make_cli, keys, tmp_path):
    """Someone who can write into the accept folder plants ``.messenger-partial`` as a
    symlink to elsewhere: the victim refuses to write through it."""
    inbox = tmp_path / "victim-inbox"
    inbox.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (inbox / ".messenger-partial").symlink_to(elsewhere)
    victim = make_cli(relay.addr, "--accept-files", str(inbox), "create", name="v")
    code = victim.wait_for(event("code"))["code"]
    digest = hashlib.sha256(PAYLOAD).digest()

    async def offer() -> dict:
        attacker, session = await hostile_session(relay.addr, code, keys)
        try:
            await session._send_payload(
                FileOffer(
                    id="1" * 32,
                    name="x.bin",
                    size=len(PAYLOAD),
                    sha256=digest,
                    chunk_size=CHUNK_SIZE,
                )
            )
            await session._send_payload(FileChunk(id="1" * 32, index=0, data=PAYLOAD))
            return await asyncio.to_thread(victim.wait_for, event("file_error"))
        finally:
            await attacker.close()

    failed = asyncio.run(offer())
    assert failed["code"] == "unwritable", failed
    assert list(elsewhere.iterdir()) == []
