"""Dialogs, QR codes, icons and themes, with fake controllers: no server, no sockets.

The fakes have the controller's coroutine names and return SessionInfo-like objects (or raise
the MessengerError a real server would cause), so each test drives a dialog by clicking its
buttons and waits for the async slot to finish with ``qtbot.waitUntil``.
"""

from __future__ import annotations

import asyncio
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QDialog, QLabel, QLineEdit, QListWidget, QPushButton

from messenger.crypto.rsa import format_fingerprint
from messenger.protocol.errors import (
    LocalProtocolError,
    MessengerError,
    NoSuchSessionError,
    PeerBusyError,
)
from messenger.protocol.wire import Person
from messenger.resources import resource_path, resources_dir
from messenger.store.files import ProfileError
from messenger.store.records import ContactRecord, VerifiedBy
from messenger.ui import theme
from messenger.ui.about import about_text
from messenger.ui.contact_details import ContactDetailsDialog
from messenger.ui.controller import PersonStatus
from messenger.ui.icons import APP_ICON_SIZES, ICON_NAMES, app_icon, icon
from messenger.ui.new_session_dialog import NewSessionDialog
from messenger.ui.qr import qr_pixmap
from messenger.ui.tray import TrayIcon, badge_text
from messenger.ui.welcome_dialog import PassphraseDialog, WelcomeDialog
from tests.gui.helpers import wait_for_message_box

SAFETY = "12345 67890 11111 22222 33333 44444 55555 66666 77777 88888 99999 00000"
TIMEOUT = 5000


# -- fakes ------------------------------------------------------------------------------------


class FakeBridge(QObject):
    peopleChanged = Signal(list)
    sessionReady = Signal(str, str, str, str, str)


@dataclass
class FakeSession:
    id: str


@dataclass
class FakeInfo:
    session: FakeSession
    title: str
    code: str = ""

    @property
    def key(self) -> str:
        return self.session.id


class FakeController:
    """Canned answers for the dialog's calls; ``error`` makes the next call raise it."""

    def __init__(self, people: list[Person] | None = None) -> None:
        self.bridge = FakeBridge()
        self.people_now = list(people or [])
        self.error: MessengerError | None = None
        self.calls: list[tuple] = []
        self.gate = asyncio.Event()  # join_code waits for it: a slow server
        self.gate.set()
        #: Pinned people: id -> (name, verified).
        self.contacts: dict[str, tuple[str, bool]] = {}

    async def person_statuses(self, people: list[tuple[str, str]]) -> dict[str, PersonStatus]:
        return {person_id: self.person_status(person_id, name) for person_id, name in people}

    def person_status(self, person_id: str, name: str) -> PersonStatus:
        if person_id in self.contacts:
            return PersonStatus(known=True, verified=self.contacts[person_id][1])
        clash = next(
            (n for pid, (n, _v) in self.contacts.items() if pid != person_id and n == name), None
        )
        return PersonStatus(known=False, verified=False, looks_like=clash or "")

    def _maybe_fail(self) -> None:
        if self.error is not None:
            raise self.error

    async def create_code(self, password: str | None = None) -> FakeInfo:
        self.calls.append(("create_code", password))
        self._maybe_fail()
        return FakeInfo(FakeSession("7"), "Session 7", "7" if password else "7-orbit-lantern")

    async def join_code(self, code: str, password: str | None = None) -> FakeInfo:
        self.calls.append(("join_code", code, password))
        await self.gate.wait()
        self._maybe_fail()
        return FakeInfo(FakeSession("9"), "Session 9")

    async def people(self) -> list[Person]:
        self.calls.append(("people",))
        self._maybe_fail()
        return list(self.people_now)

    async def invite(self, person_id: str, name: str) -> FakeInfo:
        self.calls.append(("invite", person_id, name))
        self._maybe_fail()
        return FakeInfo(FakeSession("s-" + person_id), name)


class FakeProfile:
    def __init__(
        self,
        *,
        name: str = "",
        server: str | None = None,
        has_key: bool = False,
        encrypted: bool = False,
    ) -> None:
        self._settings: dict[str, object] = {"name": name}
        if server is not None:
            self._settings["server"] = server
        self._has_key = has_key
        self._encrypted = encrypted

    @property
    def name(self) -> str:
        return str(self._settings.get("name", ""))

    def settings(self) -> dict[str, object]:
        return dict(self._settings)

    def save_settings(self, **values: object) -> None:
        self._settings.update(values)

    def has_identity(self) -> bool:
        return self._has_key

    def identity_is_encrypted(self) -> bool:
        return self._encrypted


