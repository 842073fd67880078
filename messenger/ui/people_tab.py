"""The "Pick someone online" tab: who is connected to this server now, and an invitation
to one of them (an RSA session, secured by both identity keys).

Names are labels anyone can choose, so each entry also says whether the person is a contact
(their key is pinned; verified or not) or new, with the start of their key's fingerprint;
the whole fingerprint is in the tooltip. Two people both called Alice look different.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from qasync import asyncSlot

from messenger.crypto.rsa import format_fingerprint
from messenger.protocol.errors import MessengerError
from messenger.ui.icons import icon
from messenger.ui.new_session_tab import NewSessionTab, busy
from messenger.ui.theme import hint_label, plain_tooltip, set_primary
from messenger.ui.wording import for_people

if TYPE_CHECKING:
    from messenger.protocol.wire import Person
    from messenger.ui.controller import AppController, PersonStatus

__all__ = ["PeopleTab"]

#: Item data roles of the people list (Qt.UserRole holds the person id).
NAME_ROLE = Qt.ItemDataRole.UserRole + 1
STATUS_ROLE = Qt.ItemDataRole.UserRole + 2
#: Characters of the grouped fingerprint shown in the list ("1a2b 3c4d").
SHORT_FINGERPRINT = 9


def grouped_id(person_id: str) -> str:
    """A person id (their key's fingerprint) in groups of four; as it came if it is not one
    (the relay names people, and a broken relay may name them oddly)."""
    try:
        return format_fingerprint(person_id)
    except ValueError:
        return person_id


def short_fingerprint(person_id: str) -> str:
    return grouped_id(person_id)[:SHORT_FINGERPRINT]


def contact_text(status: PersonStatus) -> str:
    """How the list describes someone: a contact, verified or not, or someone new."""
    if status.known:
        return "\u2714 verified contact" if status.verified else "contact, not verified"
    if status.looks_like:
        return f"new \u2014 not the {status.looks_like} you know"
    return "new"


class PeopleTab(NewSessionTab):
    """The list loads when the tab first comes to the front, and follows ``set_people``
    (the dialog feeds it the bridge's live updates) from then on."""

    def __init__(self, controller: AppController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self._people_loaded = False
        self._people_version = 0
        self._inviting = False
        self.setObjectName("peopleTab")
        self.people_list = QListWidget()
        self.people_list.setObjectName("peopleList")
        self.people_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.people_list.setMinimumHeight(140)
        self.people_list.itemSelectionChanged.connect(self._update_invite_button)
        self.people_list.itemDoubleClicked.connect(lambda _item: self._invite_by_double_click())
        self.people_empty = QLabel("Nobody else is online right now.")
        self.people_empty.setObjectName("peopleEmpty")
        self.people_empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.people_empty.setMinimumHeight(140)
        self.people_empty.setVisible(False)

        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setObjectName("refreshPeople")
        self.refresh_button.clicked.connect(self._refresh_people)
        self.invite_button = QPushButton("Invite")
        self.invite_button.setObjectName("inviteButton")
        set_primary(self.invite_button)
        self.invite_button.setEnabled(False)
        self.invite_button.clicked.connect(self._invite)
        self.main_button = self.invite_button
        button_row = QHBoxLayout()
        button_row.addWidget(self.refresh_button)
        button_row.addStretch(1)
        button_row.addWidget(self.invite_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 16, 16, 16)
        layout.setSpacing(10)
        layout.addWidget(
            hint_label(
                "People connected to this server now. An invitation starts a session secured "
                "by both your identity keys."
            )
        )
        layout.addWidget(self.people_list, 1)
        layout.addWidget(self.people_empty, 1)
        layout.addLayout(button_row)

    def shown(self) -> None:
        if not self._people_loaded:
            self._people_loaded = True
            self._refresh_people()

    @asyncSlot()
    async def _refresh_people(self) -> None:
        self.errorCleared.emit()
        try:
            with busy(self.refresh_button, "Refreshing\u2026"):
                people = await self.controller.people()
        except MessengerError as exc:
            self._show_error(str(exc))
            return
        if self._alive():
            await self._show_people(people)

    @asyncSlot(list)
    async def set_people(self, people: list[Person]) -> None:
        """Show a new list of people (the bridge's live updates)."""
        await self._show_people(people)

    async def _show_people(self, people: list[Person]) -> None:
        """Fill the list (free people first), keeping the selection if that person is
        still there: updates arrive live while someone is choosing. Who is a contact is
        read in the database thread; a newer list that arrives meanwhile wins."""
        self._people_version += 1
        version = self._people_version
        try:
            statuses = await self.controller.person_statuses([(p.id, p.name) for p in people])
        except MessengerError as exc:
            self._show_error(str(exc))
            return
        if version != self._people_version or not self._alive():
            return
        self._fill_people(people, statuses)

    def _fill_people(self, people: list[Person], statuses: dict[str, PersonStatus]) -> None:
        selected = self._selected_person_id()
        self.people_list.clear()
        person_icon = icon("person")
        for person in sorted(people, key=lambda p: (p.status != "free", p.name.lower(), p.id)):
            name = person.name or person.id[:12]
            free = person.status == "free"
            known = contact_text(statuses[person.id])
            item = QListWidgetItem(
                person_icon,
                f"{name} \u2014 {'free' if free else 'busy'}\n"
                f"{known} \u00b7 key {short_fingerprint(person.id)}",
            )
            item.setData(Qt.ItemDataRole.UserRole, person.id)
            item.setData(NAME_ROLE, name)
            item.setData(STATUS_ROLE, person.status)
            tooltip = f"{name}: {known}.\nKey fingerprint:\n{grouped_id(person.id)}"
            if not free:
                # Greyed and unselectable: a busy person cannot be invited. (A foreground
                # brush would not do: the style sheet's list colours win over it.)
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled)
                tooltip = f"{name} is in another session right now.\n{tooltip}"
            item.setToolTip(plain_tooltip(tooltip))
            self.people_list.addItem(item)
            if person.id == selected:
                item.setSelected(True)
                self.people_list.setCurrentItem(item)
        empty = self.people_list.count() == 0
        self.people_list.setVisible(not empty)
        self.people_empty.setVisible(empty)
        self._update_invite_button()

    def _selected_person_id(self) -> str | None:
        items = self.people_list.selectedItems()
        return items[0].data(Qt.ItemDataRole.UserRole) if items else None

    def _invite_by_double_click(self) -> None:
        self.invite_button.click()

    def _update_invite_button(self) -> None:
        items = self.people_list.selectedItems()
        free = bool(items) and items[0].data(STATUS_ROLE) == "free"
        self.invite_button.setEnabled(free and not self._inviting)

    @asyncSlot()
    async def _invite(self) -> None:
        items = self.people_list.selectedItems()
        if not items or items[0].data(STATUS_ROLE) != "free" or self._inviting:
            return
        person_id = items[0].data(Qt.ItemDataRole.UserRole)
        name = items[0].data(NAME_ROLE)
        self.errorCleared.emit()
        self._inviting = True
        try:
            with busy(self.invite_button, "Inviting\u2026"):
                info = await self.controller.invite(person_id, name)
        except MessengerError as exc:
            self._show_error(for_people(exc))
            return
        finally:
            self._inviting = False
            if self._alive():
                self._update_invite_button()
        if not self._alive():
            return
        self.sessionStarted.emit(info.key)
