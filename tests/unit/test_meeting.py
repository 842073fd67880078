"""Meetings: two sides prove a shared key, introduce themselves, and come out as contacts
with a conversation. Two Meeting objects joined by a fake link, as in h11's tests."""

from __future__ import annotations

from collections import deque

from messenger.crypto.kdf import stretch_password
from messenger.protocol.conversation import Conversation, Delivered, TextArrived
from messenger.protocol.errors import AuthenticationFailedError, MessengerError
from messenger.protocol.meeting import Meeting, MeetingState, Met, RegisterToken
from messenger.protocol.password_handshake import SendPacket
from messenger.protocol.payloads import Introduce, payloads
from messenger.protocol.vocabulary import Role, SessionMode

SESSION = "4711"
SALT = bytes(range(16))


def converse(a: Meeting, b: Meeting, a_first: list, b_first: list, tamper=None):
    """Deliver packets until none are in flight; returns each side's Met (or error)."""
    results: dict[Meeting, object] = {}
    flight: deque = deque()

    def emitted(sender, events):
        receiver = b if sender is a else a
        for event in events:
            if isinstance(event, SendPacket):
                flight.append((receiver, event.data))
            elif isinstance(event, Met):
                results[sender] = event
            else:
                assert isinstance(event, RegisterToken)

    emitted(a, a_first)
    emitted(b, b_first)
    while flight:
        receiver, packet = flight.popleft()
        if receiver in results:
            continue
        try:
            if tamper is not None:
                packet = tamper(receiver, packet)
            emitted(receiver, receiver.receive(packet))
        except MessengerError as exc:
            results[receiver] = exc
    return results.get(a), results.get(b)


def password_meeting(keys, role: Role, identity: int, name: str) -> Meeting:
    return Meeting(SessionMode.PASSWORD, role, SESSION, keys.identity(identity), name, salt=SALT)


def start(meeting: Meeting, password: str = "orbit lantern") -> list:
    return meeting.start(stretch_password(password, meeting.password_salt, iterations=1))


def test_a_code_meeting_introduces_both_and_starts_a_conversation_both_ways(keys):
    creator = password_meeting(keys, Role.CREATOR, 0, "Bob")
    joiner = password_meeting(keys, Role.JOINER, 1, "Alice")
    bob, alice = converse(creator, joiner, start(creator), start(joiner))

    assert isinstance(bob, Met) and isinstance(alice, Met), (bob, alice)
    assert bob.peer.id == keys.identity(1).fingerprint and bob.peer.name == "Alice"
    assert alice.peer.id == keys.identity(0).fingerprint and alice.peer.name == "Bob"
    assert bob.verified_by_code and alice.verified_by_code
    assert bob.safety == alice.safety
    assert (bob.start.send_token, bob.start.send_hint) == (
        alice.start.recv_token,
        alice.start.recv_hint,
    )
    assert alice.start.initiator and not bob.start.initiator
    assert creator.state is joiner.state is MeetingState.MET

    bob_id, alice_id = keys.identity(0).fingerprint, keys.identity(1).fingerprint
    at_bob = Conversation.start(
        alice_id, bob_id, bob.start, bob.own_ratchet, bob.peer.ratchet_public
    )
    at_alice = Conversation.start(
        bob_id, alice_id, alice.start, alice.own_ratchet, alice.peer.ratchet_public
    )
    hello = at_bob.send_text("hello alice")
    (arrived,) = [e for e in at_alice.open(hello.envelope) if isinstance(e, TextArrived)]
    assert arrived.text == "hello alice" and arrived.msg_id == hello.msg_id
    (receipt,) = at_alice.receipt([arrived.msg_id])
    assert Delivered((hello.msg_id,)) in at_bob.open(receipt.envelope)


def test_an_invited_meeting_requires_the_introduced_key_to_be_the_handshakes(keys):
    inviter = Meeting(
        SessionMode.RSA, Role.CREATOR, SESSION, keys.identity(0), "Bob",
        peer_key=keys.identity(1).public,
    )  # fmt: skip
    invitee = Meeting(
        SessionMode.RSA, Role.JOINER, SESSION, keys.identity(1), "Alice",
        peer_key=keys.identity(0).public,
    )  # fmt: skip
    bob, alice = converse(inviter, invitee, inviter.start(), invitee.start())
    assert isinstance(bob, Met) and isinstance(alice, Met)
    assert not bob.verified_by_code
    assert bob.peer.id == keys.identity(1).fingerprint


def test_an_introduction_that_presents_someone_elses_key_is_refused(keys, monkeypatch):
    """Alice (who knows the code) introduces herself with Carol's key and her own
    signature: Bob must refuse, or Alice could pass for Carol."""
    from messenger.protocol import introduction

    honest = introduction.introduce

    def with_carols_key(identity, name, ratchet, exporter, role):
        mine = honest(identity, name, ratchet, exporter, role)
        return Introduce(
            key=keys.identity(2).public.der,
            name=mine.name,
            ratchet=mine.ratchet,
            signature=mine.signature,
        )

    creator = password_meeting(keys, Role.CREATOR, 0, "Bob")
    joiner = password_meeting(keys, Role.JOINER, 1, "Alice")
    monkeypatch.setattr("messenger.protocol.meeting.introduce", with_carols_key)
    bob, _alice = converse(creator, joiner, start(creator), start(joiner))

    assert isinstance(bob, AuthenticationFailedError), bob
    assert creator.state is MeetingState.FAILED


def test_a_wrong_password_fails_the_meeting_before_anyone_is_introduced(keys):
    creator = password_meeting(keys, Role.CREATOR, 0, "Bob")
    joiner = password_meeting(keys, Role.JOINER, 1, "Alice")
    bob, alice = converse(creator, joiner, start(creator, "right"), start(joiner, "wrong"))
    assert isinstance(bob, MessengerError) and bob.code == "wrong_password"
    assert alice is None and joiner.state is MeetingState.HANDSHAKE


def test_introductions_are_private_to_the_meeting(keys):
    """Nothing of the introduction (name, key) crosses the relay in the clear."""
    creator = password_meeting(keys, Role.CREATOR, 0, "Bob-the-creator")
    joiner = password_meeting(keys, Role.JOINER, 1, "Alice-the-joiner")
    seen: list[bytes] = []

    def watch(receiver, packet):
        seen.append(packet)
        return packet

    converse(creator, joiner, start(creator), start(joiner), watch)
    wire_bytes = b"".join(seen)
    assert b"Bob-the-creator" not in wire_bytes and b"Alice-the-joiner" not in wire_bytes
    assert keys.identity(0).public.der not in wire_bytes
    assert payloads  # the schema the introduction travels in
