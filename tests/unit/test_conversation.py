"""Conversation: chat messages, receipts, goodbyes and rotation policy over a SecureChannel."""

import os
import types

import msgpack
import pytest

from messenger.protocol import conversation as conversation_module
from messenger.protocol.channel import Direction, SecureChannel
from messenger.protocol.conversation import (
    Conversation,
    Delivered,
    Outgoing,
    PeerSaidBye,
    Rotated,
    TextReceived,
)
from messenger.protocol.errors import LocalProtocolError, RemoteProtocolError
from messenger.protocol.payloads import MAX_TEXT_BYTES, Receipt, payloads

NOW = 1_790_000_000.25


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    """Make ``sent_at`` predictable so event lists can be compared whole."""
    clock = types.SimpleNamespace(time=lambda: NOW, monotonic=lambda: 100.0)
    monkeypatch.setattr(conversation_module, "time", clock)


def conversation_pair(**policy):
    c2j, j2c = os.urandom(32), os.urandom(32)
    alice = Conversation(SecureChannel("7", c2j, j2c, Direction.CREATOR_TO_JOINER), **policy)
    bob = Conversation(SecureChannel("7", j2c, c2j, Direction.JOINER_TO_CREATOR), **policy)
    return alice, bob


def shape(events):
    """The events with each sealed packet replaced by the word "Outgoing"."""
    return ["Outgoing" if isinstance(e, Outgoing) else e for e in events]


def packets(events):
    return [e.data for e in events if isinstance(e, Outgoing)]


def deliver(events, to):
    """Hand every packet in ``events`` to ``to``; return everything ``to`` reported."""
    out = []
    for packet in packets(events):
        out += to.receive(packet)
    return out


# --- messages and receipts --------------------------------------------------------------------


def test_sending_a_text_gives_one_sealed_packet_and_tracks_it_as_undelivered():
    alice, _ = conversation_pair()
    message_id, events = alice.send_text("hello bob")
    assert shape(events) == ["Outgoing"]
    assert list(alice.undelivered) == [message_id]


def test_a_chosen_message_id_is_kept():
    alice, bob = conversation_pair()
    message_id, events = alice.send_text("queued earlier", message_id="m-1")
    assert message_id == "m-1"
    assert shape(deliver(events, bob)) == [TextReceived("m-1", "queued earlier", NOW), "Outgoing"]


def test_the_receiver_gets_the_text_and_sends_a_receipt():
    alice, bob = conversation_pair()
    message_id, events = alice.send_text("hello bob")
    received = deliver(events, bob)
    assert shape(received) == [TextReceived(message_id, "hello bob", NOW), "Outgoing"]
    assert bob.undelivered == {}  # a receipt is not itself awaiting a receipt


def test_the_receipt_marks_the_message_delivered():
    alice, bob = conversation_pair()
    message_id, events = alice.send_text("hello bob")
    receipt = deliver(events, bob)
    assert deliver(receipt, alice) == [Delivered(message_id)]
    assert alice.undelivered == {}


def test_receipts_arriving_out_of_sending_order_each_deliver_their_own_message():
    alice, bob = conversation_pair()
    first_id, first = alice.send_text("one")
    second_id, second = alice.send_text("two")
    first_receipt, second_receipt = deliver(first, bob), deliver(second, bob)
    assert list(alice.undelivered) == [first_id, second_id]
    assert deliver(first_receipt, alice) == [Delivered(first_id)]
    assert list(alice.undelivered) == [second_id]
    assert deliver(second_receipt, alice) == [Delivered(second_id)]


def test_a_duplicate_receipt_is_ignored():
    alice, bob = conversation_pair()
    message_id, events = alice.send_text("hello bob")
    deliver(deliver(events, bob), alice)
    again = bob.channel.seal(payloads.encode(Receipt(id=message_id)))
    assert alice.receive(again) == []
    assert alice.undelivered == {}


def test_a_receipt_for_a_message_never_sent_is_ignored():
    alice, bob = conversation_pair()
    alice.send_text("hello bob")
    stray = bob.channel.seal(payloads.encode(Receipt(id="never-sent")))
    assert alice.receive(stray) == []
    assert len(alice.undelivered) == 1


@pytest.mark.parametrize(
    "text",
    [
        "",
        "emoji 👋🏽 and a family 👨‍👩‍👧",
        "שלום עולם",  # right to left
        "مرحبا mixed with English",
        "\u202ereversed\u202c and combining e\u0301",
        "nul \x00 inside",
    ],
    ids=["empty", "emoji", "hebrew", "arabic", "bidi-controls", "nul"],
)
def test_unicode_text_arrives_exactly_as_sent(text):
    alice, bob = conversation_pair()
    message_id, events = alice.send_text(text)
    assert deliver(events, bob)[0] == TextReceived(message_id, text, NOW)


def test_a_text_of_exactly_the_limit_arrives():
    alice, bob = conversation_pair()
    text = "x" * MAX_TEXT_BYTES
    message_id, events = alice.send_text(text)
    assert deliver(events, bob)[0] == TextReceived(message_id, text, NOW)


