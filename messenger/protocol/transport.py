"""The sealed client<->relay transport: RSA-authenticated key exchange, then AES-256-GCM.

Handshake (all three messages plaintext; see ``wire`` for the fields)::

    C -> S  client_hello   eph_c (X25519), nonce_c
    S -> C  server_hello   server RSA key, eph_s, nonce_s,
                           PSS_s(label || client_hello || key || eph_s || nonce_s)
    C -> S  key_exchange   OAEP_s(secret)            secret: 32 fresh random bytes
    keys    HKDF(secret || X25519(eph_c, eph_s), salt=SHA256(label || ch || sh || kx))
            -> client->server key, server->client key
    C -> S  auth (sealed)  client RSA key, PSS_c(label || transcript hash)

Why both RSA and X25519: only the holder of the server's private key can unwrap ``secret``
(so the client knows whom it talks to, and the pinned fingerprint means something), and the
signed ephemeral agreement gives forward secrecy: stealing the server key later opens no
recorded session. The client's signature over the transcript hash (which contains the
server's fresh nonce) is the answer to the server's challenge, bound to this very connection.

After the handshake every frame body is ``AES-256-GCM(key, nonce = direction || counter)``.
The counter is implicit (both sides count frames), so a modified, replayed, dropped,
reordered or injected frame fails authentication and the connection is closed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

from Crypto.Hash import SHA256

from messenger.crypto.aead import KEY_SIZE, TAG_SIZE, GcmKey, random_bytes
from messenger.crypto.errors import AuthenticationError, CryptoError
from messenger.crypto.kdf import hkdf_sha256
from messenger.crypto.mac import hmac_sha256
from messenger.crypto.rsa import IdentityKey, PublicKey
from messenger.crypto.x25519 import PUBLIC_SIZE, EphemeralKey
from messenger.protocol import wire
from messenger.protocol.errors import (
    AuthenticationFailedError,
    FrameTooLargeError,
    LocalProtocolError,
    RemoteProtocolError,
    TamperedError,
    error_from_code,
)
from messenger.protocol.framing import MAX_FRAME_BODY

_LABEL = b"messenger v2 transport"
_RESUME_LABEL = b"messenger v3 resumed transport"
_TICKET_LABEL = b"messenger v3 ticket "
SECRET_SIZE = 32


class TransportDirection(IntEnum):
    CLIENT_TO_SERVER = 0x43  # "C"
    SERVER_TO_CLIENT = 0x53  # "S"


_NONCE = struct.Struct(">IQ")
_LENGTH = struct.Struct(">I")
_MAX_COUNTER = 2**64 - 1


class TransportCipher:
    """Seals and opens frame bodies with implicit counters, one key per direction.

    Each direction's AES-GCM key schedule is made once (``GcmKey``), not once per frame:
    the relay seals and opens every frame of every connection, so that set-up was most of
    its cost per message.
    """

    __slots__ = ("_recv", "_recv_counter", "_recv_direction", "_send", "_send_counter",
                 "_send_direction")  # fmt: skip

    def __init__(self, send_key: bytes, recv_key: bytes, send_direction: TransportDirection):
        self._send = GcmKey(send_key)
        self._recv = GcmKey(recv_key)
        self._send_direction = int(send_direction)
        self._recv_direction = int(
            TransportDirection.SERVER_TO_CLIENT
            if send_direction is TransportDirection.CLIENT_TO_SERVER
            else TransportDirection.CLIENT_TO_SERVER
        )
        self._send_counter = 0
        self._recv_counter = 0

    def seal(self, body: bytes) -> bytes:
        counter = self._send_counter
        if counter > _MAX_COUNTER:
            raise LocalProtocolError("This connection has sealed all the frames it may.")
        self._send_counter = counter + 1
        return self._send.seal(_NONCE.pack(self._send_direction, counter), body)

    def seal_frame(self, body: bytes) -> bytes | bytearray:
        """The whole frame (length prefix, then the sealed body) for the next body."""
        size = len(body) + TAG_SIZE
        if size > MAX_FRAME_BODY:
            raise FrameTooLargeError(
                f"Refusing to send a {size}-byte frame (limit {MAX_FRAME_BODY})."
            )
        counter = self._send_counter
        if counter > _MAX_COUNTER:
            raise LocalProtocolError("This connection has sealed all the frames it may.")
        self._send_counter = counter + 1
        return self._send.seal_after(
            _LENGTH.pack(size), _NONCE.pack(self._send_direction, counter), body
        )

    def open(self, sealed: bytes) -> bytes:
        """Open the next frame; TamperedError if it is not exactly the next one we expect."""
        nonce = _NONCE.pack(self._recv_direction, self._recv_counter)
        try:
            body = self._recv.open(nonce, sealed)
        except AuthenticationError:
            raise TamperedError(
                "A frame from the other side was modified, replayed, dropped or injected; "
                "the connection was closed."
            ) from None
        self._recv_counter += 1
        return body


@dataclass(frozen=True, slots=True)
class TransportKeys:
    client_to_server: bytes
    server_to_client: bytes
    transcript: bytes
    #: The secret the relay's tickets for this connection derive theirs from.
    resumption: bytes = b""

    def __repr__(self) -> str:
        return "TransportKeys(...)"


def ticket_secret(resumption: bytes, number: int) -> bytes:
    """The secret of a connection's ``number``-th ticket: both sides derive it from the
    connection's resumption secret, so it never travels (only the sealed ticket does)."""
    return hmac_sha256(resumption, _TICKET_LABEL + number.to_bytes(8, "big"))