class FakeIdentityController:
    """``load_identity`` waits for ``release`` (so a test can look at the dialog while the
    key is "being made"), then fails if the passphrase is not ``right_passphrase``."""

    def __init__(self, profile: FakeProfile, right_passphrase: str | None = None) -> None:
        self.profile = profile
        self.right_passphrase = right_passphrase
        self.release = asyncio.Event()
        self.release.set()
        self.loaded_with: list[str | None] = []

    async def load_identity(self, passphrase: str | None = None) -> object:
        self.loaded_with.append(passphrase)
        await self.release.wait()
        if self.profile.has_identity() and passphrase != self.right_passphrase:
            raise ProfileError("Cannot open the identity key: wrong passphrase.")
        return object()


def find(widget, cls, name):
    child = widget.findChild(cls, name)
    assert child is not None, f"no {cls.__name__} named {name!r}"
    return child


@pytest.fixture
def shown(qtbot, qasync_loop):
    """Register a widget with qtbot and show it (visibility matters to the assertions)."""

    def show(widget):
        qtbot.addWidget(widget)
        widget.show()
        return widget

    return show


# -- contact details (safety number, QR code, verified mark) and QR codes -------------------


def details(verified: bool = False, **fields) -> ContactDetailsDialog:
    contact = ContactRecord(id="ab" * 32, name="Bob", pinned_at=1.0, verified=verified,
                            verified_by=VerifiedBy.SAFETY_NUMBER if verified else None,
                            **fields)  # fmt: skip
    return ContactDetailsDialog(contact, SAFETY)


def test_details_show_sixty_digits_in_three_rows_of_four_groups(shown):
    dialog = shown(details())
    digits = find(dialog, QLabel, "safetyDigits")
    rows = digits.text().splitlines()
    assert len(rows) == 3
    assert all(re.fullmatch(r"\d{5} \d{5} \d{5} \d{5}", row) for row in rows)
    assert re.sub(r"\D", "", digits.text()) == re.sub(r"\D", "", SAFETY)
    assert digits.textInteractionFlags() & Qt.TextInteractionFlag.TextSelectableByMouse
    assert dialog.windowTitle() == "Bob \u2014 details"


def test_details_have_a_qr_code(shown):
    dialog = shown(details())
    pixmap = find(dialog, QLabel, "safetyQr").pixmap()
    assert not pixmap.isNull()
    assert pixmap.width() == pixmap.height()


def test_mark_verified_toggles_its_text_and_emits(shown, qtbot):
    dialog = shown(details())
    button = find(dialog, QPushButton, "markVerified")
    assert button.text() == "Mark as verified"
    with qtbot.waitSignal(dialog.verifiedChanged, timeout=TIMEOUT) as blocker:
        button.click()
    assert blocker.args == [True]
    assert button.text() == "Mark as not verified"
    with qtbot.waitSignal(dialog.verifiedChanged, timeout=TIMEOUT) as blocker:
        button.click()
    assert blocker.args == [False]
    assert button.text() == "Mark as verified"


def test_an_already_verified_contact_offers_to_unmark(shown):
    dialog = shown(details(verified=True))
    assert find(dialog, QPushButton, "markVerified").text() == "Mark as not verified"


def test_a_local_name_is_offered_for_saving(shown, qtbot):
    dialog = shown(details(local_name="Bobby"))
    assert dialog.local_name.text() == "Bobby"
    assert find(dialog, QLabel, "theirName").text() == "Bob"
    dialog.local_name.setText("  Robert ")
    with qtbot.waitSignal(dialog.renameRequested, timeout=TIMEOUT) as blocker:
        dialog.save_name.click()
    assert blocker.args == ["Robert"]


@pytest.mark.parametrize("size", [20, 64, 200, 333])
def test_qr_pixmap_is_a_square_of_the_requested_size(qapp, size):
    pixmap = qr_pixmap("123456789012345678901234567890", size)
    assert (pixmap.width(), pixmap.height()) == (size, size)


def test_qr_pixmap_has_a_white_quiet_zone_and_black_modules(qapp):
    image = qr_pixmap("hello", 200).toImage()
    assert image.pixelColor(0, 0) == QColor("white")
    assert image.pixelColor(199, 199) == QColor("white")
    colours = {image.pixelColor(x, 100).name() for x in range(200)}
    assert colours == {"#000000", "#ffffff"}


