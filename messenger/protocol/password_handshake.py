"""Password session handshake: PBKDF2-stretched password -> SPAKE2 -> key confirmation.

States are named by what this side knows::

    S0_need_key      waiting for the stretched password (PBKDF2 runs elsewhere, off the loop)
    S1_sent_pake     our SPAKE2 message is out; waiting for the peer's
    S2_know_key      both SPAKE2 messages seen; waiting for the peer's confirmation (the
                     joiner has sent its own, the creator sends its own only after checking)
    S3_confirmed     the peer proved the same key: the session keys are ready
    S_failed         wrong password or protocol error; nothing more is accepted

Inputs are ``start(stretched)`` and ``receive(packet)``; outputs are ``SendPacket`` and
``HandshakeComplete`` events. The relay sees two SPAKE2 messages and two MACs. Without the
password, SPAKE2 messages reveal nothing that lets anyone test a guess offline; each guess
costs a live attempt, and the relay limits attempts per session number.

The joiner confirms first; the creator checks that confirmation before it sends its own.
The order matters: a confirmation reveals whether the two passwords matched, so a joiner
who got the creator's first could learn whether its guess was right and then walk away
without ever confirming, and the relay would never count the attempt. Now a wrong guess is
always seen by the creator, who reports it (the relay burns the code after a few) and waits
for the next joiner with the same code; a joiner that withholds its confirmation learns
nothing about its guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from Crypto.Hash import SHA256
from spake2 import SPAKE2_A, SPAKE2_B

from messenger.crypto.aead import KEY_SIZE
from messenger.crypto.kdf import hkdf_sha256
from messenger.crypto.mac import hmac_sha256, macs_equal
from messenger.crypto.x25519 import EphemeralKey
from messenger.protocol.channel import Direction
from messenger.protocol.errors import LocalProtocolError, RemoteProtocolError, WrongPasswordError
from messenger.protocol.packets import PacketKind, make_packet, packet_kind
from messenger.protocol.safety import SEED_SIZE, format_safety_number
from messenger.protocol.vocabulary import Role

__all__ = ["HandshakeComplete", "PasswordHandshake", "Role", "SendPacket", "SessionKeys"]

_LABEL = b"messenger v1 password session"
CONFIRM_SIZE = 32
EXPORTER_SIZE = 32


@dataclass(frozen=True, slots=True)
class SessionKeys:
    """What a finished handshake hands to the message layer.

    ``ratchet`` (RSA sessions) is our ephemeral X25519 key and the peer's public share from
    the handshake: the starting point for mixing fresh shares into each rotation.
    """

    send_key: bytes
    recv_key: bytes
    send_direction: Direction
    safety: str
    ratchet: tuple[EphemeralKey, bytes] | None = None
    #: A secret both sides share, bound to this handshake's transcript, for what comes after
    #: it (the introduction and the conversation's first keys); never used as a key itself.
    exporter: bytes = b""

    def __repr__(self) -> str:  # keys must never reach a log line
        return f"SessionKeys(direction={self.send_direction.name}, safety={self.safety!r})"


@dataclass(frozen=True, slots=True)
class SendPacket:
    data: bytes


@dataclass(frozen=True, slots=True)
class HandshakeComplete:
    keys: SessionKeys


HandshakeEvent = SendPacket | HandshakeComplete


class _State(Enum):
    S0_need_key = "need_key"
    S1_sent_pake = "sent_pake"
    S2_know_key = "know_key"
    S3_confirmed = "confirmed"
    S_failed = "failed"


def password_salt(session_id: str, salt_nonce: bytes) -> bytes:
    """PBKDF2 salt bound to this session: its number plus the creator's random value."""
    digest = SHA256.new(_LABEL + b"\x00salt\x00" + session_id.encode() + b"\x00" + salt_nonce)
    return digest.digest()


