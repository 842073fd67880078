"""Text from a peer or the relay never renders as rich text: a display name or a cancel
reason written in HTML shows as the characters typed, not as a fake badge.

A real relay process on 127.0.0.1; the hostile peer is an ordinary window whose name is
HTML, and whose transfer manager sends a cancel reason of its choosing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import Qt as GuiQt
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QLabel, QWidget

from messenger.protocol.payloads import FileCancel
from messenger.protocol.wire import Person
from messenger.ui.contact_details import ContactDetailsDialog
from messenger.ui.controller import PersonStatus, ServerChoice
from messenger.ui.main_window import MainWindow
from messenger.ui.new_session_dialog import NewSessionDialog
from messenger.ui.people_tab import PeopleTab
from tests.gui.helpers import SOON, open_window, run, wait_for_message_box
from tests.support import Keys, RelayProcess

pytestmark = pytest.mark.timeout(90)

FAKE_BADGE = "<b style='color:#1a7f37'>carol \u2714 verified</b>"
REASON = "<h1 style='color:red'>Your computer is infected</h1>"


@pytest.fixture
def make_window(qtbot, qasync_loop, tmp_path: Path, keys: Keys, relay: RelayProcess):
    windows: list[MainWindow] = []

    def make(folder: str, name: str) -> MainWindow:
        window = open_window(qtbot, keys, tmp_path / folder, len(windows), name=name)
        window.attach(run(qtbot, window.controller.connect_to(ServerChoice(relay.addr))))
        windows.append(window)
        return window

    yield make
    for window in windows:
        run(qtbot, window.controller.shutdown())


def renders(text: str) -> str:
    """What a person sees for ``text`` in a label, tooltip or box in auto format."""
    document = QTextDocument()
    if GuiQt.mightBeRichText(text):
        document.setHtml(text)
    else:
        document.setPlainText(text)
    return document.toPlainText()


def assert_shown_literally(widget: QWidget, needle: str) -> int:
    """Every label under ``widget`` that holds ``needle`` is plain text; every tooltip that
    holds it shows it literally. Returns how many places showed it."""
    places = 0
    for label in [widget, *widget.findChildren(QWidget)]:
        if isinstance(label, QLabel) and needle in label.text():
            assert label.textFormat() == Qt.TextFormat.PlainText, label.objectName()
            places += 1
        tip = label.toolTip()
        if needle in tip or needle in renders(tip):
            assert needle in renders(tip), tip
            places += 1
    return places


def test_an_html_name_and_cancel_reason_show_as_typed(qtbot, make_window, tmp_path):
    alice = make_window("alice", "Alice")
    mallory = make_window("mallory", FAKE_BADGE)

    # The presence list shows the name as typed (item text and tooltip).
    dialog = NewSessionDialog(alice.controller, alice)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.tabs.setCurrentIndex(2)
    people = dialog.people_tab.people_list
    qtbot.waitUntil(lambda: people.count() == 1, timeout=SOON)
    item = people.item(0)
    assert FAKE_BADGE in item.text()
    assert FAKE_BADGE in renders(item.toolTip())
    dialog.close()

    # Mallory invites Alice: the prompt shows the name as plain text.
    invite = run_soon(mallory.controller.invite(alice.controller.identity.fingerprint, "Alice"))
    box = wait_for_message_box(qtbot, "invitationBox")
    assert box.textFormat() == Qt.TextFormat.PlainText
    assert FAKE_BADGE in box.text()
    qtbot.mouseClick(
        next(b for b in box.buttons() if b.text() == "Accept"), Qt.MouseButton.LeftButton
    )
    qtbot.waitUntil(invite.done, timeout=SOON)
    mallory_id = mallory.controller.identity.fingerprint
    alice_id = alice.controller.identity.fingerprint
    qtbot.waitUntil(lambda: alice.current_session() == mallory_id, timeout=SOON)
    page = alice.pages[mallory_id]
    qtbot.waitUntil(page.loaded.is_set, timeout=SOON)
    assert page.title.text() == FAKE_BADGE
    assert assert_shown_literally(alice, FAKE_BADGE) >= 1  # the chat title
    entry = alice.conversation_list.currentItem()
    assert FAKE_BADGE in entry.text(), "the list entry says the name as typed"

    # A message written in HTML is a row of plain text (painted, never rendered).
    mallory.conversation_list.select(alice_id)
    mallory.pages[alice_id].composer.setPlainText(REASON)
    mallory.pages[alice_id].composer.submit()
    qtbot.waitUntil(lambda: [r.body for r in page.bubbles()] == [REASON], timeout=SOON)

    # The details show their name as plain text too.
    alice.show_details(mallory_id)
    qtbot.waitUntil(lambda: alice.findChild(ContactDetailsDialog) is not None, timeout=SOON)
    details = alice.findChild(ContactDetailsDialog)
    qtbot.waitUntil(details.isVisible, timeout=SOON)
    assert assert_shown_literally(details, FAKE_BADGE) >= 1
    details.close()

    # Mallory offers a file, then stops it with an HTML reason.
    offered = tmp_path / "notes.txt"
    offered.write_text("hello")
    transfer = run(qtbot, mallory.controller.send_file(alice_id, offered))
    qtbot.waitUntil(lambda: bool(page.transfers()), timeout=SOON)
    transfers = mallory.controller.courier.file_link(alice_id).transfers
    run(qtbot, transfers._send(FileCancel(id=transfer, reason=REASON)))
    card = page.transfers()[0]
    qtbot.waitUntil(lambda: REASON in card.state_label.text(), timeout=SOON)
    assert assert_shown_literally(alice, REASON) >= 1


def run_soon(coro):
    import asyncio

    return asyncio.ensure_future(coro)


def test_people_list_tooltips_show_names_literally(qtbot, qasync_loop):
    class Controller:
        async def people(self):
            return [Person("a" * 64, FAKE_BADGE, "busy")]

        async def person_statuses(self, people) -> dict[str, PersonStatus]:
            return {person_id: PersonStatus(known=False, verified=False) for person_id, _ in people}

    tab = PeopleTab(Controller())  # type: ignore[arg-type]
    qtbot.addWidget(tab)
    tab.set_people([Person("a" * 64, FAKE_BADGE, "busy")])
    qtbot.waitUntil(lambda: tab.people_list.count() == 1, timeout=5_000)
    item = tab.people_list.item(0)
    assert FAKE_BADGE in renders(item.toolTip())
