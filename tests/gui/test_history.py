"""A conversation's history (issue 12, item 3): the latest messages at once, older ones as
the person scrolls up (what is on screen stays put), one separator per day; file cards stay
in the history with their state after a restart, with "Show in folder" while the file is
where it was saved.

Long histories are written straight into the profile's database (``tests.history_seed``);
file transfers run between two real windows through a real relay process.
"""

from __future__ import annotations

import itertools
import random
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from messenger.store.profile import Profile
from messenger.ui.book import PAGE
from messenger.ui.controller import ServerChoice
from messenger.ui.history_rows import RowKind, day_label
from messenger.ui.main_window import MainWindow
from messenger.ui.transfer_widgets import TransferState
from tests.gui.helpers import SOON, list_loaded, open_window, pair, reopen, run
from tests.history_seed import SeededContact, add_contact, spread
from tests.support import Keys

pytestmark = pytest.mark.timeout(120)


def seeded_window(
    qtbot, keys: Keys, folder: Path, people: dict[str, list]
) -> tuple[MainWindow, dict[str, SeededContact]]:
    """A window on a profile whose contacts (by name) already have these histories."""
    keys.install_identity(folder, 0)
    profile = Profile.open(folder)
    me = profile.unlock()
    seeded = {name: add_contact(profile.db, me.fingerprint, name, msgs) for name, msgs in
              people.items()}  # fmt: skip
    profile.close()
    window = list_loaded(qtbot, open_window(qtbot, keys, folder, 0, name="Alice"))
    return window, seeded


@pytest.fixture
def cleanup(qtbot, qasync_loop):
    windows: list[MainWindow] = []
    yield windows
    for window in windows:
        if window.controller.worker is not None:
            window._quitting = True
            run(qtbot, window.controller.shutdown())


def test_older_messages_load_as_you_scroll_up_with_one_separator_per_day(
    qtbot, keys, tmp_path, cleanup
):
    rng = random.Random(3)
    messages = spread(250, days=4.5, rng=rng)
    window, seeded = seeded_window(qtbot, keys, tmp_path / "alice", {"Bob": messages})
    cleanup.append(window)
    bob = seeded["Bob"]
    window.conversation_list.select(bob.id)
    page = window.pages[bob.id]
    view = page.history
    qtbot.waitUntil(page.loaded.is_set, timeout=SOON)
    assert [r.body for r in page.bubbles()] == [m[0] for m in messages[-PAGE:]]
    assert view.has_older
    qtbot.waitUntil(view.at_bottom, timeout=SOON)

    while view.has_older:
        count = len(page.bubbles())
        view.verticalScrollBar().setValue(0)  # the person scrolls to the top
        anchor = next(r for r in view.rows() if r.kind is RowKind.MESSAGE)
        anchor_top = view.visualRect(view._items[anchor.key].index()).top()
        qtbot.waitUntil(lambda c=count: len(page.bubbles()) > c, timeout=SOON)
        moved = view.visualRect(view._items[anchor.key].index()).top() - anchor_top
        assert moved == 0, f"what was on screen stays put (it moved {moved} px)"

    rows = view.rows()
    assert [r.body for r in rows if r.kind is RowKind.MESSAGE] == [m[0] for m in messages]
    days = [r for r in rows if r.kind is RowKind.DAY]
    assert [d.day for d in days] == sorted({r.day for r in rows if r.kind is RowKind.MESSAGE})
    assert rows[0].kind is RowKind.DAY, "the first message has its day above it"
    for before, after in itertools.pairwise(rows):
        if after.kind is RowKind.MESSAGE and before.kind is RowKind.MESSAGE:
            assert after.day == before.day, "a new day always has its separator"
    assert day_label(days[-1].day) == "Today"


def test_a_short_history_has_nothing_older_to_load(qtbot, keys, tmp_path, cleanup):
    now = time.time()
    window, seeded = seeded_window(
        qtbot, keys, tmp_path / "alice", {"Bob": [("hi", False, now - 90), ("hey", True, now)]}
    )
    cleanup.append(window)
    window.conversation_list.select(seeded["Bob"].id)
    page = window.pages[seeded["Bob"].id]
    qtbot.waitUntil(page.loaded.is_set, timeout=SOON)
    assert [(r.body, r.outgoing) for r in page.bubbles()] == [("hi", False), ("hey", True)]
    assert not page.history.has_older
    assert page.history.rows()[0].kind is RowKind.DAY


# -- files in the history ---------------------------------------------------------------------


def test_file_cards_stay_in_the_history_with_their_state(
    qtbot, keys, tmp_path, relay, cleanup
):
    alice = list_loaded(qtbot, open_window(qtbot, keys, tmp_path / "alice", 0, name="Alice"))
    bob = list_loaded(qtbot, open_window(qtbot, keys, tmp_path / "bob", 1, name="Bob"))
    cleanup.extend([alice, bob])
    for window in (alice, bob):
        window.attach(run(qtbot, window.controller.connect_to(ServerChoice(relay.addr))))
    bob_id, alice_id = pair(qtbot, alice, bob)
    source = tmp_path / "report.pdf"
    source.write_bytes(b"%PDF" + bytes(range(256)) * 64)
    inbox = tmp_path / "bob-downloads"
    inbox.mkdir()

    alice.conversation_list.select(bob_id)
    page_a = alice.pages[bob_id]
    page_a.choose_files = lambda _parent: [str(source)]
    qtbot.mouseClick(page_a.attach_button, Qt.MouseButton.LeftButton)
    page_b = bob.page_for(alice_id)
    qtbot.waitUntil(lambda: len(page_b.transfers()) == 1, timeout=SOON)
    offer = page_b.transfers()[0]
    qtbot.waitUntil(lambda: offer.state is TransferState.OFFERED, timeout=SOON)
    offer.choose_folder = lambda _parent, _start: str(inbox)
    qtbot.mouseClick(offer.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: offer.state is TransferState.DONE, timeout=SOON)
    qtbot.waitUntil(
        lambda: [c.state for c in page_a.transfers()] == [TransferState.DONE], timeout=SOON
    )
    assert bob.conversation_list.entry(alice_id).preview == "\U0001f4ce report.pdf"

    bob = reopen(qtbot, bob)
    cleanup.append(bob)
    bob.conversation_list.select(alice_id)
    page_b = bob.pages[alice_id]
    qtbot.waitUntil(lambda: len(page_b.transfers()) == 1, timeout=SOON)
    card = page_b.transfers()[0]
    assert card.state is TransferState.DONE and card.path == inbox / "report.pdf"
    assert card.state_label.text().startswith("Saved to")
    assert card.open_button.isVisible(), "the file is where it was saved"
    assert [r.body for r in page_b.bubbles()] == ["report.pdf"]

    (inbox / "report.pdf").unlink()  # moved away since
    bob = reopen(qtbot, bob)
    cleanup.append(bob)
    bob.conversation_list.select(alice_id)
    page_b = bob.pages[alice_id]
    qtbot.waitUntil(lambda: len(page_b.transfers()) == 1, timeout=SOON)
    card = page_b.transfers()[0]
    assert card.state is TransferState.DONE
    assert card.open_button.isHidden(), "no Show in folder for a file that is gone"

    alice = reopen(qtbot, alice)
    cleanup.append(alice)
    alice.conversation_list.select(bob_id)
    qtbot.waitUntil(lambda: len(alice.pages[bob_id].transfers()) == 1, timeout=SOON)
    sent = alice.pages[bob_id].transfers()[0]
    assert sent.state is TransferState.DONE and sent.state_label.text().startswith("Sent")
