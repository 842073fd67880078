"""The conversation column's rules before any widget: one day separator per local day,
pages that join without a second separator, and the names of days and times."""

from __future__ import annotations

from datetime import date, datetime

from messenger.store.records import MessageRecord, MessageStatus
from messenger.ui.history_rows import RowKind, day_label, message_key, rows_for, when_label

TODAY = date(2026, 12, 3)  # a Thursday


def at(day: date, hour: int) -> float:
    return datetime(day.year, day.month, day.day, hour).timestamp()


def record(n: int, when: float, *, outgoing: bool = False) -> MessageRecord:
    status = MessageStatus.SENT if outgoing else MessageStatus.RECEIVED
    return MessageRecord(n, "b" * 64, f"m{n}", outgoing, "text", f"text {n}", when, when, status)


def kinds(rows) -> list[str]:
    return [row.body if row.kind is RowKind.MESSAGE else f"[{row.day.day}]" for row in rows]


def test_a_separator_comes_before_the_first_message_of_each_day():
    records = [
        record(1, at(date(2026, 12, 1), 9)),
        record(2, at(date(2026, 12, 1), 18)),
        record(3, at(date(2026, 12, 3), 8), outgoing=True),
    ]
    assert kinds(rows_for(records)) == ["[1]", "text 1", "text 2", "[3]", "text 3"]


def test_a_page_that_continues_the_day_above_needs_no_separator():
    records = [record(4, at(date(2026, 12, 3), 10))]
    assert kinds(rows_for(records, after_day=date(2026, 12, 3))) == ["text 4"]
    assert kinds(rows_for(records, after_day=date(2026, 12, 2))) == ["[3]", "text 4"]


def test_messages_are_found_again_by_direction_and_id():
    rows = rows_for([record(5, at(TODAY, 9), outgoing=True)])
    assert rows[-1].key == message_key(True, "m5") != message_key(False, "m5")
    assert rows[-1].db_id == 5 and rows[-1].status is MessageStatus.SENT


def test_days_are_named_as_people_say_them():
    assert day_label(TODAY, TODAY) == "Today"
    assert day_label(date(2026, 12, 2), TODAY) == "Yesterday"
    assert day_label(date(2026, 11, 30), TODAY) == "Monday"
    assert day_label(date(2026, 11, 20), TODAY) == "20 November"
    assert day_label(date(2025, 11, 20), TODAY) == "20 November 2025"


def test_the_list_shows_the_time_today_and_the_date_before():
    assert when_label(at(TODAY, 9) + 5 * 60, TODAY) == "09:05"
    assert when_label(at(date(2026, 12, 2), 9), TODAY) == "Yesterday"
    assert when_label(at(date(2026, 10, 2), 9), TODAY) == "2 Oct"
    assert when_label(at(date(2024, 10, 2), 9), TODAY) == "2 Oct 2024"
    assert when_label(0.0, TODAY) == ""
