"""Light clients for the relay benchmarks (``tests.bench.relay_load``): many connections in
one process, cheap enough that the machine's two cores go to the relay, not to us.

- Identities come from a pool made once and kept under /tmp (``identity_pool``), so no run
  waits for RSA key generation. Their signatures (the client's half of a handshake) are made
  by OpenSSL through ``cryptography``, their X25519 shares too, and the relay's key is parsed
  once: that is the load generator's business, not the relay's. The relay's side of every
  handshake is exactly what real clients cost it.
- ``Conn`` is an ``asyncio.Protocol`` running the project's own sans-IO handshake
  (``messenger.protocol.transport.ClientHandshake``) and transport cipher, writing what it
  has once per turn of the loop.
- ``PlainConn`` speaks the plain relay's protocol (``tests.bench.plain_relay``): a length
  prefix and a one-letter kind, nothing sealed.

Not a test: nothing here asserts anything.
"""

from __future__ import annotations

import asyncio
import os
import struct
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, cast

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from messenger.crypto.rsa import PublicKey
from messenger.net.tickets import TicketJar
from messenger.protocol import transport, wire
from messenger.protocol.framing import FrameDecoder, encode_frame

POOL_DIR = Path("/tmp/messenger-bench-identities")
_LENGTH = struct.Struct(">I")


# -- identities --------------------------------------------------------------------------------


class FastIdentity:
    """Quacks like ``IdentityKey`` for ``ClientHandshake``: ``public``, ``fingerprint`` and
    ``sign`` (RSA-PSS, SHA-256, MGF1-SHA-256, 32-byte salt, as ours), by OpenSSL."""

    def __init__(self, pem: bytes) -> None:
        # Our own keys, made by ``_make_pem``: OpenSSL's consistency check of a private key
        # costs ~0.1-0.3 s at 3072 bits, minutes for a pool, and proves nothing here.
        self._key = serialization.load_pem_private_key(
            pem, None, unsafe_skip_rsa_key_validation=True
        )
        der = self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.public = PublicKey.from_der(der)
        self.fingerprint = self.public.fingerprint
        self._pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)

    def sign(self, message: bytes) -> bytes:
        signature: bytes = self._key.sign(message, self._pss, hashes.SHA256())
        return signature


def _make_pem(_: int) -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def identity_pool(count: int) -> list[FastIdentity]:
    """``count`` identities, made once (two processes) and kept in POOL_DIR."""
    POOL_DIR.mkdir(mode=0o700, exist_ok=True)
    have = sorted(POOL_DIR.glob("*.pem"))
    if len(have) < count:
        with ProcessPoolExecutor(max_workers=2) as pool:
            for index, pem in enumerate(pool.map(_make_pem, range(count - len(have)))):
                path = POOL_DIR / f"{len(have) + index:05d}.pem"
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(pem)
        have = sorted(POOL_DIR.glob("*.pem"))
    return [FastIdentity(path.read_bytes()) for path in have[:count]]


class _FastEphemeral:
    """Quacks like ``EphemeralKey`` (an X25519 share) for the client side, by OpenSSL."""

    def __init__(self) -> None:
        self._key = X25519PrivateKey.generate()
        self.public_bytes = self._key.public_key().public_bytes_raw()

    def agree(self, peer: bytes) -> bytes:
        return self._key.exchange(X25519PublicKey.from_public_bytes(peer))


#: Relay keys and handshake-key signatures this process has checked already.
_CHECKED: dict[tuple[bytes, bytes, int, bytes], PublicKey] = {}


