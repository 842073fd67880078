"""RSA sessions end to end: identities, presence, invitations, pinning (people and relays),
and the sealed transport under a network attacker. A real relay and real messenger-cli
processes on 127.0.0.1; every key comes from the session's key pool (only the keygen test
makes one)."""

from __future__ import annotations

import contextlib
import re
import signal
import socket
import stat
import subprocess
import sys
import threading

import pytest

from messenger.crypto.rsa import format_fingerprint
from messenger.protocol import wire
from messenger.protocol.framing import encode_frame
from tests.integration.conftest import (
    DOWN,
    UP,
    NextFrame,
    TcpProxy,
    exchange,
    finished,
    reconnected_after_the_attack,
    relay_closed_a_tampered_connection,
    rsa_session,
    start_waiting,
)
from tests.support import SOON, event

GROUPED_FINGERPRINT = re.compile(r"[0-9a-f]{4}( [0-9a-f]{4}){15}")
SAFETY_NUMBER = re.compile(r"\d{5}( \d{5}){11}")
HEX_ID = re.compile(r"[0-9a-f]{64}")

pytestmark = pytest.mark.timeout(60)


def messenger_server(*args: str) -> subprocess.CompletedProcess[str]:
    """Run a ``messenger-server`` key subcommand to completion."""
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def nobody_authenticated(relay) -> None:
    """The relay saw the (only) connection close without anyone proving an identity on it."""
    relay.wait_for_log(
        lambda lines: any("disconnected" in line for line in lines), 5, "the refused connection"
    )
    assert not any("authenticated" in line for line in relay.log), relay.log_tail()


# -- the relay's key ------------------------------------------------------------------------


def test_keygen_writes_a_private_key_only_its_owner_reads_and_refuses_to_overwrite_it(tmp_path):
    data_dir = tmp_path / "relay"

    made = messenger_server("keygen", "--data-dir", str(data_dir))

    assert made.returncode == 0, made.stderr
    private, public = data_dir / "server_key.pem", data_dir / "server_key.pub.pem"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in private.read_bytes()
    assert b"PUBLIC KEY" in public.read_bytes() and b"PRIVATE" not in public.read_bytes()
    printed = re.search(r"fingerprint (.+)", made.stdout)
    assert printed and GROUPED_FINGERPRINT.fullmatch(printed.group(1)), made.stdout
    key_before = private.read_bytes()

    again = messenger_server("keygen", "--data-dir", str(data_dir))

    assert again.returncode != 0
    assert "--force" in again.stderr, again.stderr
    assert "Traceback" not in again.stderr
    assert private.read_bytes() == key_before, "a refused keygen must leave the key alone"
    shown = messenger_server("fingerprint", "--data-dir", str(data_dir))
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == printed.group(1)


def test_the_fingerprint_command_the_relay_and_the_client_all_show_the_same_fingerprint(
    relay, keys, make_person
):
    expected = format_fingerprint(keys.relay.fingerprint)
    alice = make_person("alice")

    shown = messenger_server("fingerprint", "--data-dir", str(relay.data_dir))
    seen_by_alice = finished(alice.cli(relay.addr, "online")).wait_for(event("server_key"))

    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == expected
    assert f"server key fingerprint {expected}" in relay.output
    assert seen_by_alice["fingerprint"] == expected


# -- identity and presence ------------------------------------------------------------------


def test_whoami_prints_the_profiles_id_and_grouped_fingerprint_the_same_every_time(make_person):
    alice = make_person("alice")

    runs = [alice.local("whoami"), alice.local("whoami")]

    first, second = (finished(run).wait_for(event("identity")) for run in runs)

    assert HEX_ID.fullmatch(first["id"]), first
    assert first["id"] == alice.id, "the id is the SHA-256 fingerprint of the profile's key"
    assert GROUPED_FINGERPRINT.fullmatch(first["fingerprint"]), first
    assert first["fingerprint"].replace(" ", "") == first["id"]
    assert first["name"] == "alice"
    assert second == first


def test_online_lists_a_waiting_person_as_free_exactly_once_and_never_yourself(relay, make_person):
    alice, bob = make_person("alice"), make_person("bob")
    start_waiting(relay, alice)
    start_waiting(relay, alice)  # a second connection of the same person

    people = finished(bob.cli(relay.addr, "online")).of("person")

    assert people == [{"event": "person", "id": alice.id, "name": "alice", "status": "free"}]


