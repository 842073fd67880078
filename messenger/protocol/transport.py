"""The sealed client<->relay transport: X25519 with the relay's signed handshake key, then
AES-256-GCM.

Handshake (the two hellos are plaintext; see ``wire`` for the fields)::

    C -> S  client_hello   eph_c (X25519), nonce_c
    S -> C  server_hello   server RSA key, hkey (X25519), hkey_at,
                           PSS_s(credential label || key || hkey || hkey_at), eph_s, nonce_s
    keys    HKDF(X25519(eph_c, eph_s) || X25519(eph_c, hkey), salt=SHA256(label || ch || sh))
            -> client->server key, server->client key
    C -> S  auth (sealed)     client RSA key, PSS_c(label || transcript hash)
    S -> C  welcome (sealed)

The relay's RSA key signs a *handshake key* (an X25519 key it makes afresh every few minutes,
``HandshakeKey``), not each connection, so a handshake costs the relay two X25519 agreements
and the check of the client's signature: no RSA private-key operation (the shape of Signal's
signed prekey, or of a TLS 1.3 delegated credential). Why that is enough:

- Only the holder of the handshake key's private half can derive the keys, and only the
  holder of the pinned RSA key could have signed it, so the relay's first sealed frame (the
  welcome) proves whom the client talks to; the client sends nothing but its ``auth`` before
  that proof, sealed so that no one but that relay reads it.
- The ephemeral-ephemeral agreement gives forward secrecy at once: stealing the RSA key or a
  handshake key later opens no recorded connection.
- A stolen handshake key (and not the RSA key) lets an active attacker pose as the relay only
  while the key is young: a client refuses one signed more than ``MAX_HANDSHAKE_KEY_AGE`` ago
  by its own clock.
- The client's signature over the transcript hash (which holds the server's fresh nonce and
  ephemeral share) is its answer to the server's challenge, bound to this very connection.

After the handshake every frame body is ``AES-256-GCM(key, nonce = direction || counter)``.
The counter is implicit (both sides count frames), so a modified, replayed, dropped,
reordered or injected frame fails authentication and the connection is closed.
"""

from __future__ import annotations

import struct
import threading
import time
from collections.abc import Callable
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

_LABEL = b"messenger v4 transport"
_CREDENTIAL_LABEL = b"messenger v4 relay handshake key"
_RESUME_LABEL = b"messenger v3 resumed transport"
_TICKET_LABEL = b"messenger v3 ticket "

#: A relay makes a new handshake key this often (``HandshakeKeys``)...
HANDSHAKE_KEY_LIFETIME = 10 * 60.0
#: ...and a client refuses one signed longer ago than this by its own clock, which leaves
#: room for clocks a day wrong either way.
MAX_HANDSHAKE_KEY_AGE = 2 * 24 * 3600.0
#: The newest ``hkey_at`` a client believes (the wire's bound on the field).
_MAX_TIMESTAMP = 2**40


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


def _sign_input_credential(key_der: bytes, hkey: bytes, issued_at: int) -> bytes:
    return _CREDENTIAL_LABEL + _lp(key_der) + _lp(hkey) + issued_at.to_bytes(8, "big")


def _sign_input_client(transcript: bytes) -> bytes:
    return _LABEL + b" client auth" + transcript


def _lp(data: bytes) -> bytes:
    """Length-prefix a field so that concatenated transcript fields cannot be re-split."""
    return len(data).to_bytes(4, "big") + data


def _derive(ephemeral: bytes, handshake: bytes, ch: bytes, sh: bytes) -> TransportKeys:
    """A full handshake's keys: both agreements, salted with the whole transcript."""
    transcript = SHA256.new(_LABEL + _lp(ch) + _lp(sh)).digest()
    material = hkdf_sha256(ephemeral + handshake, 3 * KEY_SIZE, salt=transcript, info=_LABEL)
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


class HandshakeKey:
    """One of the relay's handshake keys: an X25519 key pair and the relay's RSA signature
    over its public half and the time it was made. Many handshakes agree with it (each
    beside its own ephemeral keys), so it is made, and signed, once per
    ``HANDSHAKE_KEY_LIFETIME`` rather than once per connection."""

    __slots__ = ("issued_at", "key_der", "private", "public", "signature")

    def __init__(self, identity: IdentityKey, issued_at: float) -> None:
        self.private = EphemeralKey.generate()
        self.public = self.private.public_bytes
        self.issued_at = int(issued_at)
        self.key_der = identity.public.der
        self.signature = identity.sign(
            _sign_input_credential(self.key_der, self.public, self.issued_at)
        )

    def __repr__(self) -> str:
        return f"HandshakeKey(public={self.public.hex()[:16]}..., issued_at={self.issued_at})"


class HandshakeKeys:
    """The relay's current handshake key, replaced once it is ``lifetime`` old.

    A replaced key is dropped at once: handshakes under way keep their own reference until
    they end, and nothing else holds it. The relay's crypto threads ask for the key, so
    making a new one is guarded by a lock (it costs one RSA signature)."""

    def __init__(
        self,
        identity: IdentityKey,
        clock: Callable[[], float] = time.time,
        lifetime: float = HANDSHAKE_KEY_LIFETIME,
    ) -> None:
        self._identity = identity
        self._clock = clock
        self._lifetime = lifetime
        self._lock = threading.Lock()
        self._current: HandshakeKey | None = None

    def current(self) -> HandshakeKey:
        now = self._clock()
        with self._lock:
            key = self._current
            if key is None or not 0 <= now - key.issued_at < self._lifetime:
                key = self._current = HandshakeKey(self._identity, now)
            return key


