"""After a meeting's handshake: introduce ourselves, so the meeting becomes a conversation.

Both handshakes end with keys only these two sides hold and an ``exporter`` secret bound to
the handshake's transcript. Each side then sends one sealed ``Introduce``::

    key        our RSA identity key (DER): the id a contact is known by is its SHA-256
    name       our display name (a label, not an identity)
    ratchet    a fresh X25519 public key: our first Double Ratchet key
    signature  RSA-PSS by that identity key over
               SHA-256(label, exporter, our role, key, name, ratchet)

The signature proves the sender holds the identity key it presents, in this very meeting
(the exporter is unique to it), so nobody can introduce someone else's key. In a code
meeting the password authenticated the channel, so the introduction both introduces and
authenticates the peer's key ("verified by code"); in an invited meeting the RSA handshake
already authenticated it, and the introduction must present that same key.

From the exporter alone, as soon as the handshake is done, both sides derive::

    HKDF-SHA256(exporter, info=label || " delivery") -> 96 bytes:
        token to creator (32)        shown to the relay to post to the creator
        token to joiner (32)         ... to the joiner
        hint to creator (16)         first bytes of every envelope to the creator, so it
        hint to joiner (16)          knows which conversation an envelope belongs to

Each side registers the token others must show to reach it *before* it sends its
introduction, so the peer (who can write only once it has that introduction) never meets a
relay that does not know the token yet. From the two introductions both then derive the
ratchet's shared secret::

    transcript = SHA-256(label, exporter, creator's introduction, joiner's introduction)
    sk = HKDF-SHA256(exporter, salt=transcript, info=label) -> 32 bytes

The joiner is the ratchet's initiator (its ``ratchet`` key is A0), the creator the
responder (B0). A meeting between two people who already are contacts starts their
conversation afresh with these values.
"""

from __future__ import annotations

from dataclasses import dataclass

from Crypto.Hash import SHA256

from messenger.crypto.errors import CryptoError
from messenger.crypto.kdf import hkdf_sha256
from messenger.crypto.rsa import IdentityKey, PublicKey
from messenger.crypto.x25519 import PUBLIC_SIZE, EphemeralKey
from messenger.protocol.errors import AuthenticationFailedError, RemoteProtocolError
from messenger.protocol.payloads import Introduce
from messenger.protocol.vocabulary import Role
from messenger.protocol.wire import MAX_KEY_DER, MAX_NAME_LEN, TOKEN_SIZE

_LABEL = b"messenger v3 introduction"
HINT_SIZE = 16
SK_SIZE = 32


@dataclass(frozen=True, slots=True)
class Introduced:
    """A peer whose introduction checked out."""

    id: str  #: the SHA-256 fingerprint of ``key``
    key: PublicKey
    name: str
    ratchet_public: bytes


@dataclass(frozen=True, slots=True)
class ConversationStart:
    """What both sides derive from a meeting to begin (or restart) their conversation."""

    sk: bytes
    initiator: bool  #: True for the joiner (A), False for the creator (B)
    send_token: bytes
    recv_token: bytes
    send_hint: bytes
    recv_hint: bytes

    def __repr__(self) -> str:  # secrets never reach a log line
        return f"ConversationStart(initiator={self.initiator})"


def _lp(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def _signed(exporter: bytes, role: Role, key_der: bytes, name: str, ratchet: bytes) -> bytes:
    return SHA256.new(
        _LABEL
        + _lp(exporter)
        + _lp(role.value.encode())
        + _lp(key_der)
        + _lp(name.encode())
        + _lp(ratchet)
    ).digest()


def introduce(
    identity: IdentityKey, name: str, ratchet: EphemeralKey, exporter: bytes, role: Role
) -> Introduce:
    """Our introduction. Blocking for ~2 ms (PSS): run it in an executor."""
    name = name[:MAX_NAME_LEN]
    key_der = identity.public.der
    signature = identity.sign(_signed(exporter, role, key_der, name, ratchet.public_bytes))
    return Introduce(key=key_der, name=name, ratchet=ratchet.public_bytes, signature=signature)


def check_introduction(
    intro: Introduce, exporter: bytes, peer_role: Role, expected_id: str | None = None
) -> Introduced:
    """Verify the peer's introduction; ``expected_id`` is the identity the handshake already
    authenticated (invited meetings), which the introduction must repeat."""
    if len(intro.key) > MAX_KEY_DER or len(intro.ratchet) != PUBLIC_SIZE:
        raise RemoteProtocolError("The other person's introduction has values of the wrong size.")
    if len(intro.name) > MAX_NAME_LEN:
        raise RemoteProtocolError("The other person's name is too long.")
    try:
        key = PublicKey.from_der(intro.key)
        key.verify(
            _signed(exporter, peer_role, intro.key, intro.name, intro.ratchet), intro.signature
        )
    except CryptoError:
        raise AuthenticationFailedError(
            "The other person could not prove they hold the identity key they presented."
        ) from None
    if expected_id is not None and key.fingerprint != expected_id:
        raise AuthenticationFailedError(
            "The other person introduced a different key from the one the handshake proved."
        )
    return Introduced(key.fingerprint, key, intro.name, intro.ratchet)


@dataclass(frozen=True, slots=True)
class Delivery:
    """The tokens and hints of a conversation, from our side."""

    send_token: bytes
    recv_token: bytes
    send_hint: bytes
    recv_hint: bytes

    def __repr__(self) -> str:
        return "Delivery(...)"


def delivery(exporter: bytes, my_role: Role) -> Delivery:
    """Tokens and hints, known to both sides as soon as the handshake is done."""
    material = hkdf_sha256(exporter, 2 * TOKEN_SIZE + 2 * HINT_SIZE, info=_LABEL + b" delivery")
    to_creator, to_joiner = material[:TOKEN_SIZE], material[TOKEN_SIZE : 2 * TOKEN_SIZE]
    hints = material[2 * TOKEN_SIZE :]
    hint_to_creator, hint_to_joiner = hints[:HINT_SIZE], hints[HINT_SIZE:]
    if my_role is Role.CREATOR:
        return Delivery(to_joiner, to_creator, hint_to_joiner, hint_to_creator)
    return Delivery(to_creator, to_joiner, hint_to_creator, hint_to_joiner)


def conversation_start(
    exporter: bytes, creator_intro: bytes, joiner_intro: bytes, my_role: Role
) -> ConversationStart:
    """Derive the conversation's secret, tokens and hints (see the module docstring).
    The introductions are passed as the exact bytes that were sent."""
    transcript = SHA256.new(
        _LABEL + _lp(exporter) + _lp(creator_intro) + _lp(joiner_intro)
    ).digest()
    sk = hkdf_sha256(exporter, SK_SIZE, salt=transcript, info=_LABEL)
    route = delivery(exporter, my_role)
    return ConversationStart(
        sk,
        my_role is Role.JOINER,
        route.send_token,
        route.recv_token,
        route.send_hint,
        route.recv_hint,
    )
