"""A known name with a new key, in the app: the session is refused, the known contact's page
says so in plain words with "Compare keys…", the dialog sets both keys side by side, "Not
now" changes nothing, "I checked" trusts, and the next meeting keeps the old contact (and
its history) as "bob (old key)" beside the new bob.

Three real windows (Alice, bob, and a second key also called "bob") on a real relay process.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox, QWidget

from messenger.crypto.rsa import format_fingerprint
from messenger.session import SessionState
from messenger.ui.contact_details import ContactDetailsDialog
from messenger.ui.controller import ServerChoice
from messenger.ui.key_change import KeyChangeDialog
from messenger.ui.main_window import MainWindow
from messenger.ui.new_session_dialog import NewSessionDialog
from messenger.ui.wording import KEY_CHANGED
from tests.gui.helpers import SOON, list_loaded, open_window, pair, run
from tests.support import Keys, RelayProcess

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def make_window(qtbot, qasync_loop, tmp_path: Path, keys: Keys, relay: RelayProcess):
    windows: list[MainWindow] = []

    def make(folder: str, name: str) -> MainWindow:
        window = open_window(qtbot, keys, tmp_path / folder, len(windows), name=name)
        list_loaded(qtbot, window)
        window.attach(run(qtbot, window.controller.connect_to(ServerChoice(relay.addr))))
        windows.append(window)
        return window

    yield make
    for window in windows:
        if window.controller.worker is not None:
            window._quitting = True
            run(qtbot, window.controller.shutdown())


def person_id(window: MainWindow) -> str:
    assert window.controller.identity is not None
    return window.controller.identity.fingerprint


def live(window: MainWindow) -> list[str]:
    """The relay sessions still open for ``window`` (while one is, the relay says busy)."""
    client = window.controller.client
    assert client is not None
    return [n for n, s in client.sessions.items() if s.state is not SessionState.CLOSED]


def visible(window: MainWindow, kind: type[QWidget]) -> QWidget | None:
    return next((w for w in window.findChildren(kind) if w.isVisible()), None)


def accept_invitation(qtbot, window: MainWindow) -> None:
    """Click Accept on the invitation prompt showing in ``window``."""

    def box() -> QMessageBox | None:
        return next(
            (
                w
                for w in QApplication.topLevelWidgets()
                if isinstance(w, QMessageBox)
                and w.objectName() == "invitationBox"
                and w.isVisible()
                and w.window() is not None and w.parentWidget() == window
            ),
            None,
        )

    qtbot.waitUntil(lambda: box() is not None, timeout=SOON)
    prompt = box()
    assert prompt is not None
    next(b for b in prompt.buttons() if b.text() == "Accept").click()


def invite(inviter: MainWindow, invitee: MainWindow) -> asyncio.Future:
    future = asyncio.ensure_future(inviter.controller.invite(person_id(invitee), ""))
    future.add_done_callback(lambda f: f.cancelled() or f.exception())  # looked at later
    return future


def is_trusted(qtbot, window: MainWindow, key_id: str) -> bool:
    worker = window.controller.worker
    assert worker is not None
    return run(qtbot, worker.run(lambda db: db.is_trusted_key(key_id)))


def open_compare_dialog(qtbot, window: MainWindow, known_id: str) -> KeyChangeDialog:
    window.pages[known_id].key_change_bar.compare_button.click()
    qtbot.waitUntil(lambda: visible(window, KeyChangeDialog) is not None, timeout=SOON)
    dialog = visible(window, KeyChangeDialog)
    assert isinstance(dialog, KeyChangeDialog)
    return dialog


def words_on(window: MainWindow, known_id: str) -> str:
    page = window.pages[known_id]
    return "\n".join([page.key_change_bar.text.text(), *page.system_lines()])


def test_a_new_key_under_a_known_name_is_compared_then_trusted_and_the_old_one_kept(
    qtbot, make_window
):
    alice, bob = make_window("alice", "Alice"), make_window("bob", "bob")
    bob_id, _alice_id = pair(qtbot, alice, bob)
    run(qtbot, alice.controller.send(bob_id, "hello, first bob"))
    # bob sets up Messenger again, elsewhere: his first app is gone, and so is the session
    # that introduced him (until it ends, the relay says Alice is busy).
    bob._quitting = True
    run(qtbot, bob.controller.shutdown())
    qtbot.waitUntil(lambda: not alice.controller.open_meetings() and not live(alice), timeout=SOON)
    impostor = make_window("bob-again", "bob")
    new_id = person_id(impostor)
    page = alice.pages[bob_id]

    # The new key invites Alice: refused, and bob's page says so in plain words.
    invite(impostor, alice)
    accept_invitation(qtbot, alice)
    qtbot.waitUntil(lambda: not page.key_change_bar.isHidden(), timeout=SOON)
    assert alice.current_session() == bob_id
    assert "may be someone else" in page.key_change_bar.text.text()
    assert any("refused" in line for line in page.system_lines())
    assert "messenger-cli" not in words_on(alice, bob_id)
    assert all(
        "messenger-cli" not in w.text()
        for w in QApplication.topLevelWidgets()
        if isinstance(w, QMessageBox)
    ), "no box with the command-line advice"

    # The dialog: both keys side by side, "Not now" by default, and it changes nothing.
    dialog = open_compare_dialog(qtbot, alice, bob_id)
    assert dialog.not_now.isDefault() and not dialog.trust_button.isDefault()
    assert " ".join(dialog.known_fingerprint.text().split()) == format_fingerprint(bob_id)
    assert " ".join(dialog.new_fingerprint.text().split()) == format_fingerprint(new_id)
    assert dialog.findChild(QLabel, "knownName").text() == "bob (the key you know)"
    assert all(
        label.textFormat() == Qt.TextFormat.PlainText for label in dialog.findChildren(QLabel)
    ), "names go into plain-text labels only"
    dialog.not_now.click()
    qtbot.waitUntil(lambda: visible(alice, KeyChangeDialog) is None, timeout=SOON)
    assert not is_trusted(qtbot, alice, new_id)
    assert not page.key_change_bar.isHidden()

    # Still refused the next time: Alice invites it from the People tab, which says so in
    # the same plain words.
    alice.open_new_session()
    qtbot.waitUntil(lambda: visible(alice, NewSessionDialog) is not None, timeout=SOON)
    new_session = visible(alice, NewSessionDialog)
    assert isinstance(new_session, NewSessionDialog)
    new_session.tabs.setCurrentWidget(new_session.people_tab)
    people = new_session.people_tab.people_list
    qtbot.waitUntil(
        lambda: any(
            people.item(i).data(Qt.ItemDataRole.UserRole) == new_id for i in range(people.count())
        ),
        timeout=SOON,
    )
    row = next(
        i for i in range(people.count()) if people.item(i).data(Qt.ItemDataRole.UserRole) == new_id
    )
    people.setCurrentRow(row)
    new_session.people_tab.invite_button.click()
    accept_invitation(qtbot, impostor)
    error = new_session.error_label
    qtbot.waitUntil(lambda: error.isVisible() and error.text() == KEY_CHANGED, timeout=SOON)
    assert alice.conversation_list.entry(new_id) is None
    assert not is_trusted(qtbot, alice, new_id)
    new_session.close()

    # "I checked": trusted through the database worker; the page says to meet again.
    dialog = open_compare_dialog(qtbot, alice, bob_id)
    dialog.trust_button.click()
    qtbot.waitUntil(lambda: is_trusted(qtbot, alice, new_id), timeout=SOON)
    qtbot.waitUntil(
        lambda: any("meet again" in line for line in page.system_lines()), timeout=SOON
    )
    assert page.key_change_bar.isHidden()

    # A new meeting succeeds: the new bob is a contact, the old one is "bob (old key)".
    inviting = invite(impostor, alice)
    accept_invitation(qtbot, alice)
    qtbot.waitUntil(inviting.done, timeout=SOON)
    assert inviting.exception() is None
    qtbot.waitUntil(
        lambda: (
            (new := alice.conversation_list.entry(new_id)) is not None
            and new.title == "bob"
            and alice.conversation_list.entry(bob_id).title == "bob (old key)"
        ),
        timeout=SOON,
    )
    book = alice.controller.book
    assert book is not None
    old_history = run(qtbot, book.latest(bob_id)).records
    assert [m.body for m in old_history] == ["hello, first bob"]
    assert alice.pages[bob_id].title.text() == "bob (old key)"

    alice.show_details(new_id)
    qtbot.waitUntil(lambda: visible(alice, ContactDetailsDialog) is not None, timeout=SOON)
    details = visible(alice, ContactDetailsDialog)
    assert isinstance(details, ContactDetailsDialog)
    assert details.key_note.text() == f"Key change: Replaces the key {format_fingerprint(bob_id)}."
