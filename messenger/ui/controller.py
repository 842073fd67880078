"""The app's brain, minus the widgets: profile, identity, relay connection, sessions.

Dialogs and windows call its coroutines (from ``@asyncSlot`` handlers) and listen to
``bridge`` signals for what happens on the network. Blocking work (key generation,
passphrase KDFs) runs in the default executor, never on the GUI thread.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path

import platformdirs
from PySide6.QtCore import QObject, Signal

from messenger.client import Client
from messenger.crypto.rsa import IdentityKey
from messenger.net.connection import parse_address
from messenger.protocol.errors import LocalProtocolError, MessengerError
from messenger.protocol.transport import ServerIdentity
from messenger.session import Session, SessionState
from messenger.store.profile import Profile
from messenger.ui.bridge import ClientBridge
from server.embedded import EmbeddedRelay

EMBEDDED = "embedded"


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


@dataclass
class SessionInfo:
    """What the window shows about one session."""

    session: Session
    title: str
    code: str = ""
    verified: bool = False
    unread: int = 0


class AppController(QObject):
    #: "connecting", "connected", "disconnected"
    connectionChanged = Signal(str)
    #: fingerprint (grouped), first use
    serverKeyShown = Signal(str, bool)
    sessionAdded = Signal(str)  # session id
    sessionRemoved = Signal(str)

    def __init__(self, profile: Profile, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.profile = profile
        self.identity: IdentityKey | None = None
        self.client: Client | None = None
        self.bridge: ClientBridge | None = None
        self.relay: EmbeddedRelay | None = None
        self.server_fingerprint = ""
        self.server_address = ""
        self.sessions: dict[str, SessionInfo] = {}
        #: What the first-start welcome chose, if it ran.
        self.first_choice: ServerChoice | None = None

    # -- identity and connection ------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.profile.name

    async def load_identity(self, passphrase: str | None = None) -> IdentityKey:
        """Unlock the profile (identity key and database; made on first use) in the
        executor: key generation and passphrase KDFs take seconds."""
        loop = asyncio.get_running_loop()
        self.identity = await loop.run_in_executor(None, self.profile.unlock, passphrase)
        return self.identity

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
            if self.relay is None:
                self.relay = EmbeddedRelay(self.profile.path / "relay")
                await self.relay.start()
            assert self.relay.address is not None
            host, port = self.relay.address
        else:
            host, port = choice.host_port()
        self.server_address = f"{host}:{port}"
        pin_address = EMBEDDED if choice.embedded else self.server_address

        def check(server: ServerIdentity) -> None:
            first = self.profile.known_servers.check(
                pin_address, server.fingerprint, expected=choice.expected_fingerprint
            )
            self.server_fingerprint = server.fingerprint
            self.serverKeyShown.emit(server.fingerprint, first)

        client = Client(
            host,
            port,
            self.identity,
            name=self.name,
            accept_invites=True,
            check_server_key=check,
            check_peer=self.profile.contacts.check,
            peer_verified=self.profile.contacts.pin,
        )
        try:
            await client.connect()
        except Exception:
            self.connectionChanged.emit("disconnected")
            raise
        self.client = client
        self.bridge = ClientBridge(client, self)
        self.bridge.disconnected.connect(lambda *_: self.connectionChanged.emit("disconnected"))
        self.profile.save_settings(server=choice.address)
        self.connectionChanged.emit("connected")
        return self.bridge

    async def _drop_connection(self) -> None:
        """Let go of the previous connection (a reconnect replaces it)."""
        bridge, client, self.bridge, self.client = self.bridge, self.client, None, None
        if bridge is not None:
            bridge.stop()
        if client is not None:
            with contextlib.suppress(MessengerError, OSError):
                await client.close()

    async def shutdown(self) -> None:
        await self._drop_connection()
        if self.relay is not None:
            await self.relay.stop()

    # -- sessions ---------------------------------------------------------------------------

    def _client(self) -> Client:
        if self.client is None or not self.client.connected:
            raise LocalProtocolError("Not connected to a server.")
        return self.client

    def open_sessions(self) -> list[str]:
        """Ids of the sessions that have not ended: what leaving this connection would end."""
        return [
            sid
            for sid, info in self.sessions.items()
            if info.session.state is not SessionState.CLOSED
        ]

    def _add(self, session: Session, title: str, code: str = "") -> SessionInfo:
        info = SessionInfo(session, title, code)
        self.sessions[session.id] = info
        self.sessionAdded.emit(session.id)
        return info

    async def create_code(self, password: str | None = None) -> SessionInfo:
        session, code = await self._client().create_session(password)
        return self._add(session, f"Session {session.id}", code)

    async def join_code(self, code: str, password: str | None = None) -> SessionInfo:
        """Join and wait for the handshake, so a wrong password is reported to the dialog."""
        session = await self._client().join_session(code, password)
        return await self._until_ready(self._add(session, f"Session {session.id}"))

    async def invite(self, person_id: str, name: str) -> SessionInfo:
        """Invite and wait until they accept and the handshake verifies (or it fails)."""
        session = await self._client().invite(person_id)
        return await self._until_ready(self._add(session, name or person_id[:12]))

    async def _until_ready(self, info: SessionInfo) -> SessionInfo:
        try:
            await info.session.wait_ready()
        except BaseException:
            if self.sessions.pop(info.session.id, None) is not None:
                self.sessionRemoved.emit(info.session.id)
            raise
        return info

    async def answer(self, session_id: str, accept: bool, name: str) -> SessionInfo | None:
        session = await self._client().answer_invitation(session_id, accept)
        return self._add(session, name or "Contact") if session is not None else None

    async def people(self) -> list:
        return list(await self._client().list_people(watch=True))

    async def send(self, session_id: str, text: str) -> str:
        return await self.sessions[session_id].session.send_text(text)

    async def rotate(self, session_id: str) -> None:
        await self.sessions[session_id].session.rotate()

    async def close_session(self, session_id: str) -> None:
        info = self.sessions.pop(session_id, None)
        if info is not None:
            await info.session.leave()
            self.sessionRemoved.emit(session_id)

    # -- file transfers ---------------------------------------------------------------------

    def _session(self, session_id: str) -> Session:
        info = self.sessions.get(session_id)
        if info is None:
            raise LocalProtocolError("This session has ended.")
        return info.session

    async def send_file(self, session_id: str, path: Path | str) -> str | None:
        """Offer a file; returns its transfer id, or None while it waits for the session to
        be ready. Raises FileError (unreadable) or MessengerError (session over)."""
        return await self._session(session_id).send_file(Path(path))

    async def answer_file(self, session_id: str, transfer_id: str, folder: Path | None) -> None:
        """Save an offered file into ``folder`` (remembered as the next default), or
        decline it with None."""
        await self._session(session_id).answer_file(transfer_id, folder)
        if folder is not None:
            self.profile.save_settings(download_dir=str(folder))

    async def cancel_file(self, session_id: str, transfer_id: str) -> None:
        await self._session(session_id).cancel_file(transfer_id)

    def download_dir(self) -> Path:
        """Where the folder chooser starts: the profile's "download_dir", else Downloads."""
        saved = self.profile.settings().get("download_dir")
        if isinstance(saved, str) and saved:
            return Path(saved).expanduser()
        return Path(platformdirs.user_downloads_dir())

    def outgoing_file(self, session_id: str, transfer_id: str) -> tuple[str, int] | None:
        """Name and size of a running outgoing transfer (for one the window did not see
        start: a file queued before the session was ready)."""
        info = self.sessions.get(session_id)
        transfers = info.session.transfers if info is not None else None
        transfer = transfers.outgoing.get(transfer_id) if transfers is not None else None
        return (transfer.path.name, transfer.size) if transfer is not None else None

    def mark_verified(self, session_id: str, verified: bool = True) -> None:
        info = self.sessions[session_id]
        info.verified = verified
        if info.session.mode == "rsa" and info.session.peer_id:
            self.profile.contacts.mark_verified(info.session.peer_id, verified)

    @staticmethod
    def loop_future() -> asyncio.Future[None]:
        """A future on the running loop (for awaiting a non-modal dialog)."""
        return asyncio.get_running_loop().create_future()