# -- new-session dialog ------------------------------------------------------------------------


def test_create_shows_the_code_and_emits_session_started(shown, qtbot):
    controller = FakeController()
    dialog = shown(NewSessionDialog(controller))
    assert find(dialog, QObject, "newSessionTabs").currentWidget().objectName() == "createTab"
    with qtbot.waitSignal(dialog.sessionStarted, timeout=TIMEOUT) as blocker:
        find(dialog, QPushButton, "createButton").click()
    assert blocker.args == ["7"]
    code = find(dialog, QLabel, "codeLabel")
    assert code.text() == "7-orbit-lantern"
    assert code.isVisible()
    assert find(dialog, QPushButton, "copyCode").isVisible()
    assert dialog.isVisible(), "the dialog stays open so the code can be read out"
    assert controller.calls == [("create_code", None)]

    find(dialog, QPushButton, "copyCode").click()
    assert QGuiApplication.clipboard().text() == "7-orbit-lantern"


def test_create_with_own_password_shows_the_session_number(shown, qtbot):
    controller = FakeController()
    dialog = shown(NewSessionDialog(controller))
    dialog.create_tab.own_password_check.setChecked(True)
    find(dialog, QLineEdit, "ownPassword").setText("correct horse")
    with qtbot.waitSignal(dialog.sessionStarted, timeout=TIMEOUT):
        find(dialog, QPushButton, "createButton").click()
    assert find(dialog, QLabel, "codeLabel").text() == "7"
    assert "password" in dialog.create_tab.code_hint.text()
    assert controller.calls == [("create_code", "correct horse")]


def test_create_failure_shows_in_the_error_label_and_keeps_the_password(shown, qtbot):
    controller = FakeController()
    controller.error = LocalProtocolError("Not connected to a server.")
    dialog = shown(NewSessionDialog(controller))
    dialog.create_tab.own_password_check.setChecked(True)
    find(dialog, QLineEdit, "ownPassword").setText("secret")
    button = find(dialog, QPushButton, "createButton")
    button.click()
    error = find(dialog, QLabel, "errorLabel")
    qtbot.waitUntil(error.isVisible, timeout=TIMEOUT)
    assert error.text() == "Not connected to a server."
    assert find(dialog, QLineEdit, "ownPassword").text() == "secret"
    qtbot.waitUntil(button.isEnabled, timeout=TIMEOUT)


def test_join_with_a_malformed_code_shows_the_error_and_keeps_the_text(shown, qtbot):
    controller = FakeController()
    dialog = shown(NewSessionDialog(controller))
    dialog.tabs.setCurrentWidget(find(dialog, QObject, "joinTab"))
    code_input = find(dialog, QLineEdit, "codeInput")
    code_input.setText("orbit lantern")
    find(dialog, QPushButton, "joinButton").click()
    error = find(dialog, QLabel, "errorLabel")
    qtbot.waitUntil(error.isVisible, timeout=TIMEOUT)
    assert "7-orbit-lantern" in error.text()
    assert code_input.text() == "orbit lantern"
    assert controller.calls == []


def test_join_error_from_the_server_shows_and_keeps_the_text(shown, qtbot):
    controller = FakeController()
    controller.error = NoSuchSessionError()
    dialog = shown(NewSessionDialog(controller))
    dialog.tabs.setCurrentWidget(find(dialog, QObject, "joinTab"))
    code_input = find(dialog, QLineEdit, "codeInput")
    code_input.setText("42-orbit-lantern")
    join = find(dialog, QPushButton, "joinButton")
    join.click()
    error = find(dialog, QLabel, "errorLabel")
    qtbot.waitUntil(lambda: error.isVisible() and join.isEnabled(), timeout=TIMEOUT)
    assert error.text() == str(NoSuchSessionError())
    assert code_input.text() == "42-orbit-lantern"
    assert dialog.isVisible()

    controller.error = None  # retrying clears the old error
    with qtbot.waitSignal(dialog.finished, timeout=TIMEOUT):
        join.click()
    assert not error.isVisible()
    assert dialog.result() == QDialog.DialogCode.Accepted


