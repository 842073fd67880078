"""Control messages between client and relay: every message round-trips, and anything a
hostile client or relay could send decodes to a message or a RemoteProtocolError, nothing else.
"""

import dataclasses

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from messenger.protocol import wire
from messenger.protocol.errors import RemoteProtocolError
from messenger.protocol.framing import MAX_FRAME_BODY

SALT = bytes(range(16))

KEY = b"0\x82\x01\xa2" + bytes(418)  # shaped like an RSA-3072 SubjectPublicKeyInfo
ALICE = wire.Person(id="a1", name="Alice", status="free")
BOB = wire.Person(id="b2", name="Bob 👋", status="busy")

EVERY_MESSAGE = [
    wire.ClientHello(version=2, eph=bytes(32), nonce=bytes(range(32))),
    wire.ClientHello(version=3, eph=bytes(32), nonce=bytes(32), ticket=b"t" * 600, tickets=True),
    wire.ServerHello(
        version=4,
        key=KEY,
        hkey=bytes(32),
        hkey_at=1_800_000_000,
        signature=b"s" * 384,
        eph=b"\x04" * 65,
        nonce=SALT * 2,
    ),
    wire.ServerResume(version=3, eph=bytes(32), nonce=bytes(32)),
    wire.Resume(name="alice", accept_invites=True, listed=False),
    wire.Ticket(ticket=b"t" * 600, number=3, lifetime=3600.0),
    wire.Auth(key=KEY, signature=b"s" * 384, name="alice", accept_invites=True, listed=True),
    wire.Welcome(version=2, rotate_interval=30.0, idle_timeout=300.5, id="a1"),
    wire.Welcome(version=3, rotate_interval=30.0, idle_timeout=300.5, id="a1", resumed=True),
    wire.CreateSession(salt=SALT, ref=3),
    wire.SessionCreated(session="7", ref=3),
    wire.JoinSession(session="7"),
    wire.Paired(session="7", role="joiner", salt=SALT),
    wire.Paired(
        session="8", role="creator", mode="invite", peer_id="b2", peer_name="Bob", peer_key=KEY
    ),
    wire.Invite(to="b2", ref=4),
    wire.InviteSent(session="8", to="b2", ref=4),
    wire.Invitation(session="8", from_id="a1", from_name="Alice"),
    wire.Accept(session="8"),
    wire.Decline(session="8"),
    wire.Relay(session="7", data=b"\x01\x01" + bytes(range(256))),
    wire.PairingFailed(session="7"),
    wire.LeaveSession(session="7"),
    wire.PeerLeft(session="7"),
    wire.RotateTick(session="7"),
    wire.ListPeople(watch=True),
    wire.ListPeople(query="al", cursor="b2" + "bob", limit=100, ref=6),
    wire.People(people=(ALICE, BOB), version=7, cursor="b2bob", ref=6),
    wire.People(people=()),
    wire.PeopleChanged(version=8, people=(ALICE,), gone=("b2",)),
    wire.PeopleChanged(version=9),
    wire.Ping(nonce=2**63),
    wire.Pong(nonce=42),
    wire.Error(code="session_full", message="That session is full.", session="7", ref=5),
    wire.Error(code="busy", message="Try later.", session=None, fatal=True),
    wire.RegisterTokens(tokens=(b"t" * 32, b"u" * 32)),
    wire.RevokeTokens(tokens=(b"t" * 32,)),
    wire.Post(to="b2", token=b"t" * 32, data=b"sealed" * 40, ref=9),
    wire.Posted(id=12, ref=9),
    wire.Fetch(),
    wire.Deliver(id=12, data=b"sealed" * 40),
    wire.CaughtUp(count=3),
    wire.Ack(ids=(12, 13)),
    wire.Direct(to="b2", token=b"t" * 32, data=b"frame", ref=10),
    wire.Forwarded(data=b"frame"),
    wire.Watch(people=(wire.Watched(id="b2", token=b"t" * 32),)),
    wire.PresenceNote(id="b2", online=True),
]

REGISTERED = tuple({type(message) for message in EVERY_MESSAGE})


def packed(obj) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def test_the_round_trip_list_covers_every_registered_message():
    assert {cls.TYPE for cls in REGISTERED} == set(wire.control._by_tag)


@pytest.mark.parametrize("message", EVERY_MESSAGE, ids=lambda m: type(m).__name__)
def test_every_control_message_round_trips(message):
    assert wire.decode(wire.encode(message)) == message


def test_encode_refuses_an_object_that_is_not_a_registered_message():
    with pytest.raises(TypeError):
        wire.encode(object())