def test_online_shows_people_in_a_session_as_busy_and_forgets_those_who_left(relay, make_person):
    alice, bob, carol = make_person("alice"), make_person("bob"), make_person("carol")
    alice_cli, bob_cli = rsa_session(relay, alice, bob)  # alice waits (listed), bob invites

    during = finished(carol.cli(relay.addr, "online")).of("person")
    for side in (alice_cli, bob_cli):
        side.close_stdin()
        assert side.wait_exit() == 0, side.describe()
    relay.wait_until_gone(alice.id)
    relay.wait_until_gone(bob.id)
    after = finished(carol.cli(relay.addr, "online")).of("person")

    # Bob only invited: he never chose to be listed, so nobody sees him online.
    assert [(p["id"], p["status"]) for p in during] == [(alice.id, "busy")]
    assert after == []


def test_online_search_lists_only_names_that_start_with_it(relay, make_person):
    alice, albert, bob = make_person("alice"), make_person("Albert"), make_person("bob")
    for person in (alice, albert):
        start_waiting(relay, person)

    found = finished(bob.cli(relay.addr, "online", "--search", "AL")).of("person")

    assert [p["name"] for p in found] == ["Albert", "alice"]


def test_a_waiting_cli_stops_promptly_on_sigterm(relay, make_person):
    alice = make_person("alice")
    waiting = start_waiting(relay, alice)

    waiting.proc.send_signal(signal.SIGTERM)

    try:
        waiting.wait_exit(timeout=2)
    finally:
        waiting.proc.kill()  # this one process, so the test does not wait for the teardown
    relay.wait_until_gone(alice.id, timeout=5)


# -- RSA sessions ---------------------------------------------------------------------------


def test_an_rsa_session_carries_messages_both_ways_in_order_across_key_rotations(
    make_relay, make_person
):
    relay = make_relay(rotate_interval=1)
    alice, bob = make_person("alice"), make_person("bob")
    alice_cli, bob_cli = rsa_session(relay, alice, bob)

    alice_ready, bob_ready = alice_cli.wait_for(event("ready")), bob_cli.wait_for(event("ready"))
    assert alice_ready["mode"] == bob_ready["mode"] == "rsa"
    assert alice_ready["session"] == bob_ready["session"]
    assert SAFETY_NUMBER.fullmatch(alice_ready["safety"]), alice_ready
    assert alice_ready["safety"] == bob_ready["safety"]
    assert (alice_ready["peer_id"], alice_ready["peer_name"]) == (bob.id, "bob")
    assert (bob_ready["peer_id"], bob_ready["peer_name"]) == (alice.id, "alice")

    # Four batches, each sent after both sides rotated once more: ~3 s of traffic spanning
    # several epochs, paced by the rotations themselves instead of by sleeping.
    batches, per_batch = 4, 5
    for batch in range(batches):
        for i in range(batch * per_batch, (batch + 1) * per_batch):
            alice_cli.send(f"a2b {i}")
            bob_cli.send(f"b2a {i}")
        if batch < batches - 1:
            for side in (alice_cli, bob_cli):
                side.wait_count("rotated", batch + 1)

    count = batches * per_batch
    for side in (alice_cli, bob_cli):
        side.wait_count("message", count)
        side.wait_count("delivered", count)
    assert bob_cli.texts() == [f"a2b {i}" for i in range(count)]
    assert alice_cli.texts() == [f"b2a {i}" for i in range(count)]
    for sender, receiver in ((alice_cli, bob_cli), (bob_cli, alice_cli)):
        receipts = [e["id"] for e in sender.of("delivered")]
        assert sorted(receipts) == sorted(e["id"] for e in receiver.of("message"))
        assert len(set(receipts)) == count, "one receipt per message, no more"
        epochs = [e["epoch"] for e in sender.of("rotated")]
        assert len(epochs) >= 2 and epochs == sorted(set(epochs)), epochs
        assert not sender.of("error"), sender.describe()


