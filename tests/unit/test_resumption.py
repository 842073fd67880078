"""Resumption tickets (server/tickets.py, the transport's resumed handshake) and the relay's
RSA work in its crypto threads.

A client that reconnects shows the ticket from its last connection and skips the RSA work;
a ticket is good once, for a while, and only under the relay key that issued it.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace

import pytest

from messenger.crypto.aead import random_bytes
from messenger.net.connection import ServerConnection
from messenger.net.tickets import MAX_LIFETIME, TicketJar
from messenger.protocol import wire
from messenger.protocol.errors import ServerKeyChangedError, TamperedError
from messenger.protocol.transport import (
    ClientHandshake,
    ServerHandshake,
    ServerIdentity,
    ticket_secret,
)
from server.config import ServerConfig
from server.hub import Hub
from server.tickets import TicketBook, load_used, save_used, ticket_master

pytestmark = pytest.mark.timeout(60)

MASTER = bytes(range(32))
SECRET = b"s" * 32


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def book(rsa_keys, clock=None, relay=None, lifetime=60.0, **options) -> TicketBook:
    relay = relay or rsa_keys.server
    return TicketBook(MASTER, relay.fingerprint, lifetime, clock=clock or Clock(), **options)


def issued(tickets: TicketBook, rsa_keys) -> bytes:
    return tickets.issue(rsa_keys.alice.fingerprint, rsa_keys.alice.public.der, SECRET)


# -- the ticket book ---------------------------------------------------------------------------


def test_a_ticket_is_redeemed_once_with_who_it_was_issued_to(rsa_keys):
    tickets = book(rsa_keys)
    ticket = issued(tickets, rsa_keys)

    redeemed = tickets.redeem(ticket)

    assert redeemed is not None
    assert (redeemed.person_id, redeemed.key, redeemed.secret) == (
        rsa_keys.alice.fingerprint,
        rsa_keys.alice.public,
        SECRET,
    )
    assert tickets.redeem(ticket) is None  # single use


def test_a_ticket_expires_after_its_lifetime(rsa_keys):
    clock = Clock()
    tickets = book(rsa_keys, clock, lifetime=60.0)
    late, in_time = issued(tickets, rsa_keys), issued(tickets, rsa_keys)

    clock.now += 59.0
    assert tickets.redeem(in_time) is not None
    clock.now += 1.0
    assert tickets.redeem(late) is None


def test_a_ticket_is_refused_after_the_relay_key_changed(rsa_keys):
    ticket = issued(book(rsa_keys), rsa_keys)

    assert book(rsa_keys, relay=rsa_keys.bob).redeem(ticket) is None  # same ticket key file
    assert book(rsa_keys).redeem(ticket) is not None  # the same relay key still takes it


def test_a_ticket_that_was_tampered_with_or_made_up_is_refused(rsa_keys):
    tickets = book(rsa_keys)
    ticket = bytearray(issued(tickets, rsa_keys))
    ticket[-1] ^= 1
    assert tickets.redeem(bytes(ticket)) is None
    assert tickets.redeem(b"") is None
    assert tickets.redeem(random_bytes(600)) is None
    assert tickets.redeem(b"\x01" + bytes(3000)) is None


def test_used_tickets_are_remembered_across_a_restart(rsa_keys, tmp_path):
    clock = Clock()
    first_run = book(rsa_keys, clock)
    used, unused = issued(first_run, rsa_keys), issued(first_run, rsa_keys)
    assert first_run.redeem(used) is not None
    save_used(tmp_path, first_run.used())
    assert oct((tmp_path / "tickets.used").stat().st_mode & 0o777) == "0o600"

    second_run = book(rsa_keys, clock, used=load_used(tmp_path))

    assert second_run.redeem(used) is None
    assert second_run.redeem(unused) is not None


def test_the_ticket_key_is_made_once_private_and_kept(tmp_path):
    master = ticket_master(tmp_path)
    assert len(master) == 32
    assert oct((tmp_path / "ticket.key").stat().st_mode & 0o777) == "0o600"
    assert ticket_master(tmp_path) == master


# -- the resumed handshake, sans-IO ------------------------------------------------------------


def full_handshake(rsa_keys, tickets: TicketBook):
    """A full handshake; returns the client's ticket for the next one."""
    client = ClientHandshake(rsa_keys.alice, "alice", want_tickets=True)
    server = ServerHandshake(rsa_keys.server, tickets)
    client.got_server_hello(server.got_client_hello(client.hello()))
    server.got_auth(client.auth())
    assert server.wants_tickets
    message = wire.Ticket(
        ticket=tickets.issue(
            rsa_keys.alice.fingerprint,
            rsa_keys.alice.public.der,
            ticket_secret(server.resumption, 0),
        ),
        number=0,
        lifetime=60.0,
    )
    ticket = client.got_ticket(message)
    assert ticket is not None
    return ticket


