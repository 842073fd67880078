"""The conversation scenes of ``capture`` (issue 12): the list with previews, badges and
who is online; a conversation with days of history, a file and a puzzle; search results;
contact details; and the outbox clock while the relay is away.

Alice's other contacts and the older part of her history with Bob are written into her
profile's database beforehand (``tests.history_seed``); Bob is a real second window that
met her by code, so what happens today travels through the relay.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path

from messenger.file_history import FileMeta, FileState
from messenger.store.profile import Profile
from messenger.store.records import MessageStatus
from messenger.ui.contact_details import ContactDetailsDialog
from messenger.ui.main_window import MainWindow
from tests.history_seed import add_contact

Until = Callable[[Callable[[], bool]], Awaitable[None]]
Settle = Callable[[], Awaitable[None]]


def at(days_ago: int, hour: int, minute: int = 0) -> float:
    day = datetime.now() - timedelta(days=days_ago)
    return day.replace(hour=hour, minute=minute, second=0, microsecond=0).timestamp()


#: Alice's other contacts: name, verified, unread, messages (text, hers?, when).
OTHERS = [
    ("Carol", True, 2, [
        ("Lovely to see you at the market!", True, at(3, 17, 5)),
        ("Are we still on for the lantern festival?", False, at(0, 9, 12)),
        ("I can bring the folding chairs", False, at(0, 9, 13)),
    ]),
    ("Dad", True, 0, [
        ("Landed safely, the flight was fine", True, at(1, 21, 40)),
        ("Good. Call me tomorrow when you are settled.", False, at(1, 21, 52)),
    ]),
    ("Priya Raman", False, 0, [
        ("Thanks for the lantern recipe, it worked!", False, at(19, 12, 30)),
    ]),
    ("Book club", True, 1, [
        ("Chapter 7 by Thursday, then we vote on the next one", False, at(6, 19, 0)),
    ]),
]  # fmt: skip

#: Alice and Bob, before today (they met by code long ago).
BOB_BEFORE = [
    ("Did you get the photos from Saturday?", False, at(2, 18, 2)),
    ("Yes! The one at the lighthouse is lovely", True, at(2, 18, 10)),
    ("I'll print it for Mum", False, at(2, 18, 11)),
    ("Train tickets booked for Friday: 9:40 from platform 4", True, at(1, 8, 30)),
    ("Perfect, I'll bring sandwiches and the lantern map", False, at(1, 8, 47)),
]


def seed_alice(folder: Path) -> None:
    """Alice's profile with her other contacts and their histories."""
    profile = Profile.open(folder)
    profile.save_settings(name="Alice")
    me = profile.unlock()
    for name, verified, unread, messages in OTHERS:
        add_contact(profile.db, me.fingerprint, name, messages, unread=unread,
                    verified=verified)  # fmt: skip
    profile.close()


async def add_bob_history(alice: MainWindow, bob_id: str, attachment: Path) -> None:
    """Days of history with Bob, and the itinerary Alice sent him yesterday."""
    attachment.write_bytes(b"%PDF-1.4 itinerary")
    worker = alice.controller.worker
    assert worker is not None

    def write(db) -> None:
        with db.transaction():
            for n, (text, hers, when) in enumerate(BOB_BEFORE):
                status = MessageStatus.DELIVERED if hers else MessageStatus.RECEIVED
                db.add_message(bob_id, f"before-{n}", outgoing=hers, body=text, sent_at=when,
                               stored_at=when, status=status)  # fmt: skip
            meta = FileMeta(attachment.stat().st_size, FileState.DONE, path=str(attachment))
            db.add_message(bob_id, "itinerary", outgoing=True, body=attachment.name,
                           sent_at=at(1, 8, 31), stored_at=at(1, 8, 31), kind="file",
                           meta=meta.to_json(), status=MessageStatus.SENT)  # fmt: skip

    await worker.run(write)