@dataclass(frozen=True, slots=True)
class ServerIdentity:
    """What the client learned about the server from ``server_hello`` (before trusting it)."""

    key: PublicKey

    @property
    def fingerprint(self) -> str:
        return self.key.fingerprint


class ClientHandshake:
    """The client's side: ``hello()``, ``got_server_hello()`` (which derives ``cipher``),
    then ``auth()`` (a full handshake) or, when the relay took our ticket (``resumed``),
    ``resume()``: either is the first frame sealed under ``cipher``."""

    def __init__(
        self,
        identity: IdentityKey,
        name: str = "",
        accept_invites: bool = False,
        listed: bool | None = None,
        ticket: ClientTicket | None = None,
        want_tickets: bool = False,
        clock: Callable[[], float] = time.time,
    ):
        self._identity = identity
        self._clock = clock
        self._name = name
        self._accept_invites = accept_invites
        #: Appear in the list of people: by default whoever takes invitations does.
        self._listed = accept_invites if listed is None else listed
        self._ticket = ticket
        self._want_tickets = want_tickets or ticket is not None
        self._eph = EphemeralKey.generate()
        self._nonce = random_bytes(wire.NONCE_SIZE)
        self._hello = b""
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
        """Check the signature on the server's handshake key and derive the keys (``cipher``);
        the caller then checks the RSA key against its pin. Whether the server holds the
        handshake key is proved by its first sealed frame: only its holder can seal it.
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
        if len(message.hkey) != PUBLIC_SIZE or not 0 <= message.hkey_at < _MAX_TIMESTAMP:
            raise RemoteProtocolError("Handshake values have the wrong size.")
        key = self._signed_by(message)
        if self._clock() - message.hkey_at > MAX_HANDSHAKE_KEY_AGE:
            raise AuthenticationFailedError(
                "The server's handshake key was signed too long ago (or this computer's "
                "clock is wrong): refused, as a stolen old key would be."
            )
        try:
            ephemeral = self._eph.agree(message.eph)
            handshake = self._eph.agree(message.hkey)
        except AuthenticationError:
            raise RemoteProtocolError("The server sent an invalid X25519 share.") from None
        self._keys = _derive(ephemeral, handshake, self._hello, body)
        self.cipher = TransportCipher(
            self._keys.client_to_server,
            self._keys.server_to_client,
            TransportDirection.CLIENT_TO_SERVER,
        )
        self._server_key = key
        return ServerIdentity(key)

    def _signed_by(self, message: wire.ServerHello) -> PublicKey:
        """The relay's RSA key, once its signature over the handshake key checks out."""
        try:
            key = PublicKey.from_der(message.key)
            key.verify(
                _sign_input_credential(message.key, message.hkey, message.hkey_at),
                message.signature,
            )
        except CryptoError:
            raise AuthenticationFailedError(
                "The server could not prove it holds its key (bad signature)."
            ) from None
        return key

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

    def auth(self) -> bytes:
        """Sign the transcript (the server's challenge) with our identity key: the first
        frame sealed under ``cipher``."""
        if self._keys is None or self.resumed:
            raise LocalProtocolError("auth before server_hello.")
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
    """The relay's side: ``got_client_hello()``, then, under ``cipher``, ``got_auth()`` (a full
    handshake) or, when the hello's ticket was good (``resumed``), ``got_resume()``.

    ``handshake_key`` is the relay's current one (``HandshakeKeys.current()``); without one a
    fresh key is made and signed for this handshake alone (tests, one-off relays)."""

    def __init__(
        self,
        server_key: IdentityKey,
        tickets: TicketRedeemer | None = None,
        handshake_key: HandshakeKey | None = None,
    ) -> None:
        self._key = server_key
        self._handshake_key = handshake_key
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
        hkey = self._handshake_key
        if hkey is None:
            hkey = HandshakeKey(self._key, time.time())
        if hkey.key_der != self._key.public.der:
            raise LocalProtocolError("The handshake key was signed by another relay key.")
        try:
            ephemeral = self._eph.agree(message.eph)
            handshake = hkey.private.agree(message.eph)
        except AuthenticationError:
            raise AuthenticationFailedError("The key exchange did not verify.") from None
        self._server_hello = wire.encode(
            wire.ServerHello(
                version=wire.PROTOCOL_VERSION,
                key=hkey.key_der,
                hkey=hkey.public,
                hkey_at=hkey.issued_at,
                signature=hkey.signature,
                eph=self._eph.public_bytes,
                nonce=self._nonce,
            )
        )
        self._keys = _derive(ephemeral, handshake, body, self._server_hello)
        self.cipher = TransportCipher(
            self._keys.server_to_client,
            self._keys.client_to_server,
            TransportDirection.SERVER_TO_CLIENT,
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

    def got_auth(self, body: bytes) -> AuthenticatedClient:
        """Verify the client's signature over the transcript: its answer to our challenge."""
        if self._keys is None or self.resumed:
            raise LocalProtocolError("auth before client_hello.")
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