def test_a_resumed_handshake_agrees_on_keys_without_rsa_and_knows_the_client(rsa_keys):
    tickets = book(rsa_keys)
    ticket = full_handshake(rsa_keys, tickets)

    client = ClientHandshake(rsa_keys.alice, "alice again", accept_invites=True, ticket=ticket)
    server = ServerHandshake(rsa_keys.server, tickets)
    answer = server.got_client_hello(client.hello())
    identity = client.got_server_hello(answer)

    assert isinstance(wire.decode(answer), wire.ServerResume)
    assert client.resumed and server.resumed
    assert identity == ServerIdentity(rsa_keys.server.public)
    assert client.cipher is not None and server.cipher is not None
    who = server.got_resume(server.cipher.open(client.cipher.seal(client.resume())))
    assert (who.id, who.name, who.key, who.accept_invites, who.listed) == (
        rsa_keys.alice.fingerprint,
        "alice again",
        rsa_keys.alice.public,
        True,
        True,
    )
    assert client.cipher.open(server.cipher.seal(b"welcome")) == b"welcome"
    assert server.resumption and server.resumption != ticket.secret  # a new one for the next


def test_a_ticket_shown_twice_gets_a_full_handshake_the_second_time(rsa_keys):
    tickets = book(rsa_keys)
    ticket = full_handshake(rsa_keys, tickets)
    first = ServerHandshake(rsa_keys.server, tickets)
    first.got_client_hello(ClientHandshake(rsa_keys.alice, ticket=ticket).hello())

    replayed = ClientHandshake(rsa_keys.alice, ticket=ticket)
    answer = ServerHandshake(rsa_keys.server, tickets).got_client_hello(replayed.hello())

    assert first.resumed
    assert isinstance(wire.decode(answer), wire.ServerHello)
    replayed.got_server_hello(answer)
    assert not replayed.resumed  # and the client goes on with the full handshake


def test_someone_with_the_ticket_but_not_its_secret_cannot_resume(rsa_keys):
    tickets = book(rsa_keys)
    ticket = full_handshake(rsa_keys, tickets)
    thief = ClientHandshake(rsa_keys.mallory, ticket=replace(ticket, secret=bytes(32)))
    server = ServerHandshake(rsa_keys.server, tickets)
    thief.got_server_hello(server.got_client_hello(thief.hello()))
    assert thief.cipher is not None and server.cipher is not None

    with pytest.raises(TamperedError):
        server.cipher.open(thief.cipher.seal(thief.resume()))


# -- through the relay -------------------------------------------------------------------------


def run(scenario) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 45))


async def settled(connection: ServerConnection, nonce: int = 1) -> None:
    """Read up to a pong: whatever the relay queued before it (a ticket) is taken in."""
    await connection.send(wire.Ping(nonce=nonce))
    async with asyncio.timeout(10):
        while await connection.receive() != wire.Pong(nonce=nonce):
            pass


async def open_with(port: int, identity, jar: TicketJar, **options) -> ServerConnection:
    return await ServerConnection.open(
        "127.0.0.1", port, identity=identity, tickets=jar, **options
    )


def test_a_client_resumes_after_the_relay_restarts_on_its_data_folder(rsa_keys, tmp_path):
    async def scenario() -> None:
        config = ServerConfig(port=0, data_dir=tmp_path)
        hub = Hub(config, rsa_keys.server)
        _host, port = await hub.start()
        jar = TicketJar()
        first = await open_with(port, rsa_keys.alice, jar, name="alice")
        await settled(first)
        assert not first.resumed and len(jar) == 1
        await first.close()
        await hub.close()

        hub = Hub(ServerConfig(port=port, data_dir=tmp_path), rsa_keys.server)
        await hub.start()
        again = await open_with(port, rsa_keys.alice, jar, name="alice", accept_invites=True)
        assert again.resumed and again.welcome is not None and again.welcome.resumed
        assert again.welcome.id == rsa_keys.alice.fingerprint
        assert again.server == ServerIdentity(rsa_keys.server.public)
        await settled(again)
        assert len(jar) == 1  # the next ticket, already
        await again.send(wire.ListPeople())  # the relay knows who this is
        async with asyncio.timeout(10):
            while not isinstance(page := await again.receive(), wire.People):
                pass
        assert page.people == ()  # (alice herself is left out of her own list)
        assert [p.id for p in hub.presence.people()] == [rsa_keys.alice.fingerprint]
        await again.close()
        await hub.close()

    run(scenario)


