"""The first two bytes of every peer-to-peer packet: protocol version, then packet kind.

Peer packets travel inside ``wire.Relay.data``; the relay forwards them without looking.
"""

from __future__ import annotations

from enum import IntEnum

from messenger.protocol.errors import RemoteProtocolError

PACKET_VERSION = 1


class PacketKind(IntEnum):
    RECORD = 0x01  #: an AES-256-GCM sealed record (see ``channel``)
    PAKE = 0x10  #: a SPAKE2 message
    CONFIRM = 0x11  #: a key-confirmation MAC
    ROTATE = 0x02  #: a sealed record that opens a new epoch (optionally with an X25519 share)
    RSA_INIT = 0x20  #: RSA session: the initiator's wrapped secret, share and signature
    RSA_RESPONSE = 0x21  #: RSA session: the responder's answer


def make_packet(kind: PacketKind, body: bytes) -> bytes:
    return bytes((PACKET_VERSION, kind)) + body


def packet_kind(packet: bytes) -> PacketKind:
    """Read the kind of a peer packet, rejecting other versions and unknown kinds."""
    if len(packet) < 2:
        raise RemoteProtocolError("The peer sent a truncated packet.")
    if packet[0] != PACKET_VERSION:
        raise RemoteProtocolError(f"The peer speaks packet version {packet[0]}, we speak 1.")
    try:
        return PacketKind(packet[1])
    except ValueError:
        raise RemoteProtocolError(f"The peer sent an unknown packet kind {packet[1]}.") from None
