"""messenger-cli's chat loop leaves nothing running behind it, however it ends.

A signal cancels the whole command while the chat waits; its stdin pump used to stay
behind, carry on once the session closed, and die with an error nobody retrieved (a
traceback on stderr, with a wrong "not confirmed within 30 s" message).
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from messenger.cli import Chat


def test_cancelling_a_chat_cancels_its_printer_and_stdin_pump() -> None:
    async def scenario() -> list[asyncio.Task[Any]]:
        runtime: Any = SimpleNamespace(events=asyncio.Queue())  # no event ever comes
        lines: Any = SimpleNamespace(queue=asyncio.Queue())  # nobody types
        chat = Chat(runtime, lines)
        chat.contact_id = "c" * 64  # met already: straight to chatting
        mine = asyncio.current_task()
        chatting = asyncio.create_task(chat.run(SimpleNamespace()))  # type: ignore[arg-type]
        while len(asyncio.all_tasks()) < 4:  # the chat, its printer and pump, and us
            await asyncio.sleep(0)
        chatting.cancel()
        await asyncio.gather(chatting, return_exceptions=True)
        return [t for t in asyncio.all_tasks() if t is not mine and not t.cancelling()]

    left_running = asyncio.run(scenario())

    assert left_running == []