@pytest.mark.parametrize(
    "text",
    ["x" * (MAX_TEXT_BYTES + 1), "é" * (MAX_TEXT_BYTES // 2 + 1)],
    ids=["ascii", "two-byte-chars"],
)
def test_a_text_over_the_limit_is_refused_before_anything_is_sealed(text):
    alice, _ = conversation_pair()
    with pytest.raises(LocalProtocolError, match="send it as a file"):
        alice.send_text(text)
    assert alice.channel.sent_count == 0
    assert alice.undelivered == {}


def test_a_text_with_a_lone_surrogate_is_refused_as_a_local_protocol_error():
    alice, _ = conversation_pair()
    with pytest.raises(LocalProtocolError):
        alice.send_text("broken \ud800 pair")


# --- goodbye ----------------------------------------------------------------------------------


def test_saying_bye_tells_the_peer():
    alice, bob = conversation_pair()
    assert deliver(alice.say_bye("closing the laptop"), bob) == [PeerSaidBye("closing the laptop")]


def test_a_bye_without_a_reason_arrives_with_an_empty_reason():
    alice, bob = conversation_pair()
    assert deliver(alice.say_bye(), bob) == [PeerSaidBye("")]


# --- rotation policy --------------------------------------------------------------------------


def test_the_sending_key_rotates_after_the_configured_number_of_records():
    alice, bob = conversation_pair(rotate_after_records=3)
    sent = [alice.send_text(f"message {n}")[1] for n in range(4)]
    assert [shape(events) for events in sent] == [
        ["Outgoing"],
        ["Outgoing"],
        ["Outgoing", "Outgoing", Rotated(1)],  # the text, then the ROTATE record
        ["Outgoing"],
    ]
    assert alice.epoch == 1
    received = [deliver(events, bob) for events in sent]
    assert [[type(e) for e in events] for events in received] == [
        [TextReceived, Outgoing],
        [TextReceived, Outgoing],
        # Bob's third record (a receipt) rotates his key too; Alice's ROTATE shows nothing.
        [TextReceived, Outgoing, Outgoing, Rotated],
        [TextReceived, Outgoing],
    ]
    assert bob.channel.recv_epoch == 1
    assert bob.epoch == 1


def test_receipts_count_toward_rotation_too():
    alice, bob = conversation_pair(rotate_after_records=2)
    ids, received = [], []
    for n in range(2):
        message_id, events = alice.send_text(f"message {n}")
        ids.append(message_id)
        received.append(deliver(events, bob))
    assert [type(e) for e in received[0]] == [TextReceived, Outgoing]
    assert [type(e) for e in received[1]] == [TextReceived, Outgoing, Outgoing, Rotated]
    assert received[1][3] == Rotated(1)
    assert bob.epoch == 1
    assert deliver(received[0], alice) == [Delivered(ids[0])]
    assert deliver(received[1], alice) == [Delivered(ids[1])]
    assert alice.channel.recv_epoch == 1


def test_the_sending_key_rotates_after_the_configured_number_of_bytes():
    alice, _ = conversation_pair(rotate_after_bytes=200)
    assert shape(alice.send_text("short")[1]) == ["Outgoing"]
    assert shape(alice.send_text("x" * 200)[1]) == ["Outgoing", "Outgoing", Rotated(1)]


def test_rotate_now_moves_the_epoch_and_the_peer_follows():
    alice, bob = conversation_pair()
    first, second = alice.rotate(), alice.rotate()
    assert shape(first) == ["Outgoing", Rotated(1)]
    assert shape(second) == ["Outgoing", Rotated(2)]
    assert deliver(first + second, bob) == []
    assert bob.channel.recv_epoch == 2
    message_id, events = alice.send_text("after two rotations")
    assert shape(deliver(events, bob)) == [
        TextReceived(message_id, "after two rotations", NOW),
        "Outgoing",
    ]


# --- a peer that breaks the rules -------------------------------------------------------------


def test_an_unknown_payload_type_from_the_peer_is_a_protocol_error():
    alice, bob = conversation_pair()
    record = bob.channel.seal(msgpack.packb({"type": "launch_missiles", "id": "1"}))
    with pytest.raises(RemoteProtocolError):
        alice.receive(record)


def test_a_payload_that_is_not_msgpack_is_a_protocol_error():
    alice, bob = conversation_pair()
    with pytest.raises(RemoteProtocolError):
        alice.receive(bob.channel.seal(b"\xc1 not msgpack"))


def test_a_text_payload_missing_its_text_is_a_protocol_error():
    alice, bob = conversation_pair()
    record = bob.channel.seal(msgpack.packb({"type": "text", "id": "1", "sent_at": 0.0}))
    with pytest.raises(RemoteProtocolError):
        alice.receive(record)


def test_a_deeply_nested_payload_type_is_a_protocol_error():
    alice, bob = conversation_pair()
    record = bob.channel.seal(b"\x81\xa4type" + b"\x91" * 1020 + b"\xc0")
    with pytest.raises(RemoteProtocolError):
        alice.receive(record)