def test_enter_in_the_code_field_joins(shown, qtbot):
    controller = FakeController()
    dialog = shown(NewSessionDialog(controller))
    dialog.tabs.setCurrentWidget(find(dialog, QObject, "joinTab"))
    code_input = find(dialog, QLineEdit, "codeInput")
    code_input.setText("7-orbit-lantern")
    with qtbot.waitSignal(dialog.sessionStarted, timeout=TIMEOUT):
        qtbot.keyClick(code_input, Qt.Key.Key_Return)
    assert controller.calls == [("join_code", "7-orbit-lantern", None)]


def test_join_by_number_and_password_emits_and_closes(shown, qtbot):
    controller = FakeController()
    dialog = shown(NewSessionDialog(controller))
    dialog.tabs.setCurrentWidget(find(dialog, QObject, "joinTab"))
    dialog.join_tab.number_check.setChecked(True)
    find(dialog, QLineEdit, "sessionNumberInput").setText("12")
    find(dialog, QLineEdit, "joinPassword").setText("our secret")
    with qtbot.waitSignal(dialog.sessionStarted, timeout=TIMEOUT) as blocker:
        find(dialog, QPushButton, "joinButton").click()
    assert blocker.args == ["9"]
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=TIMEOUT)
    assert controller.calls == [("join_code", "12", "our secret")]


def test_closing_the_dialog_while_joining_is_harmless(qtbot, qasync_loop):
    controller = FakeController()
    controller.gate.clear()
    dialog = NewSessionDialog(controller)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)  # as the main window opens it
    dialog.show()
    dialog.tabs.setCurrentWidget(find(dialog, QObject, "joinTab"))
    find(dialog, QLineEdit, "codeInput").setText("7-orbit-lantern")
    task = dialog.join_tab._join()
    qtbot.waitUntil(lambda: bool(controller.calls), timeout=TIMEOUT)
    with qtbot.waitSignal(dialog.destroyed, timeout=TIMEOUT):
        dialog.close()
    controller.gate.set()
    qtbot.waitUntil(task.done, timeout=TIMEOUT)
    assert task.exception() is None


def people_tab(dialog, qtbot):
    dialog.tabs.setCurrentWidget(find(dialog, QObject, "peopleTab"))
    qtbot.waitUntil(lambda: dialog.people_tab.refresh_button.isEnabled(), timeout=TIMEOUT)
    return find(dialog, QListWidget, "peopleList")


def test_invite_is_disabled_for_a_busy_person_and_enabled_for_a_free_one(shown, qtbot):
    controller = FakeController([Person("id-a", "Alice", "busy"), Person("id-b", "Bob", "free")])
    dialog = shown(NewSessionDialog(controller))
    people = people_tab(dialog, qtbot)
    qtbot.waitUntil(lambda: people.count() == 2, timeout=TIMEOUT)
    texts = {
        people.item(i).data(Qt.ItemDataRole.UserRole): people.item(i).text()
        for i in range(people.count())
    }
    assert {pid: text.splitlines()[0] for pid, text in texts.items()} == {
        "id-a": "Alice \u2014 busy",
        "id-b": "Bob \u2014 free",
    }
    invite = find(dialog, QPushButton, "inviteButton")
    assert not invite.isEnabled()

    rows = {people.item(i).data(Qt.ItemDataRole.UserRole): i for i in range(people.count())}
    people.setCurrentRow(rows["id-a"])
    assert not invite.isEnabled()
    people.setCurrentRow(rows["id-b"])
    assert invite.isEnabled()

    with qtbot.waitSignal(dialog.sessionStarted, timeout=TIMEOUT) as blocker:
        invite.click()
    assert blocker.args == ["s-id-b"]
    assert controller.calls[-1] == ("invite", "id-b", "Bob")
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=TIMEOUT)


def test_an_empty_people_list_says_nobody_is_online(shown, qtbot):
    dialog = shown(NewSessionDialog(FakeController([])))
    people = people_tab(dialog, qtbot)
    empty = find(dialog, QLabel, "peopleEmpty")
    qtbot.waitUntil(empty.isVisible, timeout=TIMEOUT)
    assert empty.text() == "Nobody else is online right now."
    assert not people.isVisible()


