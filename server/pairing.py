"""Session numbers and who is in them: the relay's pairing state, with no I/O at all.

This is the small interface the design asks for: the embedded default keeps it in memory;
a later backend can put the same methods on Redis so several relay processes act as one.
Members are connection ids (ints); a shared backend would use the same handles.

Numbers are short but not predictable: each is drawn at random from the numbers of the
current length (four digits while few are in use; a digit more whenever more than half of
them are taken or remembered), so an outsider cannot walk the live codes by counting. A
number that ended (used, closed or burned) is remembered for a while and not handed out
again, so a late joiner is told what happened to it instead of meeting a stranger's code.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from messenger.protocol.errors import (
    CodeUsedError,
    LocalProtocolError,
    NoSuchSessionError,
    SessionBurnedError,
    SessionFullError,
)
from messenger.protocol.vocabulary import SessionMode

Member = int
#: Remember this many burned numbers, and as many ended ones, so neither is handed out again
#: soon and a late joiner learns what happened to its code.
BURNED_MEMORY = 10_000
ENDED_MEMORY = 10_000
#: The shortest numbers handed out: four digits.
MIN_DIGITS = 4

#: randbelow(n) -> an int in [0, n); injected so tests can make numbers predictable.
RandomBelow = Callable[[int], int]


@dataclass
class SessionRecord:
    number: str
    creator: Member
    salt: bytes
    joiner: Member | None = None
    failed_pairings: int = 0
    mode: SessionMode = SessionMode.PASSWORD
    #: An invitation not yet accepted: the joiner is reserved but not yet paired.
    pending: bool = False
    #: When it was made, relative to the others (``sessions_of`` lists oldest first).
    order: int = 0

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
    #: The joiner whose password was wrong (told ``wrong_password``, not ``peer_left``).
    failed_joiner: Member | None = None
    burned: bool = False


@dataclass
class PairingState:
    """Allocates session numbers, pairs exactly two members, counts failed pairings."""

    max_failed_pairings: int = 3
    random_below: RandomBelow = secrets.randbelow
    _sessions: dict[str, SessionRecord] = field(default_factory=dict)
    #: member -> the numbers of the sessions it is in, so "is this person busy?" and "which
    #: sessions end when this connection goes?" cost nothing however many sessions there are.
    _by_member: dict[Member, dict[str, None]] = field(default_factory=dict)
    #: members in a paired session or a pending invitation (see ``is_busy``).
    _busy: dict[Member, int] = field(default_factory=dict)
    _burned: OrderedDict[str, None] = field(default_factory=OrderedDict)
    _ended: OrderedDict[str, None] = field(default_factory=OrderedDict)
    _made: int = 0

    # -- numbers ----------------------------------------------------------------------------

    def _taken(self, number: str) -> bool:
        return number in self._sessions or number in self._burned or number in self._ended

    def _next_number(self) -> str:
        in_use = len(self._sessions) + len(self._burned) + len(self._ended)
        digits = MIN_DIGITS
        while in_use * 2 > 9 * 10 ** (digits - 1):
            digits += 1
        low, span = 10 ** (digits - 1), 9 * 10 ** (digits - 1)
        while True:  # at most half are taken, so this ends quickly
            number = str(low + self.random_below(span))
            if not self._taken(number):
                return number

    # -- sessions ---------------------------------------------------------------------------

    def create(self, creator: Member, salt: bytes) -> SessionRecord:
        record = SessionRecord(self._next_number(), creator, salt)
        self._add(record)
        return record

    def get(self, number: str) -> SessionRecord | None:
        return self._sessions.get(number)

    def join(self, number: str, joiner: Member) -> SessionRecord:
        if number in self._burned:
            raise SessionBurnedError()
        record = self._sessions.get(number)
        if record is None:
            if number in self._ended:
                raise CodeUsedError()
            raise NoSuchSessionError()
        if joiner in record.members:
            raise LocalProtocolError("You are already in that session.")
        if record.joiner is not None or record.mode is not SessionMode.PASSWORD:
            raise SessionFullError()
        self._seat(record, joiner)
        return record

    def invite(self, inviter: Member, invitee: Member) -> SessionRecord:
        """Reserve a session for an RSA invitation; it pairs when the invitee accepts."""
        record = SessionRecord(
            self._next_number(), inviter, b"", mode=SessionMode.RSA, pending=True
        )
        self._add(record)
        self._seat(record, invitee)
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
        self._remove(record)
        return record

    def is_busy(self, member: Member) -> bool:
        """In a paired session or a pending invitation (waiting creators are not busy)."""
        return self._busy.get(member, 0) > 0

    def pairing_failed(self, number: str, reporter: Member) -> PairingResult:
        """The creator says key confirmation failed: free the seat, maybe burn the number."""
        record = self._sessions.get(number)
        if record is None or record.creator != reporter or record.mode is not SessionMode.PASSWORD:
            raise NoSuchSessionError()
        failed_joiner = record.joiner
        if failed_joiner is not None:
            self._release(record)
            record.joiner = None
        record.failed_pairings += 1
        result = PairingResult(record, failed_joiner=failed_joiner)
        if record.failed_pairings >= self.max_failed_pairings:
            self._remove(record)
            self._remember(self._burned, number, BURNED_MEMORY)
            result.burned = True
        return result

    def leave(self, number: str, member: Member) -> PairingResult:
        """A member leaves: the other member (if any) is told. The session ends, except
        when the joiner of a code leaves: then only the seat is freed, and the creator
        decides (it keeps waiting if they never finished the handshake, and leaves too if
        their session had begun), so someone who gives up mid-guess cannot close a code."""
        record = self._sessions.get(number)
        if record is None or member not in record.members:
            raise NoSuchSessionError()
        if record.mode is SessionMode.PASSWORD and member == record.joiner:
            self._release(record)
            record.joiner = None
            return PairingResult(record, notify_left=(record.creator,))
        self._remove(record)
        self._remember(self._ended, number, ENDED_MEMORY)
        other = record.other(member)
        return PairingResult(record, notify_left=(other,) if other is not None else ())

    def sessions_of(self, member: Member) -> list[SessionRecord]:
        """The sessions ``member`` is in, oldest first (without a walk over every session:
        a thousand connections leaving at once must not cost a million steps)."""
        records = [self._sessions[number] for number in self._by_member.get(member, ())]
        records.sort(key=lambda record: record.order)
        return records

    def __len__(self) -> int:
        return len(self._sessions)

    # -- bookkeeping ------------------------------------------------------------------------

    def _add(self, record: SessionRecord) -> None:
        self._made += 1
        record.order = self._made
        self._sessions[record.number] = record
        self._by_member.setdefault(record.creator, {})[record.number] = None

    def _seat(self, record: SessionRecord, joiner: Member) -> None:
        record.joiner = joiner
        self._by_member.setdefault(joiner, {})[record.number] = None
        for member in record.members:
            self._busy[member] = self._busy.get(member, 0) + 1

    def _release(self, record: SessionRecord) -> None:
        """The joiner's seat is given up: neither member is busy with this session any
        more, and the joiner is no longer in it (``record.joiner`` is left for the caller)."""
        assert record.joiner is not None
        for member in record.members:
            self._not_busy(member)
        self._forget_member(record.joiner, record.number)

    def _remove(self, record: SessionRecord) -> None:
        if record.joiner is not None:
            self._release(record)
        self._forget_member(record.creator, record.number)
        del self._sessions[record.number]

    def _not_busy(self, member: Member) -> None:
        count = self._busy.get(member, 0) - 1
        if count > 0:
            self._busy[member] = count
        else:
            self._busy.pop(member, None)

    def _forget_member(self, member: Member, number: str) -> None:
        numbers = self._by_member.get(member)
        if numbers is not None:
            numbers.pop(number, None)
            if not numbers:
                del self._by_member[member]

    @staticmethod
    def _remember(memory: OrderedDict[str, None], number: str, bound: int) -> None:
        memory[number] = None
        while len(memory) > bound:
            memory.popitem(last=False)
