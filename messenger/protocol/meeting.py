"""A meeting: two people paired by the relay (by code or by invitation) prove a shared key,
introduce themselves and come out of it as contacts with a conversation. Sans-IO.

::

    WAITING --paired--> HANDSHAKE --keys--> INTRODUCING --both introduced--> MET
        \\________________________\\_____________________________________--> FAILED

Inputs are the packets the peer sends (``receive``) and, for a password meeting, the
PBKDF2 output (``start``); outputs are ``SendPacket`` (to relay to the peer) and, at the
end, ``Met``. Some steps are slow (SPAKE2, RSA): the driver runs ``start`` and ``receive``
in an executor; nothing here touches a socket or a clock.

Which handshake runs, and (for an invitation) who the peer must be, come from the
person's own request, never from the relay: the driver builds the meeting from that and
only checks the relay's ``paired`` against it. After the handshake each side sends one
sealed ``Introduce`` (see ``introduction``); an introduction that arrives before our own
keys are ready waits for them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from messenger.crypto.rsa import IdentityKey, PublicKey
from messenger.crypto.x25519 import EphemeralKey
from messenger.protocol.channel import SecureChannel
from messenger.protocol.errors import LocalProtocolError, RemoteProtocolError
from messenger.protocol.introduction import (
    ConversationStart,
    Introduced,
    check_introduction,
    conversation_start,
    delivery,
    introduce,
)
from messenger.protocol.packets import PacketKind, packet_kind
from messenger.protocol.password_handshake import (
    HandshakeComplete,
    HandshakeEvent,
    PasswordHandshake,
    SendPacket,
    SessionKeys,
)
from messenger.protocol.payloads import Introduce, payloads
from messenger.protocol.rsa_handshake import RsaHandshake
from messenger.protocol.vocabulary import Role, SessionMode


class MeetingState(StrEnum):
    WAITING = "waiting"  #: nobody paired yet
    HANDSHAKE = "handshake"  #: proving a shared key (SPAKE2 or RSA)
    INTRODUCING = "introducing"  #: keys agreed; introductions crossing
    MET = "met"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class RegisterToken:
    """Tell the relay to accept envelopes for us that show ``token``, and expect envelopes
    starting with ``hint`` (sent before our introduction, so the peer's first message
    finds both ready even if it overtakes the end of our meeting)."""

    token: bytes
    hint: bytes

    def __repr__(self) -> str:
        return "RegisterToken(...)"


@dataclass(frozen=True, slots=True)
class Met:
    """The meeting's result: who the peer is, and how our conversation starts."""

    mode: SessionMode
    peer: Introduced
    safety: str
    start: ConversationStart
    own_ratchet: EphemeralKey
    #: The peer's identity was proven by the code (password) or the RSA handshake.
    verified_by_code: bool

    def __repr__(self) -> str:
        return f"Met({self.mode}, peer={self.peer.id[:16]}…)"


MeetingEvent = SendPacket | RegisterToken | Met