class FastHandshake(transport.ClientHandshake):
    """The project's client handshake with the load generator's costs cut: an OpenSSL X25519
    share, and the relay's signed handshake key checked once per key (it changes every ten
    minutes), not once per connection."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._eph = _FastEphemeral()  # type: ignore[assignment]

    def _signed_by(self, message: wire.ServerHello) -> PublicKey:
        credential = (message.key, message.hkey, message.hkey_at, message.signature)
        key = _CHECKED.get(credential)
        if key is None:
            key = _CHECKED[credential] = super()._signed_by(message)
        return key


# -- connections -------------------------------------------------------------------------------


class BaseConn(asyncio.Protocol):
    """Frames in and out, written once per turn of the loop; ``closed`` when it ends."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.decoder = FrameDecoder()
        self._out: list[bytes | bytearray] = []
        self._flush_due = False
        self.closed = asyncio.get_running_loop().create_future()
        self._bodies: deque[bytes] = deque()
        self._waiter: asyncio.Future[None] | None = None
        #: Called with each message once the handshake is done (instead of queueing it).
        self.on_message: Callable[[Any], None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports quack like asyncio.Transport without deriving from it
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError("closed"))

    def data_received(self, data: bytes) -> None:
        self.decoder.receive_data(data)
        try:
            while (body := self.decoder.next_frame()) is not None:
                self.frame(body)
        except Exception:
            # A frame we cannot open: typically an overloaded relay giving up on a handshake
            # (its plain "took too long" error after we switched to sealing). The scenario
            # counts the connection as failed; a traceback per connection would drown the
            # report.
            self.abort()

    def frame(self, body: bytes) -> None:
        self._bodies.append(body)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def next_body(self) -> bytes:
        while not self._bodies:
            if self.closed.done():
                raise ConnectionError("closed")
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        return self._bodies.popleft()

    def write_frame(self, frame: bytes | bytearray) -> None:
        self._out.append(frame)
        if not self._flush_due:
            self._flush_due = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_due = False
        out, self._out = self._out, []
        if self.transport is not None and not self.transport.is_closing() and out:
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class Conn(BaseConn):
    """A messenger client connection: the real handshake, then sealed control messages."""

    def __init__(self) -> None:
        super().__init__()
        self.cipher: transport.TransportCipher | None = None
        self.handshake: FastHandshake | None = None
        self.welcome: wire.Welcome | None = None
        self.ticket: transport.ClientTicket | None = None

    def send(self, message: object) -> None:
        self.send_body(wire.encode(message))

    def send_body(self, body: bytes) -> None:
        if self.cipher is not None:
            self.write_frame(self.cipher.seal_frame(body))
        else:
            self.write_frame(encode_frame(body))

    def frame(self, body: bytes) -> None:
        if self.cipher is not None:
            body = self.cipher.open(body)
        if self.on_message is not None:
            message = wire.decode(body)
            if isinstance(message, wire.Ticket):
                self._keep(message)
            else:
                self.on_message(message)
            return
        super().frame(body)

    def _keep(self, message: wire.Ticket) -> None:
        if self.handshake is not None:
            self.ticket = self.handshake.got_ticket(message)

    async def next_message(self) -> object:
        while True:
            message = wire.decode(await self.next_body())
            if isinstance(message, wire.Ticket):
                self._keep(message)
                continue
            return message

    async def shake(
        self,
        identity: FastIdentity,
        name: str = "",
        *,
        listed: bool = False,
        accept_invites: bool = False,
        ticket: transport.ClientTicket | None = None,
    ) -> wire.Welcome:
        handshake = FastHandshake(identity, name, accept_invites, listed, ticket, want_tickets=True)
        self.handshake = handshake
        self.send_body(handshake.hello())
        handshake.got_server_hello(await self.next_body())
        if handshake.resumed:
            self.cipher = handshake.cipher
            self.send_body(handshake.resume())
        else:
            self.cipher = handshake.cipher
            self.send_body(handshake.auth())
        welcome = await self.next_message()
        if not isinstance(welcome, wire.Welcome):
            raise ConnectionError(f"not welcomed: {welcome}")
        self.welcome = welcome
        return welcome


class PlainConn(BaseConn):
    """A plain relay client: frames are a kind letter and bytes, nothing sealed."""

    def send(self, kind: bytes, payload: bytes = b"") -> None:
        self.write_frame(_LENGTH.pack(1 + len(payload)) + kind + payload)

    def frame(self, body: bytes) -> None:
        if self.on_message is not None:
            self.on_message(body)
            return
        super().frame(body)

    async def shake(self, identity: FastIdentity, name: str = "", *, listed: bool = False,
                    **_: Any) -> bytes:  # fmt: skip
        self.send(b"H", (b"L" if listed else b"-") + bytes.fromhex(identity.fingerprint))
        welcome = await self.next_body()
        if welcome[:1] != b"W":
            raise ConnectionError(f"not welcomed: {welcome[:20]!r}")
        return welcome


async def open_conn(
    kind: str, port: int, source: str = "127.0.0.1", host: str = "127.0.0.1"
) -> BaseConn:
    loop = asyncio.get_running_loop()
    factory = Conn if kind != "plain" else PlainConn
    _transport, conn = await loop.create_connection(factory, host, port, local_addr=(source, 0))
    return conn


def sources(count: int) -> list[str]:
    """Loopback source addresses 127.0.1.1 ... (each has its own per-address limits)."""
    return [f"127.0.{1 + i // 250}.{1 + i % 250}" for i in range(count)]


def relay_cpu(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def relay_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def percentile(samples: list[float], fraction: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def now() -> float:
    return time.perf_counter()


__all__ = [
    "Conn",
    "FastIdentity",
    "PlainConn",
    "TicketJar",
    "identity_pool",
    "now",
    "open_conn",
    "percentile",
    "relay_cpu",
    "relay_rss_kib",
    "sources",
]
