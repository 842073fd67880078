"""Pinned relay keys per host:port, like SSH's known_hosts (trust on first use).

The pins live in the profile database (``database.ProfileDatabase``); this class keeps the
rules for a presented key in one place on top of it.
"""

from __future__ import annotations

from messenger.crypto.rsa import format_fingerprint, parse_fingerprint
from messenger.protocol.errors import ServerKeyChangedError, UnknownServerError
from messenger.store.database import ProfileDatabase


class KnownServers:
    def __init__(self, db: ProfileDatabase) -> None:
        self.db = db

    def get(self, address: str) -> str | None:
        return self.db.server_pin(address)

    def pin(self, address: str, fingerprint: str) -> None:
        self.db.pin_server(address, fingerprint)

    def check(
        self,
        address: str,
        fingerprint: str,
        *,
        require_known: bool = False,
        expected: str | None = None,
    ) -> bool:
        """Decide whether to trust ``fingerprint`` for ``address``; returns True on first use.

        ``expected`` (from ``--server-fingerprint``) is the person saying "this is the key":
        it wins over the pin, and replaces it when it matches what the server shows.
        """
        pinned = self.get(address)
        if expected is not None:
            expected = parse_fingerprint(expected)
            if fingerprint != expected:
                raise ServerKeyChangedError(
                    f"The server at {address} presented key {format_fingerprint(fingerprint)}, "
                    f"but you said to expect {format_fingerprint(expected)}. Do not continue "
                    "unless the server's operator confirms the key they gave you was wrong.",
                    pinned=expected,
                    presented=fingerprint,
                )
            if pinned != fingerprint:
                self.pin(address, fingerprint)
            return pinned is None
        if pinned is None:
            if require_known:
                raise UnknownServerError(
                    f"The server at {address} (key {format_fingerprint(fingerprint)}) is not "
                    "pinned yet. Check the fingerprint with its operator, then connect once "
                    "with --server-fingerprint to pin it."
                )
            self.pin(address, fingerprint)
            return True
        if pinned != fingerprint:
            raise ServerKeyChangedError(
                f"The server at {address} now presents key {format_fingerprint(fingerprint)}, "
                f"but you pinned {format_fingerprint(pinned)}. Someone may be intercepting "
                "your connection. If the operator confirms the server's key was replaced, "
                "connect with --server-fingerprint and the new fingerprint to trust it.",
                pinned=pinned,
                presented=fingerprint,
            )
        return False