# --- malformed input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xc1",  # the one byte msgpack never uses
        b"\x81\xa4type",  # a map cut off before its value
        b"not msgpack at all",
        wire.encode(wire.Ping(nonce=1)) + b"\x00",  # trailing bytes after a message
    ],
    ids=["empty", "reserved-byte", "truncated", "text", "trailing-bytes"],
)
def test_decode_refuses_bytes_that_are_not_one_msgpack_value(data):
    with pytest.raises(RemoteProtocolError):
        wire.decode(data)


@pytest.mark.parametrize(
    "value",
    [["hello", 1], "hello", 7, None, b"hello"],
    ids=["list", "str", "int", "nil", "bin"],
)
def test_decode_refuses_a_value_that_is_not_a_map(value):
    with pytest.raises(RemoteProtocolError, match="must be a map"):
        wire.decode(packed(value))


@pytest.mark.parametrize(
    "body",
    [{"type": "teleport"}, {"type": 5}, {"type": None}, {"session": "7"}, {"type": b"join"}],
    ids=["unknown-name", "int-type", "nil-type", "no-type", "bytes-type"],
)
def test_decode_refuses_an_unknown_message_type(body):
    with pytest.raises(RemoteProtocolError, match="Unknown control message type"):
        wire.decode(packed(body))


@pytest.mark.parametrize(
    "body",
    [
        {"type": "join"},
        {"type": "paired", "session": "7"},
        {"type": "welcome", "version": 1, "rotate_interval": 30.0},
        {"type": "error", "message": "no code"},
    ],
    ids=["join", "paired", "welcome", "error"],
)
def test_decode_refuses_a_message_missing_a_required_field(body):
    with pytest.raises(RemoteProtocolError, match="missing field"):
        wire.decode(packed(body))


@pytest.mark.parametrize(
    "body",
    [
        {"type": "create", "salt": "not bytes"},  # str where bytes expected
        {"type": "relay", "session": "7", "data": None},
        {"type": "client_hello", "version": True, "eph": b"", "nonce": b""},  # bool for int
        {"type": "ping", "nonce": False},
        {"type": "ping", "nonce": 1.5},  # float where int expected
        {"type": "join", "session": 7},  # int where str expected
        {"type": "join", "session": b"7"},  # bytes where str expected
        {"type": "join", "session": None},  # nil where str expected (not optional)
        {"type": "welcome", "version": 1, "rotate_interval": "fast", "idle_timeout": 1.0},
        {"type": "welcome", "version": 1, "rotate_interval": True, "idle_timeout": 1.0},
        {"type": "error", "code": "c", "message": "m", "fatal": 1},  # int where bool expected
        {"type": "error", "code": "c", "message": "m", "session": 7},
        {"type": "join", "session": ["7"]},
        {"type": "join", "session": {"n": "7"}},
        {"type": "people", "people": "alice"},  # not a list
        {"type": "people", "people": ["alice"]},  # a list of something other than records
        {"type": "people", "people": [{"id": "a1", "name": "Alice", "status": 1}]},
        {"type": "list_people", "watch": "yes"},
        {"type": "create", "salt": b"s", "ref": "3"},
    ],
)
def test_decode_refuses_a_field_of_the_wrong_type(body):
    with pytest.raises(RemoteProtocolError, match=r"expected|unexpected"):
        wire.decode(packed(body))


def test_decode_accepts_a_string_at_the_schema_limit_and_refuses_one_byte_more():
    at_limit = "7" * 4096
    assert wire.decode(packed({"type": "join", "session": at_limit})) == wire.JoinSession(at_limit)
    with pytest.raises(RemoteProtocolError):
        wire.decode(packed({"type": "join", "session": at_limit + "7"}))


def test_decode_refuses_a_string_that_is_not_utf8():
    # fixstr of length 2 holding an invalid UTF-8 sequence
    data = b"\x82\xa4type\xa4join\xa7session\xa2\xff\xfe"
    with pytest.raises(RemoteProtocolError):
        wire.decode(data)


def test_decode_refuses_an_extension_type_even_in_an_ignored_field():
    body = {"type": "ping", "extra": msgpack.ExtType(1, b"7")}
    with pytest.raises(RemoteProtocolError):
        wire.decode(packed(body))


def test_decode_refuses_map_keys_that_are_not_strings():
    with pytest.raises(RemoteProtocolError):
        wire.decode(packed({"type": "ping", 1: 2}))


# Each bomb sits in a field the decoder would otherwise ignore, so only the unpacker's limits
# stand between it and a successfully decoded Ping.


def test_decode_refuses_nesting_too_deep_for_the_unpacker():
    bomb = b"\x82\xa4type\xa4ping\xa5extra" + b"\x91" * 5000 + b"\xc0"
    with pytest.raises(RemoteProtocolError):
        wire.decode(bomb)