class PasswordHandshake:
    """One side of the password handshake for one session."""

    def __init__(self, role: Role, session_id: str, salt_nonce: bytes) -> None:
        self.role = role
        self.session_id = session_id
        self.salt = password_salt(session_id, salt_nonce)
        self._state = _State.S0_need_key
        self._spake: SPAKE2_A | SPAKE2_B | None = None
        self._my_pake = b""
        self._early_pake: bytes | None = None
        self._transcript = b""
        self._keys: SessionKeys | None = None
        self._peer_confirm_key = b""
        self._my_confirm = b""

    @property
    def state(self) -> str:
        return self._state.value

    @property
    def done(self) -> bool:
        return self._state is _State.S3_confirmed

    def start(self, stretched_password: bytes) -> list[HandshakeEvent]:
        """Begin with the PBKDF2 output; returns what to send (and more, if the peer was early)."""
        if self._state is not _State.S0_need_key:
            raise LocalProtocolError("The password handshake was already started.")
        id_a = b"messenger v1 creator " + self.session_id.encode()
        id_b = b"messenger v1 joiner " + self.session_id.encode()
        spake_class = SPAKE2_A if self.role is Role.CREATOR else SPAKE2_B
        self._spake = spake_class(stretched_password, idA=id_a, idB=id_b)
        self._my_pake = self._spake.start()
        self._state = _State.S1_sent_pake
        events: list[HandshakeEvent] = [SendPacket(make_packet(PacketKind.PAKE, self._my_pake))]
        if self._early_pake is not None:
            early, self._early_pake = self._early_pake, None
            events += self._got_pake(early)
        return events

    def receive(self, packet: bytes) -> list[HandshakeEvent]:
        """Feed one packet from the peer."""
        if self._state is _State.S_failed:
            raise LocalProtocolError("The handshake already failed.")
        try:
            kind = packet_kind(packet)
        except RemoteProtocolError as exc:
            self._fail(exc)
        body = packet[2:]
        if kind is PacketKind.PAKE and self._state is _State.S0_need_key:
            if self._early_pake is not None:
                self._fail(RemoteProtocolError("The peer sent two SPAKE2 messages."))
            self._early_pake = body
            return []
        if kind is PacketKind.PAKE and self._state is _State.S1_sent_pake:
            return self._got_pake(body)
        if kind is PacketKind.CONFIRM and self._state is _State.S2_know_key:
            return self._got_confirm(body)
        self._fail(
            RemoteProtocolError(
                f"The peer sent a {kind.name} packet while the handshake was in state {self.state}."
            )
        )
        return []  # unreachable: _fail raises

    def _fail(self, error: Exception) -> None:
        self._state = _State.S_failed
        self._spake = None
        raise error

    def _got_pake(self, peer_pake: bytes) -> list[HandshakeEvent]:
        assert self._spake is not None
        try:
            shared = self._spake.finish(peer_pake)
        except Exception:  # spake2 raises several types for malformed or reflected messages
            self._fail(RemoteProtocolError("The peer sent an invalid SPAKE2 message."))
        self._spake = None
        if self.role is Role.CREATOR:
            msg_creator, msg_joiner = self._my_pake, peer_pake
        else:
            msg_creator, msg_joiner = peer_pake, self._my_pake
        transcript = SHA256.new(
            _LABEL
            + b"\x00transcript\x00"
            + self.session_id.encode()
            + b"\x00"
            + self.salt
            + len(msg_creator).to_bytes(2, "big")
            + msg_creator
            + len(msg_joiner).to_bytes(2, "big")
            + msg_joiner
        ).digest()
        self._transcript = transcript
        material = hkdf_sha256(
            shared, 4 * KEY_SIZE + SEED_SIZE + EXPORTER_SIZE, salt=transcript, info=_LABEL
        )
        exporter = material[4 * KEY_SIZE + SEED_SIZE :]
        k_c2j, k_j2c, confirm_creator, confirm_joiner = (
            material[i * KEY_SIZE : (i + 1) * KEY_SIZE] for i in range(4)
        )
        safety = format_safety_number(material[4 * KEY_SIZE : 4 * KEY_SIZE + SEED_SIZE])
        if self.role is Role.CREATOR:
            keys = SessionKeys(
                k_c2j, k_j2c, Direction.CREATOR_TO_JOINER, safety, exporter=exporter
            )
            my_confirm_key, self._peer_confirm_key = confirm_creator, confirm_joiner
        else:
            keys = SessionKeys(
                k_j2c, k_c2j, Direction.JOINER_TO_CREATOR, safety, exporter=exporter
            )
            my_confirm_key, self._peer_confirm_key = confirm_joiner, confirm_creator
        self._keys = keys
        self._my_confirm = hmac_sha256(
            my_confirm_key, b"confirm " + self.role.value.encode() + transcript
        )
        self._state = _State.S2_know_key
        if self.role is Role.CREATOR:
            return []  # ours goes out only once the joiner's checks out
        return [SendPacket(make_packet(PacketKind.CONFIRM, self._my_confirm))]

    def _got_confirm(self, mac: bytes) -> list[HandshakeEvent]:
        peer_role = Role.JOINER if self.role is Role.CREATOR else Role.CREATOR
        expected = hmac_sha256(
            self._peer_confirm_key, b"confirm " + peer_role.value.encode() + self._transcript
        )
        if len(mac) != CONFIRM_SIZE or not macs_equal(mac, expected):
            self._keys = None
            self._fail(WrongPasswordError())
        assert self._keys is not None
        keys, self._keys = self._keys, None
        self._peer_confirm_key = b""
        self._state = _State.S3_confirmed
        events: list[HandshakeEvent] = []
        if self.role is Role.CREATOR:
            events.append(SendPacket(make_packet(PacketKind.CONFIRM, self._my_confirm)))
        self._my_confirm = b""
        return [*events, HandshakeComplete(keys)]