class Redeemed(Protocol):
    """What a relay's ticket says (``server.tickets.Redeemed``)."""

    @property
    def person_id(self) -> str: ...
    @property
    def key(self) -> PublicKey: ...
    @property
    def secret(self) -> bytes: ...


class TicketRedeemer(Protocol):
    """Opens a ticket once (``server.tickets.TicketBook``); None if it is not good."""

    def redeem(self, ticket: bytes) -> Redeemed | None: ...


@dataclass(frozen=True, slots=True)
class ClientTicket:
    """A ticket the client keeps for its next connection to the relay that holds ``server``."""

    ticket: bytes
    secret: bytes
    server: PublicKey

    def __repr__(self) -> str:
        return f"ClientTicket(server={self.server.fingerprint[:16]}..., ...)"


def _sign_input_server(client_hello: bytes, key_der: bytes, eph: bytes, nonce: bytes) -> bytes:
    return _LABEL + b" server" + _lp(client_hello) + _lp(key_der) + _lp(eph) + _lp(nonce)


def _sign_input_client(transcript: bytes) -> bytes:
    return _LABEL + b" client auth" + transcript


def _lp(data: bytes) -> bytes:
    """Length-prefix a field so that concatenated transcript fields cannot be re-split."""
    return len(data).to_bytes(4, "big") + data


def _derive(secret: bytes, shared: bytes, ch: bytes, sh: bytes, kx: bytes) -> TransportKeys:
    transcript = SHA256.new(_LABEL + _lp(ch) + _lp(sh) + _lp(kx)).digest()
    material = hkdf_sha256(secret + shared, 3 * KEY_SIZE, salt=transcript, info=_LABEL)
    return TransportKeys(
        material[:KEY_SIZE], material[KEY_SIZE : 2 * KEY_SIZE], transcript, material[2 * KEY_SIZE :]
    )


def _derive_resumed(secret: bytes, shared: bytes, ch: bytes, sr: bytes) -> TransportKeys:
    """A resumed connection's keys: the ticket's secret and a fresh X25519 agreement."""
    transcript = SHA256.new(_RESUME_LABEL + _lp(ch) + _lp(sr)).digest()
    material = hkdf_sha256(secret + shared, 3 * KEY_SIZE, salt=transcript, info=_RESUME_LABEL)
    return TransportKeys(
        material[:KEY_SIZE], material[KEY_SIZE : 2 * KEY_SIZE], transcript, material[2 * KEY_SIZE :]
    )


def _check_version(version: int) -> None:
    """Refuse a server on another protocol version, saying which side to update."""
    if version != wire.PROTOCOL_VERSION:
        raise RemoteProtocolError(
            f"The server speaks protocol {version}; this client speaks "
            f"{wire.PROTOCOL_VERSION}. Update the older side."
        )


