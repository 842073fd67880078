"""File transfer in the desktop app: the card on its own, then two real windows.

The unit tests drive a ``TransferCard`` with made-up events and a fake clock; the end-to-end
ones attach, drop, save and decline through the widgets a person uses, against a real relay
process (fixtures from ``test_app_windows``). Dialogs are swapped for stubs: the card's
``choose_folder`` and the page's ``choose_files``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from messenger.ui.chat_view import ChatPage
from messenger.ui.main_window import MainWindow
from messenger.ui.transfer_format import SpeedMeter, human_duration, human_size
from messenger.ui.transfer_widgets import TransferCard, TransferState
from tests.gui import test_app_windows
from tests.gui.helpers import SOON, wait_for_message_box
from tests.gui.test_app_windows import only_page, pair_by_code, system_lines

# The two-window fixtures (a relay process, windows with their own profiles), shared:
# pytest finds fixtures among a test module's attributes.
relay = test_app_windows.relay
make_window = test_app_windows.make_window

MB = 1_000_000


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def incoming_card(qtbot, **kwargs) -> TransferCard:
    card = TransferCard("t1", "holiday photos.zip", 3_145_728, "in", **kwargs)
    qtbot.addWidget(card)
    card.show()
    return card


# -- the card alone ---------------------------------------------------------------------------


def test_sizes_and_durations_read_like_a_file_manager() -> None:
    assert human_size(0) == "0 bytes"
    assert human_size(1) == "1 byte"
    assert human_size(3_145_728) == "3.1 MB"
    assert human_size(5 * 2**30) == "5.4 GB"  # past 2^31: no overflow anywhere
    assert human_duration(8.4) == "8 s"
    assert human_duration(185) == "3 min"
    assert human_duration(3900) == "1 h 5 min"


def test_the_speed_is_averaged_over_the_last_seconds_only() -> None:
    meter = SpeedMeter(window=3.0)
    meter.add(0.0, 0)
    assert meter.rate() is None, "one sample says nothing about speed"
    for second in range(1, 11):  # slow for five seconds, then ten times faster
        meter.add(float(second), second * MB if second <= 5 else 5 * MB + (second - 5) * 10 * MB)
    assert meter.rate() == pytest.approx(10 * MB)


def test_an_incoming_offer_shows_name_size_and_save_and_decline(qtbot) -> None:
    card = incoming_card(qtbot)
    assert card.objectName() == "transferCard"
    assert card.state is TransferState.OFFERED
    assert "holiday photos.zip" in card.name_label.text()
    assert "3.1 MB" in card.meta.text() and "Incoming" in card.meta.text()
    assert card.save_button.objectName() == "acceptFile" and card.save_button.isVisible()
    assert card.decline_button.objectName() == "declineFile" and card.decline_button.isVisible()
    assert not card.bar.isVisible() and not card.cancel_button.isVisible()


def test_save_asks_for_a_folder_from_the_default_and_requests_the_accept(
    qtbot, tmp_path: Path
) -> None:
    card = incoming_card(qtbot)
    card.default_folder = tmp_path / "Downloads"
    asked = []
    card.choose_folder = lambda parent, start: asked.append(start) or ""
    qtbot.mouseClick(card.save_button, Qt.MouseButton.LeftButton)
    assert asked == [str(tmp_path / "Downloads")]
    assert card.state is TransferState.OFFERED, "a cancelled chooser leaves the offer open"

    card.choose_folder = lambda parent, start: str(tmp_path)
    with qtbot.waitSignal(card.acceptRequested, timeout=1000) as accepted:
        qtbot.mouseClick(card.save_button, Qt.MouseButton.LeftButton)
    assert accepted.args == ["t1"]
    assert card.chosen_folder == tmp_path
    assert not card.save_button.isEnabled() and not card.decline_button.isEnabled()
    assert card.cancel_button.isVisible() and card.cancel_button.objectName() == "cancelFile"


def test_decline_requests_it_once_and_disables_the_buttons(qtbot) -> None:
    card = incoming_card(qtbot)
    with qtbot.waitSignal(card.declineRequested, timeout=1000) as declined:
        qtbot.mouseClick(card.decline_button, Qt.MouseButton.LeftButton)
    assert declined.args == ["t1"]
    assert not card.save_button.isEnabled() and not card.decline_button.isEnabled()
    card.cancelled("me", "declined")
    assert card.state_label.text() == "You declined this file."


def test_progress_moves_the_bar_and_shows_speed_and_time_left(qtbot) -> None:
    clock = FakeClock()
    card = TransferCard("t2", "video.mkv", 10 * MB, "out", clock=clock)
    qtbot.addWidget(card)
    card.show()
    assert card.state is TransferState.WAITING and card.cancel_button.isVisible()
    card.accepted(0)
    assert card.bar.isVisible() and card.bar.value() == 0
    card.update_progress(1 * MB, 10 * MB)
    first = card.bar.value()
    assert first > 0 and card.percent.text() == "10%"
    assert card.speed.objectName() == "transferSpeed"
    clock.now += 1.0
    card.update_progress(3 * MB, 10 * MB)
    assert card.bar.value() > first and card.percent.text() == "30%"
    assert card.state is TransferState.RUNNING
    assert "2.0 MB/s" in card.speed.text(), card.speed.text()
    assert "4 s left" in card.speed.text(), card.speed.text()  # 7 MB at 2 MB/s
    assert card.cancel_button.isEnabled()


def test_a_finished_download_says_where_and_opens_its_folder(qtbot, tmp_path: Path) -> None:
    card = incoming_card(qtbot)
    card.accepted()
    card.update_progress(3_145_728, 3_145_728)
    opened: list[QUrl] = []
    card.open_url = opened.append
    (tmp_path / "holiday photos.zip").write_bytes(b"zip")
    card.completed(str(tmp_path / "holiday photos.zip"))
    assert card.state is TransferState.DONE
    assert card.bar.value() == card.bar.maximum()
    assert card.state_label.text().startswith("Saved to")
    assert card.open_button.objectName() == "openFolder" and card.open_button.isVisible()
    assert not card.cancel_button.isVisible()
    qtbot.mouseClick(card.open_button, Qt.MouseButton.LeftButton)
    assert [url.toLocalFile() for url in opened] == [str(tmp_path)]


def test_a_cancelled_transfer_hides_the_bar_and_disables_every_button(qtbot) -> None:
    card = incoming_card(qtbot)
    card.choose_folder = lambda parent, start: "/tmp"
    qtbot.mouseClick(card.save_button, Qt.MouseButton.LeftButton)
    card.update_progress(1 * MB, 3 * MB)
    with qtbot.waitSignal(card.cancelRequested, timeout=1000):
        qtbot.mouseClick(card.cancel_button, Qt.MouseButton.LeftButton)
    assert not card.cancel_button.isEnabled(), "no second click while the cancel runs"
    card.cancelled("peer", "cancelled")
    assert card.state is TransferState.CANCELLED
    assert not card.bar.isVisible() and not card.speed.isVisible()
    assert not any(b.isEnabled() for b in card._buttons.values())
    assert card.state_label.text() == "The other person cancelled the transfer."
    assert card.state_label.property("tone") == "muted"
    card.update_progress(2 * MB, 3 * MB)
    assert card.state is TransferState.CANCELLED, "late progress does not revive it"


def test_a_failure_shows_its_message_muted(qtbot) -> None:
    card = incoming_card(qtbot)
    card.failed("holiday photos.zip: writing failed (No space left on device).")
    assert card.state is TransferState.FAILED
    assert "No space left" in card.state_label.text()
    assert not any(b.isVisible() for b in card._buttons.values())


def test_the_attach_button_works_once_the_session_is_ready(qtbot, tmp_path: Path) -> None:
    page = ChatPage("s1", "Code 7-orbit-lantern", contact=False)
    qtbot.addWidget(page)
    page.show()
    assert page.attach_button.objectName() == "attachButton"
    assert not page.attach_button.isEnabled()
    page.set_ready(True)
    page.choose_files = lambda parent: [str(tmp_path / "a.txt"), str(tmp_path / "b.txt")]
    requested = []
    page.fileRequested.connect(lambda *args: requested.append(args))
    qtbot.mouseClick(page.attach_button, Qt.MouseButton.LeftButton)
    assert requested == [("s1", str(tmp_path / "a.txt")), ("s1", str(tmp_path / "b.txt"))]
    page.set_ended()
    assert not page.attach_button.isEnabled()


def drop(widget, paths: list[Path] | None = None, urls: list[QUrl] | None = None) -> bool:
    """Drag ``paths`` over ``widget`` and drop them; returns whether the drag was taken."""
    mime = QMimeData()
    mime.setUrls(urls if urls is not None else [QUrl.fromLocalFile(str(p)) for p in paths or []])
    enter = QDragEnterEvent(
        QPoint(20, 20),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(widget, enter)
    if not enter.isAccepted():
        return False
    event = QDropEvent(
        QPointF(20, 20),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(widget, event)
    return event.isAccepted()


def test_only_local_files_may_be_dropped(qtbot, tmp_path: Path) -> None:
    page = ChatPage("s1", "Bob")
    qtbot.addWidget(page)
    requested = []
    page.fileRequested.connect(lambda sid, path: requested.append(path))
    assert not drop(page, urls=[QUrl("https://example.com/a.zip")])
    assert not drop(page, [tmp_path]), "a folder is not a file"
    (tmp_path / "notes.txt").write_text("hi")
    assert drop(page, [tmp_path / "notes.txt"])
    assert requested == [str(tmp_path / "notes.txt")]


# -- two real windows -------------------------------------------------------------------------


def a_file(folder: Path, name: str = "payload.bin", size: int = 3 * 1024 * 1024) -> Path:
    path = folder / name
    path.write_bytes(os.urandom(size))
    return path


def card_on(page: ChatPage, state: TransferState | None = None) -> TransferCard | None:
    cards = [c for c in page.transfers() if state is None or c.state is state]
    return cards[0] if len(cards) == 1 else None


def attach(qtbot, window: MainWindow, path: Path) -> ChatPage:
    page = only_page(window)
    page.choose_files = lambda parent: [str(path)]
    qtbot.mouseClick(page.attach_button, Qt.MouseButton.LeftButton)
    return page


def test_an_attached_file_is_saved_byte_identical_in_the_other_window(
    qtbot, make_window, tmp_path: Path
) -> None:
    alice, bob = make_window("Alice"), make_window("Bob")
    pair_by_code(qtbot, alice, bob)
    source = a_file(tmp_path)
    page_a, page_b = attach(qtbot, alice, source), only_page(bob)

    qtbot.waitUntil(lambda: card_on(page_b, TransferState.OFFERED) is not None, timeout=SOON)
    offer = card_on(page_b)
    assert "payload.bin" in offer.name_label.text() and "3.1 MB" in offer.meta.text()
    # The offer may reach Bob before Alice's side has heard back that it went out.
    qtbot.waitUntil(lambda: card_on(page_a, TransferState.WAITING) is not None, timeout=SOON)
    sent = card_on(page_a)
    assert sent.state is TransferState.WAITING
    inbox = tmp_path / "bob-downloads"
    inbox.mkdir()
    offer.choose_folder = lambda parent, start: str(inbox)
    qtbot.mouseClick(offer.save_button, Qt.MouseButton.LeftButton)

    qtbot.waitUntil(lambda: offer.state is TransferState.DONE, timeout=SOON)
    qtbot.waitUntil(lambda: sent.state is TransferState.DONE, timeout=SOON)
    for card in (offer, sent):
        assert card.bar.value() == card.bar.maximum() and card.percent.text() == "100%"
        assert card.open_button.isVisible()
    assert (inbox / "payload.bin").read_bytes() == source.read_bytes()
    assert offer.path == inbox / "payload.bin"
    assert sent.state_label.text().startswith("Sent")
    assert bob.controller.download_dir() == inbox, "the next chooser starts where this went"


def test_a_declined_offer_shows_declined_on_the_senders_card(
    qtbot, make_window, tmp_path: Path
) -> None:
    alice, bob = make_window("Alice"), make_window("Bob")
    pair_by_code(qtbot, alice, bob)
    page_a, page_b = attach(qtbot, alice, a_file(tmp_path, size=4096)), only_page(bob)
    qtbot.waitUntil(lambda: card_on(page_b, TransferState.OFFERED) is not None, timeout=SOON)
    offer = card_on(page_b)
    qtbot.mouseClick(offer.decline_button, Qt.MouseButton.LeftButton)
    sent = card_on(page_a)
    qtbot.waitUntil(lambda: sent.state is TransferState.CANCELLED, timeout=SOON)
    assert sent.state_label.text() == "The other person declined it."
    assert offer.state is TransferState.CANCELLED
    assert offer.state_label.text() == "You declined this file."


def test_a_file_dropped_on_the_page_is_offered(qtbot, make_window, tmp_path: Path) -> None:
    alice, bob = make_window("Alice"), make_window("Bob")
    pair_by_code(qtbot, alice, bob)
    page_a, page_b = only_page(alice), only_page(bob)
    assert drop(page_a, [a_file(tmp_path, "dropped.txt", size=1000)])
    qtbot.waitUntil(lambda: card_on(page_b, TransferState.OFFERED) is not None, timeout=SOON)
    assert "dropped.txt" in card_on(page_b).name_label.text()
    assert card_on(page_a).state is TransferState.WAITING


def test_a_file_that_cannot_be_read_leaves_a_line_and_no_card(
    qtbot, make_window, tmp_path: Path
) -> None:
    alice, bob = make_window("Alice"), make_window("Bob")
    pair_by_code(qtbot, alice, bob)
    page = attach(qtbot, alice, tmp_path / "gone.bin")
    qtbot.waitUntil(
        lambda: any(line.startswith("Not sent: Cannot read") for line in system_lines(page)),
        timeout=SOON,
    )
    assert page.transfers() == []


def test_open_folder_without_a_file_manager_says_so_and_offers_the_path(
    qtbot, tmp_path: Path
) -> None:
    card = incoming_card(qtbot)
    card.accepted()
    card.open_url = lambda _url: False  # no file manager registered for folders
    (tmp_path / "holiday photos.zip").write_bytes(b"zip")
    card.completed(str(tmp_path / "holiday photos.zip"))
    qtbot.mouseClick(card.open_button, Qt.MouseButton.LeftButton)
    box = wait_for_message_box(qtbot, "openFolderFailed")
    assert "No file manager" in box.text()
    assert str(tmp_path) in box.informativeText()
    copy = next(b for b in box.buttons() if b.text() == "Copy path")
    qtbot.mouseClick(copy, Qt.MouseButton.LeftButton)
    assert QApplication.clipboard().text() == str(tmp_path)


def test_the_folder_chooser_starts_in_a_folder_that_exists(
    qtbot, tmp_path: Path, monkeypatch
) -> None:
    from messenger.store.profile import Profile
    from messenger.ui.controller import AppController

    home, downloads = tmp_path / "home", tmp_path / "home" / "Downloads"
    home.mkdir()
    monkeypatch.setattr(Path, "home", classmethod(lambda cls: home))
    monkeypatch.setattr(
        "messenger.ui.controller_actions.platformdirs.user_downloads_dir", lambda: str(downloads)
    )
    controller = AppController(Profile.open(tmp_path / "profile"))
    assert controller.download_dir() == home, "Downloads does not exist: start at home"
    assert not downloads.exists(), "the app does not create Downloads on its own"
    downloads.mkdir()
    assert controller.download_dir() == downloads
    controller.profile.save_settings(download_dir=str(tmp_path / "gone"))
    assert controller.download_dir() == downloads, "a remembered folder that went away"