def test_inviting_someone_who_is_not_online_gives_peer_offline(relay, make_person):
    alice, bob = make_person("alice"), make_person("bob")

    inviting = bob.cli(relay.addr, "invite", alice.id)

    assert inviting.wait_for(event("error"))["code"] == "peer_offline"
    assert inviting.wait_exit() != 0
    assert not inviting.of("ready")


def test_inviting_someone_who_is_in_a_session_gives_peer_busy(relay, make_person):
    alice, bob, carol = make_person("alice"), make_person("bob"), make_person("carol")
    alice_cli, bob_cli = rsa_session(relay, alice, bob)

    intruding = carol.cli(relay.addr, "invite", alice.id)

    assert intruding.wait_for(event("error"))["code"] == "peer_busy"
    assert intruding.wait_exit() != 0
    assert [e["from"] for e in alice_cli.of("invited")] == [bob.id]
    exchange(alice_cli, bob_cli, "undisturbed")


def test_wait_from_declines_anyone_else_and_then_accepts_the_named_person(relay, make_person):
    alice, bob, carol = make_person("alice"), make_person("bob"), make_person("carol")
    alice_cli = start_waiting(relay, alice, "--from", bob.id)

    carol_cli = carol.cli(relay.addr, "invite", alice.id)
    assert carol_cli.wait_for(event("error"))["code"] == "declined"
    assert carol_cli.wait_exit() != 0
    bob_cli = bob.cli(relay.addr, "invite", alice.id)

    alice_ready = alice_cli.wait_for(event("ready"))
    bob_cli.wait_for(event("ready"))
    assert alice_ready["peer_id"] == bob.id
    assert [e["from"] for e in alice_cli.of("invited")] == [bob.id]
    assert not carol_cli.of("ready")
    exchange(bob_cli, alice_cli, "it was you I was waiting for")


def test_the_first_rsa_session_pins_each_person_in_the_others_contacts(relay, make_person):
    alice, bob = make_person("alice"), make_person("bob")
    assert not finished(alice.local("contacts")).of("contact")

    rsa_session(relay, alice, bob)

    listings = [alice.local("contacts"), bob.local("contacts")]
    for listing, peer in zip(listings, (bob, alice), strict=True):
        contacts = finished(listing).of("contact")
        assert contacts == [
            {
                "event": "contact",
                "id": peer.id,
                "name": peer.name,
                "verified": False,
                "verified_by": None,
                "fingerprint": peer.fingerprint,
            }
        ], contacts


# -- pinning the relay's key (trust on first use) --------------------------------------------


def test_the_first_connection_pins_the_relay_and_the_next_one_finds_it_known(
    relay, keys, make_person
):
    alice = make_person("alice")

    first = finished(alice.cli(relay.addr, "online")).wait_for(event("server_key"))
    second = finished(alice.cli(relay.addr, "online")).wait_for(event("server_key"))

    assert first == {
        "event": "server_key",
        "fingerprint": format_fingerprint(keys.relay.fingerprint),
        "first_use": True,
    }
    assert second == {**first, "first_use": False}


def test_require_known_server_refuses_a_relay_that_is_not_pinned_yet(relay, keys, make_person):
    alice = make_person("alice")

    refused = alice.cli(relay.addr, "--require-known-server", "online")

    failure = refused.wait_for(event("error"))
    assert failure["code"] == "unknown_server", failure
    assert format_fingerprint(keys.relay.fingerprint) in failure["message"]
    assert "--server-fingerprint" in failure["message"]
    assert refused.wait_exit() != 0
    assert not refused.of("server_key") and not refused.of("person")
    nobody_authenticated(relay)


def test_the_right_server_fingerprint_lets_a_fresh_profile_connect_and_pins_it(
    relay, keys, make_person
):
    alice = make_person("alice")
    fingerprint = format_fingerprint(keys.relay.fingerprint)

    told = finished(alice.cli(relay.addr, "--server-fingerprint", fingerprint, "online"))
    strict = finished(alice.cli(relay.addr, "--require-known-server", "online"))

    assert told.wait_for(event("server_key"))["first_use"] is True
    assert strict.wait_for(event("server_key")) == {
        "event": "server_key",
        "fingerprint": fingerprint,
        "first_use": False,
    }


