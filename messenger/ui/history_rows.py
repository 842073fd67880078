"""What a conversation's column is made of, before any widget: messages, the day separators
between them, and the app's own quiet lines ("Keys renewed", "Code: …").

Plain Python (no Qt), so the rules are tested alone: a day separator goes before the first
message of each local day, pages of older or newer messages join the column without a
second separator for the same day, and every message row has a key that finds it again
(its direction and message id) whether it came from the database or from an event.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum

from messenger.store.records import MessageRecord, MessageStatus

__all__ = [
    "Row",
    "RowKind",
    "day_label",
    "day_of",
    "live_row",
    "message_key",
    "rows_for",
    "short_time",
    "when_label",
]


class RowKind(StrEnum):
    DAY = "day"  #: a separator naming the day of the messages below it
    MESSAGE = "message"  #: a text, a puzzle or a file card
    SYSTEM = "system"  #: a line of the app's own ("Keys renewed at 12:03.")


@dataclass(frozen=True, slots=True)
class Row:
    kind: RowKind
    key: str
    #: The database row id (orders the history and pages it); None until known.
    db_id: int | None = None
    msg_id: str = ""
    outgoing: bool = False
    #: "text", "puzzle" or "file" (the history row's kind).
    message_kind: str = "text"
    body: str = ""
    timestamp: float = 0.0
    status: MessageStatus = MessageStatus.RECEIVED
    meta: str | None = None
    #: Why an outgoing message failed (shown with Retry).
    error: str = ""

    @property
    def day(self) -> date:
        return day_of(self.timestamp)

    def with_status(self, status: MessageStatus, error: str = "") -> Row:
        return replace(self, status=status, error=error)


def message_key(outgoing: bool, msg_id: str) -> str:
    """Messages are told apart by direction and sender-chosen id (as the database does)."""
    return f"{'out' if outgoing else 'in'}:{msg_id}"


def day_of(timestamp: float) -> date:
    return datetime.fromtimestamp(timestamp).date()


def message_row(record: MessageRecord) -> Row:
    """A history row as the column shows it; the time is when it was written (ours) or
    stored here (theirs: their clock is theirs)."""
    return Row(
        RowKind.MESSAGE,
        message_key(record.outgoing, record.msg_id),
        db_id=record.id,
        msg_id=record.msg_id,
        outgoing=record.outgoing,
        message_kind=record.kind,
        body=record.body,
        timestamp=record.sent_at if record.outgoing else record.stored_at,
        status=record.status,
        meta=record.meta,
    )


def live_row(
    msg_id: str, outgoing: bool, kind: str, body: str, status: MessageStatus, meta: str | None
) -> Row:
    """A message that happened just now (sent, arrived, a file offered), as its page shows
    it until the history is read again."""
    return Row(
        RowKind.MESSAGE,
        message_key(outgoing, msg_id),
        msg_id=msg_id,
        outgoing=outgoing,
        message_kind=kind,
        body=body,
        timestamp=time.time(),
        status=status,
        meta=meta,
    )


def day_row(day: date) -> Row:
    return Row(RowKind.DAY, f"day:{day.isoformat()}", timestamp=_noon(day))


def rows_for(records: list[MessageRecord], after_day: date | None = None) -> list[Row]:
    """Rows for messages in history order, with a separator before each new day; none
    before the first if it falls on ``after_day`` (the day of the row just above)."""
    rows: list[Row] = []
    current = after_day
    for record in records:
        row = message_row(record)
        if row.day != current:
            rows.append(day_row(row.day))
            current = row.day
        rows.append(row)
    return rows


def short_time(timestamp: float) -> str:
    return time.strftime("%H:%M", time.localtime(timestamp))


def day_label(day: date, today: date | None = None) -> str:
    """ "Today", "Yesterday", a weekday within the week, else the date (with its year when
    it is not this year's)."""
    today = today or date.today()
    if day == today:
        return "Today"
    if day == today - timedelta(days=1):
        return "Yesterday"
    if today - timedelta(days=6) <= day < today:
        return day.strftime("%A")
    if day.year == today.year:
        return f"{day.day} {day.strftime('%B')}"
    return f"{day.day} {day.strftime('%B')} {day.year}"


def when_label(timestamp: float, today: date | None = None) -> str:
    """The conversation list's time: the time of day today, else the date."""
    if timestamp <= 0:
        return ""
    today = today or date.today()
    day = day_of(timestamp)
    if day == today:
        return short_time(timestamp)
    if day == today - timedelta(days=1):
        return "Yesterday"
    if day.year == today.year:
        return f"{day.day} {day.strftime('%b')}"
    return f"{day.day} {day.strftime('%b')} {day.year}"


def _noon(day: date) -> float:
    return datetime(day.year, day.month, day.day, 12).timestamp()
