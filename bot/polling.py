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

Of several ``figbot run`` on one database and token, only the holder of the polling lease
polls (:class:`LeasedPolling`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from telegram import Update
from telegram.error import Conflict, InvalidToken, NetworkError, RetryAfter
from telegram.ext import Application

from bot.ordering import MAX_AT_ONCE, ChatLanes, lane_of
from models.db import write_session
from services.lease import POLLING_LEASE, new_holder_id, release, try_acquire

logger = logging.getLogger(__name__)

MAX_BACKOFF = 30.0
# How often Telegram is asked for new updates while some are being handled: a long poll would
# return at once (the unconfirmed updates are still there), so a short pause stands in for it.
# Not shorter: polled more often, a process killed mid-burst leaves more replies sent but not
# yet noted as sent, and those are sent again after the restart.
BUSY_POLL_SECONDS = 0.1
# Telegram returns at most this many updates per call, in-flight ones included.
BATCH_LIMIT = 100


class CommittedPolling:
    def __init__(
        self,
        application: Application,  # type: ignore[type-arg]
        *,
        timeout: int,
        allowed_updates: Sequence[str],
        max_at_once: int = MAX_AT_ONCE,
        may_start: Callable[[], bool] = lambda: True,
        on_token_refused: Callable[[InvalidToken], None] = lambda exc: None,
    ) -> None:
        """``on_token_refused``: told when Telegram refuses the token (revoked while figbot
        runs), after which polling stops: no retry can make a refused token work."""
        self.application = application
        self.timeout = timeout
        self.allowed_updates = list(allowed_updates)
        # Asked before each poll and each update started; False: poll nothing, start nothing.
        self._may_start = may_start
        self._on_token_refused = on_token_refused
        self._lanes = ChatLanes(limit=max_at_once)
        self._enough_in_hand = 2 * max_at_once
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        # Handled, but maybe not confirmed yet: Telegram may return them until the offset passes.
        self._finished: set[int] = set()
        self._next: int | None = None  # one past the newest update started
        self._stopping = asyncio.Event()
        self._idle = asyncio.Event()  # set while no update is in flight
        self._idle.set()
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

    async def stop(self, *, confirm: bool = True) -> None:
        """Finish the updates being handled, then stop; a pending long poll is abandoned.
        ``confirm``: tell Telegram what was handled with a last getUpdates (not when another
        process may be polling by now: the call would cut its long poll short)."""
        self._stopping.set()
        task, self._task = self._task, None
        if task is None:
            return
        if self._fetching:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if self._in_flight:
            await asyncio.wait(list(self._in_flight.values()))
        if confirm and self.offset is not None:  # so a restart starts after what was handled
            with contextlib.suppress(Exception):
                await self.application.bot.get_updates(
                    offset=self.offset, timeout=0, limit=1, allowed_updates=self.allowed_updates
                )

    async def _run(self) -> None:
        backoff = 1.0
        while not self._stopping.is_set():
            busy = bool(self._in_flight)
            if busy:
                await self._wait_until_idle(BUSY_POLL_SECONDS)
                if self._stopping.is_set():
                    break  # stop() does not interrupt this wait; a long poll now would delay it
                busy = bool(self._in_flight)
                if busy and (
                    self._known_from_offset() >= BATCH_LIMIT
                    or len(self._in_flight) >= self._enough_in_hand
                ):
                    # A poll would return only updates already started, or mostly those (each
                    # parsed again) while there is plenty to do: ask when it can bring more.
                    continue
            if not self._may_start():
                await self._pause(BUSY_POLL_SECONDS)
                continue
            try:
                updates = await self._fetch(timeout=0 if busy else self.timeout)
            except asyncio.CancelledError:
                raise
            except InvalidToken as exc:
                logger.critical("the bot token was refused; polling stops")
                self._on_token_refused(exc)
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
                if self._stopping.is_set() or not self._may_start():
                    break  # not handled, not confirmed: delivered again at the next start
                self._start(update)

    def _known_from_offset(self) -> int:
        """Updates at or after the offset that were started already (in flight or handled)."""
        offset = self.offset or 0
        return len(self._in_flight) + sum(1 for update_id in self._finished if update_id >= offset)

    def _start(self, update: Update) -> None:
        """Start handling ``update`` unless it is in flight or was handled since the offset."""
        update_id = update.update_id
        if update_id in self._in_flight or update_id in self._finished:
            return
        # An id below the ones started that is neither in flight nor finished since the offset
        # is a copy sent again: handle it; the processed-update mark makes it harmless.
        task = asyncio.create_task(self._handle(update), name=f"figbot-update-{update_id}")
        self._in_flight[update_id] = task
        self._idle.clear()
        if self._next is None or update_id >= self._next:
            self._next = update_id + 1

    async def _handle(self, update: Update) -> None:
        try:
            await self._lanes.run(lane_of(update), lambda: self._process(update))
        finally:
            del self._in_flight[update.update_id]
            self._finished.add(update.update_id)
            if not self._in_flight:
                self._idle.set()

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

    async def _wait_until_idle(self, seconds: float | None) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout=seconds)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)


def _seconds(value: Any) -> float:
    return float(value.total_seconds()) if hasattr(value, "total_seconds") else float(value)


