"""Long polling that confirms an update to Telegram only once it has been handled.

python-telegram-bot's Updater confirms a batch of updates (by asking for the next offset) as
soon as it has put them in its queue, before any handler ran: a process killed at that moment
loses them. Here an update is confirmed only after ``process_update`` returned — its effect is
committed (and marked processed in the same transaction) by then — so after a crash Telegram
delivers it again, and the processed-update mark makes the repeat harmless.

Updates are handled one at a time, in order, as the conversation requires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from telegram import Update
from telegram.error import Conflict, InvalidToken, NetworkError, RetryAfter
from telegram.ext import Application

logger = logging.getLogger(__name__)

POLLING_KEY = "figbot.polling"
MAX_BACKOFF = 30.0


class CommittedPolling:
    def __init__(
        self,
        application: Application,  # type: ignore[type-arg]
        *,
        timeout: int,
        allowed_updates: Sequence[str],
    ) -> None:
        self.application = application
        self.timeout = timeout
        self.allowed_updates = list(allowed_updates)
        self.offset: int | None = None  # the next update to ask for; all before it are handled
        self._stopping = asyncio.Event()
        self._fetching = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="figbot-polling")

    async def stop(self) -> None:
        """Finish the update being handled, then stop; a pending long poll is abandoned."""
        self._stopping.set()
        task, self._task = self._task, None
        if task is None:
            return
        if self._fetching:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if self.offset is not None:  # tell Telegram what was handled, so a restart starts after
            with contextlib.suppress(Exception):
                await self.application.bot.get_updates(
                    offset=self.offset, timeout=0, limit=1, allowed_updates=self.allowed_updates
                )

    async def _run(self) -> None:
        backoff = 1.0
        while not self._stopping.is_set():
            try:
                updates = await self._fetch()
            except asyncio.CancelledError:
                raise
            except InvalidToken:
                logger.critical("the bot token was refused; polling stops")
                return
            except RetryAfter as exc:
                await self._pause(float(_seconds(exc.retry_after)))
                continue
            except Conflict:
                logger.warning("another process is polling this bot token; retrying")
                await self._pause(5.0)
                continue
            except Exception as exc:  # NetworkError, or anything unexpected: never stop polling
                log = logger.warning if isinstance(exc, NetworkError) else logger.exception
                log("getUpdates failed (%s); retrying in %.0f s", exc, backoff)
                await self._pause(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            backoff = 1.0
            for update in updates:
                if self._stopping.is_set():
                    break  # not handled, not confirmed: delivered again at the next start
                try:
                    await self.application.process_update(update)
                except Exception:  # handler errors are PTB's; this is a bug outside them
                    logger.exception("update %s could not be processed", update.update_id)
                self.offset = update.update_id + 1

    async def _fetch(self) -> tuple[Update, ...]:
        self._fetching = True
        try:
            return await self.application.bot.get_updates(
                offset=self.offset,
                timeout=self.timeout,
                allowed_updates=self.allowed_updates,
            )
        finally:
            self._fetching = False

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)


def _seconds(value: Any) -> float:
    return float(value.total_seconds()) if hasattr(value, "total_seconds") else float(value)