def _check_sizes(eph: bytes, nonce: bytes) -> None:
    if len(eph) != PUBLIC_SIZE or len(nonce) != wire.NONCE_SIZE:
        raise RemoteProtocolError("Handshake values have the wrong size.")


@dataclass(frozen=True, slots=True)
class ServerIdentity:
    """What the client learned about the server from ``server_hello`` (before trusting it)."""

    key: PublicKey

    @property
    def fingerprint(self) -> str:
        return self.key.fingerprint


class ClientHandshake:
    """The client's side: ``hello()``, ``got_server_hello()``, then either ``key_exchange()``
    and ``auth()`` (a full handshake) or, when the relay took our ticket (``resumed``),
    ``resume()`` under ``cipher``."""

    def __init__(
        self,
        identity: IdentityKey,
        name: str = "",
        accept_invites: bool = False,
        listed: bool | None = None,
        ticket: ClientTicket | None = None,
        want_tickets: bool = False,
    ):
        self._identity = identity
        self._name = name
        self._accept_invites = accept_invites
        #: Appear in the list of people: by default whoever takes invitations does.
        self._listed = accept_invites if listed is None else listed
        self._ticket = ticket
        self._want_tickets = want_tickets or ticket is not None
        self._eph = EphemeralKey.generate()
        self._nonce = random_bytes(wire.NONCE_SIZE)
        self._hello = b""
        self._server_hello = b""
        self._server: wire.ServerHello | None = None
        self._server_key: PublicKey | None = None
        self._keys: TransportKeys | None = None
        #: The relay took our ticket: no RSA work on either side this time.
        self.resumed = False
        self.cipher: TransportCipher | None = None

    def hello(self) -> bytes:
        self._hello = wire.encode(
            wire.ClientHello(
                version=wire.PROTOCOL_VERSION,
                eph=self._eph.public_bytes,
                nonce=self._nonce,
                ticket=self._ticket.ticket if self._ticket is not None else b"",
                tickets=self._want_tickets,
            )
        )
        return self._hello

    def got_server_hello(self, body: bytes) -> ServerIdentity:
        """Check the server's signature; the caller then checks the key against its pin.
        A ``server_resume`` (the relay took our ticket) needs no signature: only the relay
        that issued the ticket can open it, and the next frame it seals proves it did."""
        message = wire.decode(body)
        if isinstance(message, wire.Error):
            raise error_from_code(message.code, message.message)
        if isinstance(message, wire.ServerResume):
            return self._got_server_resume(message, body)
        if not isinstance(message, wire.ServerHello):
            raise RemoteProtocolError("The server did not answer with server_hello.")
        _check_version(message.version)
        _check_sizes(message.eph, message.nonce)
        try:
            key = PublicKey.from_der(message.key)
            key.verify(
                _sign_input_server(self._hello, message.key, message.eph, message.nonce),
                message.signature,
            )
        except CryptoError:
            raise AuthenticationFailedError(
                "The server could not prove it holds its key (bad signature)."
            ) from None
        self._server = message
        self._server_key = key
        self._server_hello = body
        return ServerIdentity(key)

    def _got_server_resume(self, message: wire.ServerResume, body: bytes) -> ServerIdentity:
        if self._ticket is None:
            raise RemoteProtocolError("The server resumed a connection we did not ask it to.")
        _check_version(message.version)
        _check_sizes(message.eph, message.nonce)
        try:
            shared = self._eph.agree(message.eph)
        except AuthenticationError:
            raise RemoteProtocolError("The server sent an invalid X25519 share.") from None
        self._keys = _derive_resumed(self._ticket.secret, shared, self._hello, body)
        self.cipher = TransportCipher(
            self._keys.client_to_server,
            self._keys.server_to_client,
            TransportDirection.CLIENT_TO_SERVER,
        )
        self.resumed = True
        return ServerIdentity(self._ticket.server)

    def resume(self) -> bytes:
        """Our first sealed frame on a resumed connection: opening it proves we hold the
        ticket's secret (the relay already knows who we are from the ticket)."""
        if not self.resumed:
            raise LocalProtocolError("resume without a resumed connection.")
        return wire.encode(
            wire.Resume(
                name=self._name[: wire.MAX_NAME_LEN],
                accept_invites=self._accept_invites,
                listed=self._listed,
            )
        )

    @property
    def server_key(self) -> PublicKey | None:
        """The relay's key: as it showed it, or as the ticket we resumed with remembers it."""
        if self.resumed and self._ticket is not None:
            return self._ticket.server
        return self._server_key

    def got_ticket(self, message: wire.Ticket) -> ClientTicket | None:
        """A ticket for our next connection; None if it is unusable (no known relay key)."""
        key = self.server_key
        if self._keys is None or key is None or not self._keys.resumption:
            return None
        if not 0 < len(message.ticket) <= wire.MAX_TICKET or message.number < 0:
            return None
        return ClientTicket(
            message.ticket, ticket_secret(self._keys.resumption, message.number), key
        )

    def key_exchange(self) -> tuple[bytes, TransportCipher]:
        """Wrap a fresh secret to the server; returns the message and the sealing cipher."""
        if self._server is None or self._server_key is None:
            raise LocalProtocolError("key_exchange before server_hello.")
        secret = random_bytes(SECRET_SIZE)
        try:
            shared = self._eph.agree(self._server.eph)
        except AuthenticationError:
            raise RemoteProtocolError("The server sent an invalid X25519 share.") from None
        wrapped = self._server_key.wrap(secret)
        body = wire.encode(wire.KeyExchange(wrapped=wrapped))
        self._keys = _derive(secret, shared, self._hello, self._server_hello, body)
        cipher = TransportCipher(
            self._keys.client_to_server,
            self._keys.server_to_client,
            TransportDirection.CLIENT_TO_SERVER,
        )
        self.cipher = cipher
        return body, cipher

    def auth(self) -> bytes:
        """Sign the transcript (the server's challenge) with our identity key."""
        if self._keys is None:
            raise LocalProtocolError("auth before key_exchange.")
        signature = self._identity.sign(_sign_input_client(self._keys.transcript))
        return wire.encode(
            wire.Auth(
                key=self._identity.public.der,
                signature=signature,
                name=self._name[: wire.MAX_NAME_LEN],
                accept_invites=self._accept_invites,
                listed=self._listed,
            )
        )


