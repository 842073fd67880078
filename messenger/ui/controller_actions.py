"""What the app does with conversations and their files: the half of the controller that
talks to the courier (``AppController`` is the other half: profile, relay link, meetings).

A key here is a contact's id (a conversation that outlives connections) or a meeting's own
key (a code or invitation under way, whose session carries what is written until it is
done).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs

from messenger.courier import Courier
from messenger.protocol.errors import LocalProtocolError
from messenger.session import Session
from messenger.store.profile import Profile
from messenger.transfer_link import TransferLink

if TYPE_CHECKING:
    from messenger.ui.controller import SessionInfo

__all__ = ["ConversationActions"]


class ConversationActions:
    """Needs the controller's ``profile``, ``courier`` and ``sessions`` (meetings)."""

    profile: Profile
    courier: Courier | None
    sessions: dict[str, SessionInfo]

    # -- conversations ----------------------------------------------------------------------

    def is_contact(self, key: str) -> bool:
        return self.courier is not None and self.courier.has(key)

    def _meeting(self, key: str) -> Session:
        info = self.sessions.get(key)
        if info is None or info.ended:
            raise LocalProtocolError("This code or invitation has ended.")
        return info.session

    def _courier(self) -> Courier:
        if self.courier is None:
            raise LocalProtocolError("The profile is not open.")
        return self.courier

    async def send(self, key: str, text: str) -> str:
        """Send to a contact (online or not: it waits in the outbox), or queue it in a
        meeting until it is done; returns the message id ("" while queued)."""
        if self.is_contact(key):
            return await self._courier().send_text(key, text)
        return await self._meeting(key).send_text(text)

    async def send_puzzle(self, contact_id: str, cipher: str, ciphertext: str) -> str:
        """A classical ciphertext, marked as a puzzle of ``cipher`` (issue 14)."""
        return await self._courier().send_text(contact_id, ciphertext, puzzle=cipher)

    async def retry(self, contact_id: str, msg_id: str) -> None:
        await self._courier().retry(contact_id, msg_id)

    async def rotate(self, key: str) -> None:
        if self.is_contact(key):
            await self._courier().rotate_now(key)

    def key_steps(self, contact_id: str) -> int:
        """How often our sending keys took a fresh step with this contact."""
        return self._courier().sending_steps(contact_id) if self.is_contact(contact_id) else 0

    # -- file transfers ---------------------------------------------------------------------

    def _link(self, key: str) -> TransferLink | None:
        return self._courier().file_link(key) if self.is_contact(key) else None

    async def send_file(self, key: str, path: Path | str) -> str | None:
        """Offer a file; returns its transfer id, or None while it waits (for the contact
        to come online, or for the meeting to be done). Raises FileError (unreadable) or
        MessengerError."""
        link = self._link(key)
        if link is not None:
            return await link.offer(Path(path))
        return await self._meeting(key).send_file(Path(path))

    async def answer_file(self, key: str, transfer_id: str, folder: Path | None) -> None:
        """Save an offered file into ``folder`` (remembered as the next default), or
        decline it with None."""
        link = self._link(key)
        if link is None:
            raise LocalProtocolError("That conversation is gone.")
        await link.transfers.answer(transfer_id, folder)
        if folder is not None:
            self.profile.save_settings(download_dir=str(folder))

    async def cancel_file(self, key: str, transfer_id: str) -> None:
        link = self._link(key)
        if link is not None:
            await link.transfers.cancel(transfer_id)

    def transfer_running(self, key: str, transfer_id: str) -> bool:
        """The transfer is under way in this run of the app (not one from the history)."""
        link = self.courier.file_links.get(key) if self.courier is not None else None
        if link is None:
            return False
        return transfer_id in link.transfers.outgoing or transfer_id in link.transfers.incoming

    def download_dir(self) -> Path:
        """Where the folder chooser starts: the folder last saved into, else Downloads, else
        the home folder; always one that exists (a chooser opened on a missing folder
        shows nothing and keeps its Choose button grey). Downloads is never created here:
        the person can make it in the chooser."""
        saved = self.profile.settings().get("download_dir")
        candidates = [Path(saved).expanduser()] if isinstance(saved, str) and saved else []
        candidates += [Path(platformdirs.user_downloads_dir()), Path.home()]
        return next((folder for folder in candidates if folder.is_dir()), Path.home())

    def outgoing_file(self, key: str, transfer_id: str) -> tuple[str, int] | None:
        """Name and size of a running outgoing transfer (for one the window did not see
        start: a file that waited for the contact or the meeting)."""
        link = self._link(key)
        transfer = link.transfers.outgoing.get(transfer_id) if link is not None else None
        return (transfer.path.name, transfer.size) if transfer is not None else None
