"""The app's brain, minus the widgets: profile, identity, relay connection, conversations.

Dialogs and windows call its coroutines (from ``@asyncSlot`` handlers) and listen to
``bridge`` signals for what happens on the network. Blocking work (key generation,
passphrase KDFs) runs in the default executor, never on the GUI thread; the database is
read and written on its own thread (``book``, the courier).

Everything the window shows is keyed by the app's own keys, never by the relay's session
numbers (the relay reuses a number once its session has ended): a contact's conversation
by the contact's id, a meeting (a code or invitation still under way) by a key of its own
(``SessionInfo.key``) until it introduces a contact. ``key_for`` maps a live relay number
to whichever of the two it is now, and the bridge translates every event through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from PySide6.QtCore import QObject, Signal

from messenger import events as ev
from messenger.client import Client
from messenger.courier import WINDOW_SLICE_SECONDS, Courier
from messenger.crypto.rsa import IdentityKey
from messenger.net.connection import parse_address
from messenger.protocol.errors import (
    LocalProtocolError,
    MessengerError,
    PeerKeyChangedError,
    ServerUnreachableError,
)
from messenger.protocol.transport import ServerIdentity
from messenger.session import Session, SessionState
from messenger.store.profile import Profile
from messenger.store.worker import DatabaseWorker
from messenger.transfer_link import TransferLink
from messenger.ui.book import ConversationBook
from messenger.ui.bridge import ClientBridge
from messenger.ui.controller_actions import ConversationActions
from messenger.ui.hosting import HostingView, address_text, local_addresses
from messenger.ui.key_change import is_person_id
from server.embedded import ALL_INTERFACES, DEFAULT_PORT, LOOPBACK, EmbeddedRelay

EMBEDDED = "embedded"
#: Who may connect to the relay hosted here (setting "host_scope").
HOST_EVERYONE = "everyone"
HOST_LOOPBACK = "loopback"


def hosting_from(settings: dict[str, object]) -> tuple[str, int]:
    """(scope, port) for the relay hosted here, from the profile's settings; everyone on
    5555 unless the person chose otherwise (port 0: any free port, for tests)."""
    scope = settings.get("host_scope")
    port = settings.get("host_port")
    return (
        scope
        if isinstance(scope, str) and scope in (HOST_EVERYONE, HOST_LOOPBACK)
        else HOST_EVERYONE,
        port if isinstance(port, int) and 0 <= port <= 65535 else DEFAULT_PORT,
    )


@dataclass
class ServerChoice:
    """Where to connect: ``EMBEDDED`` (host one here) or "host:port"."""

    address: str = EMBEDDED
    #: Set by the person to accept a changed key they have checked.
    expected_fingerprint: str | None = None

    @property
    def embedded(self) -> bool:
        return self.address == EMBEDDED

    def host_port(self) -> tuple[str, int]:
        try:
            return parse_address(self.address)
        except ValueError as exc:
            raise LocalProtocolError(str(exc)) from None


@dataclass(frozen=True)
class PersonStatus:
    """What we know of someone online: a pinned contact (verified or not), or someone new,
    possibly using the name of a contact (``looks_like``: that contact's name)."""

    known: bool
    verified: bool
    looks_like: str = ""


def _new_key() -> str:
    return uuid.uuid4().hex


@dataclass
class SessionInfo:
    """A meeting under way (one entry of the list until it introduces a contact)."""

    session: Session
    title: str
    code: str = ""
    unread: int = 0
    #: The app's own id for this meeting: what its page, list entry and signals use.
    key: str = field(default_factory=_new_key)
    #: The session failed, was left, or its connection dropped: its relay number is free.
    ended: bool = False

    @property
    def contact_id(self) -> str:
        """The contact the meeting introduced ("" until it is done)."""
        return self.session.contact_id


class AppController(ConversationActions, QObject):
    #: "connecting", "connected", "disconnected"
    connectionChanged = Signal(str)
    #: fingerprint (grouped), first use
    serverKeyShown = Signal(str, bool)
    sessionAdded = Signal(str)  # conversation key
    sessionRemoved = Signal(str)  # conversation key
    #: A session was refused: a new key uses a contact's name (new id, contact id, the
    #: name it uses). The ids come from the error itself, never from its words.
    peerKeyChanged = Signal(str, str, str)

    def __init__(self, profile: Profile, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.profile = profile
        self.identity: IdentityKey | None = None
        #: The encrypted database's thread and the conversations; they outlive connections.
        self.worker: DatabaseWorker | None = None
        self.courier: Courier | None = None
        #: One event stream for every connection (a reconnect keeps the same one).
        self.events: asyncio.Queue[ev.ClientEvent] = asyncio.Queue()
        self.client: Client | None = None
        self.bridge: ClientBridge | None = None
        self.relay: EmbeddedRelay | None = None
        self.server_fingerprint = ""
        self.server_address = ""
        #: Meetings by key, ended ones too, until the person closes them or they introduce
        #: a contact (then the contact's conversation takes over).
        self.sessions: dict[str, SessionInfo] = {}
        #: Relay session number -> its meeting, for the sessions alive on this connection.
        self._live: dict[str, SessionInfo] = {}
        #: The conversations' reads and writes (once the profile is unlocked).
        self.book: ConversationBook | None = None
        #: What the first-start welcome chose, if it ran.
        self.first_choice: ServerChoice | None = None
        #: This computer's network addresses (tests replace it: they must not depend on
        #: the machine's interfaces).
        self.find_addresses: Callable[[], list[str]] = local_addresses

    # -- hosting a relay here ---------------------------------------------------------------

    def hosting_settings(self) -> tuple[str, int]:
        """(scope, port) saved for the relay hosted here: everyone on 5555 by default."""
        return hosting_from(self.profile.settings())

    def new_relay(self) -> EmbeddedRelay:
        """The relay to host, as the settings ask for it (not started)."""
        scope, port = self.hosting_settings()
        host = ALL_INTERFACES if scope == HOST_EVERYONE else LOOPBACK
        return EmbeddedRelay(self.profile.path / "relay", host=host, port=port)

    async def _start_relay(self) -> tuple[str, int]:
        """Host the relay (again, if its settings changed) and return where to connect."""
        wanted = self.new_relay()
        if self.relay is not None and self.relay.requested != wanted.requested:
            relay, self.relay = self.relay, None
            await relay.stop()
        if self.relay is None:
            try:
                await wanted.start()
            except OSError as exc:
                raise ServerUnreachableError(
                    f"Messenger could not host a server on port {wanted.config.port} or the "
                    f"next ones ({exc.strerror or exc}). Choose another port in Settings."
                ) from None
            self.relay = wanted
            assert wanted.address is not None
            _scope, port = self.hosting_settings()
            if port and wanted.address[1] != port:
                # Taken by something else: remember the one we got, so others find us there.
                self.profile.save_settings(host_port=wanted.address[1])
        assert self.relay.address is not None
        return LOOPBACK, self.relay.address[1]

    def hosting_view(self) -> HostingView | None:
        """What to tell others about the relay hosted here (None when not hosting)."""
        relay = self.relay
        if relay is None or relay.address is None:
            return None
        port = relay.address[1]
        addresses = [] if relay.config.host == LOOPBACK else self.find_addresses()
        shown = [address_text(host, port) for host in addresses]
        if not shown:
            shown = [address_text(LOOPBACK, port)]
        return HostingView(shown, not addresses, relay.fingerprint)

    # -- identity and connection ------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.profile.name

    async def load_identity(self, passphrase: str | None = None) -> IdentityKey:
        """Unlock the profile in the executor: load or create the identity key (generation
        takes seconds) and open the encrypted database; then load the conversations."""
        loop = asyncio.get_running_loop()
        identity = await loop.run_in_executor(None, self.profile.unlock, passphrase)
        self.identity = identity
        if self.worker is None:
            self.worker = DatabaseWorker(self.profile.db)
            courier = Courier(
                identity, self.worker, self.events.put_nowait, slice_seconds=WINDOW_SLICE_SECONDS
            )
            courier.links = lambda contact_id: TransferLink(
                contact_id, courier, self.events.put_nowait
            )
            await courier.load()
            self.courier = courier
            self.book = ConversationBook(self.worker, courier)
        return identity

    async def connect_to(self, choice: ServerChoice) -> ClientBridge:
        """Start the embedded relay if chosen, then connect; raises MessengerError."""
        assert self.identity is not None
        await self._drop_connection()
        self.connectionChanged.emit("connecting")
        if not choice.embedded and self.relay is not None:
            # Switched away from hosting (Settings): stop serving on this computer.
            relay, self.relay = self.relay, None
            await relay.stop()
        if choice.embedded:
            try:
                host, port = await self._start_relay()
            except MessengerError:
                self.connectionChanged.emit("disconnected")
                raise
        else:
            host, port = choice.host_port()
        self.server_address = f"{host}:{port}"
        pin_address = EMBEDDED if choice.embedded else self.server_address

        worker, courier = self.worker, self.courier
        assert worker is not None and courier is not None

        async def check(server: ServerIdentity) -> None:
            first = await worker.run(
                lambda _db: self.profile.known_servers.check(
                    pin_address, server.fingerprint, expected=choice.expected_fingerprint
                )
            )
            self.server_fingerprint = server.fingerprint
            self.serverKeyShown.emit(server.fingerprint, first)

        async def check_peer(peer_id: str, name: str, fingerprint: str) -> None:
            # Both ways of meeting by invitation (ours and theirs) pass here, and only here
            # is the refusal an exception with its ids: a failed session's event may be
            # dropped with its meeting (``invite`` forgets it), an answer has none at all.
            try:
                await worker.run(
                    lambda _db: self.profile.contacts.check(peer_id, name, fingerprint)
                )
            except PeerKeyChangedError as exc:
                if is_person_id(exc.peer_id) and is_person_id(exc.known_id):
                    self.peerKeyChanged.emit(exc.peer_id, exc.known_id, name)
                raise

        client = Client(
            host,
            port,
            self.identity,
            name=self.name,
            courier=courier,
            accept_invites=True,
            check_server_key=check,
            check_peer=check_peer,
            events=self.events,
        )
        try:
            await client.connect()
        except Exception:
            self.connectionChanged.emit("disconnected")
            raise
        self.client = client
        self.bridge = ClientBridge(client, self, resolve=self.key_for, meeting=self.meeting_key)
        self.bridge.sessionReady.connect(self._met)
        self.bridge.sessionFailed.connect(lambda key, *_: self._over(key))
        self.bridge.peerLeft.connect(self._over)
        self.bridge.disconnected.connect(self._disconnected)
        self.profile.save_settings(server=choice.address)
        self.connectionChanged.emit("connected")
        return self.bridge

    def _disconnected(self) -> None:
        """Meetings end with their connection; conversations carry on (the courier)."""
        for info in list(self._live.values()):
            self._over(info.key)
        self.connectionChanged.emit("disconnected")

    async def _drop_connection(self) -> None:
        """Let go of the previous connection (a reconnect replaces it)."""
        bridge, client, self.bridge, self.client = self.bridge, self.client, None, None
        for info in list(self._live.values()):
            self._over(info.key)
        if bridge is not None:
            bridge.stop()
        if client is not None:
            with contextlib.suppress(MessengerError, OSError):
                await client.close()

    async def shutdown(self) -> None:
        await self._drop_connection()
        if self.relay is not None:
            await self.relay.stop()
        if self.courier is not None:
            await self.courier.close()
        if self.worker is not None:
            worker, self.worker = self.worker, None
            await worker.close()
            self.profile.close()

    # -- meetings -----------------------------------------------------------------------------

    def _client(self) -> Client:
        if self.client is None or not self.client.connected:
            raise LocalProtocolError("Not connected to a server.")
        return self.client

    def key_for(self, relay_session: str) -> str | None:
        """The list entry an event belongs to: a contact's id (a file event may name the
        contact itself), the contact a live session introduced, or a meeting's own key;
        None once the session is over."""
        if self.courier is not None and self.courier.has(relay_session):
            return relay_session
        info = self._live.get(relay_session)
        if info is None:
            return None
        return info.contact_id or info.key

    def meeting_key(self, relay_session: str) -> str | None:
        """The meeting's own key for a live relay session (even once it is done)."""
        info = self._live.get(relay_session)
        return info.key if info is not None else None

    def open_meetings(self) -> list[str]:
        """Keys of the meetings still waiting (codes, invitations): what leaving cancels.
        Conversations with contacts are never "open": they outlive the app."""
        return [
            key
            for key, info in self.sessions.items()
            if not info.ended and not info.contact_id
            and info.session.state is not SessionState.CLOSED
        ]  # fmt: skip

    def _met(self, key: str, *_details: object) -> None:
        """A meeting introduced its contact: from now on its entry is the contact's."""
        self.sessions.pop(key, None)

    def _over(self, key: str) -> None:
        """A session ended (``key``: its meeting, or the contact it had introduced): its
        relay number may name another session now."""
        for number, info in list(self._live.items()):
            closed = info.session.state is SessionState.CLOSED
            if info.key == key or (info.contact_id == key and closed):
                info.ended = True
                del self._live[number]

    def _add(self, session: Session, title: str, code: str = "") -> SessionInfo:
        info = SessionInfo(session, title, code)
        self.sessions[info.key] = info
        self._live[session.id] = info
        self.sessionAdded.emit(info.key)
        return info

    def _forget(self, key: str) -> SessionInfo | None:
        info = self.sessions.pop(key, None)
        if info is not None:
            if self._live.get(info.session.id) is info:
                del self._live[info.session.id]
            self.sessionRemoved.emit(key)
        return info

    async def create_code(self, password: str | None = None) -> SessionInfo:
        session, code = await self._client().create_session(password)
        return self._add(session, f"Code {code}", code)

    async def join_code(self, code: str, password: str | None = None) -> SessionInfo:
        """Join and wait for the handshake, so a wrong password is reported to the dialog."""
        session = await self._client().join_session(code, password)
        return await self._until_ready(self._add(session, "Joining…"))

    async def invite(self, person_id: str, name: str) -> SessionInfo:
        """Invite and wait until they accept and the handshake verifies (or it fails)."""
        session = await self._client().invite(person_id)
        return await self._until_ready(self._add(session, name or person_id[:12]))

    async def _until_ready(self, info: SessionInfo) -> SessionInfo:
        try:
            await info.session.wait_ready()
        except BaseException:
            self._forget(info.key)
            raise
        return info

    async def answer(self, relay_session: str, accept: bool, name: str) -> SessionInfo | None:
        """Answer an invitation (it names the relay's session number: no entry exists yet)."""
        session = await self._client().answer_invitation(relay_session, accept)
        return self._add(session, name or "Contact") if session is not None else None

    async def people(self) -> list:
        return list(await self._client().list_people(watch=True))

    async def person_statuses(self, people: list[tuple[str, str]]) -> dict[str, PersonStatus]:
        """For each (person id, name) online: a contact (pinned key), verified or not, or
        someone new; a newcomer whose name passes for a contact's is flagged
        (``store.names``). Read in the database thread, once for the whole list."""
        if self.worker is None:
            raise LocalProtocolError("The profile is not open.")
        contacts = self.profile.contacts
        found = await self.worker.run(lambda _db: contacts.who_is_who(people))
        return {
            person_id: PersonStatus(known=True, verified=contact.verified)
            if contact is not None
            else PersonStatus(known=False, verified=False, looks_like=clash.name if clash else "")
            for person_id, (contact, clash) in found.items()
        }

    async def trust_key(self, person_id: str) -> None:
        """The person compared a new key another way and accepts it (``Contacts.trust``):
        the next meeting with it pins it, and keeps the contact whose name it uses as
        "NAME (old key)"."""
        if not is_person_id(person_id):
            raise LocalProtocolError("That is not a key fingerprint.")
        if self.worker is None:
            raise LocalProtocolError("The profile is not open.")
        await self.worker.run(lambda _db: self.profile.contacts.trust(person_id))

    async def close_session(self, key: str) -> None:
        """Cancel a meeting (leave its session if it is still open) and drop its entry."""
        info = self._forget(key)
        if info is not None and not info.ended:
            await info.session.leave()

    @staticmethod
    def loop_future() -> asyncio.Future[None]:
        """A future on the running loop (for awaiting a non-modal dialog)."""
        return asyncio.get_running_loop().create_future()