def test_a_wrong_server_fingerprint_is_refused_as_server_key_changed(relay, keys, make_person):
    alice = make_person("alice")
    wrong = format_fingerprint(keys.identity(2).fingerprint)

    refused = alice.cli(relay.addr, "--server-fingerprint", wrong, "online")

    failure = refused.wait_for(event("error"))
    assert failure["code"] == "server_key_changed", failure
    assert wrong in failure["message"]
    assert format_fingerprint(keys.relay.fingerprint) in failure["message"]
    assert refused.wait_exit() != 0
    assert not refused.of("server_key") and not refused.of("person")
    nobody_authenticated(relay)


def test_a_different_relay_key_on_a_pinned_address_is_refused_before_any_identity_is_sent(
    relay, keys, make_person, make_relay_with
):
    alice = make_person("alice", identity=0)  # the impostor relay uses pool key 2
    address, port = relay.addr, relay.port
    old = format_fingerprint(keys.relay.fingerprint)
    finished(alice.cli(address, "online"))  # pins relay A's key for 127.0.0.1:port
    assert relay.stop() == 0

    impostor_key = keys.identity(2)
    impostor = make_relay_with(impostor_key, "--port", str(port))
    assert impostor.addr == address
    new = format_fingerprint(impostor_key.fingerprint)

    refused = alice.cli(address, "online")

    failure = refused.wait_for(event("error"))
    assert failure["code"] == "server_key_changed", failure
    assert old in failure["message"] and new in failure["message"], failure["message"]
    assert "--server-fingerprint" in failure["message"]
    assert refused.wait_exit() != 0
    assert not refused.of("server_key") and not refused.of("person")
    nobody_authenticated(impostor)

    # Once the operator confirms the new key, saying so re-pins it.
    accepted = finished(alice.cli(address, "--server-fingerprint", new, "online"))
    assert accepted.wait_for(event("server_key"))["fingerprint"] == new
    again = finished(alice.cli(address, "online"))
    assert again.wait_for(event("server_key")) == {
        "event": "server_key",
        "fingerprint": new,
        "first_use": False,
    }


# -- a network attacker against the sealed transport, during an RSA session ------------------


def replay(body: bytes) -> list[bytes]:
    return [body, body]


def flip_a_middle_byte(body: bytes) -> list[bytes]:
    middle = len(body) // 2
    return [body[:middle] + bytes([body[middle] ^ 0x40]) + body[middle + 1 :]]


def rsa_session_through_proxy(relay, make_person, make_proxy, hook):
    """bob waits on the relay directly; alice invites him through the proxy."""
    proxy = make_proxy(relay.port, hook)
    alice, bob = make_person("alice"), make_person("bob")
    bob_cli, alice_cli = rsa_session(relay, bob, alice, inviter_server=proxy.addr)
    return proxy, alice_cli, bob_cli


@pytest.mark.parametrize("attack", [replay, flip_a_middle_byte], ids=["replayed", "byte-flipped"])
def test_a_sealed_frame_altered_on_the_way_to_the_relay_closes_the_senders_connection_as_tampered(
    relay, make_person, make_proxy, attack
):
    """The relay drops a connection whose frames were tampered with; the sender's
    conversation carries on over a new connection. Bob sees nothing twice and nothing
    altered (the frame hit may be the message itself, or one just before it)."""
    hook = NextFrame(UP, attack)
    proxy, alice, bob = rsa_session_through_proxy(relay, make_person, make_proxy, hook)
    exchange(alice, bob, "first, untouched")
    hook.armed.set()

    alice.send("second, on the wire")

    reconnected_after_the_attack(alice, "tampered", hook, proxy)
    relay_closed_a_tampered_connection(relay)
    bob.wait_for(event("peer_left"))
    assert bob.texts() in (["first, untouched"], ["first, untouched", "second, on the wire"])


def test_a_sealed_frame_replayed_to_the_client_costs_it_the_connection_not_the_conversation(
    relay, make_person, make_proxy
):
    attack = NextFrame(DOWN, replay)
    proxy, alice, bob = rsa_session_through_proxy(relay, make_person, make_proxy, attack)
    exchange(bob, alice, "first, untouched")
    attack.armed.set()

    bob.send("second, replayed on the wire")

    reconnected_after_the_attack(alice, "tampered", attack, proxy)
    assert alice.texts().count("second, replayed on the wire") <= 1
    bob.wait_for(event("peer_left"))


