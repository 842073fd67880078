"""Fresh X25519 shares mixed into each key rotation of an RSA session.

Each rotation of a sending key uses a brand-new ephemeral key against the latest share the
peer has announced, so the new epoch key depends on fresh randomness from both sides over
time. Someone who steals a session's state and then loses access is locked out again once
both sides have rotated (the stolen private shares are no longer used).

A side keeps its private shares by the epoch that announced them, because the peer's next
rotation may still refer to an older one (both may rotate at the same moment). The peer
always refers to the newest share it has seen, so older privates can go once it moves on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from messenger.crypto.errors import AuthenticationError
from messenger.crypto.x25519 import EphemeralKey
from messenger.protocol.errors import TamperedError

#: Private shares kept for a peer that has not rotated in a long time.
MAX_KEPT_SHARES = 1024


@dataclass
class DhRatchet:
    my_shares: dict[int, EphemeralKey]
    peer_share: bytes
    peer_share_epoch: int = 0
    _pending: dict[int, EphemeralKey] = field(default_factory=dict)

    @classmethod
    def from_handshake(cls, mine: EphemeralKey, peer_public: bytes) -> DhRatchet:
        return cls(my_shares={0: mine}, peer_share=peer_public)

    def next_send(self, new_epoch: int) -> tuple[bytes, int, bytes]:
        """A fresh share for our epoch ``new_epoch``: (mix, peer epoch referred to, public)."""
        fresh = EphemeralKey.generate()
        try:
            mix = fresh.agree(self.peer_share)
        except AuthenticationError:  # the peer's share was checked when it arrived
            raise TamperedError() from None
        self.my_shares[new_epoch] = fresh
        while len(self.my_shares) > MAX_KEPT_SHARES:
            del self.my_shares[min(self.my_shares)]
        return mix, self.peer_share_epoch, fresh.public_bytes

    def mix_for_receive(self, reference: int, peer_public: bytes) -> bytes:
        """The mix for the peer's new epoch; call ``commit_receive`` once its record opens."""
        mine = self.my_shares.get(reference)
        if mine is None:
            raise TamperedError()
        try:
            return mine.agree(peer_public)
        except AuthenticationError:
            raise TamperedError() from None

    def commit_receive(self, peer_epoch: int, reference: int, peer_public: bytes) -> None:
        self.peer_share, self.peer_share_epoch = peer_public, peer_epoch
        for epoch in [e for e in self.my_shares if e < reference]:
            del self.my_shares[epoch]