class Meeting:
    """One attempt at a meeting, for one side. A code's creator makes a new one for each
    person who joins; an invitation has exactly one."""

    def __init__(
        self,
        mode: SessionMode,
        role: Role,
        session_id: str,
        identity: IdentityKey,
        name: str,
        *,
        salt: bytes = b"",
        peer_key: PublicKey | None = None,
    ) -> None:
        if mode is SessionMode.RSA and peer_key is None:
            raise LocalProtocolError("An invited meeting needs the peer's key.")
        self.mode = mode
        self.role = role
        self.session_id = session_id
        self._identity = identity
        self._name = name
        self.state = MeetingState.WAITING
        self._expected_peer = peer_key.fingerprint if peer_key is not None else None
        self._handshake: PasswordHandshake | RsaHandshake
        if mode is SessionMode.PASSWORD:
            self._handshake = PasswordHandshake(role, session_id, salt)
        else:
            assert peer_key is not None
            self._handshake = RsaHandshake(role, session_id, identity, peer_key)
        self._keys: SessionKeys | None = None
        self._channel: SecureChannel | None = None
        self._ratchet = EphemeralKey.generate()
        self._my_intro = b""
        self._early_records: list[bytes] = []

    @property
    def password_salt(self) -> bytes:
        """The PBKDF2 salt for this session (password meetings)."""
        if not isinstance(self._handshake, PasswordHandshake):
            raise LocalProtocolError("Only a password meeting has a salt.")
        return self._handshake.salt

    # -- inputs -----------------------------------------------------------------------------

    def start(self, stretched_password: bytes = b"") -> list[MeetingEvent]:
        """Begin: a password meeting with the PBKDF2 output; an invited meeting's inviter
        with its first RSA message (the invitee waits for it). Blocking (SPAKE2 or RSA)."""
        if self.state is not MeetingState.WAITING:
            raise LocalProtocolError("This meeting has already started.")
        self.state = MeetingState.HANDSHAKE
        if isinstance(self._handshake, PasswordHandshake):
            if not stretched_password:
                self._fail(LocalProtocolError("A password meeting needs the password."))
            handshake = self._handshake
            return self._guarded(lambda: self._after_handshake(handshake.start(stretched_password)))
        rsa = self._handshake
        assert isinstance(rsa, RsaHandshake)
        if self.role is Role.CREATOR:
            return self._guarded(lambda: self._after_handshake(rsa.start()))
        return []

    def receive(self, packet: bytes) -> list[MeetingEvent]:
        """A packet from the peer. Blocking (SPAKE2, RSA or the introduction's signature)."""
        if self.state in (MeetingState.MET, MeetingState.FAILED):
            raise LocalProtocolError(f"This meeting is over ({self.state}).")
        return self._guarded(lambda: self._receive(packet))

    # -- steps ------------------------------------------------------------------------------

    def _receive(self, packet: bytes) -> list[MeetingEvent]:
        kind = packet_kind(packet)
        if kind is PacketKind.RECORD:
            if self.state is MeetingState.INTRODUCING:
                return self._got_introduction(packet)
            if self.state is MeetingState.HANDSHAKE:
                # The peer finished first and introduced itself already; keep it for later.
                if self._early_records:
                    raise RemoteProtocolError("The other person introduced themselves twice.")
                self._early_records.append(packet)
                return []
        if self.state is MeetingState.WAITING and self.mode is SessionMode.PASSWORD:
            # A PAKE before our PBKDF2 finished: the handshake keeps it until ``start``.
            return self._after_handshake(self._handshake.receive(packet))
        if self.state is not MeetingState.HANDSHAKE:
            raise RemoteProtocolError(
                f"The other person sent a {kind.name} packet while the meeting was {self.state}."
            )
        return self._after_handshake(self._handshake.receive(packet))

    def _after_handshake(self, events: list[HandshakeEvent]) -> list[MeetingEvent]:
        out: list[MeetingEvent] = []
        for event in events:
            if isinstance(event, SendPacket):
                out.append(event)
            elif isinstance(event, HandshakeComplete):
                out += self._introduce(event.keys)
        return out

    def _introduce(self, keys: SessionKeys) -> list[MeetingEvent]:
        self._keys = keys
        self._channel = SecureChannel(
            self.session_id, keys.send_key, keys.recv_key, keys.send_direction
        )
        intro = introduce(self._identity, self._name, self._ratchet, keys.exporter, self.role)
        self._my_intro = payloads.encode(intro)
        self.state = MeetingState.INTRODUCING
        route = delivery(keys.exporter, self.role)
        out: list[MeetingEvent] = [
            RegisterToken(route.recv_token, route.recv_hint),
            SendPacket(self._channel.seal(self._my_intro)),
        ]
        early, self._early_records = self._early_records, []
        for record in early:
            out += self._got_introduction(record)
        return out

    def _got_introduction(self, record: bytes) -> list[MeetingEvent]:
        assert self._channel is not None and self._keys is not None
        opened = self._channel.open(record)
        if opened is None:
            raise RemoteProtocolError("The other person sent a key rotation instead of hello.")
        intro = payloads.decode(opened)
        if not isinstance(intro, Introduce):
            raise RemoteProtocolError("The other person did not introduce themselves.")
        peer_role = Role.JOINER if self.role is Role.CREATOR else Role.CREATOR
        peer = check_introduction(intro, self._keys.exporter, peer_role, self._expected_peer)
        if peer.id == self._identity.fingerprint:
            raise RemoteProtocolError("That was yourself: a meeting needs two people.")
        creator_intro, joiner_intro = (
            (self._my_intro, opened) if self.role is Role.CREATOR else (opened, self._my_intro)
        )
        begin = conversation_start(self._keys.exporter, creator_intro, joiner_intro, self.role)
        met = Met(
            self.mode,
            peer,
            self._keys.safety,
            begin,
            self._ratchet,
            verified_by_code=self.mode is SessionMode.PASSWORD,
        )
        self._channel.close()
        self._keys = None
        self.state = MeetingState.MET
        return [met]

    def _guarded(self, step: Callable[[], list[MeetingEvent]]) -> list[MeetingEvent]:
        """Run a step; any error fails the meeting for good (no half-done state)."""
        try:
            return step()
        except Exception as exc:
            self._fail(exc)
            raise  # unreachable: _fail raises

    def _fail(self, error: Exception) -> None:
        self.state = MeetingState.FAILED
        if self._channel is not None:
            self._channel.close()
        self._keys = None
        raise error
