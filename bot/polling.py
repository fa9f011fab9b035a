"""Long polling that confirms an update to Telegram only once it has been handled.

python-telegram-bot's Updater confirms a batch of updates (by asking for the next offset) as
soon as it has put them in its queue, before any handler ran: a process killed at that moment
loses them. Here the offset sent to Telegram never passes an update whose handling has not
finished — its effect is committed (and marked processed in the same transaction) by then — so
after a crash Telegram delivers it again, and the processed-update mark makes the repeat
harmless.

Updates of one chat are handled in order; different chats are handled side by side
(:class:`bot.ordering.ChatLanes`), so a slow summary does not hold up everyone's answers. While
updates are in flight the offset stays at the oldest of them; Telegram then returns those again
with any new ones, and only the new ones are started.
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

from bot.ordering import ChatLanes, lane_of

logger = logging.getLogger(__name__)

POLLING_KEY = "figbot.polling"
MAX_BACKOFF = 30.0
# How often Telegram is asked for new updates while some are being handled: a long poll would
# return at once (the unconfirmed updates are still there), so a short pause stands in for it.
BUSY_POLL_SECONDS = 0.1
# Updates handled at once. Telegram returns at most 100 per call, in-flight ones included.
MAX_IN_FLIGHT = 32


class CommittedPolling:
    def __init__(
        self,
        application: Application,  # type: ignore[type-arg]
        *,
        timeout: int,
        allowed_updates: Sequence[str],
        max_in_flight: int = MAX_IN_FLIGHT,
    ) -> None:
        self.application = application
        self.timeout = timeout
        self.allowed_updates = list(allowed_updates)
        self.max_in_flight = max_in_flight
        self._lanes = ChatLanes(limit=max_in_flight)
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        # Handled, but maybe not confirmed yet: Telegram may return them until the offset passes.
        self._finished: set[int] = set()
        self._next: int | None = None  # one past the newest update started
        self._stopping = asyncio.Event()
        self._progress = asyncio.Event()  # set whenever an in-flight update finishes
        self._fetching = False
        self._task: asyncio.Task[None] | None = None

    @property
    def offset(self) -> int | None:
        """The offset that confirms exactly the updates whose handling has finished."""
        if self._in_flight:
            return min(self._in_flight)
        return self._next

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="figbot-polling")

    async def stop(self) -> None:
        """Finish the updates being handled, then stop; a pending long poll is abandoned."""
        self._stopping.set()
        self._progress.set()
        task, self._task = self._task, None
        if task is None:
            return
        if self._fetching:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if self._in_flight:
            await asyncio.wait(list(self._in_flight.values()))
        if self.offset is not None:  # tell Telegram what was handled, so a restart starts after
            with contextlib.suppress(Exception):
                await self.application.bot.get_updates(
                    offset=self.offset, timeout=0, limit=1, allowed_updates=self.allowed_updates
                )

    async def _run(self) -> None:
        backoff = 1.0
        while not self._stopping.is_set():
            if len(self._in_flight) >= self.max_in_flight:
                await self._wait_for_progress(None)
                continue
            busy = bool(self._in_flight)
            try:
                updates = await self._fetch(timeout=0 if busy else self.timeout)
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
            started = 0
            for update in updates:
                if self._stopping.is_set():
                    break  # not handled, not confirmed: delivered again at the next start
                if self._start(update):
                    started += 1
            if busy and not started:
                await self._wait_for_progress(BUSY_POLL_SECONDS)

    def _start(self, update: Update) -> bool:
        """Start handling ``update`` unless it is in flight or was handled since the offset."""
        update_id = update.update_id
        if update_id in self._in_flight or update_id in self._finished:
            return False
        # An id below the ones started that is neither in flight nor finished since the offset
        # is a copy sent again: handle it; the processed-update mark makes it harmless.
        task = asyncio.create_task(self._handle(update), name=f"figbot-update-{update_id}")
        self._in_flight[update_id] = task
        if self._next is None or update_id >= self._next:
            self._next = update_id + 1
        return True

    async def _handle(self, update: Update) -> None:
        try:
            await self._lanes.run(lane_of(update), lambda: self._process(update))
        finally:
            del self._in_flight[update.update_id]
            self._finished.add(update.update_id)
            self._progress.set()

    async def _process(self, update: Update) -> None:
        try:
            await self.application.process_update(update)
        except Exception:  # handler errors are PTB's; this is a bug outside them
            logger.exception("update %s could not be processed", update.update_id)

    async def _fetch(self, *, timeout: int) -> tuple[Update, ...]:
        offset = self.offset
        if offset is not None:  # Telegram forgets what this offset confirms; so can we
            self._finished = {update_id for update_id in self._finished if update_id >= offset}
        self._fetching = True
        try:
            return await self.application.bot.get_updates(
                offset=offset,
                timeout=timeout,
                allowed_updates=self.allowed_updates,
            )
        finally:
            self._fetching = False

    async def _wait_for_progress(self, seconds: float | None) -> None:
        self._progress.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._progress.wait(), timeout=seconds)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)


def _seconds(value: Any) -> float:
    return float(value.total_seconds()) if hasattr(value, "total_seconds") else float(value)
