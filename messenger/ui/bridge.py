"""Turns the client core's events into Qt signals: the one place network meets widgets.

Widgets connect to these typed signals and never see a socket, a frame or a key. A single
task reads ``client.events`` and emits; since qasync runs asyncio inside Qt's loop, the
signals are emitted on the GUI thread.

Signals name the app's own keys (see ``controller``): an event about a conversation names
its contact; any other is translated from the relay's session number by ``resolve`` (the
controller's ``key_for``), and one of a session the app no longer knows is dropped.
``sessionReady`` names the meeting (``meeting``), whose entry then becomes the contact's.
``invited`` is the exception: an invitation has no entry yet, so it carries the relay's
number for the answer (and so does ``invitationClosed``, which closes its prompt).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import assert_never

from PySide6.QtCore import QObject, Signal

from messenger import events as ev
from messenger.client import Client
from messenger.ui.wording import for_people

log = logging.getLogger("messenger.ui")

#: The longest the bridge emits without letting the event loop run (seconds).
BURST_S = 0.008

#: Relay session number -> entry key, or None for a session the app does not know.
Resolve = Callable[[str], "str | None"]

#: Events about a conversation: they name its contact, whatever session is live.
_ABOUT_CONTACT = (
    ev.MessageReceived,
    ev.MessageSent,
    ev.MessageDelivered,
    ev.MessageFailed,
    ev.KeysRotated,
)


class ClientBridge(QObject):
    codeCreated = Signal(str, str)  # session, code
    # "session" below is the conversation key (see the module docstring).
    sessionReady = Signal(str, str, str, str, str)  # meeting, mode, safety, peer id, peer name
    messageReceived = Signal(str, str, str, float, str)  # key, id, text, sent_at, puzzle
    messageSent = Signal(str, str)  # key, message id: the relay has it
    messageDelivered = Signal(str, str)  # key, message id: their app stored it
    messageFailed = Signal(str, str, str, str)  # key, message id, error code, message
    keysRotated = Signal(str, int)  # key, epoch
    contactPresence = Signal(str, bool)  # contact id, online
    caughtUp = Signal(int)  # messages taken in from the relay's store
    envelopeDropped = Signal(str, str)  # reason, contact id ("" if unknown)
    peerLeft = Signal(str)  # session
    sessionFailed = Signal(str, str, str)  # session, error code, message (``for_people``)
    disconnected = Signal(str, str)  # error code, message
    invited = Signal(str, str, str)  # relay session number, from id, from name
    invitationClosed = Signal(str, str)  # relay session number, "expired" or "withdrawn"
    pairingAttemptFailed = Signal(str, str, int)  # session, reason, tries left
    peopleChanged = Signal(list)  # [wire.Person]
    # File transfers. Sizes are ``object``: a Qt int is 32 bits and files pass 2 GiB.
    fileOffered = Signal(str, str, str, object, str)  # session, id, name, size, sha256
    fileAccepted = Signal(str, str, int)  # session, id, start chunk
    fileProgress = Signal(str, str, object, object, str)  # session, id, done, total, "in"/"out"
    fileCompleted = Signal(str, str, str, str, str)  # session, id, path, sha256, direction
    fileCancelled = Signal(str, str, str, str)  # session, id, by ("me"/"peer"), reason
    fileFailed = Signal(str, str, str, str)  # session, id, error code, message

    def __init__(
        self,
        client: Client,
        parent: QObject | None = None,
        resolve: Resolve | None = None,
        meeting: Resolve | None = None,
    ) -> None:
        super().__init__(parent)
        self.client = client
        self._resolve: Resolve = resolve if resolve is not None else (lambda number: number)
        self._meeting: Resolve = meeting if meeting is not None else self._resolve
        self._task: asyncio.Future[None] | None = None

    def start(self) -> None:
        """Start emitting, once everyone listens: events that came while connecting (who
        is online, what waited at the relay) wait in the queue until then."""
        if self._task is None:
            self._task = asyncio.ensure_future(self._pump())

    async def _pump(self) -> None:
        """Emit events as they come, giving the rest of the loop (painting, input) a turn
        at least every ``BURST_S``: a thousand events queued at once would otherwise run
        their slots back to back, and the window would freeze meanwhile."""
        loop = asyncio.get_running_loop()
        while True:
            self.emit_event(await self.client.events.get())
            started = loop.time()
            while not self.client.events.empty() and loop.time() - started < BURST_S:
                self.emit_event(self.client.events.get_nowait())
            await asyncio.sleep(0)

    def _key(self, event: ev.ClientEvent) -> str | None:
        """The entry an event is about ("" for none; None: drop it)."""
        if isinstance(event, _ABOUT_CONTACT) and event.contact:
            return event.contact
        number = getattr(event, "session", None)
        if not isinstance(number, str) or isinstance(event, ev.Invited | ev.InvitationClosed):
            return ""
        if isinstance(event, ev.SessionReady):
            return self._meeting(number)
        return self._resolve(number)

    def emit_event(self, event: ev.ClientEvent) -> None:
        key = self._key(event)
        if key is None:
            log.debug("dropped %s of a session the app does not know", type(event).__name__)
            return
        if isinstance(event, ev.CodeCreated):
            self.codeCreated.emit(key, event.code)
        elif isinstance(event, ev.SessionReady):
            self.sessionReady.emit(key, event.mode, event.safety, event.peer_id, event.peer_name)
        elif isinstance(event, ev.MessageReceived):
            self.messageReceived.emit(key, event.id, event.text, event.sent_at, event.puzzle)
        elif isinstance(event, ev.MessageSent):
            self.messageSent.emit(key, event.id)
        elif isinstance(event, ev.MessageDelivered):
            self.messageDelivered.emit(key, event.id)
        elif isinstance(event, ev.MessageFailed):
            self.messageFailed.emit(key, event.id, event.error.code.value, str(event.error))
        elif isinstance(event, ev.ContactPresence):
            self.contactPresence.emit(event.contact, event.online)
        elif isinstance(event, ev.CaughtUp):
            self.caughtUp.emit(event.count)
        elif isinstance(event, ev.EnvelopeDropped):
            self.envelopeDropped.emit(event.reason.value, event.contact)
        elif isinstance(event, ev.KeysRotated):
            self.keysRotated.emit(key, event.epoch)
        elif isinstance(event, ev.PeerLeft):
            self.peerLeft.emit(key)
        elif isinstance(event, ev.SessionFailed):
            self.sessionFailed.emit(key, event.error.code.value, for_people(event.error))
        elif isinstance(event, ev.Disconnected):
            self.disconnected.emit(event.error.code.value, str(event.error))
        elif isinstance(event, ev.Invited):
            self.invited.emit(event.session, event.from_id, event.from_name)
        elif isinstance(event, ev.InvitationClosed):
            self.invitationClosed.emit(event.session, event.reason.value)
        elif isinstance(event, ev.PairingAttemptFailed):
            self.pairingAttemptFailed.emit(key, event.reason.value, event.tries_left)
        elif isinstance(event, ev.PeopleChanged):
            self.peopleChanged.emit(list(event.people))
        elif isinstance(event, ev.FileOffered):
            self.fileOffered.emit(key, event.id, event.name, event.size, event.sha256)
        elif isinstance(event, ev.FileAccepted):
            self.fileAccepted.emit(key, event.id, event.start_chunk)
        elif isinstance(event, ev.FileProgress):
            self.fileProgress.emit(key, event.id, event.transferred, event.total, event.direction)
        elif isinstance(event, ev.FileCompleted):
            self.fileCompleted.emit(key, event.id, event.path, event.sha256, event.direction)
        elif isinstance(event, ev.FileCancelled):
            self.fileCancelled.emit(key, event.id, event.by, event.reason)
        elif isinstance(event, ev.FileFailed):
            self.fileFailed.emit(key, event.id, event.code, event.message)
        elif isinstance(event, ev.FileWaiting):
            pass  # the card already says so: send_file returned no transfer id
        else:
            assert_never(event)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
