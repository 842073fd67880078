"""The words the wire uses, in one place: session modes, roles, presence statuses.

Every control message and event that carries one of these says it with a member of an enum
here, never a bare string, so a typo is a type error and a hostile relay's word is compared
against a closed set before it is used (``StrEnum`` members are also the strings on the wire).
"""

from __future__ import annotations

from enum import StrEnum


class SessionMode(StrEnum):
    """Which handshake a session runs. Chosen by the local request, never by the relay:
    creating or joining a code is a password session, inviting or accepting is RSA."""

    PASSWORD = "password"
    RSA = "rsa"


class Role(StrEnum):
    """Who made the session (and published the salt, or invited) and who joined it."""

    CREATOR = "creator"
    JOINER = "joiner"


class PresenceStatus(StrEnum):
    """Whether someone online can be invited now."""

    FREE = "free"
    BUSY = "busy"
