"""One conversation between two contacts, sans-IO: texts, receipts, healing on the relay's
tick, and envelopes that do not belong."""

from __future__ import annotations

import pytest

from messenger.crypto.x25519 import EphemeralKey
from messenger.protocol.conversation import (
    Activity,
    Conversation,
    Delivered,
    KeysRenewed,
    Outgoing,
    Route,
    TextArrived,
)
from messenger.protocol.errors import RemoteProtocolError, ReplayedError, TamperedError
from messenger.protocol.introduction import ConversationStart

ALICE, BOB = "a" * 64, "b" * 64
SK = bytes(range(32))


def pair() -> tuple[Conversation, Conversation]:
    """Alice (the joiner, ratchet initiator) and Bob, as a meeting leaves them."""
    a0, b0 = EphemeralKey.generate(), EphemeralKey.generate()
    tokens, hints = (b"1" * 32, b"2" * 32), (b"h" * 16, b"i" * 16)
    alice = Conversation.start(
        BOB, ALICE, ConversationStart(SK, True, tokens[0], tokens[1], hints[0], hints[1]),
        a0, b0.public_bytes,
    )  # fmt: skip
    bob = Conversation.start(
        ALICE, BOB, ConversationStart(SK, False, tokens[1], tokens[0], hints[1], hints[0]),
        b0, a0.public_bytes,
    )  # fmt: skip
    return alice, bob


def texts(events) -> list[str]:
    return [e.text for e in events if isinstance(e, TextArrived)]


def test_texts_carry_their_id_and_open_once():
    alice, bob = pair()
    sent = alice.send_text("hi bob")
    assert sent.route is Route.STORED and sent.envelope.startswith(alice.send_hint)
    events = bob.open(sent.envelope)
    assert texts(events) == ["hi bob"]
    assert next(e for e in events if isinstance(e, TextArrived)).msg_id == sent.msg_id
    with pytest.raises(ReplayedError):
        bob.open(sent.envelope)


def test_receipts_name_every_message_of_a_batch():
    alice, bob = pair()
    ids = [alice.send_text(f"m{i}") for i in range(3)]
    for outgoing in ids:
        bob.open(outgoing.envelope)
    (receipt,) = bob.receipt([o.msg_id for o in ids])
    assert Delivered(tuple(o.msg_id for o in ids)) in alice.open(receipt.envelope)


def test_a_tampered_envelope_is_refused_and_changes_nothing():
    alice, bob = pair()
    sent = alice.send_text("original")
    flipped = bytearray(sent.envelope)
    flipped[-1] ^= 1
    with pytest.raises(TamperedError):
        bob.open(bytes(flipped))
    assert texts(bob.open(sent.envelope)) == ["original"]


def test_our_own_envelope_sent_back_to_us_is_refused():
    alice, _bob = pair()
    sent = alice.send_text("to bob")
    with pytest.raises((TamperedError, ReplayedError, RemoteProtocolError)):
        alice.open(sent.envelope)


def test_a_one_way_conversation_heals_on_ticks():
    """Alice writes, Bob only reads. Bob's tick sends a heal (his new key); Alice's next
    message then renews her keys: both sides took a fresh X25519 step."""
    alice, bob = pair()
    bob.open(alice.send_text("one").envelope)
    assert alice.tick() == []  # Alice's key is announced already
    (heal,) = bob.tick()
    assert isinstance(heal, Outgoing) and heal.msg_id == ""
    renewed = [e for e in alice.open(heal.envelope) if isinstance(e, KeysRenewed)]
    assert renewed and renewed[0].steps == alice.sending_steps >= 1
    assert texts(bob.open(alice.send_text("two").envelope)) == ["two"]


def test_idle_conversations_do_not_trade_heals_forever():
    alice, bob = pair()
    bob.open(alice.send_text("one").envelope)
    (heal,) = bob.tick()
    alice.open(heal.envelope)  # a heal is not talk: it leaves Alice's activity as it was
    (answer,) = alice.tick()  # she did talk since her last tick, and she just stepped
    bob.open(answer.envelope)
    assert alice.activity is bob.activity is Activity.QUIET
    for _ in range(3):
        assert alice.tick() == [] and bob.tick() == []


def test_rotate_now_asks_the_peer_to_announce_its_key_too():
    alice, bob = pair()
    bob.open(alice.send_text("one").envelope)
    alice.open(bob.send_text("two").envelope)  # Alice stepped; her new key is unannounced
    (request,) = alice.rotate_now()
    answer = [e for e in bob.open(request.envelope) if isinstance(e, Outgoing)]
    assert len(answer) == 1, "Bob announces his new key at once"
    assert any(isinstance(e, KeysRenewed) for e in alice.open(answer[0].envelope))


def test_the_state_survives_a_snapshot():
    alice, bob = pair()
    bob.open(alice.send_text("before").envelope)
    saved = bob.snapshot()
    bob = Conversation.restore(
        ALICE, BOB, saved,
        send_token=bob.send_token, recv_token=bob.recv_token,
        send_hint=bob.send_hint, recv_hint=bob.recv_hint,
    )  # fmt: skip
    assert texts(bob.open(alice.send_text("after").envelope)) == ["after"]
