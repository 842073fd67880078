"""Sans-IO protocol core: bytes in, events out. No sockets, no asyncio, no Qt.

Layers, outermost first:
- ``framing``: 4-byte length-prefixed frames with a hard cap on size.
- ``wire``: the control messages a client and the relay exchange (msgpack, bounded).
- ``password_handshake``: PBKDF2 -> SPAKE2 -> key confirmation between two peers.
- ``channel``: AES-256-GCM records with epochs, sequence numbers and key rotation.
- ``conversation``: chat messages, receipts and rotation policy on top of a channel.
- ``double_ratchet``: Signal's Double Ratchet for conversations that outlive connections
  (with ``skipped_keys`` and ``double_ratchet_state`` for its bounded store and saved form).
"""
