"""The words the app uses for what the protocol calls "mode", "epoch" and "RSA": a person
starts a session *by code* or *by invitation*, and the keys get *renewed*.

The technical names stay available behind a "Details" button or in a tooltip.
"""

from __future__ import annotations

__all__ = ["KEYS_RENEWED", "keys_renewed_text", "session_kind"]

KEYS_RENEWED = "Keys renewed"


def session_kind(mode: str) -> str:
    """ "Invited session" (RSA identities) or "Session by code" (password, SPAKE2)."""
    return "Invited session" if mode == "rsa" else "Session by code"


def technical_kind(mode: str) -> str:
    """What docs/protocol.md calls the same thing (for Details and tooltips)."""
    return (
        "RSA session: both identity keys, RSA-OAEP, X25519, RSA-PSS"
        if mode == "rsa"
        else "password session: PBKDF2 and SPAKE2"
    )


def keys_renewed_text(times: int) -> str:
    """How often a session's keys were renewed so far (its key epoch)."""
    if times <= 0:
        return ""
    return f"{KEYS_RENEWED} once" if times == 1 else f"{KEYS_RENEWED} {times} times"