def test_the_people_list_follows_people_changed(shown, qtbot):
    controller = FakeController([])
    dialog = shown(NewSessionDialog(controller))
    people = people_tab(dialog, qtbot)
    controller.bridge.peopleChanged.emit([Person("id-c", "Carol", "free")])
    qtbot.waitUntil(lambda: people.count() == 1, timeout=TIMEOUT)
    assert people.isVisible()
    people.setCurrentRow(0)
    assert dialog.people_tab.invite_button.isEnabled()
    controller.bridge.peopleChanged.emit([Person("id-c", "Carol", "busy")])
    qtbot.waitUntil(
        lambda: people.item(0).text().splitlines()[0] == "Carol \u2014 busy", timeout=TIMEOUT
    )
    assert not dialog.people_tab.invite_button.isEnabled()


def test_a_people_list_overtaken_by_a_newer_one_is_never_shown(shown, qtbot):
    """Who is a contact is read in the database thread: an older list whose read finishes
    last must not replace the newer one."""
    controller = FakeController([])
    dialog = shown(NewSessionDialog(controller))
    people = people_tab(dialog, qtbot)
    gate, old_answered = asyncio.Event(), asyncio.Event()
    answer = controller.person_statuses

    async def slow_first(asked):
        if any(person_id == "id-old" for person_id, _ in asked):
            await gate.wait()
            old_answered.set()  # the tab goes on in this same step of its task
        return await answer(asked)

    controller.person_statuses = slow_first  # type: ignore[method-assign]
    controller.bridge.peopleChanged.emit([Person("id-old", "Olga", "free")])
    controller.bridge.peopleChanged.emit([Person("id-new", "Nina", "free")])
    qtbot.waitUntil(lambda: people.count() == 1, timeout=TIMEOUT)
    gate.set()
    qtbot.waitUntil(old_answered.is_set, timeout=TIMEOUT)
    assert [people.item(n).data(Qt.ItemDataRole.UserRole) for n in range(people.count())] == [
        "id-new"
    ]


def test_an_invitation_error_shows_in_the_dialog(shown, qtbot):
    controller = FakeController([Person("id-b", "Bob", "free")])
    dialog = shown(NewSessionDialog(controller))
    people = people_tab(dialog, qtbot)
    qtbot.waitUntil(lambda: people.count() == 1, timeout=TIMEOUT)
    people.setCurrentRow(0)
    controller.error = PeerBusyError()
    invite = find(dialog, QPushButton, "inviteButton")
    invite.click()
    error = find(dialog, QLabel, "errorLabel")
    qtbot.waitUntil(lambda: error.isVisible() and invite.isEnabled(), timeout=TIMEOUT)
    assert error.text() == str(PeerBusyError())
    assert dialog.isVisible()


def test_switching_tabs_clears_the_error(shown, qtbot):
    dialog = shown(NewSessionDialog(FakeController()))
    dialog.tabs.setCurrentWidget(find(dialog, QObject, "joinTab"))
    find(dialog, QPushButton, "joinButton").click()  # empty code
    error = find(dialog, QLabel, "errorLabel")
    qtbot.waitUntil(error.isVisible, timeout=TIMEOUT)
    dialog.tabs.setCurrentWidget(find(dialog, QObject, "createTab"))
    assert not error.isVisible()
    assert error.text() == ""


# -- welcome and passphrase dialogs ------------------------------------------------------------


def fill_welcome(dialog, name="Alice", passphrase="", confirm="", server=None):
    find(dialog, QLineEdit, "nameInput").setText(name)
    find(dialog, QLineEdit, "passphraseInput").setText(passphrase)
    find(dialog, QLineEdit, "passphraseConfirm").setText(confirm)
    if server is not None:
        find(dialog, QObject, "useServer").setChecked(True)
        find(dialog, QLineEdit, "serverInput").setText(server)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"name": "  "}, "name"),
        ({"passphrase": "one", "confirm": "two"}, "passphrases"),
        ({"server": "relay.example.org"}, "host:port"),
        ({"server": "relay.example.org:99999"}, "port"),
        ({"server": "bad host:5555"}, "host"),
    ],
)
def test_welcome_shows_what_to_fix_and_keeps_the_input(shown, qtbot, fields, expected):
    controller = FakeIdentityController(FakeProfile())
    dialog = shown(WelcomeDialog(controller))
    fill_welcome(dialog, **fields)
    find(dialog, QPushButton, "continueButton").click()
    error = find(dialog, QLabel, "errorLabel")
    qtbot.waitUntil(error.isVisible, timeout=TIMEOUT)
    assert expected in error.text()
    assert controller.loaded_with == []
    assert dialog.isVisible()
    if "server" in fields:
        assert find(dialog, QLineEdit, "serverInput").text() == fields["server"]