@dataclass(frozen=True, slots=True)
class AuthenticatedClient:
    id: str
    name: str
    key: PublicKey
    accept_invites: bool
    listed: bool = False


class ServerHandshake:
    """The relay's side: ``got_client_hello()``, then either ``got_key_exchange()`` and
    ``got_auth()`` (a full handshake) or, when the hello's ticket was good (``resumed``),
    ``got_resume()`` under ``cipher``."""

    def __init__(self, server_key: IdentityKey, tickets: TicketRedeemer | None = None) -> None:
        self._key = server_key
        self._tickets = tickets
        self._eph = EphemeralKey.generate()
        self._nonce = random_bytes(wire.NONCE_SIZE)
        self._hello = b""
        self._server_hello = b""
        self._client_eph = b""
        self._keys: TransportKeys | None = None
        self._redeemed: Redeemed | None = None
        self.resumed = False
        self.cipher: TransportCipher | None = None
        #: The client asked for tickets for its next connections.
        self.wants_tickets = False

    @property
    def resumption(self) -> bytes:
        """This connection's resumption secret (tickets for it derive theirs from it)."""
        return self._keys.resumption if self._keys is not None else b""

    def got_client_hello(self, body: bytes) -> bytes:
        """Our answer: ``server_resume`` if the hello carries a ticket we take (no RSA work),
        else a signed ``server_hello``."""
        message = wire.decode(body)
        if not isinstance(message, wire.ClientHello):
            raise RemoteProtocolError("The first message must be client_hello.")
        if message.version != wire.PROTOCOL_VERSION:
            raise RemoteProtocolError(
                f"This relay speaks protocol {wire.PROTOCOL_VERSION}; the client speaks "
                f"{message.version}. Update the older side."
            )
        _check_sizes(message.eph, message.nonce)
        self._hello = body
        self._client_eph = message.eph
        self.wants_tickets = message.tickets
        if message.ticket and self._tickets is not None:
            redeemed = self._tickets.redeem(message.ticket)
            if redeemed is not None:
                return self._resume(redeemed)
        key_der = self._key.public.der
        eph = self._eph.public_bytes
        signature = self._key.sign(_sign_input_server(body, key_der, eph, self._nonce))
        self._server_hello = wire.encode(
            wire.ServerHello(
                version=wire.PROTOCOL_VERSION,
                key=key_der,
                eph=eph,
                nonce=self._nonce,
                signature=signature,
            )
        )
        return self._server_hello

    def _resume(self, redeemed: Redeemed) -> bytes:
        try:
            shared = self._eph.agree(self._client_eph)
        except AuthenticationError:
            raise AuthenticationFailedError("The key exchange did not verify.") from None
        self._server_hello = wire.encode(
            wire.ServerResume(
                version=wire.PROTOCOL_VERSION, eph=self._eph.public_bytes, nonce=self._nonce
            )
        )
        self._keys = _derive_resumed(redeemed.secret, shared, self._hello, self._server_hello)
        self.cipher = TransportCipher(
            self._keys.server_to_client,
            self._keys.client_to_server,
            TransportDirection.SERVER_TO_CLIENT,
        )
        self._redeemed = redeemed
        self.resumed = True
        return self._server_hello

    def got_resume(self, body: bytes) -> AuthenticatedClient:
        """The client's first sealed frame on a resumed connection (that it opened under
        ``cipher`` proves the client holds the ticket's secret): who it is comes from the
        ticket, its name and choices from this frame."""
        if self._redeemed is None:
            raise LocalProtocolError("resume before a ticket was taken.")
        message = wire.decode(body)
        if not isinstance(message, wire.Resume):
            raise RemoteProtocolError("Expected resume.")
        redeemed = self._redeemed
        return AuthenticatedClient(
            redeemed.person_id,
            message.name[: wire.MAX_NAME_LEN],
            redeemed.key,
            message.accept_invites,
            message.listed,
        )

    def got_key_exchange(self, body: bytes) -> TransportCipher:
        if not self._server_hello or self.resumed:
            raise LocalProtocolError("key_exchange before client_hello.")
        message = wire.decode(body)
        if not isinstance(message, wire.KeyExchange):
            raise RemoteProtocolError("Expected key_exchange.")
        try:
            secret = self._key.unwrap(message.wrapped)
            shared = self._eph.agree(self._client_eph)
        except AuthenticationError:
            raise AuthenticationFailedError("The key exchange did not verify.") from None
        if len(secret) != SECRET_SIZE:
            raise RemoteProtocolError("The wrapped secret has the wrong size.")
        self._keys = _derive(secret, shared, self._hello, self._server_hello, body)
        self.cipher = TransportCipher(
            self._keys.server_to_client,
            self._keys.client_to_server,
            TransportDirection.SERVER_TO_CLIENT,
        )
        return self.cipher

    def got_auth(self, body: bytes) -> AuthenticatedClient:
        """Verify the client's signature over the transcript: its answer to our challenge."""
        if self._keys is None or self.resumed:
            raise LocalProtocolError("auth before key_exchange.")
        message = wire.decode(body)
        if not isinstance(message, wire.Auth):
            raise RemoteProtocolError("Expected auth.")
        if len(message.key) > wire.MAX_KEY_DER:
            raise RemoteProtocolError("The identity key is too large.")
        try:
            key = client_key(message.key)
            key.verify(_sign_input_client(self._keys.transcript), message.signature)
        except CryptoError:
            raise AuthenticationFailedError(
                "The client could not prove it holds its identity key."
            ) from None
        return AuthenticatedClient(
            key.fingerprint,
            message.name[: wire.MAX_NAME_LEN],
            key,
            message.accept_invites,
            message.listed,
        )


#: Identity keys the relay parsed lately, by their DER: a parse costs ~0.5 ms, and people
#: come back. Plain dict operations only (the relay's crypto threads share it).
_CLIENT_KEYS: dict[bytes, PublicKey] = {}
_CLIENT_KEYS_MAX = 4096


def client_key(der: bytes) -> PublicKey:
    """``PublicKey.from_der``, remembered."""
    key = _CLIENT_KEYS.get(der)
    if key is None:
        key = PublicKey.from_der(der)
        if len(_CLIENT_KEYS) >= _CLIENT_KEYS_MAX:
            _CLIENT_KEYS.clear()
        _CLIENT_KEYS[der] = key
    return key