def test_after_a_relay_key_change_the_ticket_is_refused_and_the_pin_speaks(rsa_keys, tmp_path):
    async def pinned(server: ServerIdentity) -> None:
        if server.fingerprint != rsa_keys.server.fingerprint:
            raise ServerKeyChangedError(
                pinned=rsa_keys.server.fingerprint, presented=server.fingerprint
            )

    async def scenario() -> None:
        hub = Hub(ServerConfig(port=0, data_dir=tmp_path), rsa_keys.server)
        _host, port = await hub.start()
        jar = TicketJar()
        first = await open_with(port, rsa_keys.alice, jar, check_server_key=pinned)
        await settled(first)
        await first.close()
        await hub.close()
        assert len(jar) == 1

        hub = Hub(ServerConfig(port=port, data_dir=tmp_path), rsa_keys.bob)  # a new relay key
        await hub.start()
        with pytest.raises(ServerKeyChangedError):
            await open_with(port, rsa_keys.alice, jar, check_server_key=pinned)
        await hub.close()

    run(scenario)


def test_with_tickets_off_every_connection_makes_a_full_handshake(rsa_keys):
    async def scenario() -> None:
        hub = Hub(ServerConfig(port=0, ticket_lifetime=0), rsa_keys.server)
        _host, port = await hub.start()
        jar = TicketJar()
        for _ in range(2):
            connection = await open_with(port, rsa_keys.alice, jar)
            await settled(connection)
            assert not connection.resumed and len(jar) == 0
            await connection.close()
        await hub.close()

    run(scenario)


# -- the relay's RSA work runs in its crypto threads -------------------------------------------


class HeldKey:
    """The relay's key, whose private-key operations wait for ``release`` and note the
    thread they ran in."""

    def __init__(self, key) -> None:
        self._key = key
        self.public = key.public
        self.fingerprint = key.fingerprint
        self.release = threading.Event()
        self.threads: list[str] = []
        self._loop = asyncio.get_running_loop()
        #: Set (on the loop) whenever a signature starts.
        self.signing = asyncio.Event()

    def sign(self, message: bytes) -> bytes:
        self.threads.append(threading.current_thread().name)
        self._loop.call_soon_threadsafe(self.signing.set)
        assert self.release.wait(20), "the test never let the RSA work finish"
        return self._key.sign(message)

    def unwrap(self, wrapped: bytes, label: bytes = b"") -> bytes:
        self.threads.append(threading.current_thread().name)
        return self._key.unwrap(wrapped, label)


def test_a_handshake_held_in_rsa_work_does_not_stop_the_relay_answering_others(rsa_keys):
    async def scenario() -> None:
        key = HeldKey(rsa_keys.server)
        # A new handshake key for every handshake: each one signs (a renewal does the same)
        hub = Hub(ServerConfig(port=0, ticket_lifetime=0, handshake_key_lifetime=0), key)
        _host, port = await hub.start()
        key.release.set()
        honest = await ServerConnection.open("127.0.0.1", port, identity=rsa_keys.alice)
        key.release.clear()
        key.signing.clear()

        held = asyncio.create_task(
            ServerConnection.open("127.0.0.1", port, identity=rsa_keys.bob)
        )
        await key.signing.wait()  # the held handshake is in its signature now
        await settled(honest)  # were the signature on the loop, no pong would come
        assert not held.done()

        key.release.set()
        late = await held
        assert all(name.startswith("relay-rsa") for name in key.threads), key.threads
        for connection in (honest, late):
            await connection.close()
        await hub.close()

    run(scenario)


def test_full_handshakes_share_one_signed_handshake_key_no_rsa_signature_each(rsa_keys):
    async def scenario() -> None:
        key = HeldKey(rsa_keys.server)
        key.release.set()
        hub = Hub(ServerConfig(port=0, ticket_lifetime=0), key)
        _host, port = await hub.start()
        people = (rsa_keys.alice, rsa_keys.bob, rsa_keys.mallory) * 2
        connections = [
            await ServerConnection.open("127.0.0.1", port, identity=person) for person in people
        ]
        assert all(not connection.resumed for connection in connections)
        assert len(key.threads) == 1, key.threads  # one signature, for the handshake key
        for connection in connections:
            await connection.close()
        await hub.close()

    run(scenario)


@pytest.mark.parametrize("lifetime", [float("nan"), float("inf"), 1e12, -5.0, 0.0])
def test_a_relays_odd_ticket_lifetime_never_keeps_a_ticket_past_a_day(lifetime):
    now = [0.0]
    jar = TicketJar(lambda: now[0])
    where = ("127.0.0.1", 1, "me")
    jar.put(where, object(), lifetime)  # type: ignore[arg-type]
    now[0] = MAX_LIFETIME + 1
    assert jar.take(where) is None