def test_welcome_prefills_the_saved_name_and_server(shown):
    profile = FakeProfile(name="Alice", server="relay.example.org:5555")
    dialog = shown(WelcomeDialog(FakeIdentityController(profile)))
    assert find(dialog, QLineEdit, "nameInput").text() == "Alice"
    assert find(dialog, QLineEdit, "serverInput").text() == "relay.example.org:5555"
    assert find(dialog, QObject, "useServer").isChecked()


def test_welcome_hosts_here_by_default(shown):
    dialog = shown(WelcomeDialog(FakeIdentityController(FakeProfile(server="embedded"))))
    assert find(dialog, QObject, "hostHere").isChecked()
    assert find(dialog, QLineEdit, "serverInput").text() == ""


def test_welcome_creates_the_key_with_a_progress_bar_then_accepts(shown, qtbot, monkeypatch):
    async def answered(address: str) -> str:  # no lookup of relay.example.org in a test
        return "ab" * 32

    monkeypatch.setattr("messenger.ui.server_picker.probe_server", answered)
    profile = FakeProfile()
    controller = FakeIdentityController(profile)
    controller.release.clear()
    dialog = shown(WelcomeDialog(controller))
    fill_welcome(
        dialog, name=" Alice ", passphrase="pw", confirm="pw", server="relay.example.org:5555"
    )
    button = find(dialog, QPushButton, "continueButton")
    button.click()
    progress = find(dialog, QObject, "keyProgress")
    qtbot.waitUntil(progress.isVisible, timeout=TIMEOUT)
    assert "Creating your identity key" in dialog.progress_label.text()
    assert not button.isEnabled()
    controller.release.set()
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=TIMEOUT)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.choice is not None
    assert dialog.choice.address == "relay.example.org:5555"
    assert profile.name == "Alice"
    assert controller.loaded_with == ["pw"]


def test_escape_does_not_close_the_welcome_while_the_key_is_made(shown, qtbot):
    controller = FakeIdentityController(FakeProfile())
    controller.release.clear()
    dialog = shown(WelcomeDialog(controller))
    fill_welcome(dialog)
    find(dialog, QPushButton, "continueButton").click()
    qtbot.waitUntil(lambda: bool(controller.loaded_with), timeout=TIMEOUT)
    dialog.reject()
    assert dialog.isVisible()
    controller.release.set()
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=TIMEOUT)
    assert dialog.result() == QDialog.DialogCode.Accepted


def test_welcome_with_no_passphrase_hosts_embedded(shown, qtbot):
    controller = FakeIdentityController(FakeProfile())
    dialog = shown(WelcomeDialog(controller))
    fill_welcome(dialog)
    find(dialog, QPushButton, "continueButton").click()
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=TIMEOUT)
    assert dialog.choice is not None and dialog.choice.embedded
    assert controller.loaded_with == [None]


def test_welcome_wrong_passphrase_for_an_existing_key_stays_open(shown, qtbot):
    profile = FakeProfile(name="Alice", has_key=True, encrypted=True)
    controller = FakeIdentityController(profile, right_passphrase="right")
    dialog = shown(WelcomeDialog(controller))
    assert not find(dialog, QLineEdit, "passphraseConfirm").isVisible()
    find(dialog, QLineEdit, "passphraseInput").setText("wrong")
    button = find(dialog, QPushButton, "continueButton")
    button.click()
    error = find(dialog, QLabel, "errorLabel")
    qtbot.waitUntil(lambda: error.isVisible() and button.isEnabled(), timeout=TIMEOUT)
    assert "wrong passphrase" in error.text()
    assert "Opening your identity key" in dialog.progress_label.text()
    assert find(dialog, QLineEdit, "passphraseInput").text() == "wrong"
    assert dialog.isVisible()


def test_passphrase_dialog_unlocks_after_a_wrong_try(shown, qtbot):
    profile = FakeProfile(name="Alice", has_key=True, encrypted=True)
    controller = FakeIdentityController(profile, right_passphrase="right")
    dialog = shown(PassphraseDialog(controller))
    field = find(dialog, QLineEdit, "passphraseInput")
    unlock = find(dialog, QPushButton, "unlockButton")
    field.setText("wrong")
    unlock.click()
    error = find(dialog, QLabel, "errorLabel")
    qtbot.waitUntil(lambda: error.isVisible() and unlock.isEnabled(), timeout=TIMEOUT)
    field.setText("right")
    unlock.click()
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=TIMEOUT)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert controller.loaded_with == ["wrong", "right"]


