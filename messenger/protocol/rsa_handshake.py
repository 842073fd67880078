"""RSA session handshake between two people who picked each other from the online list.

::

    I -> R  RSA_INIT      OAEP_R(secret_i), eph_i, nonce_i, PSS_I(t0 || those fields)
    R -> I  RSA_RESPONSE  OAEP_I(secret_r), eph_r, nonce_r, PSS_R(t0 || init || those fields)
    both    HKDF(secret_i || secret_r || X25519(eph_i, eph_r), salt = SHA256(t0 || init || resp))
            -> I->R key, R->I key, confirmation key
    I -> R  CONFIRM       HMAC(confirmation key, transcript)

``t0`` binds the session number and both fingerprints, so a signed message cannot be replayed
into another session or towards another person. The initiator is done when the response
verifies; the responder when the confirmation does (proof the initiator is live and holds
the same keys, not a replay of an old RSA_INIT). Each side's keys come from secrets wrapped
to *both* identity keys plus an ephemeral agreement, so recorded traffic stays closed even
if both identity keys are stolen later.

The safety number depends only on the two fingerprints (sorted), so it is the same in every
session between the same two keys, and both people can compare it by eye or QR code.

States: ``S0_idle`` -> ``S1_sent_init`` (initiator) / ``S1_sent_response`` (responder) ->
``S2_confirmed``; ``S_failed`` on any error.
"""

from __future__ import annotations

from enum import Enum

from Crypto.Hash import SHA256, SHA512

from messenger.crypto.aead import KEY_SIZE, random_bytes
from messenger.crypto.errors import AuthenticationError, CryptoError
from messenger.crypto.kdf import hkdf_sha256
from messenger.crypto.mac import hmac_sha256, macs_equal
from messenger.crypto.rsa import IdentityKey, PublicKey
from messenger.crypto.x25519 import PUBLIC_SIZE, EphemeralKey
from messenger.protocol.channel import Direction
from messenger.protocol.errors import (
    AuthenticationFailedError,
    LocalProtocolError,
    RemoteProtocolError,
)
from messenger.protocol.packets import PacketKind, make_packet, packet_kind
from messenger.protocol.password_handshake import (
    HandshakeComplete,
    HandshakeEvent,
    Role,
    SendPacket,
    SessionKeys,
)
from messenger.protocol.safety import format_safety_number
from messenger.protocol.schema import Schema, message

_LABEL = b"messenger v2 rsa session"
SECRET_SIZE = 32
NONCE_SIZE = 32

_messages = Schema("rsa handshake", max_bin_len=2048, max_str_len=256)


@message(_messages, "rsa_half")
class _Half:
    wrapped: bytes
    eph: bytes
    nonce: bytes
    signature: bytes


class _State(Enum):
    S0_idle = "idle"
    S1_sent_init = "sent_init"
    S1_sent_response = "sent_response"
    S2_confirmed = "confirmed"
    S_failed = "failed"


def rsa_safety_number(fingerprint_a: str, fingerprint_b: str) -> str:
    """60 digits from both fingerprints, the same whichever side computes it."""
    low, high = sorted((fingerprint_a, fingerprint_b))
    seed = SHA512.new(_LABEL + b" safety" + low.encode() + high.encode()).digest()
    return format_safety_number(seed)


