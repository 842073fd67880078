"""The sealed client<->relay transport: client_hello, server_hello (with the relay's signed
handshake key), then sealed auth and welcome.

A ClientHandshake and a ServerHandshake are joined in memory, message by message, exactly as
the client and the hub pass them over a socket. An attacker in these tests is whoever sits on
that socket: it can swap, flip, replay, drop or inject messages, but holds neither the
relay's key nor the client's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest

from messenger.crypto.aead import KEY_SIZE
from messenger.protocol import wire
from messenger.protocol.errors import (
    AuthenticationFailedError,
    BusyError,
    LocalProtocolError,
    MessengerError,
    RemoteProtocolError,
    ServerError,
    SessionFullError,
    TamperedError,
)
from messenger.protocol.transport import (
    MAX_HANDSHAKE_KEY_AGE,
    AuthenticatedClient,
    ClientHandshake,
    HandshakeKey,
    HandshakeKeys,
    ServerHandshake,
    ServerIdentity,
    TransportCipher,
    TransportDirection,
)


@dataclass
class Connection:
    """Both ends of one finished handshake, and every message that crossed the socket."""

    client_cipher: TransportCipher
    server_cipher: TransportCipher
    client: AuthenticatedClient
    server: ServerIdentity
    hello: bytes
    server_hello: bytes
    auth: bytes  #: the plaintext auth body (it travels sealed)


def connect(client_key, server_key, name="alice", accept_invites=False) -> Connection:
    client = ClientHandshake(client_key, name, accept_invites)
    server = ServerHandshake(server_key)
    hello = client.hello()
    server_hello = server.got_client_hello(hello)
    server_identity = client.got_server_hello(server_hello)
    client_cipher, server_cipher = client.cipher, server.cipher
    assert client_cipher is not None and server_cipher is not None
    auth = client.auth()
    authenticated = server.got_auth(server_cipher.open(client_cipher.seal(auth)))
    return Connection(
        client_cipher,
        server_cipher,
        authenticated,
        server_identity,
        hello,
        server_hello,
        auth,
    )


def edited(body: bytes, **changes) -> bytes:
    """Re-encode a control message with some fields replaced, as an attacker on the wire can."""
    return wire.encode(dataclasses.replace(wire.decode(body), **changes))


def flipped(data: bytes, index: int = -1) -> bytes:
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)


def answered_hello(rsa_keys) -> tuple[ClientHandshake, bytes]:
    """Alice's client, which has sent its hello, and the relay's genuine server_hello to it."""
    client = ClientHandshake(rsa_keys.alice)
    return client, ServerHandshake(rsa_keys.server).got_client_hello(client.hello())


def server_side_up_to_auth(server_key, client_key):
    """A client and relay past both hellos; the relay waits for auth."""
    client = ClientHandshake(client_key)
    server = ServerHandshake(server_key)
    client.got_server_hello(server.got_client_hello(client.hello()))
    assert client.cipher is not None and server.cipher is not None
    return client, server, client.cipher, server.cipher


def welcome_opens(client: ClientHandshake, server_cipher: TransportCipher) -> bool:
    """Whether the relay's first sealed frame (its welcome) opens for the client: what proves,
    at the end of a full handshake, that the relay holds the handshake key it showed."""
    assert client.cipher is not None
    try:
        client.cipher.open(server_cipher.seal(b"welcome"))
    except TamperedError:
        return False
    return True


# --- the honest handshake ---------------------------------------------------------------------


def test_a_full_handshake_succeeds_and_the_relay_learns_who_connected(rsa_keys):
    connection = connect(rsa_keys.alice, rsa_keys.server, name="alice", accept_invites=True)
    assert connection.client == AuthenticatedClient(
        id=rsa_keys.alice.fingerprint,
        name="alice",
        key=rsa_keys.alice.public,
        accept_invites=True,
        listed=True,  # whoever takes invitations is listed unless they say otherwise
    )


def test_the_client_id_is_its_key_fingerprint_whatever_name_it_gives(rsa_keys):
    connection = connect(rsa_keys.bob, rsa_keys.server, name="alice")
    assert connection.client.id == rsa_keys.bob.fingerprint
    assert connection.client.name == "alice"
    assert connection.client.accept_invites is False
    assert connection.client.listed is False


def test_a_client_that_takes_invitations_may_still_choose_not_to_be_listed(rsa_keys):
    client = ClientHandshake(rsa_keys.alice, "alice", accept_invites=True, listed=False)
    server = ServerHandshake(rsa_keys.server)
    hello = server.got_client_hello(client.hello())
    client.got_server_hello(hello)
    who = server.got_auth(client.auth())
    assert (who.accept_invites, who.listed) == (True, False)


def test_a_long_name_reaches_the_relay_cut_to_the_limit(rsa_keys):
    connection = connect(rsa_keys.alice, rsa_keys.server, name="a" * 500)
    assert connection.client.name == "a" * wire.MAX_NAME_LEN


def test_the_client_learns_the_relay_fingerprint_to_check_against_its_pin(rsa_keys):
    connection = connect(rsa_keys.alice, rsa_keys.server)
    assert connection.server.fingerprint == rsa_keys.server.fingerprint
    assert connection.server.key == rsa_keys.server.public


def test_another_relay_proves_its_own_key_so_only_the_pin_can_tell_it_apart(rsa_keys):
    # mallory runs a relay of her own: the handshake is valid, but shows her fingerprint.
    connection = connect(rsa_keys.alice, rsa_keys.mallory)
    assert connection.server.fingerprint == rsa_keys.mallory.fingerprint
    assert connection.server.fingerprint != rsa_keys.server.fingerprint


def test_frames_sealed_on_either_side_open_on_the_other(rsa_keys):
    connection = connect(rsa_keys.alice, rsa_keys.server)
    client, server = connection.client_cipher, connection.server_cipher
    assert server.open(client.seal(b"list people")) == b"list people"
    assert client.open(server.seal(b"people: bob")) == b"people: bob"
    assert server.open(client.seal(b"")) == b""


def test_hundreds_of_frames_open_in_order_both_ways(rsa_keys):
    connection = connect(rsa_keys.alice, rsa_keys.server)
    client, server = connection.client_cipher, connection.server_cipher
    for n in range(300):
        up, down = f"up {n}".encode(), f"down {n}".encode() * (n % 7)
        assert server.open(client.seal(up)) == up
        assert client.open(server.seal(down)) == down


def test_each_direction_and_each_connection_has_its_own_key(rsa_keys):
    first = connect(rsa_keys.alice, rsa_keys.server)
    second = connect(rsa_keys.alice, rsa_keys.server)
    up, down = first.client_cipher.seal(b"same"), first.server_cipher.seal(b"same")
    assert up != down
    assert second.client_cipher.seal(b"same") != up
    with pytest.raises(TamperedError):
        second.server_cipher.open(up)


# --- a forged or altered server_hello ---------------------------------------------------------


def test_a_server_hello_made_for_another_client_hello_gives_keys_no_one_else_has(rsa_keys):
    # A man in the middle answers alice with a genuine server_hello it got for its own hello.
    # Its signature is good (it signs the handshake key, not the hello), but the keys alice
    # derives need her own ephemeral share: neither the relay nor the attacker has them.
    alice = ClientHandshake(rsa_keys.alice)
    alice.hello()
    attacker = ClientHandshake(rsa_keys.mallory)
    relay = ServerHandshake(rsa_keys.server)
    genuine_for_attacker = relay.got_client_hello(attacker.hello())
    attacker.got_server_hello(genuine_for_attacker)
    alice.got_server_hello(genuine_for_attacker)
    assert alice.cipher is not None and attacker.cipher is not None and relay.cipher
    sealed_auth = alice.cipher.seal(alice.auth())
    for cipher in (relay.cipher, attacker.cipher):
        with pytest.raises(TamperedError):
            cipher.open(sealed_auth)
    assert not welcome_opens(alice, relay.cipher)


def test_a_server_hello_with_a_flipped_signature_byte_is_refused(rsa_keys):
    client, server_hello = answered_hello(rsa_keys)
    signature = wire.decode(server_hello).signature
    with pytest.raises(AuthenticationFailedError):
        client.got_server_hello(edited(server_hello, signature=flipped(signature, 10)))


def test_a_server_hello_presenting_another_key_is_refused(rsa_keys):
    client, server_hello = answered_hello(rsa_keys)
    with pytest.raises(AuthenticationFailedError):
        client.got_server_hello(edited(server_hello, key=rsa_keys.mallory.public.der))


@pytest.mark.parametrize("field", ["hkey", "hkey_at"])
def test_a_server_hello_with_another_handshake_key_or_time_than_signed_is_refused(rsa_keys, field):
    client, server_hello = answered_hello(rsa_keys)
    original = wire.decode(server_hello)
    change = {"hkey": flipped(original.hkey, 0)} if field == "hkey" else {"hkey_at": 1}
    with pytest.raises(AuthenticationFailedError):
        client.got_server_hello(edited(server_hello, **change))


def test_a_handshake_key_of_the_wrong_size_is_refused(rsa_keys):
    client, server_hello = answered_hello(rsa_keys)
    with pytest.raises(RemoteProtocolError, match="wrong size"):
        client.got_server_hello(edited(server_hello, hkey=bytes(31)))


def test_a_server_hello_with_a_swapped_share_gives_keys_the_relay_lacks(rsa_keys):
    client = ClientHandshake(rsa_keys.alice)
    server = ServerHandshake(rsa_keys.server)
    server_hello = server.got_client_hello(client.hello())
    eph = wire.decode(server_hello).eph
    client.got_server_hello(edited(server_hello, eph=flipped(eph, 0)))
    assert server.cipher is not None
    assert not welcome_opens(client, server.cipher)


def test_a_handshake_key_signed_too_long_ago_is_refused_even_with_a_good_signature(rsa_keys):
    now = 1_800_000_000.0
    stale = HandshakeKey(rsa_keys.server, now - MAX_HANDSHAKE_KEY_AGE - 60)
    client = ClientHandshake(rsa_keys.alice, clock=lambda: now)
    server_hello = ServerHandshake(rsa_keys.server, handshake_key=stale).got_client_hello(
        client.hello()
    )
    with pytest.raises(AuthenticationFailedError, match="too long ago"):
        client.got_server_hello(server_hello)


def test_a_client_whose_clock_is_a_day_off_either_way_still_connects(rsa_keys):
    now = 1_800_000_000.0
    key = HandshakeKey(rsa_keys.server, now)
    for skew in (-86_400.0, 86_400.0):
        client = ClientHandshake(rsa_keys.alice, clock=lambda skew=skew: now + skew)
        server = ServerHandshake(rsa_keys.server, handshake_key=key)
        client.got_server_hello(server.got_client_hello(client.hello()))
        assert server.cipher is not None and welcome_opens(client, server.cipher)


def test_a_relay_that_replays_a_genuine_server_hello_cannot_seal_a_welcome(rsa_keys):
    # The attacker recorded the real relay's server_hello (a fresh handshake key, a good
    # signature) and plays it to alice; without the handshake key's private half, no frame
    # it seals opens for her, whatever keys it tries.
    recorded = ServerHandshake(rsa_keys.server).got_client_hello(
        ClientHandshake(rsa_keys.bob).hello()
    )
    alice = ClientHandshake(rsa_keys.alice)
    alice.hello()
    alice.got_server_hello(recorded)
    guess = TransportCipher(bytes(KEY_SIZE), bytes(KEY_SIZE), TransportDirection.SERVER_TO_CLIENT)
    assert not welcome_opens(alice, guess)


def test_one_handshake_key_serves_handshakes_until_it_is_old_then_a_new_one_is_signed(rsa_keys):
    now = [1_800_000_000.0]
    keys = HandshakeKeys(rsa_keys.server, clock=lambda: now[0], lifetime=600.0)
    first = keys.current()
    now[0] += 599
    assert keys.current() is first
    now[0] += 2
    second = keys.current()
    assert second is not first and second.public != first.public
    assert second.issued_at == int(now[0])
    now[0] -= 3_600  # a clock set back does not keep a key that looks young
    assert keys.current() is not second
    for key in (first, second):
        client = ClientHandshake(rsa_keys.alice, clock=lambda: now[0])
        server = ServerHandshake(rsa_keys.server, handshake_key=key)
        client.got_server_hello(server.got_client_hello(client.hello()))
        assert server.cipher is not None and welcome_opens(client, server.cipher)


def test_the_relay_refuses_a_handshake_key_another_relay_key_signed(rsa_keys):
    foreign = HandshakeKey(rsa_keys.mallory, 1_800_000_000.0)
    server = ServerHandshake(rsa_keys.server, handshake_key=foreign)
    with pytest.raises(LocalProtocolError):
        server.got_client_hello(ClientHandshake(rsa_keys.alice).hello())


def test_a_server_hello_with_a_key_that_is_not_a_key_is_refused(rsa_keys):
    client, server_hello = answered_hello(rsa_keys)
    with pytest.raises(AuthenticationFailedError):
        client.got_server_hello(edited(server_hello, key=b"\x30not a key"))


def test_a_server_hello_of_another_protocol_version_is_refused_naming_both(rsa_keys):
    client, server_hello = answered_hello(rsa_keys)
    with pytest.raises(RemoteProtocolError, match=r"protocol 5;.*speaks 4\."):
        client.got_server_hello(edited(server_hello, version=5))


@pytest.mark.parametrize(
    ("code", "error"),
    [("busy", BusyError), ("session_full", SessionFullError), ("protocol", RemoteProtocolError)],
)
def test_an_error_in_place_of_server_hello_is_raised_as_that_error(rsa_keys, code, error):
    client = ClientHandshake(rsa_keys.alice)
    client.hello()
    refusal = wire.encode(wire.Error(code=code, message="The relay says no.", fatal=True))
    with pytest.raises(error, match=r"^The relay says no\.$") as raised:
        client.got_server_hello(refusal)
    assert type(raised.value) is error


def test_an_error_with_an_unknown_code_in_place_of_server_hello_is_a_server_error(rsa_keys):
    client = ClientHandshake(rsa_keys.alice)
    client.hello()
    with pytest.raises(ServerError):
        client.got_server_hello(wire.encode(wire.Error(code="brand_new", message="")))


def test_something_other_than_server_hello_is_refused(rsa_keys):
    client = ClientHandshake(rsa_keys.alice)
    client.hello()
    with pytest.raises(RemoteProtocolError):
        client.got_server_hello(wire.encode(wire.Pong(nonce=1)))


# --- a forged or replayed auth ----------------------------------------------------------------


def test_an_auth_signed_by_another_key_than_the_one_it_presents_is_refused(rsa_keys):
    # mallory signs the transcript with her key but presents alice's, to log in as alice.
    mallory, server, mallory_cipher, server_cipher = server_side_up_to_auth(
        rsa_keys.server, rsa_keys.mallory
    )
    forged = edited(mallory.auth(), key=rsa_keys.alice.public.der)
    with pytest.raises(AuthenticationFailedError):
        server.got_auth(server_cipher.open(mallory_cipher.seal(forged)))


def test_an_auth_replayed_from_an_earlier_connection_is_refused(rsa_keys):
    earlier = connect(rsa_keys.alice, rsa_keys.server)
    _, server, attacker_cipher, server_cipher = server_side_up_to_auth(
        rsa_keys.server, rsa_keys.mallory
    )
    with pytest.raises(AuthenticationFailedError):
        server.got_auth(server_cipher.open(attacker_cipher.seal(earlier.auth)))


def test_an_auth_with_an_oversized_key_is_refused(rsa_keys):
    client, server, client_cipher, server_cipher = server_side_up_to_auth(
        rsa_keys.server, rsa_keys.alice
    )
    oversized = edited(client.auth(), key=b"\x30" + bytes(wire.MAX_KEY_DER))
    with pytest.raises(RemoteProtocolError):
        server.got_auth(server_cipher.open(client_cipher.seal(oversized)))


def test_an_auth_with_a_key_that_is_not_a_key_is_refused(rsa_keys):
    client, server, client_cipher, server_cipher = server_side_up_to_auth(
        rsa_keys.server, rsa_keys.alice
    )
    garbage = edited(client.auth(), key=b"\x30\x03abc")
    with pytest.raises(AuthenticationFailedError):
        server.got_auth(server_cipher.open(client_cipher.seal(garbage)))


def test_a_replayed_client_hello_gives_the_relay_keys_the_old_connection_lacks(rsa_keys):
    earlier = connect(rsa_keys.alice, rsa_keys.server)
    server = ServerHandshake(rsa_keys.server)
    fresh_server_hello = server.got_client_hello(earlier.hello)
    assert fresh_server_hello != earlier.server_hello  # a fresh share and nonce
    assert server.cipher is not None
    # The attacker can only replay frames sealed under the earlier connection's keys.
    with pytest.raises(TamperedError):
        server.cipher.open(earlier.client_cipher.seal(earlier.auth))


# --- malformed and out-of-order messages ------------------------------------------------------


def test_a_client_hello_of_another_protocol_version_is_refused_naming_both(rsa_keys):
    hello = edited(ClientHandshake(rsa_keys.alice).hello(), version=1)
    with pytest.raises(RemoteProtocolError, match=r"protocol 4;.*speaks 1\."):
        ServerHandshake(rsa_keys.server).got_client_hello(hello)


@pytest.mark.parametrize(
    "change",
    [
        {"eph": bytes(31)},
        {"eph": bytes(33)},
        {"nonce": bytes(16)},
        {"nonce": bytes(wire.NONCE_SIZE + 1)},
    ],
    ids=["eph 31 bytes", "eph 33 bytes", "nonce 16 bytes", "nonce 33 bytes"],
)
def test_handshake_values_of_the_wrong_size_are_refused(rsa_keys, change):
    client = ClientHandshake(rsa_keys.alice)
    server = ServerHandshake(rsa_keys.server)
    hello = client.hello()
    with pytest.raises(RemoteProtocolError, match="wrong size"):
        server.got_client_hello(edited(hello, **change))
    server_hello = ServerHandshake(rsa_keys.server).got_client_hello(hello)
    with pytest.raises(RemoteProtocolError, match="wrong size"):
        client.got_server_hello(edited(server_hello, **change))


def test_a_first_message_that_is_not_client_hello_is_refused(rsa_keys):
    with pytest.raises(RemoteProtocolError):
        ServerHandshake(rsa_keys.server).got_client_hello(wire.encode(wire.Ping()))
    with pytest.raises(RemoteProtocolError):
        ServerHandshake(rsa_keys.server).got_client_hello(b"\xc1 not msgpack")


def test_auth_before_client_hello_is_refused_by_the_relay(rsa_keys):
    premature = wire.encode(wire.Auth(key=rsa_keys.alice.public.der, signature=bytes(384)))
    with pytest.raises(MessengerError):
        ServerHandshake(rsa_keys.server).got_auth(premature)


def test_a_message_other_than_auth_is_refused_in_its_place(rsa_keys):
    client, server, client_cipher, server_cipher = server_side_up_to_auth(
        rsa_keys.server, rsa_keys.alice
    )
    with pytest.raises(RemoteProtocolError):
        server.got_auth(server_cipher.open(client_cipher.seal(wire.encode(wire.Ping()))))
    with pytest.raises(RemoteProtocolError):
        server.got_auth(server_cipher.open(client_cipher.seal(client.hello())))


def test_the_client_cannot_skip_ahead_of_the_relay(rsa_keys):
    client = ClientHandshake(rsa_keys.alice)
    client.hello()
    with pytest.raises(LocalProtocolError):
        client.auth()


# --- the sealed frames ------------------------------------------------------------------------


@pytest.fixture
def ciphers(rsa_keys):
    connection = connect(rsa_keys.alice, rsa_keys.server)
    return connection.client_cipher, connection.server_cipher


def test_a_modified_frame_is_tampered(ciphers):
    client, server = ciphers
    frame = client.seal(b"relay to session 7")
    for index in (0, len(frame) // 2, -1):
        with pytest.raises(TamperedError):
            server.open(flipped(frame, index))
    assert server.open(frame) == b"relay to session 7"  # refusals changed nothing


def test_a_truncated_frame_is_tampered(ciphers):
    client, server = ciphers
    frame = client.seal(b"relay to session 7")
    for cut in (frame[:-1], frame[:15], b""):
        with pytest.raises(TamperedError):
            server.open(cut)


def test_a_replayed_frame_is_tampered(ciphers):
    client, server = ciphers
    frame = client.seal(b"leave session 7")
    assert server.open(frame) == b"leave session 7"
    with pytest.raises(TamperedError):
        server.open(frame)


def test_a_dropped_frame_makes_the_next_one_tampered(ciphers):
    client, server = ciphers
    client.seal(b"dropped on the way")
    with pytest.raises(TamperedError):
        server.open(client.seal(b"the next one"))


def test_reordered_frames_are_tampered(ciphers):
    client, server = ciphers
    first, second = client.seal(b"one"), client.seal(b"two")
    with pytest.raises(TamperedError):
        server.open(second)
    assert [server.open(first), server.open(second)] == [b"one", b"two"]


def test_a_frame_injected_from_another_connection_is_tampered(rsa_keys, ciphers):
    _, server = ciphers
    other = connect(rsa_keys.mallory, rsa_keys.server)
    with pytest.raises(TamperedError):
        server.open(other.client_cipher.seal(b"injected"))


def test_a_frame_reflected_back_to_its_sender_is_tampered(ciphers):
    client, server = ciphers
    with pytest.raises(TamperedError):
        client.open(client.seal(b"echo"))
    with pytest.raises(TamperedError):
        server.open(server.seal(b"echo"))


def test_the_direction_in_the_nonce_refuses_reflection_even_under_one_shared_key():
    key = bytes(range(KEY_SIZE))
    client = TransportCipher(key, key, TransportDirection.CLIENT_TO_SERVER)
    server = TransportCipher(key, key, TransportDirection.SERVER_TO_CLIENT)
    frame = client.seal(b"hello")
    with pytest.raises(TamperedError):
        client.open(frame)
    assert server.open(frame) == b"hello"