# -- theme, icons, tray, about, resources ------------------------------------------------------


@pytest.fixture
def restore_look(qapp):
    """Themes change the whole QApplication: put the previous look back for later tests."""
    sheet, palette, font = qapp.styleSheet(), qapp.palette(), qapp.font()
    name = qapp.property("messengerTheme")
    yield
    qapp.setStyleSheet(sheet)
    qapp.setPalette(palette)
    qapp.setFont(font)
    qapp.setProperty("messengerTheme", name)


@pytest.mark.parametrize("name", ["dark", "light"])
def test_apply_theme_honours_messenger_theme(qapp, restore_look, monkeypatch, name):
    monkeypatch.setenv("MESSENGER_THEME", name)
    assert theme.apply_theme(qapp) == name
    assert theme.current_theme(qapp) == name
    assert qapp.styleSheet().strip() != ""
    assert "#errorLabel" in qapp.styleSheet()
    window = qapp.palette().color(QPalette.ColorRole.Window)
    assert (window.lightness() < 128) == (name == "dark")


def test_the_theme_follows_a_system_switch(qapp, restore_look, monkeypatch):
    monkeypatch.setenv("MESSENGER_THEME", "light")
    theme.apply_theme(qapp)
    theme.follow_system_theme(qapp)
    monkeypatch.setenv("MESSENGER_THEME", "dark")  # stands in for the desktop going dark
    qapp.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Dark)
    assert theme.current_theme(qapp) == "dark"
    assert qapp.palette().color(QPalette.ColorRole.Window).lightness() < 128


def test_style_sheet_urls_point_at_existing_files():
    for name in theme.THEMES:
        for url in re.findall(r'url\("?([^")]+)"?\)', theme.load_stylesheet(name)):
            assert Path(url).is_file(), url


def test_both_style_sheets_name_the_same_widgets():
    names = {
        name: set(re.findall(r"#([a-z][A-Za-z]*)\b", theme.load_stylesheet(name)))
        for name in theme.THEMES
    }
    named = {
        "bubbleOutgoing",
        "bubbleIncoming",
        "systemLine",
        "codeLabel",
        "safetyDigits",
        "errorLabel",
        "conversationList",
        "composer",
        "unreadBadge",
    }
    assert named <= names["light"]
    assert names["light"] == names["dark"]


@pytest.mark.parametrize("path", sorted(resource_path("icons").glob("*.svg")), ids=lambda p: p.stem)
def test_every_icon_loads(qapp, path):
    loaded = icon(path.stem)
    assert not loaded.isNull()
    assert not loaded.pixmap(24, 24).isNull()


def test_the_icon_list_matches_the_files():
    assert {p.stem for p in resource_path("icons").glob("*.svg")} == set(ICON_NAMES)


def test_the_app_icon_has_every_png_size(qapp):
    for size in APP_ICON_SIZES:
        assert resource_path("icons", "app", f"messenger-{size}.png").is_file()
    loaded = app_icon()
    assert not loaded.isNull()
    assert {s.width() for s in loaded.availableSizes()} >= set(APP_ICON_SIZES)


def test_tray_icon_counts_unread_without_a_system_tray(qapp):
    tray = TrayIcon()
    tray.show()  # offscreen has no tray: must not raise
    tray.set_unread(3)
    assert tray.toolTip() == "Messenger \u2014 3 unread"
    assert not tray.icon().isNull()
    tray.set_unread(0)
    assert tray.toolTip() == "Messenger"
    tray.notify("Bob", "hello")  # no tray, no messages: a no-op
    assert badge_text(150) == "99+"
    assert badge_text(7) == "7"


def test_about_text_names_the_versions():
    text = about_text()
    for name in ("Messenger", "Python", "PySide6", "Qt", "pycryptodome", "spake2"):
        assert name in text


def test_resources_are_found_in_a_checkout_and_in_a_bundle(monkeypatch, tmp_path):
    assert (resources_dir() / "styles" / "light.qss").is_file()
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert resource_path("icons", "lock.svg") == Path(tmp_path) / "resources" / "icons" / "lock.svg"


