"""The sealed client<->relay transport: client_hello, server_hello, key_exchange, sealed auth.

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
from messenger.protocol import transport, wire
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
    AuthenticatedClient,
    ClientHandshake,
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
    key_exchange: bytes
    auth: bytes  #: the plaintext auth body (it travels sealed)


def connect(client_key, server_key, name="alice", accept_invites=False) -> Connection:
    client = ClientHandshake(client_key, name, accept_invites)
    server = ServerHandshake(server_key)
    hello = client.hello()
    server_hello = server.got_client_hello(hello)
    server_identity = client.got_server_hello(server_hello)
    key_exchange, client_cipher = client.key_exchange()
    server_cipher = server.got_key_exchange(key_exchange)
    auth = client.auth()
    authenticated = server.got_auth(server_cipher.open(client_cipher.seal(auth)))
    return Connection(
        client_cipher,
        server_cipher,
        authenticated,
        server_identity,
        hello,
        server_hello,
        key_exchange,
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


def past_the_hellos(rsa_keys) -> tuple[ClientHandshake, ServerHandshake]:
    """Alice's client and the relay after both hellos; the relay waits for key_exchange."""
    client = ClientHandshake(rsa_keys.alice)
    server = ServerHandshake(rsa_keys.server)
    client.got_server_hello(server.got_client_hello(client.hello()))
    return client, server


def server_side_up_to_auth(server_key, client_key):
    """A client and relay that have exchanged keys; the relay waits for auth."""
    client = ClientHandshake(client_key)
    server = ServerHandshake(server_key)
    client.got_server_hello(server.got_client_hello(client.hello()))
    key_exchange, client_cipher = client.key_exchange()
    server_cipher = server.got_key_exchange(key_exchange)
    return client, server, client_cipher, server_cipher


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
    key_exchange, _cipher = client.key_exchange()
    server.got_key_exchange(key_exchange)
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


def test_a_server_hello_made_for_another_client_hello_is_refused(rsa_keys):
    # A man in the middle answers alice with a genuine server_hello it got for its own hello.
    alice = ClientHandshake(rsa_keys.alice)
    alice.hello()
    attacker = ClientHandshake(rsa_keys.mallory)
    genuine_for_attacker = ServerHandshake(rsa_keys.server).got_client_hello(attacker.hello())
    with pytest.raises(AuthenticationFailedError):
        alice.got_server_hello(genuine_for_attacker)


def test_a_server_hello_with_a_flipped_signature_byte_is_refused(rsa_keys):
    client, server_hello = answered_hello(rsa_keys)
    signature = wire.decode(server_hello).signature
    with pytest.raises(AuthenticationFailedError):
        client.got_server_hello(edited(server_hello, signature=flipped(signature, 10)))


def test_a_server_hello_presenting_another_key_is_refused(rsa_keys):
    client, server_hello = answered_hello(rsa_keys)
    with pytest.raises(AuthenticationFailedError):
        client.got_server_hello(edited(server_hello, key=rsa_keys.mallory.public.der))


def test_a_server_hello_with_a_swapped_share_is_refused(rsa_keys):
    client, server_hello = answered_hello(rsa_keys)
    eph = wire.decode(server_hello).eph
    with pytest.raises(AuthenticationFailedError):
        client.got_server_hello(edited(server_hello, eph=flipped(eph, 0)))


def test_a_server_hello_with_a_key_that_is_not_a_key_is_refused(rsa_keys):
    client, server_hello = answered_hello(rsa_keys)
    with pytest.raises(AuthenticationFailedError):
        client.got_server_hello(edited(server_hello, key=b"\x30not a key"))


def test_a_server_hello_of_another_protocol_version_is_refused_naming_both(rsa_keys):
    client, server_hello = answered_hello(rsa_keys)
    with pytest.raises(RemoteProtocolError, match=r"protocol 4;.*speaks 3\."):
        client.got_server_hello(edited(server_hello, version=4))


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


# --- a forged or altered key_exchange ---------------------------------------------------------


def test_a_key_exchange_with_a_flipped_byte_in_the_wrapped_secret_is_refused(rsa_keys):
    client, server = past_the_hellos(rsa_keys)
    key_exchange, _ = client.key_exchange()
    wrapped = wire.decode(key_exchange).wrapped
    with pytest.raises(AuthenticationFailedError):
        server.got_key_exchange(edited(key_exchange, wrapped=flipped(wrapped, 100)))


def test_a_key_exchange_wrapped_to_another_key_is_refused(rsa_keys):
    _, server = past_the_hellos(rsa_keys)
    wrapped = rsa_keys.mallory.public.wrap(bytes(transport.SECRET_SIZE))
    with pytest.raises(AuthenticationFailedError):
        server.got_key_exchange(wire.encode(wire.KeyExchange(wrapped=wrapped)))


def test_a_key_exchange_with_a_secret_of_the_wrong_size_is_refused(rsa_keys):
    _, server = past_the_hellos(rsa_keys)
    wrapped = rsa_keys.server.public.wrap(bytes(16))
    with pytest.raises(RemoteProtocolError):
        server.got_key_exchange(wire.encode(wire.KeyExchange(wrapped=wrapped)))


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


def test_a_replayed_hello_and_key_exchange_give_a_new_relay_keys_the_old_client_lacks(rsa_keys):
    earlier = connect(rsa_keys.alice, rsa_keys.server)
    server = ServerHandshake(rsa_keys.server)
    fresh_server_hello = server.got_client_hello(earlier.hello)
    assert fresh_server_hello != earlier.server_hello  # a fresh share and nonce
    server_cipher = server.got_key_exchange(earlier.key_exchange)
    # The attacker can only replay frames sealed under the earlier connection's keys.
    with pytest.raises(TamperedError):
        server_cipher.open(earlier.client_cipher.seal(earlier.auth))


# --- malformed and out-of-order messages ------------------------------------------------------


def test_a_client_hello_of_another_protocol_version_is_refused_naming_both(rsa_keys):
    hello = edited(ClientHandshake(rsa_keys.alice).hello(), version=1)
    with pytest.raises(RemoteProtocolError, match=r"protocol 3;.*speaks 1\."):
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


def test_auth_before_key_exchange_is_refused_by_the_relay(rsa_keys):
    _, server = past_the_hellos(rsa_keys)
    premature = wire.encode(wire.Auth(key=rsa_keys.alice.public.der, signature=bytes(384)))
    with pytest.raises(MessengerError):
        server.got_auth(premature)


def test_key_exchange_before_client_hello_is_refused_by_the_relay(rsa_keys):
    with pytest.raises(MessengerError):
        ServerHandshake(rsa_keys.server).got_key_exchange(
            wire.encode(wire.KeyExchange(wrapped=bytes(384)))
        )


def test_a_message_other_than_key_exchange_or_auth_is_refused_in_its_place(rsa_keys):
    client = ClientHandshake(rsa_keys.alice)
    server = ServerHandshake(rsa_keys.server)
    hello = client.hello()
    client.got_server_hello(server.got_client_hello(hello))
    with pytest.raises(RemoteProtocolError):
        server.got_key_exchange(hello)
    client, server, client_cipher, server_cipher = server_side_up_to_auth(
        rsa_keys.server, rsa_keys.alice
    )
    with pytest.raises(RemoteProtocolError):
        server.got_auth(server_cipher.open(client_cipher.seal(wire.encode(wire.Ping()))))


def test_the_client_cannot_skip_ahead_of_the_relay(rsa_keys):
    client = ClientHandshake(rsa_keys.alice)
    client.hello()
    with pytest.raises(LocalProtocolError):
        client.key_exchange()
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
