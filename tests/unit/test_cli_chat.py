"""messenger-cli's chat loop leaves nothing running behind it, however it ends.

A signal cancels the whole command while ``chat`` waits; its stdin pump used to stay behind,
carry on once the session closed, and die with an error nobody retrieved (a traceback on
stderr, with a wrong "not confirmed within 30 s" message).
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from messenger.cli import chat


def test_cancelling_chat_cancels_its_printer_and_stdin_pump() -> None:
    async def scenario() -> list[asyncio.Task]:
        client = SimpleNamespace(events=asyncio.Queue())  # no event ever comes
        lines = SimpleNamespace(queue=asyncio.Queue())  # nobody types
        session = SimpleNamespace()
        mine = asyncio.current_task()
        chatting = asyncio.create_task(chat(client, session, lines, asyncio.Event()))
        while len(asyncio.all_tasks()) < 5:  # chat, its printer, pump and stopper, and us
            await asyncio.sleep(0)
        chatting.cancel()
        await asyncio.gather(chatting, return_exceptions=True)
        return [t for t in asyncio.all_tasks() if t is not mine and not t.cancelling()]

    left_running = asyncio.run(scenario())

    assert left_running == []
