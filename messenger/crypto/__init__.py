"""Primitives wrapped once: AES-256-GCM, HKDF/PBKDF2, HMAC and padding, each in its own module.

Every other part of Messenger calls these wrappers instead of pycryptodome directly, so key
sizes, nonce rules and error handling are decided in one reviewed place.
"""