# -- a passphrase-protected identity ----------------------------------------------------------

PASSPHRASE = "correct horse battery staple"


@pytest.fixture
def protected(make_person):
    """alice, whose identity key is stored encrypted under PASSPHRASE."""
    return make_person("alice", passphrase=PASSPHRASE)


def passphrase_file(tmp_path, text: str) -> str:
    path = tmp_path / "passphrase.txt"
    path.write_text(text + "\n", encoding="utf-8")
    return str(path)


def test_a_protected_identity_is_encrypted_on_disk_and_opens_with_the_right_passphrase(
    protected, tmp_path
):
    assert b"ENCRYPTED" in (protected.profile / "identity.pem").read_bytes()

    opened = protected.local("--passphrase-file", passphrase_file(tmp_path, PASSPHRASE), "whoami")

    assert finished(opened).wait_for(event("identity"))["id"] == protected.id


def test_a_wrong_passphrase_is_a_profile_error_with_a_readable_message(protected, tmp_path):
    refused = protected.local("--passphrase-file", passphrase_file(tmp_path, "wrong"), "whoami")

    failure = refused.wait_for(event("error"))
    assert failure["code"] == "profile", failure
    assert "passphrase" in failure["message"].lower(), failure
    assert refused.wait_exit() != 0
    assert not refused.of("identity")
    assert "Traceback" not in refused.stderr


def test_a_protected_identity_without_a_passphrase_is_a_profile_error_asking_for_it(
    protected,
):
    refused = protected.local("whoami")

    failure = refused.wait_for(event("error"))
    assert failure["code"] == "profile", failure
    assert "passphrase" in failure["message"].lower(), failure
    assert refused.wait_exit() != 0
    assert not refused.of("identity")
    assert "Traceback" not in refused.stderr


# -- ordering races on the inviter's side -----------------------------------------------------


class BurstProxy(TcpProxy):
    """A terminating TcpProxy that writes every frame a hook returns in one ``sendall``, so
    the client gets them in a single read (as a busy client does when it falls behind)."""

    def _pump(self, src, dst, direction: str) -> None:
        try:
            while (body := src.read_body()) is not None:
                replacement = self.hook(direction, body) if self.hook else None
                burst = b"".join(
                    encode_frame(dst.cipher.seal(out) if dst.cipher is not None else out)
                    for out in ([body] if replacement is None else replacement)
                )
                if burst:
                    dst.sock.sendall(burst)
        except OSError:
            pass
        except Exception as exc:
            self.errors.append(exc)
        with contextlib.suppress(OSError):
            dst.sock.shutdown(socket.SHUT_WR)


class InviteSentTogetherWithPaired:
    """Holds the relay's ``invite_sent`` until ``paired`` follows, then lets both go at once."""

    def __init__(self) -> None:
        self.held: bytes | None = None
        self.fired = threading.Event()

    def __call__(self, direction: str, body: bytes) -> list[bytes] | None:
        if direction != DOWN:
            return None
        message = wire.decode(body)
        if isinstance(message, wire.InviteSent):
            self.held = body
            return []
        if isinstance(message, wire.Paired) and self.held is not None:
            self.fired.set()
            return [self.held, body]
        return None


def test_an_inviter_that_reads_invite_sent_and_paired_at_once_still_starts_the_session(
    relay, keys, make_person
):
    alice = make_person("alice")
    bob = make_person("bob", identity=2)  # the proxy speaks to the relay with pool key 2 too
    burst = InviteSentTogetherWithPaired()
    proxy = BurstProxy(relay.port, burst, relay_key=keys.relay, identity=keys.identity(2))
    try:
        alice_cli = start_waiting(relay, alice)
        bob_cli = bob.cli(proxy.addr, "invite", alice.id)
        assert burst.fired.wait(SOON), bob_cli.describe()

        bob_cli.wait_for(event("ready"), timeout=3)
        alice_cli.wait_for(event("ready"), timeout=3)
        assert not proxy.errors
    finally:
        proxy.close()
