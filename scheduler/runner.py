"""The scheduler inside ``figbot run``: who holds the lease, when to wake, what to do then.

APScheduler (PTB's JobQueue) only decides *when* to wake: one job wakes at the next due event
(computed from the injected clock as a delay, so a moved clock in tests is honoured), one
renews the lease, one flushes the outbox. *What* to do is decided by
``services.scheduling.run_due`` from the database, so a late or repeated wake-up changes
nothing. Jobs never miss: ``misfire_grace_time=None`` (APScheduler 3's default of 1 s would
drop a job that starts late).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

from telegram import Bot
from telegram.ext import Application, JobQueue

from bot.runtime import Runtime
from models.crud import prune_processed_updates
from models.db import read_session, write_session
from scheduler.outbox import OUTBOX_JOB, FlushResult, flush_outbox, requeue_interrupted
from services.chasing import SUMMARY_ATTACHMENT, Renderers
from services.lease import new_holder_id, release, try_acquire
from services.rounds import PromptRenderer
from services.scheduling import TickReport, next_due, run_due
from services.summary import round_workbook

logger = logging.getLogger(__name__)

SCHEDULE_JOB = "schedule-tick"
LEASE_JOB = "scheduler-lease"
# Telegram keeps an undelivered update for 24 hours; a mark kept a week covers any repeat.
KEEP_PROCESSED = timedelta(days=7)
PRUNE_EVERY = timedelta(hours=1)
MAX_SLEEP = timedelta(minutes=5)  # wake at least this often (config edits, clock drift)
JOB_KWARGS: dict[str, Any] = {"misfire_grace_time": None, "coalesce": True, "max_instances": 1}


class SchedulerRunner:
    def __init__(
        self, runtime: Runtime, *, render_prompt: PromptRenderer, renderers: Renderers
    ) -> None:
        self.runtime = runtime
        self.holder = new_holder_id()
        self.render_prompt = render_prompt
        self.renderers = renderers
        self.is_leader = False
        self._reported_holder: str | None = None
        # One tick or flush at a time in this process (the wake-up job, the flush job and
        # commands like /remind may fire together).
        self._busy = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._pruned_at: datetime | None = None

    @property
    def ttl(self) -> timedelta:
        return timedelta(seconds=self.runtime.config.scheduler.lease_seconds)

    def heartbeat(self) -> bool:
        """Take or renew the lease; log when leadership changes hands."""
        if not self.runtime.config.scheduler.enabled:
            return False
        with write_session(self.runtime.engine) as session:
            held, holder = try_acquire(
                session, holder=self.holder, now=self.runtime.now(), ttl=self.ttl
            )
            if held and not self.is_leader:  # taking over: what the last holder left half-sent
                requeue_interrupted(session)
        if held and not self.is_leader:
            logger.info("this process (%s) now runs the scheduler", self.holder)
        elif not held and (self.is_leader or self._reported_holder != holder):
            logger.info(
                "scheduler is held by %s; this process stays passive (no prompts or reminders "
                "are sent from here)",
                holder,
            )
        self.is_leader = held
        self._reported_holder = holder
        return held

    async def shutdown(self) -> None:
        """Stop taking work, let messages already on their way finish, hand the lease over."""
        self._stopping.set()
        async with self._busy:
            if self.is_leader:
                with write_session(self.runtime.engine) as session:
                    release(session, holder=self.holder)
                self.is_leader = False

    async def tick(self, bot: Bot) -> TickReport | None:
        """Do what is due now and send it; None when another process holds the scheduler."""
        async with self._busy:
            if self._stopping.is_set() or not self.heartbeat():
                return None
            # Rendering thousands of prompts or compiling a summary must not stall the bot.
            report = await asyncio.to_thread(self._run_due)
            await self._flush(bot)
            return report

    def _run_due(self) -> TickReport:
        with write_session(self.runtime.engine) as session:
            return run_due(
                session,
                config=self.runtime.config,
                now=self.runtime.now(),
                render_prompt=self.render_prompt,
                renderers=self.renderers,
            )

    async def flush(self, bot: Bot) -> FlushResult | None:
        """Send what is due in the outbox (only the lease holder sends)."""
        async with self._busy:
            return await self._flush(bot)

    async def _flush(self, bot: Bot) -> FlushResult | None:
        if not self.is_leader or self._stopping.is_set():
            return None

        async def once() -> FlushResult:
            return await flush_outbox(
                bot,
                self.runtime.engine,
                clock=self.runtime.now,
                renderers=self.renderers,
                stopping=self._stopping,
                attachments=self.make_attachment,
            )

        result = await once()
        if result.blocked:  # coordinators were just told about a lost contact: send that too
            followup = await once()
            result.sent += followup.sent
            result.failed += followup.failed
            result.blocked += followup.blocked
            result.retry_later += followup.retry_later
            result.ambiguous += followup.ambiguous
        if result.sent or result.failed or result.blocked or result.retry_later:
            logger.info("outbox: %s", result)
        return result

    def make_attachment(self, key: str) -> tuple[str, bytes]:
        """The document behind an outbox item's attachment key (made when it is sent)."""
        kind, _, ident = key.partition(":")
        if kind != SUMMARY_ATTACHMENT or not ident.isdigit():
            raise ValueError(f"unknown attachment {key!r}")
        return round_workbook(self.runtime.engine, config=self.runtime.config, round_id=int(ident))

    def seconds_until_next(self) -> float:
        with read_session(self.runtime.engine) as session:
            due = next_due(session, config=self.runtime.config, now=self.runtime.now())
        if due is None:
            return MAX_SLEEP.total_seconds()
        delay = (due - self.runtime.now()).total_seconds()
        return max(0.0, min(delay, MAX_SLEEP.total_seconds()))

    # ------------------------------------------------------------------ JobQueue wiring
    def install(self, application: Application) -> None:  # type: ignore[type-arg]
        job_queue: JobQueue = application.job_queue  # type: ignore[type-arg,assignment]
        assert job_queue is not None
        config = self.runtime.config
        job_queue.run_repeating(
            self._lease_job,
            interval=config.scheduler.lease_seconds / 3,
            first=None,
            name=LEASE_JOB,
            job_kwargs=JOB_KWARGS,
        )
        job_queue.run_repeating(
            self._flush_job,
            interval=config.bot.outbox_interval_seconds,
            first=None,
            name=OUTBOX_JOB,
            job_kwargs=JOB_KWARGS,
        )
        self._schedule_tick(job_queue, 0.0)  # catch up at start

    def _schedule_tick(self, job_queue: JobQueue, delay: float) -> None:  # type: ignore[type-arg]
        for job in job_queue.get_jobs_by_name(SCHEDULE_JOB):
            job.schedule_removal()
        job_queue.run_once(self._tick_job, when=delay, name=SCHEDULE_JOB, job_kwargs=JOB_KWARGS)

    async def _tick_job(self, context: Any) -> None:
        try:
            await self.tick(context.bot)
        finally:
            self._schedule_tick(context.job_queue, self.seconds_until_next())

    async def _lease_job(self, context: Any) -> None:
        was_leader = self.is_leader
        if self.heartbeat():
            if not was_leader:
                self._schedule_tick(context.job_queue, 0.0)
            self.prune_if_due()

    def prune_if_due(self) -> int:
        """Forget processed-update marks older than Telegram could deliver again (at most
        hourly, by the lease holder only)."""
        now = self.runtime.now()
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
            return 0
        self._pruned_at = now
        with write_session(self.runtime.engine) as session:
            removed = prune_processed_updates(session, before=now - KEEP_PROCESSED)
        if removed:
            logger.info("forgot %d processed-update marks older than %s", removed, KEEP_PROCESSED)
        return removed

    async def _flush_job(self, context: Any) -> None:
        await self.flush(context.bot)