class RsaHandshake:
    """One side of an RSA session handshake. The initiator calls ``start()``."""

    def __init__(
        self, role: Role, session_id: str, identity: IdentityKey, peer_key: PublicKey
    ) -> None:
        self.role = role
        self.session_id = session_id
        self._identity = identity
        self._peer = peer_key
        self._state = _State.S0_idle
        self._eph = EphemeralKey.generate()
        self._secret = random_bytes(SECRET_SIZE)
        self._init_body = b""
        self._confirm_key = b""
        self._transcript = b""
        self._keys: SessionKeys | None = None
        initiator, responder = (
            (identity.fingerprint, peer_key.fingerprint)
            if role is Role.CREATOR
            else (peer_key.fingerprint, identity.fingerprint)
        )
        self._t0 = (
            _LABEL
            + b"\x00"
            + session_id.encode()
            + b"\x00"
            + initiator.encode()
            + b"\x00"
            + responder.encode()
        )

    @property
    def state(self) -> str:
        return self._state.value

    @property
    def done(self) -> bool:
        return self._state is _State.S2_confirmed

    def start(self) -> list[HandshakeEvent]:
        """Initiator: wrap, share and sign. Blocking for ~2 ms (PSS): run it in an executor."""
        if self.role is not Role.CREATOR or self._state is not _State.S0_idle:
            raise LocalProtocolError("Only the initiator starts, and only once.")
        self._init_body = self._half(b"")
        self._state = _State.S1_sent_init
        return [SendPacket(make_packet(PacketKind.RSA_INIT, self._init_body))]

    def receive(self, packet: bytes) -> list[HandshakeEvent]:
        if self._state is _State.S_failed:
            raise LocalProtocolError("The handshake already failed.")
        body = packet[2:]
        try:
            kind = packet_kind(packet)
            if (
                kind is PacketKind.RSA_INIT
                and self._state is _State.S0_idle
                and self.role is Role.JOINER
            ):
                return self._got_init(body)
            if kind is PacketKind.RSA_RESPONSE and self._state is _State.S1_sent_init:
                return self._got_response(body)
            if kind is PacketKind.CONFIRM and self._state is _State.S1_sent_response:
                return self._got_confirm(body)
            raise RemoteProtocolError(
                f"The peer sent a {kind.name} packet while the handshake was {self.state}."
            )
        except Exception:
            self._state = _State.S_failed
            raise

    # -- steps ------------------------------------------------------------------------------

    def _half(self, context: bytes) -> bytes:
        """Our half: the secret wrapped to the peer, our share, a nonce, signed over t0."""
        wrapped = self._peer.wrap(self._secret)
        eph = self._eph.public_bytes
        nonce = random_bytes(NONCE_SIZE)
        signature = self._identity.sign(self._sign_input(context, wrapped, eph, nonce))
        return _messages.encode(_Half(wrapped=wrapped, eph=eph, nonce=nonce, signature=signature))

    def _sign_input(self, context: bytes, wrapped: bytes, eph: bytes, nonce: bytes) -> bytes:
        return SHA256.new(self._t0 + _lp(context) + _lp(wrapped) + _lp(eph) + _lp(nonce)).digest()

    def _open_half(self, body: bytes, context: bytes) -> tuple[bytes, bytes]:
        """Verify the peer's half against its pinned key; returns (its secret, its share)."""
        half = _messages.decode(body)
        if len(half.eph) != PUBLIC_SIZE or len(half.nonce) != NONCE_SIZE:
            raise RemoteProtocolError("The peer's handshake values have the wrong size.")
        try:
            self._peer.verify(
                self._sign_input(context, half.wrapped, half.eph, half.nonce), half.signature
            )
        except CryptoError:
            raise AuthenticationFailedError(
                "The other person's signature did not verify against their key."
            ) from None
        try:
            secret = self._identity.unwrap(half.wrapped)
        except AuthenticationError:
            raise AuthenticationFailedError("The wrapped session secret did not open.") from None
        if len(secret) != SECRET_SIZE:
            raise RemoteProtocolError("The wrapped session secret has the wrong size.")
        return secret, half.eph

    def _got_init(self, body: bytes) -> list[HandshakeEvent]:
        self._init_body = body
        peer_secret, peer_eph = self._open_half(body, b"")
        response = self._half(body)
        self._derive(
            initiator_secret=peer_secret,
            responder_secret=self._secret,
            peer_eph=peer_eph,
            response=response,
        )
        self._state = _State.S1_sent_response
        return [SendPacket(make_packet(PacketKind.RSA_RESPONSE, response))]

    def _got_response(self, body: bytes) -> list[HandshakeEvent]:
        peer_secret, peer_eph = self._open_half(body, self._init_body)
        self._derive(
            initiator_secret=self._secret,
            responder_secret=peer_secret,
            peer_eph=peer_eph,
            response=body,
        )
        mac = hmac_sha256(self._confirm_key, b"initiator confirm" + self._transcript)
        return [SendPacket(make_packet(PacketKind.CONFIRM, mac)), self._complete()]

    def _got_confirm(self, mac: bytes) -> list[HandshakeEvent]:
        expected = hmac_sha256(self._confirm_key, b"initiator confirm" + self._transcript)
        if not macs_equal(mac, expected):
            raise AuthenticationFailedError("The other person's key confirmation failed.")
        return [self._complete()]

    def _derive(
        self, *, initiator_secret: bytes, responder_secret: bytes, peer_eph: bytes, response: bytes
    ) -> None:
        try:
            shared = self._eph.agree(peer_eph)
        except AuthenticationError:
            raise RemoteProtocolError("The peer sent an invalid X25519 share.") from None
        self._transcript = SHA256.new(self._t0 + _lp(self._init_body) + _lp(response)).digest()
        material = hkdf_sha256(
            initiator_secret + responder_secret + shared,
            4 * KEY_SIZE,
            salt=self._transcript,
            info=_LABEL,
        )
        k_i2r, k_r2i = material[:KEY_SIZE], material[KEY_SIZE : 2 * KEY_SIZE]
        self._confirm_key = material[2 * KEY_SIZE : 3 * KEY_SIZE]
        exporter = material[3 * KEY_SIZE :]
        safety = rsa_safety_number(self._identity.fingerprint, self._peer.fingerprint)
        if self.role is Role.CREATOR:
            self._keys = SessionKeys(
                k_i2r,
                k_r2i,
                Direction.CREATOR_TO_JOINER,
                safety,
                ratchet=(self._eph, peer_eph),
                exporter=exporter,
            )
        else:
            self._keys = SessionKeys(
                k_r2i,
                k_i2r,
                Direction.JOINER_TO_CREATOR,
                safety,
                ratchet=(self._eph, peer_eph),
                exporter=exporter,
            )

    def _complete(self) -> HandshakeComplete:
        assert self._keys is not None
        keys, self._keys = self._keys, None
        self._secret = b""
        self._state = _State.S2_confirmed
        return HandshakeComplete(keys)


def _lp(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data