def test_decode_refuses_an_array_longer_than_the_schema_allows():
    assert wire.decode(packed({"type": "ping", "extra": [0] * 4096})) == wire.Ping()
    with pytest.raises(RemoteProtocolError):
        wire.decode(packed({"type": "ping", "extra": [0] * 4097}))


def test_decode_refuses_a_map_with_more_entries_than_the_schema_allows():
    body = {"type": "ping", **{f"extra{n}": n for n in range(63)}}
    assert wire.decode(packed(body)) == wire.Ping()
    with pytest.raises(RemoteProtocolError):
        wire.decode(packed({**body, "one_too_many": 0}))


def test_decode_refuses_binary_longer_than_a_frame():
    body = {"type": "ping", "extra": bytes(MAX_FRAME_BODY + 1)}
    with pytest.raises(RemoteProtocolError):
        wire.decode(packed(body))


def test_decode_refuses_a_deeply_nested_type_tag_with_a_protocol_error():
    data = b"\x81\xa4type" + b"\x91" * 1020 + b"\xc0"  # {"type": [[[...[nil]...]]]}
    with pytest.raises(RemoteProtocolError):
        wire.decode(data)


# --- tolerance --------------------------------------------------------------------------------


def test_unknown_extra_fields_are_ignored():
    body = {"type": "join", "session": "7", "added_in_v2": [1, 2, 3]}
    assert wire.decode(packed(body)) == wire.JoinSession(session="7")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"type": "auth", "key": b"k", "signature": b"s"},
            wire.Auth(key=b"k", signature=b"s", name="", accept_invites=False, listed=False),
        ),
        ({"type": "list_people"}, wire.ListPeople(watch=False, query="", cursor="", limit=0)),
        ({"type": "people"}, wire.People(people=(), version=0, cursor="", ref=0)),
        ({"type": "people_changed", "version": 3}, wire.PeopleChanged(3, (), ())),
        ({"type": "ping"}, wire.Ping(nonce=0)),
        ({"type": "pong"}, wire.Pong(nonce=0)),
        (
            {"type": "error", "code": "timeout", "message": "late"},
            wire.Error(code="timeout", message="late", session=None, ref=0, fatal=False),
        ),
    ],
)
def test_optional_fields_take_their_defaults(body, expected):
    assert wire.decode(packed(body)) == expected


def test_an_optional_field_may_be_nil():
    body = {"type": "error", "code": "c", "message": "m", "session": None, "fatal": True}
    assert wire.decode(packed(body)) == wire.Error(code="c", message="m", session=None, fatal=True)


def test_a_person_record_missing_a_field_is_refused():
    body = {"type": "people", "people": [{"id": "a1", "name": "Alice"}]}
    with pytest.raises(RemoteProtocolError, match="incomplete record"):
        wire.decode(packed(body))


def test_unknown_fields_inside_a_person_record_are_ignored():
    person = {"id": "a1", "name": "Alice", "status": "free", "avatar": b"png"}
    assert wire.decode(packed({"type": "people", "people": [person]})) == wire.People((ALICE,))


def test_an_integer_where_a_float_is_expected_becomes_a_float():
    body = {"type": "welcome", "version": 1, "rotate_interval": 30, "idle_timeout": 300}
    welcome = wire.decode(packed(body))
    assert welcome == wire.Welcome(version=1, rotate_interval=30.0, idle_timeout=300.0, id="")
    assert type(welcome.rotate_interval) is float


# --- anything at all --------------------------------------------------------------------------


def _either_a_message_or_a_protocol_error(data: bytes) -> None:
    try:
        message = wire.decode(data)
    except RemoteProtocolError:
        return
    assert isinstance(message, REGISTERED)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=512))
def test_decoding_arbitrary_bytes_gives_a_message_or_a_protocol_error(data):
    _either_a_message_or_a_protocol_error(data)


_names = sorted(
    {field.name for cls in (*REGISTERED, wire.Person) for field in dataclasses.fields(cls)}
)
_leaves = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats()
_leaves = _leaves | st.text(max_size=10) | st.binary(max_size=10)
_records = st.dictionaries(st.sampled_from(_names), _leaves, max_size=4)
_values = _leaves | st.lists(_leaves, max_size=3) | st.lists(_records, max_size=2) | _records
_keys = st.sampled_from(_names)
_maps = st.builds(
    lambda tag, fields: {"type": tag, **fields},
    st.sampled_from(sorted(wire.control._by_tag)) | _values,
    st.dictionaries(_keys, _values, max_size=6),
)


@settings(max_examples=100, deadline=None)
@given(body=_maps)
def test_decoding_arbitrary_msgpack_maps_gives_a_message_or_a_protocol_error(body):
    _either_a_message_or_a_protocol_error(packed(body))
