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

from messenger.protocol.payloads import FileChunk, FileOffer, payloads
from messenger.protocol.transfer import CHUNK_SIZE
from messenger.protocol.transfer_frames import TransferCipher
from tests.integration.conftest import CliProcess
from tests.support import SOON, InProcessClient, Keys, event

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


class Attacker:
    """Our own client core, paired by code with the victim, sending file messages a
    well-behaved peer never would (sealed properly, so the victim must read them)."""

    def __init__(self, client, session) -> None:
        self.client, self.session = client, session

    async def send(self, payload: object) -> None:
        courier, contact = self.client.courier, self.session.contact_id
        await courier.send_sealed(contact, [courier.seal_for(contact, payload)])

    async def chunk(self, offer: FileOffer, index: int, data: bytes) -> None:
        courier, contact = self.client.courier, self.session.contact_id
        cipher = TransferCipher(offer.id, offer.key, sending=True)
        for _ in range(index):
            cipher.seal(b"", b"")  # frames before this one were "sent"
        chunk = FileChunk(id=offer.id, index=index, data=data)
        frame = cipher.seal(payloads.encode(chunk), courier.hint_for(contact))
        await courier.send_direct(contact, frame)


async def attack_by_code(relay_addr: str, code: str, keys: Keys, folder: Path, steps) -> None:
    async with InProcessClient(folder, keys.identity(2), relay_addr, name="mallory") as client:
        await client.connect()
        session = await client.join_session(code)
        async with asyncio.timeout(SOON):
            await session.wait_ready()
        await steps(Attacker(client, session))


def offer_of(transfer_id: str) -> FileOffer:
    return FileOffer(
        id=transfer_id,
        name="x.bin",
        size=len(PAYLOAD),
        sha256=hashlib.sha256(PAYLOAD).digest(),
        chunk_size=CHUNK_SIZE,
        key=bytes(range(32)),
    )


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

    async def steps(attacker: Attacker) -> None:
        # A first, honest offer of the same content makes the second one take the
        # "second copy" path that used to name the partial file after the id.
        await attacker.send(offer_of("0" * 32))
        await attacker.send(offer_of(evil_id))
        await asyncio.to_thread(victim.wait_for, event("dropped", reason="malformed"))

    asyncio.run(attack_by_code(relay.addr, code, keys, tmp_path / "mallory", steps))

    after = tree(tmp_path)
    new = {n for n in set(after) - set(before) if not n.startswith("mallory/")}
    assert all(name.startswith("victim-inbox/") for name in new), new
    assert not any("PWNED" in name for name in after)
    for folder in tmp_path.parents[:3]:
        assert not list(folder.glob("*PWNED*")), folder
    # The victim's own profile database, the relay's files and the attacker's may change.
    unchanged = [n for n in before if "profile" in n and "profile.db" not in n]
    changed = [name for name in unchanged if name in after and after[name] != before[name]]
    assert changed == [], changed
    assert set(before) <= set(after), "nothing the victim had was deleted"
    assert victim.running, "a bad file message is dropped; the victim carries on"


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

    async def steps(attacker: Attacker) -> None:
        offer = offer_of("1" * 32)
        await attacker.send(offer)
        await attacker.chunk(offer, 0, PAYLOAD)
        await asyncio.to_thread(victim.wait_for, event("file_error"))

    asyncio.run(attack_by_code(relay.addr, code, keys, tmp_path / "mallory", steps))
    assert victim.of("file_error")[0]["code"] == "unwritable", victim.describe()
    assert list(elsewhere.iterdir()) == []
