"""The conversation list keeps its rows most recent first (then by name) whatever order
entries arrive, change and leave in, and a move never counts as a new selection."""

from __future__ import annotations

import random

import pytest

from messenger.ui.conversation_list import ConversationList, Entry


@pytest.fixture
def conversations(qtbot) -> ConversationList:
    widget = ConversationList()
    qtbot.addWidget(widget)
    return widget


def shown(widget: ConversationList) -> list[str]:
    return [entry.key for entry in widget.entries()]


def test_entries_are_shown_most_recent_first_then_by_name(conversations):
    conversations.put_all(
        [Entry("b", "Bob", activity=5.0), Entry("a", "alice", activity=5.0),
         Entry("c", "Carol", activity=9.0), Entry("d", "Dan")]
    )  # fmt: skip
    assert shown(conversations) == ["c", "a", "b", "d"]


def test_a_message_moves_its_conversation_to_the_top_and_keeps_the_selection(
    conversations, qtbot
):
    conversations.put_all([Entry(k, k.upper(), activity=float(n)) for n, k in enumerate("abcd")])
    conversations.select("b")
    changes: list[object] = []
    conversations.currentItemChanged.connect(lambda *args: changes.append(args))
    conversations.change("b", activity=100.0, unread=1)
    assert shown(conversations) == ["b", "d", "c", "a"]
    assert conversations.current_key() == "b"
    assert changes == []  # the move is not a new selection
    assert conversations.entry("b").unread == 1


def test_removed_and_filtered_entries(conversations):
    people = [("a", "Ann"), ("b", "Bo"), ("c", "Cy")]
    conversations.put_all([Entry(k, name, activity=float(n)) for n, (k, name) in enumerate(people)])
    conversations.remove("b")
    conversations.remove("nobody")
    assert shown(conversations) == ["c", "a"]
    assert conversations.entry("b") is None
    conversations.set_filter("an")
    assert [e.key for e in conversations.visible_entries()] == ["a"]
    conversations.put(Entry("d", "Dana", activity=50.0))  # arrives while filtered: placed, matched
    assert shown(conversations) == ["d", "c", "a"]
    assert [e.key for e in conversations.visible_entries()] == ["d", "a"]


def test_any_sequence_of_puts_changes_and_removals_keeps_the_rows_in_order(conversations):
    rng = random.Random(13)
    expected: dict[str, Entry] = {}
    for _ in range(1_500):
        key = f"k{rng.randrange(60)}"
        step = rng.random()
        if step < 0.15:
            conversations.remove(key)
            expected.pop(key, None)
        elif step < 0.3 and key in expected:
            expected[key] = conversations.change(key, activity=float(rng.randrange(40)))
        else:
            name = rng.choice(["ann", "Bob", "cy", "bob"])
            entry = Entry(key, name, activity=float(rng.randrange(40)))
            conversations.put(entry)
            expected[key] = entry
        ordered = sorted(expected.values(), key=lambda e: (-e.activity, e.title.casefold(), e.key))
        assert conversations.entries() == ordered
