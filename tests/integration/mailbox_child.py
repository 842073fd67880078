"""A relay stand-in for the kill -9 test: puts envelopes and says which ones are confirmed.

    python -m tests.integration.mailbox_child DB RECIPIENT ROUND COUNT [IN_FLIGHT]

Opens the mailbox at DB, prints ``ready``, then keeps IN_FLIGHT puts going at once (so they
group-commit, as on a busy relay) until COUNT are done. Each envelope carries the marker
``ROUND:i`` and 1 KiB of filler (so the WAL fills and checkpoints happen now and then). A line
``ROUND:i ID`` is printed only after that envelope's ``put`` returned, i.e. after its commit:
every printed line is a confirmed envelope. The test kills this process with SIGKILL.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from server.mailbox import Quotas, SqliteMailbox

FILLER = 1024
#: Room for every round of the test in one queue.
QUOTAS = Quotas(max_messages=10**6, max_bytes=2**40)


def envelope(marker: str) -> bytes:
    return marker.encode() + b"|" + os.urandom(FILLER)


async def main(db: Path, recipient: str, round_: int, count: int, in_flight: int) -> None:
    mailbox = await SqliteMailbox.open(db, quotas=QUOTAS)
    print("ready", flush=True)
    numbers = iter(range(count))

    async def worker() -> None:
        for i in numbers:
            marker = f"{round_}:{i}"
            envelope_id = await mailbox.put(recipient, envelope(marker))
            sys.stdout.write(f"{marker} {envelope_id}\n")
            sys.stdout.flush()

    await asyncio.gather(*(worker() for _ in range(in_flight)))
    await mailbox.close()
    print("done", flush=True)


if __name__ == "__main__":
    db, recipient, round_, count, *rest = sys.argv[1:]
    asyncio.run(main(Path(db), recipient, int(round_), int(count), int(rest[0]) if rest else 32))