ACTIVE_LOG = "this process (%s) now polls Telegram for updates (it holds the polling lease)"
PASSIVE_LOG = (
    "%s holds the polling lease; this process does not poll Telegram (it stays passive and "
    "takes over if that process stops)"
)
# How often a passive process asks for the polling lease (a write transaction each time).
PASSIVE_CHECK = timedelta(seconds=2)
LOST_LOG = "the polling lease could not be renewed (%s); this process stops polling"


class LeasedPolling:
    """Long polling by the one ``figbot run`` that holds the polling lease.

    Two processes polling one token take turns at Telegram: each getUpdates ends the other's
    long poll with 409 Conflict and is handed every update not confirmed yet — also those the
    other process is handling right then. The processed-update mark keeps their effect single,
    but a reply kept for such an update and not yet noted as sent goes out from both (the
    reporter sees a question twice). So every polling process takes part in the ``polling``
    lease (``services.lease``, the database lease the scheduler uses: the same on SQLite and
    PostgreSQL, and on the test's clock) and only its holder runs a :class:`CommittedPolling`;
    the others wait and take over when the holder stops renewing it.

    Never two pollers at once: the holder renews every quarter of the lease. A renewal that
    fails (or takes longer than a quarter) stops its polling at once — the updates in hand are
    finished and confirmed, so the next holder starts after them — and whatever holds renewals
    up, the holder starts no update once half the lease has passed since its last renewal.
    Another process takes the lease only after all of it has passed (or at once when the
    holder was a process of its own machine that has ended, ``services.lease.holder_is_gone``:
    that one polls no more). That holds while the machines' clocks agree to well within half
    the lease (NTP), and while an update in hand is finished within that half; one that is not
    may be handled again by the next holder, which the processed-update mark makes harmless.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], datetime],
        ttl: timedelta,
        make_polling: Callable[[Callable[[], bool]], CommittedPolling],
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.ttl = ttl
        self.holder = new_holder_id()
        self._make_polling = make_polling  # given the lease check; see CommittedPolling
        self._interval = ttl / 4
        # No update is started from this moment on (the event loop's monotonic time: a wall
        # clock moved by hand or by NTP does not stretch it).
        self._start_until: float | None = None
        self._polling: CommittedPolling | None = None
        self._reported_holder: str | None = None
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="figbot-polling-lease")

    async def stop(self) -> None:
        """Stop polling (the updates in hand are finished), then hand the lease over."""
        self._stopping.set()
        task, self._task = self._task, None
        if task is not None:
            await task

    def _may_start(self) -> bool:
        return (
            self._start_until is not None and asyncio.get_running_loop().time() < self._start_until
        )

    async def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                lost = await self._renew()
                if lost is not None and self._polling is not None:
                    logger.warning(LOST_LOG, lost)
                    # The next holder may be polling by now: no last getUpdates to confirm;
                    # the updates handled are marked processed, so their repeats are harmless.
                    await self._stop_polling(confirm=False)
                elif lost is None and self._polling is None:
                    logger.info(ACTIVE_LOG, self.holder)
                    self._polling = self._make_polling(self._may_start)
                    self._polling.start()
                # A passive process looks more often: a holder that released the lease, or
                # crashed on this machine, is replaced at once rather than a quarter-lease on.
                wait = self._interval if self._polling is not None else PASSIVE_CHECK
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._stopping.wait(), timeout=min(wait, self._interval).total_seconds()
                    )
        finally:
            await self._stop_polling(confirm=self._may_start())
            # Even when the last renewal failed: it may have been written all the same. A
            # process that does not hold the lease releases nothing.
            with contextlib.suppress(Exception):  # it expires by itself in any case
                await asyncio.to_thread(self._release)

    async def _renew(self) -> str | None:
        """Take or renew the lease: None when held, else why not (logged once per holder)."""
        now, started = self.clock(), asyncio.get_running_loop().time()
        try:
            held, holder = await asyncio.wait_for(
                asyncio.to_thread(self._try_acquire, now), timeout=self._interval.total_seconds()
            )
        except Exception as exc:  # no database, no lease: the next holder may be polling soon
            self._start_until = None
            reason = f"the database did not answer: {type(exc).__name__}"
            if self._reported_holder != reason:
                logger.warning("polling lease: %s; retrying", reason)
                self._reported_holder = reason
            return reason
        if held:
            self._start_until = started + self.ttl.total_seconds() / 2
            self._reported_holder = None
            return None
        self._start_until = None
        if holder != self._reported_holder:
            logger.info(PASSIVE_LOG, holder)
            self._reported_holder = holder
        return f"held by {holder}"

    def _try_acquire(self, now: datetime) -> tuple[bool, str]:
        with write_session(self.engine) as session:
            return try_acquire(
                session, holder=self.holder, now=now, ttl=self.ttl, name=POLLING_LEASE
            )

    def _release(self) -> None:
        with write_session(self.engine) as session:
            release(session, holder=self.holder, name=POLLING_LEASE)

    async def _stop_polling(self, *, confirm: bool) -> None:
        polling, self._polling = self._polling, None
        if polling is not None:
            await polling.stop(confirm=confirm)