async def history_scene(
    theme: str, out: Path, alice: MainWindow, bob: MainWindow, until: Until, settle: Settle,
    scratch: Path,
) -> None:
    """The list (previews, unread badges, Bob online and verified) beside the conversation
    with Bob: three days, a file card, a puzzle, ticks."""
    bob_id = bob.controller.identity.fingerprint
    alice_id = alice.controller.identity.fingerprint
    alice.raise_()
    alice.activateWindow()  # Alice is reading: what arrives in front is not unread
    started = time.monotonic()
    await until(lambda: alice.isActiveWindow() or time.monotonic() - started > 2)
    alice.conversation_list.select(bob_id)
    await add_bob_history(alice, bob_id, scratch / "itinerary.pdf")
    page = alice.page_for(bob_id)
    await page.load()
    for text in ("Running ten minutes late \U0001f648", "Save me a seat?"):
        await bob.controller.send(alice_id, text)
    await until(lambda: len(page.bubbles()) == len(BOB_BEFORE) + 3)
    alice.conversation_list.select(bob_id)
    for text in ("No rush, I'm in the café by the ticket hall", "Window seat saved \u2615"):
        page.composer.setPlainText(text)
        page.composer.submit()
        await until(lambda t=text: any(r.body == t for r in page.bubbles()))  # type: ignore[misc]
    await bob.controller.send_puzzle(alice_id, "caesar", "WKH ODQWHUQ LV EHKLQG WKH VWDWLRQ")
    await until(lambda: any(r.message_kind == "puzzle" for r in page.bubbles()))
    await until(lambda: all(r.status is MessageStatus.DELIVERED
                            for r in page.bubbles() if r.outgoing and r.db_id is None))  # fmt: skip
    alice.conversation_list.select(bob_id)
    await settle()
    alice.grab().save(str(out / f"main-window-{theme}.png"))


async def details_scene(theme: str, out: Path, alice: MainWindow, bob_id: str,
                        settle: Settle) -> None:  # fmt: skip
    """Bob's details: fingerprint, safety number and QR, verified by the code they met with."""
    book = alice.controller.book
    assert book is not None
    contact = await book.rename(bob_id, "Bob (brother)")
    await alice.refresh_entry(bob_id)
    assert contact is not None
    dialog = ContactDetailsDialog(contact, book.safety_number(bob_id), alice)
    dialog.show()
    await settle()
    dialog.grab().save(str(out / f"contact-details-{theme}.png"))
    dialog.close()


async def search_scene(theme: str, out: Path, alice: MainWindow, until: Until,
                       settle: Settle) -> None:  # fmt: skip
    """ "lantern" found in three conversations; the first hit opened at its message."""
    alice.side.search_box.setText("lantern")
    await until(lambda: alice.side.hits.count() >= 3)
    item = alice.side.hits.item(1)
    alice.side.hits.setCurrentItem(item)
    alice.side._chosen(item)
    await settle()
    await asyncio.sleep(0.3)
    alice.grab().save(str(out / f"search-{theme}.png"))
    alice.side.search_box.clear()


async def outbox_scene(theme: str, out: Path, alice: MainWindow, bob_id: str, stop_relay,
                       until: Until, settle: Settle) -> None:  # fmt: skip
    """The relay is away: the page says so, and what Alice writes waits with a clock."""
    await stop_relay()
    await until(lambda: alice.status_bar.connection_label.text() == "Disconnected")
    alice.conversation_list.select(bob_id)
    page = alice.pages[bob_id]
    for text in ("The train is here, boarding now", "See you on board!"):
        page.composer.setPlainText(text)
        page.composer.submit()
        await until(lambda t=text: any(r.body == t for r in page.bubbles()))  # type: ignore[misc]
    started = time.monotonic()
    await until(lambda: page.banner.isVisible() or time.monotonic() - started > 2)
    await settle()
    alice.grab().save(str(out / f"outbox-{theme}.png"))
