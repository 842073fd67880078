"""Signal's Double Ratchet for one conversation between two people: sans-IO, bytes in, bytes out.

Every message gets its own key, deleted once used (forward secrecy), and a fresh X25519 step
is taken whenever the direction of talk turns (recovery after a key leak). This follows the
Signal specification (revision 1, 2016-11-20) section by section; only the primitives and
the initialisation are ours.

Primitives (all from pycryptodome, through ``messenger.crypto``)::

    KDF_RK(rk, dh_out) = HKDF-SHA256(ikm=dh_out, salt=rk, info="messenger v3 ratchet root",
                                     64 bytes) -> (rk' = first 32, ck = last 32)
    KDF_CK(ck)         = HMAC-SHA512(ck, 0x01) -> (ck' = first 32, mk = last 32)
    message cipher     = AES-256-GCM with key mk, nonce = 0x4d534731 ("MSG1") || n (8)

Each message key ``mk`` seals exactly one message and is then deleted, so no (key, nonce)
pair can repeat; the nonce is the message's number in its chain, never a constant. One
HMAC-SHA512 per message gives both keys (instead of two HMAC-SHA256 and an HKDF): the chain
KDF is the per-message cost a returning client pays ten thousand times (docs/decisions.md).

Message layout (big-endian)::

    version:1 (=1) | ratchet_key:32 | pn:4 | n:4 | AES-256-GCM(pad(plaintext), aad) || tag:16
    aad = associated data from the caller || the 41-byte header

``ratchet_key`` is the sender's current X25519 public key, ``pn`` the length of its previous
sending chain, ``n`` the message's number in the current one. The conversation binds both
identity fingerprints into the associated data, so a message cannot be moved between
conversations; a modified header fails authentication like a modified body.

Initialisation, after a first meeting that gave both sides a 32-byte secret ``SK`` and each
side's initial ratchet key pair (A0 for the initiator, B0 for the responder)::

    initiator: DHs = A0, DHr = B0, (RK, CKs) = KDF_RK(SK, DH(A0, B0)), no receiving chain
    responder: DHr = A0, (RK, CKr) = KDF_RK(SK, DH(B0, A0)),
               then at once DHs = B1 (fresh), (RK, CKs) = KDF_RK(RK, DH(B1, A0))

That is the standard Double Ratchet with A's first ratchet key known in advance, so both
sides can send at once, in any interleaving.

Telling failures apart (no state changes on any failure; see ``decrypt``):

- A header naming a (ratchet key, n) whose skipped key we hold: opened with that key; if it
  fails, ``TamperedError``.
- A header naming an earlier position of a chain we know (n below the next expected number of
  the current receiving chain, or any n of one of the last ``max_past_chains`` receiving
  chains) whose key is not in the store: ``ReplayedError``, without trying to decrypt. The
  key was used (a duplicate or replay), expired, or evicted; in every case it is gone and the
  message can never be opened.
- Anything else is tried (skipping keys on a copy, or a DH step on a copy); a failed
  authentication is ``TamperedError``. A replay older than the remembered chains lands here
  too: it cannot be told from a forgery, and it does not open either.
- A header asking to skip more than ``max_skip`` keys in one chain: ``TooFarAheadError``,
  before any work.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

from messenger.crypto.aead import TAG_SIZE, counter_nonce, open_sealed, seal
from messenger.crypto.errors import AuthenticationError, PaddingError
from messenger.crypto.kdf import hkdf_sha256
from messenger.crypto.mac import hmac_sha512
from messenger.crypto.padding import pad, unpad
from messenger.crypto.x25519 import PUBLIC_SIZE, EphemeralKey
from messenger.protocol import double_ratchet_state as saved
from messenger.protocol.errors import (
    DamagedStateError,
    LocalProtocolError,
    RemoteProtocolError,
    ReplayedError,
    TamperedError,
    TooFarAheadError,
)
from messenger.protocol.skipped_keys import SkippedKeys, Slot, wipe

MESSAGE_VERSION = 1
HEADER = struct.Struct(">B32sII")
HEADER_SIZE = HEADER.size  # 41
KEY_SIZE = 32
_MAX_COUNTER = 2**32 - 1
_ROOT_INFO = b"messenger v3 ratchet root"
#: The first four bytes of every message nonce ("MSG1"); the message number follows.
_MESSAGE_NONCE = 0x4D534731
_GONE = (
    "A message arrived whose key is gone: it was opened before (a duplicate or replay) or "
    "arrived too late. It was discarded."
)

Clock = Callable[[], float]


@dataclass(frozen=True)
class RatchetLimits:
    """Bounds on what an out-of-order or hostile peer can make us compute and keep."""

    #: Message keys one header may make us skip in one chain (Signal's MAX_SKIP).
    max_skip: int = 1000
    #: Skipped keys kept in all; past this the oldest are dropped.
    max_skipped: int = 2000
    #: Seconds a skipped key is kept; a message later than this cannot be opened.
    max_skipped_age: float = 30 * 24 * 3600.0
    #: Earlier peer ratchet keys remembered, so that replays of them are recognised cheaply.
    max_past_chains: int = 128

    def __post_init__(self) -> None:
        if min(self.max_skip, self.max_skipped, self.max_past_chains) < 0:
            raise ValueError("ratchet limits cannot be negative")
        if max(self.max_skipped, self.max_past_chains) > saved.MAX_STORED_ITEMS:
            raise ValueError(f"at most {saved.MAX_STORED_ITEMS} stored keys or chains")


@dataclass(frozen=True)
class Header:
    """The cleartext (but authenticated) part of every ratchet message."""

    ratchet_key: bytes
    pn: int
    n: int

    def pack(self) -> bytes:
        return HEADER.pack(MESSAGE_VERSION, self.ratchet_key, self.pn, self.n)

    @classmethod
    def parse(cls, message: bytes) -> Header:
        """Read the header; a short message or an unknown version is refused as tampered."""
        if len(message) < HEADER_SIZE + TAG_SIZE:
            raise TamperedError("A truncated message arrived; it was discarded.")
        version, ratchet_key, pn, n = HEADER.unpack_from(message)
        if version != MESSAGE_VERSION:
            raise TamperedError(f"A message of unknown version {version} arrived; discarded.")
        return cls(ratchet_key, pn, n)


def kdf_rk(rk: bytes, dh_out: bytes) -> tuple[bytes, bytes]:
    """The root KDF: fold a DH output into the root key, giving a new root and chain key."""
    out = hkdf_sha256(bytes(dh_out), 2 * KEY_SIZE, salt=bytes(rk), info=_ROOT_INFO)
    return out[:KEY_SIZE], out[KEY_SIZE:]


def kdf_ck(ck: bytes) -> tuple[bytes, bytes]:
    """The chain KDF: (next chain key, message key). One-way, so old keys stay unknown."""
    out = hmac_sha512(bytes(ck), b"\x01")
    return out[:KEY_SIZE], out[KEY_SIZE:]


def message_cipher_keys(mk: bytes, n: int) -> tuple[bytes, bytes]:
    """AES-256-GCM key and nonce for message ``n`` (each mk seals one message only)."""
    return bytes(mk), counter_nonce(_MESSAGE_NONCE, n)


def _seal(mk: bytes, n: int, plaintext: bytes, aad: bytes) -> bytes:
    key, nonce = message_cipher_keys(mk, n)
    return seal(key, nonce, pad(plaintext), aad)


def _open(mk: bytes, message: bytes, ad: bytes) -> bytes:
    key, nonce = message_cipher_keys(mk, Header.parse(message).n)
    try:
        return unpad(open_sealed(key, nonce, message[HEADER_SIZE:], ad + message[:HEADER_SIZE]))
    except (AuthenticationError, PaddingError):
        raise TamperedError("A message failed authentication; it was discarded.") from None


def _skip(
    ck: bytes, start: int, until: int, ratchet_key: bytes
) -> tuple[bytes, list[Slot], list[bytes]]:
    """Advance a chain from ``start`` to ``until``, returning the keys passed over."""
    slots: list[Slot] = []
    keys: list[bytes] = []
    for n in range(start, until):
        ck, mk = kdf_ck(ck)
        slots.append((ratchet_key, n))
        keys.append(mk)
    return ck, slots, keys


class Ratchet:
    """One side of a Double Ratchet conversation; owns its keys. Not thread-safe.

    Build one with ``initiator``, ``responder`` or ``from_bytes``. ``encrypt`` and
    ``decrypt`` change the state; save ``to_bytes()`` after each (in the same transaction as
    the message it opened). A failed ``decrypt`` changes nothing.
    """

    __slots__ = (
        "_ckr",
        "_cks",
        "_dhr",
        "_dhs",
        "_limits",
        "_needs_announce",
        "_now",
        "_nr",
        "_ns",
        "_past_chains",
        "_pn",
        "_rk",
        "_sending_steps",
        "_skipped",
    )

    def __init__(
        self,
        *,
        dhs: EphemeralKey,
        dhr: bytes,
        rk: bytes,
        cks: bytes,
        ckr: bytes | None,
        ns: int = 0,
        nr: int = 0,
        pn: int = 0,
        needs_announce: bool,
        sending_steps: int = 0,
        past_chains: list[bytes] | None = None,
        now: Clock = time.time,
        limits: RatchetLimits | None = None,
    ) -> None:
        """Assemble a state from its parts; use the class methods instead."""
        self._dhs = dhs
        self._dhr = bytes(dhr)
        self._rk = bytearray(rk)
        self._cks = bytearray(cks)
        self._ckr = None if ckr is None else bytearray(ckr)
        self._ns, self._nr, self._pn = ns, nr, pn
        self._needs_announce = needs_announce
        self._sending_steps = sending_steps
        self._now = now
        self._limits = RatchetLimits() if limits is None else limits
        self._past_chains: list[bytes] = []
        self._remember_chains(past_chains or [])
        self._skipped = SkippedKeys(
            max_keys=self._limits.max_skipped, max_age=self._limits.max_skipped_age
        )

    # -- starting a conversation ------------------------------------------------------------

    @classmethod
    def initiator(
        cls,
        sk: bytes,
        own: EphemeralKey,
        peer_public: bytes,
        *,
        now: Clock = time.time,
        limits: RatchetLimits | None = None,
    ) -> Ratchet:
        """Side A: ``own`` is A0, ``peer_public`` is B0, both exchanged at the meeting."""
        _check_secret(sk)
        rk, cks = kdf_rk(sk, _agree(own, peer_public))
        return cls(
            dhs=own, dhr=peer_public, rk=rk, cks=cks, ckr=None, needs_announce=False,
            now=now, limits=limits,
        )  # fmt: skip

    @classmethod
    def responder(
        cls,
        sk: bytes,
        own: EphemeralKey,
        peer_public: bytes,
        *,
        now: Clock = time.time,
        limits: RatchetLimits | None = None,
    ) -> Ratchet:
        """Side B: ``own`` is B0, ``peer_public`` is A0. Steps its sending side at once (B1),
        which A learns from B's first message, so B starts with ``needs_announce``."""
        _check_secret(sk)
        rk, ckr = kdf_rk(sk, _agree(own, peer_public))
        fresh = EphemeralKey.generate()
        rk, cks = kdf_rk(rk, _agree(fresh, peer_public))
        return cls(
            dhs=fresh, dhr=peer_public, rk=rk, cks=cks, ckr=ckr, needs_announce=True,
            now=now, limits=limits,
        )  # fmt: skip

    # -- what the conversation layer looks at -----------------------------------------------

    @property
    def needs_announce(self) -> bool:
        """True while our current ratchet public key has not been in any header we sent.

        Then the peer cannot step yet; the conversation sends an empty message on the relay's
        tick, so a one-way conversation heals too. See docs/protocol.md for when to do so.
        """
        return self._needs_announce

    @property
    def sending_steps(self) -> int:
        """DH steps our sending side took since the conversation started ("keys renewed")."""
        return self._sending_steps

    @property
    def skipped_count(self) -> int:
        """How many skipped message keys are kept for messages that have not arrived."""
        return len(self._skipped)

    def __repr__(self) -> str:
        return (
            f"Ratchet(sending_steps={self._sending_steps}, sent={self._ns}, "
            f"received={self._nr}, skipped={len(self._skipped)}, "
            f"needs_announce={self._needs_announce})"
        )

    # -- messages ---------------------------------------------------------------------------

    def encrypt(self, plaintext: bytes, ad: bytes) -> bytes:
        """Seal the next message of our sending chain: header || ciphertext || tag."""
        if self._ns >= _MAX_COUNTER:
            raise LocalProtocolError("This sending chain is exhausted; wait for a reply.")
        header = Header(self._dhs.public_bytes, self._pn, self._ns).pack()
        next_ck, mk = kdf_ck(bytes(self._cks))
        sealed = _seal(mk, self._ns, plaintext, ad + header)
        self._cks = _replace(self._cks, next_ck)
        self._ns += 1
        self._needs_announce = False
        self._skipped.drop_expired(self._now())
        return header + sealed

    def decrypt(self, message: bytes, ad: bytes) -> bytes:
        """Open a message from the peer, in any order within the bounds; exactly once.

        Raises TamperedError (does not authenticate), ReplayedError (its key is gone) or
        TooFarAheadError (skips too many keys). Every computation runs on copies; the state
        changes only after the AEAD tag has verified, so a failure leaves it as it was.
        """
        header = Header.parse(message)
        now = self._now()
        slot = (header.ratchet_key, header.n)
        kept = self._skipped.get(slot, now)
        if kept is not None:
            plaintext = _open(kept, message, ad)
            self._skipped.pop(slot)
            self._skipped.drop_expired(now)
            return plaintext
        if header.ratchet_key == self._dhr:
            return self._decrypt_current(header, message, ad, now)
        if header.ratchet_key in self._past_chains:
            raise ReplayedError(_GONE)
        if header.ratchet_key == self._dhs.public_bytes:
            raise TamperedError("One of our own messages was sent back to us; it was discarded.")
        return self._decrypt_new_chain(header, message, ad, now)

    def _decrypt_current(self, header: Header, message: bytes, ad: bytes, now: float) -> bytes:
        if self._ckr is None:
            # The initiator's B0 only seeds the first root step; B never sends with it.
            raise TamperedError("A message named a ratchet key that is never used to send.")
        if header.n < self._nr:
            raise ReplayedError(_GONE)
        self._check_skip(header.n - self._nr)
        ck, slots, keys = _skip(bytes(self._ckr), self._nr, header.n, header.ratchet_key)
        next_ck, mk = kdf_ck(ck)
        plaintext = _open(mk, message, ad)
        # Authentic: commit.
        self._ckr = _replace(self._ckr, next_ck)
        self._nr = header.n + 1
        self._skipped.add(slots, keys, now)
        return plaintext

    def _decrypt_new_chain(self, header: Header, message: bytes, ad: bytes, now: float) -> bytes:
        """The peer took a DH step: finish the old receiving chain, step, then open."""
        old_slots: list[Slot] = []
        old_keys: list[bytes] = []
        if self._ckr is not None:
            self._check_skip(header.pn - self._nr)
            _, old_slots, old_keys = _skip(bytes(self._ckr), self._nr, header.pn, self._dhr)
        self._check_skip(header.n)
        try:
            dh_out = self._dhs.agree(header.ratchet_key)
        except AuthenticationError:
            raise TamperedError("A message carried an invalid ratchet key; discarded.") from None
        rk, ckr = kdf_rk(bytes(self._rk), dh_out)
        ck, slots, keys = _skip(ckr, 0, header.n, header.ratchet_key)
        next_ck, mk = kdf_ck(ck)
        plaintext = _open(mk, message, ad)
        # Authentic: commit the receiving step, then take our sending step (spec 3.5).
        fresh = EphemeralKey.generate()
        rk, cks = kdf_rk(rk, fresh.agree(header.ratchet_key))
        if self._ckr is not None:
            self._remember_chains([self._dhr])
        self._skipped.add(old_slots + slots, old_keys + keys, now)
        self._dhr = header.ratchet_key
        self._ckr = _replace(self._ckr, next_ck)
        self._nr = header.n + 1
        self._pn, self._ns = self._ns, 0
        self._dhs = fresh
        self._rk = _replace(self._rk, rk)
        self._cks = _replace(self._cks, cks)
        self._sending_steps += 1
        self._needs_announce = True
        return plaintext

    # -- skipped keys -----------------------------------------------------------------------

    def _check_skip(self, count: int) -> None:
        if count > self._limits.max_skip:
            raise TooFarAheadError(
                f"A message claims {count} earlier messages are missing (at most "
                f"{self._limits.max_skip} may be); it was refused."
            )

    def _remember_chains(self, ratchet_keys: list[bytes]) -> None:
        """Keep the peer's latest earlier ratchet keys, so their replays are recognised."""
        self._past_chains.extend(ratchet_keys)
        del self._past_chains[: max(len(self._past_chains) - self._limits.max_past_chains, 0)]

    # -- saving -----------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The whole state (keys included: store it encrypted), versioned msgpack."""
        return saved.encode(
            saved.StateRecord(
                version=saved.STATE_VERSION,
                own_private=self._dhs.private_bytes(),
                peer_key=self._dhr,
                root_key=bytes(self._rk),
                send_chain=bytes(self._cks),
                recv_chain=None if self._ckr is None else bytes(self._ckr),
                sent=self._ns,
                received=self._nr,
                previous_sent=self._pn,
                needs_announce=self._needs_announce,
                sending_steps=self._sending_steps,
                past_chains=saved.pack_chains(self._past_chains),
                skipped=saved.pack_skipped(
                    saved.SkippedRecord(ratchet_key, n, key, stored_at)
                    for (ratchet_key, n), key, stored_at in self._skipped.items()
                ),
            )
        )

    @classmethod
    def from_bytes(
        cls, data: bytes, *, now: Clock = time.time, limits: RatchetLimits | None = None
    ) -> Ratchet:
        """Load what ``to_bytes`` wrote; DamagedStateError if damaged or of unknown version.

        Skipped keys past their age are dropped on load, and the oldest beyond
        ``limits.max_skipped`` too.
        """
        record = saved.decode(data)
        try:
            own = EphemeralKey.from_private_bytes(record.own_private)
        except ValueError:  # pragma: no cover - decode checked the length
            raise DamagedStateError() from None
        ratchet = cls(
            dhs=own,
            dhr=record.peer_key,
            rk=record.root_key,
            cks=record.send_chain,
            ckr=record.recv_chain,
            ns=record.sent,
            nr=record.received,
            pn=record.previous_sent,
            needs_announce=record.needs_announce,
            sending_steps=record.sending_steps,
            past_chains=record.chains(),
            now=now,
            limits=limits,
        )
        ratchet._skipped.load(
            (((s.ratchet_key, s.n), s.key, s.stored_at) for s in record.skipped_keys()), now()
        )
        return ratchet


def _replace(old: bytearray | None, new: bytes) -> bytearray:
    wipe(old)
    return bytearray(new)


def _check_secret(sk: bytes) -> None:
    if len(sk) != KEY_SIZE:
        raise LocalProtocolError(f"The shared secret must be {KEY_SIZE} bytes.")


def _agree(own: EphemeralKey, peer_public: bytes) -> bytes:
    if len(peer_public) != PUBLIC_SIZE:
        raise RemoteProtocolError("The other person's ratchet key is invalid.")
    try:
        return own.agree(peer_public)
    except AuthenticationError:
        raise RemoteProtocolError("The other person's ratchet key is invalid.") from None
