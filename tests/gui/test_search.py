"""Search across every conversation (issue 12, item 4): the search box filters the list by
name at once and, after a pause, finds messages in the encrypted database's full-text index;
a hit opens its conversation at that message, and scrolling down from there reads the newer
ones back to the latest.
"""

from __future__ import annotations

import random
import time

import pytest
from PySide6.QtCore import Qt

from messenger.store.profile import Profile
from messenger.ui.main_window import MainWindow
from messenger.ui.side_panel import LEAD, snippet
from tests.gui.helpers import SOON, list_loaded, open_window, run
from tests.history_seed import add_contact, spread

pytestmark = pytest.mark.timeout(120)

NEEDLE = "zanzibar quartz"


@pytest.fixture
def window(qtbot, qasync_loop, keys, tmp_path):
    """Alice's window: Bob with 400 messages (an old one holds the needle), Carol with a
    recent one that holds it too, Dave with none."""
    folder = tmp_path / "alice"
    keys.install_identity(folder, 0)
    profile = Profile.open(folder)
    me = profile.unlock()
    rng = random.Random(5)
    bob_messages = spread(400, days=10, rng=rng, end=time.time() - 3600)
    bob_messages[40] = (f"meet at the {NEEDLE} station", False, bob_messages[40][2])
    people = {
        "Bob": add_contact(profile.db, me.fingerprint, "Bob", bob_messages),
        "Carol": add_contact(profile.db, me.fingerprint, "Carol",
                             [(f"I found the {NEEDLE} shop", True, time.time() - 60)]),
        "Dave": add_contact(profile.db, me.fingerprint, "Dave", [("nothing here", False,
                                                                 time.time() - 120)]),
    }  # fmt: skip
    profile.close()
    opened = list_loaded(qtbot, open_window(qtbot, keys, folder, 0, name="Alice"))
    opened.people = people  # type: ignore[attr-defined]
    yield opened
    opened._quitting = True
    run(qtbot, opened.controller.shutdown())


def hit_texts(window: MainWindow) -> list[str]:
    return [window.side.hits.item(n).text() for n in range(window.side.hits.count())]


def test_a_search_finds_messages_in_every_conversation_newest_first(qtbot, window):
    window.side.search_box.setText("ZANZ")
    qtbot.waitUntil(lambda: len(hit_texts(window)) == 2, timeout=SOON)
    first, second = hit_texts(window)
    assert first.startswith("Carol") and "You: I found the zanzibar quartz shop" in first
    assert second.startswith("Bob") and "Bob: meet at the zanzibar quartz station" in second
    assert window.side.hits_label.text() == "Messages (2)"
    assert window.conversation_list.visible_entries() == [], "no name matches"

    window.side.search_box.setText("dav")
    assert [e.title for e in window.conversation_list.visible_entries()] == ["Dave"]
    qtbot.waitUntil(lambda: window.side.hits_label.text() == "No messages found", timeout=SOON)
    assert not window.side.hits_label.isHidden(), "the search's answer shows"
    window.side.search_box.clear()
    assert window.side.hits.isHidden() and window.side.hits_label.isHidden()
    assert len(window.conversation_list.visible_entries()) == 3


def test_a_hit_opens_its_conversation_at_the_message(qtbot, window):
    bob = window.people["Bob"]  # type: ignore[attr-defined]
    window.side.search_box.setText("quartz station")
    qtbot.waitUntil(lambda: len(hit_texts(window)) == 1, timeout=SOON)
    item = window.side.hits.item(0)
    rect = window.side.hits.visualItemRect(item)
    qtbot.mouseClick(window.side.hits.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())

    qtbot.waitUntil(lambda: window.current_session() == bob.id, timeout=SOON)
    page = window.pages[bob.id]
    qtbot.waitUntil(
        lambda: any(NEEDLE in r.body for r in page.bubbles()), timeout=SOON
    )
    view = page.history
    selected = [view.model().data(i, Qt.ItemDataRole.DisplayRole) for i in view.selectedIndexes()]
    assert selected == [f"meet at the {NEEDLE} station"], "the hit is selected"
    hit = next(r for r in view.rows() if NEEDLE in r.body)
    assert view.viewport().rect().intersects(view.visualRect(view._items[hit.key].index()))
    assert view.has_older and view.has_newer, "the page around it, not the latest"

    while view.has_newer:  # scrolling down reads the newer messages back
        count = len(page.bubbles())
        view.scrollToBottom()
        qtbot.waitUntil(lambda c=count: len(page.bubbles()) > c, timeout=SOON)
    ids = [r.db_id for r in view.messages()]
    assert ids == list(range(ids[0], ids[-1] + 1)), "every message once, in order, no gap"
    latest = run(qtbot, window.controller.book.latest(bob.id, 1)).records[0]
    assert ids[-1] == latest.id, "back down to the latest"


def test_escape_leaves_a_search_and_a_long_hit_shows_its_word_near_the_front(qtbot, window):
    long_line = "a long preamble that goes on and on about nothing in particular, then: "
    assert snippet(long_line + NEEDLE, "quartz").index("quartz") <= LEAD + 1
    window.side.search_box.setFocus()
    qtbot.keyClicks(window.side.search_box, "quartz")
    qtbot.waitUntil(lambda: len(hit_texts(window)) == 2, timeout=SOON)
    assert not window.side.hits.isHidden(), "the hits show before Escape"
    qtbot.keyClick(window.side.search_box, Qt.Key.Key_Escape)
    assert window.side.search_box.text() == ""
    assert window.side.hits.isHidden()
    assert len(window.conversation_list.visible_entries()) == 3
