"""Session numbers and who is in them: the relay's pairing state, with no I/O at all.

This is the small interface the design asks for: the embedded default keeps it in memory;
a later backend can put the same methods on Redis so several relay processes act as one.
Members are connection ids (ints); a shared backend would use the same handles.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from messenger.protocol.errors import (
    LocalProtocolError,
    NoSuchSessionError,
    SessionBurnedError,
    SessionFullError,
)

Member = int
#: Remember this many burned numbers so they are not handed out again soon.
BURNED_MEMORY = 10_000


@dataclass
class SessionRecord:
    number: str
    creator: Member
    salt: bytes
    joiner: Member | None = None
    failed_pairings: int = 0
    mode: str = "password"
    #: An invitation not yet accepted: the joiner is reserved but not yet paired.
    pending: bool = False

    @property
    def members(self) -> tuple[Member, ...]:
        return (self.creator,) if self.joiner is None else (self.creator, self.joiner)

    def other(self, member: Member) -> Member | None:
        return self.joiner if member == self.creator else self.creator


@dataclass
class PairingResult:
    """What happened to the session when a member asked for something."""

    record: SessionRecord
    #: Members to tell that their peer left (empty when nobody needs telling).
    notify_left: tuple[Member, ...] = ()
    burned: bool = False


@dataclass
class PairingState:
    """Allocates session numbers, pairs exactly two members, counts failed pairings."""

    max_failed_pairings: int = 3
    _sessions: dict[str, SessionRecord] = field(default_factory=dict)
    _burned: OrderedDict[str, None] = field(default_factory=OrderedDict)

    def _next_number(self) -> str:
        number = 1
        while str(number) in self._sessions or str(number) in self._burned:
            number += 1
        return str(number)

    def create(self, creator: Member, salt: bytes) -> SessionRecord:
        record = SessionRecord(self._next_number(), creator, salt)
        self._sessions[record.number] = record
        return record

    def get(self, number: str) -> SessionRecord | None:
        return self._sessions.get(number)

    def join(self, number: str, joiner: Member) -> SessionRecord:
        if number in self._burned:
            raise SessionBurnedError()
        record = self._sessions.get(number)
        if record is None:
            raise NoSuchSessionError()
        if joiner in record.members:
            raise LocalProtocolError("You are already in that session.")
        if record.joiner is not None or record.mode != "password":
            raise SessionFullError()
        record.joiner = joiner
        return record

    def invite(self, inviter: Member, invitee: Member) -> SessionRecord:
        """Reserve a session for an RSA invitation; it pairs when the invitee accepts."""
        record = SessionRecord(self._next_number(), inviter, b"", invitee, mode="rsa", pending=True)
        self._sessions[record.number] = record
        return record

    def accept(self, number: str, invitee: Member) -> SessionRecord:
        record = self._sessions.get(number)
        if record is None or not record.pending or record.joiner != invitee:
            raise NoSuchSessionError("There is no invitation with that number for you.")
        record.pending = False
        return record

    def decline(self, number: str, invitee: Member) -> SessionRecord:
        record = self._sessions.get(number)
        if record is None or not record.pending or record.joiner != invitee:
            raise NoSuchSessionError("There is no invitation with that number for you.")
        del self._sessions[number]
        return record

    def is_busy(self, member: Member) -> bool:
        """In a paired session or a pending invitation (waiting creators are not busy)."""
        return any(r.joiner is not None for r in self.sessions_of(member))

    def pairing_failed(self, number: str, reporter: Member) -> PairingResult:
        """The creator says key confirmation failed: free the seat, maybe burn the number."""
        record = self._sessions.get(number)
        if record is None or record.creator != reporter or record.mode != "password":
            raise NoSuchSessionError()
        failed_joiner = record.joiner
        record.joiner = None
        record.failed_pairings += 1
        notify = (failed_joiner,) if failed_joiner is not None else ()
        if record.failed_pairings >= self.max_failed_pairings:
            self._burn(number)
            return PairingResult(record, notify_left=notify, burned=True)
        return PairingResult(record, notify_left=notify)

    def leave(self, number: str, member: Member) -> PairingResult:
        """A member leaves: the session ends, and the other member (if any) is told."""
        record = self._sessions.get(number)
        if record is None or member not in record.members:
            raise NoSuchSessionError()
        del self._sessions[number]
        other = record.other(member)
        return PairingResult(record, notify_left=(other,) if other is not None else ())

    def sessions_of(self, member: Member) -> list[SessionRecord]:
        return [r for r in self._sessions.values() if member in r.members]

    def _burn(self, number: str) -> None:
        self._sessions.pop(number, None)
        self._burned[number] = None
        while len(self._burned) > BURNED_MEMORY:
            self._burned.popitem(last=False)

    def __len__(self) -> int:
        return len(self._sessions)
