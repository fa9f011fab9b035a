"""Handling updates side by side across chats, one after another within a chat.

A reporter's answers must be handled in the order they were sent (the conversation is a
sequence), but one coordinator compiling a yearly summary must not keep two hundred reporters
waiting. Polling and the webhook server both hand every update to :class:`ChatLanes`: each chat
is a lane; a lane runs its updates in arrival order, and up to ``limit`` lanes run at once.

Within one process this is enough because every database transaction is synchronous (nothing
awaits while a session is open, see ``tests/test_architecture.py``). Across processes
(webhook replicas) the per-user database lock in ``Runtime.update_transaction`` keeps the
order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from telegram import Update

logger = logging.getLogger(__name__)

# Updates handled at once in one process (the rest wait in their lane or for a free slot).
MAX_AT_ONCE = 32


def lane_of(update: object) -> int:
    """The lane an update belongs to: its user (a private chat's id is the user's id)."""
    if isinstance(update, Update):
        if update.effective_user is not None:
            return update.effective_user.id
        if update.effective_chat is not None:
            return update.effective_chat.id
    return 0


class ChatLanes:
    def __init__(self, *, limit: int = MAX_AT_ONCE) -> None:
        self._slots = asyncio.Semaphore(limit)
        self._tails: dict[int, asyncio.Future[None]] = {}

    @property
    def busy_lanes(self) -> int:
        return len(self._tails)

    async def run(self, lane: int, work: Callable[[], Awaitable[None]]) -> None:
        """Run ``work`` after everything queued earlier in ``lane``; errors are the caller's."""
        loop = asyncio.get_running_loop()
        previous = self._tails.get(lane)
        done: asyncio.Future[None] = loop.create_future()
        self._tails[lane] = done
        try:
            if previous is not None:
                await asyncio.shield(previous)
            async with self._slots:
                await work()
        finally:
            done.set_result(None)
            if self._tails.get(lane) is done:
                del self._tails[lane]