def test_code_words_complete_as_they_are_typed(shown, qtbot):
    controller = FakeController()
    dialog = shown(NewSessionDialog(controller))
    dialog.tabs.setCurrentWidget(find(dialog, QObject, "joinTab"))
    code_input = find(dialog, QLineEdit, "codeInput")
    completer = code_input.completer()
    assert completer is not None, "the code field completes code words"
    dialog.activateWindow()
    code_input.setFocus()
    qtbot.waitUntil(code_input.hasFocus, timeout=TIMEOUT)
    qtbot.keyClicks(code_input, "7 Orbit lan")
    popup = completer.popup()
    qtbot.waitUntil(popup.isVisible, timeout=TIMEOUT)
    offered = [popup.model().index(row, 0).data() for row in range(popup.model().rowCount())]
    assert offered == ["lantern"], "only the word being typed is completed"
    qtbot.keyClick(popup, Qt.Key.Key_Down)
    qtbot.keyClick(popup, Qt.Key.Key_Return)
    assert code_input.text() == "7 Orbit lantern"
    assert controller.calls == [], "choosing a completion does not join yet"
    with qtbot.waitSignal(dialog.sessionStarted, timeout=TIMEOUT):
        qtbot.keyClick(code_input, Qt.Key.Key_Return)
    assert controller.calls == [("join_code", "7 Orbit lantern", None)]


def test_a_number_or_a_separator_offers_no_completion(shown, qtbot):
    dialog = shown(NewSessionDialog(FakeController()))
    dialog.tabs.setCurrentWidget(find(dialog, QObject, "joinTab"))
    code_input = find(dialog, QLineEdit, "codeInput")
    code_input.setFocus()
    qtbot.keyClicks(code_input, "7 ")
    assert not code_input.completer().popup().isVisible()


ALICE_1 = "a1" * 32
ALICE_2 = "a2" * 32
ALICE_3 = "a3" * 32


def test_two_people_with_one_name_are_told_apart_by_contact_mark_and_fingerprint(shown, qtbot):
    controller = FakeController(
        [Person(ALICE_1, "Alice", "free"), Person(ALICE_2, "Alice", "free")]
    )
    controller.contacts = {ALICE_1: ("Alice", True)}  # a verified contact
    dialog = shown(NewSessionDialog(controller))
    people = people_tab(dialog, qtbot)
    qtbot.waitUntil(lambda: people.count() == 2, timeout=TIMEOUT)
    items = {people.item(i).data(Qt.ItemDataRole.UserRole): people.item(i) for i in range(2)}
    known, stranger = items[ALICE_1], items[ALICE_2]
    assert known.text() != stranger.text(), "two people called Alice look different"
    assert "verified contact" in known.text()
    assert "a1a1 a1a1" in known.text(), "a short fingerprint shows in the list"
    assert "new" in stranger.text() and "a2a2 a2a2" in stranger.text()
    assert "not the Alice you know" in stranger.text(), "a newcomer using a contact's name"
    assert format_fingerprint(ALICE_1) in known.toolTip(), "the whole fingerprint on hover"
    assert format_fingerprint(ALICE_2) in stranger.toolTip()


def test_a_known_contact_who_is_not_verified_says_so(shown, qtbot):
    controller = FakeController([Person(ALICE_3, "Carol", "free")])
    controller.contacts = {ALICE_3: ("Carol", False)}
    dialog = shown(NewSessionDialog(controller))
    people = people_tab(dialog, qtbot)
    qtbot.waitUntil(lambda: people.count() == 1, timeout=TIMEOUT)
    text = people.item(0).text()
    assert "contact" in text and "not verified" in text


def test_escape_on_the_welcome_asks_before_quitting(shown, qtbot):
    dialog = shown(WelcomeDialog(FakeIdentityController(FakeProfile())))
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    box = wait_for_message_box(qtbot, "leaveWelcome")
    assert dialog.isVisible()
    stay = next(b for b in box.buttons() if b.text() == "Keep setting up")
    qtbot.mouseClick(stay, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not box.isVisible(), timeout=TIMEOUT)
    assert dialog.isVisible(), "the dialog stays"
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    box = wait_for_message_box(qtbot, "leaveWelcome")
    leave = next(b for b in box.buttons() if b.text() == "Quit")
    qtbot.mouseClick(leave, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=TIMEOUT)
    assert dialog.result() == QDialog.DialogCode.Rejected
