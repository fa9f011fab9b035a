"""Sending queued messages (prompts, reminders, digests, notices) from the durable outbox.

Each item is claimed (queued → sending) in its own short transaction before it is sent and
marked sent right after, so two senders never send the same item and a sent item is never sent
again. Telegram's limits are kept by the bot's rate limiter (PTB's AIORateLimiter, ~30
messages/s overall). Flood control (429) puts the item back with ``not_before`` set to the
time Telegram asked for and pauses the flush; network errors back off exponentially; a user
who blocked the bot (403) marks the item blocked, the contact inactive, and tells the
coordinators which unit lost its contact.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, or_, update
from sqlmodel import Session, col, select
from telegram import Bot, InlineKeyboardMarkup, InputFile
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from models.db import write_session
from models.tables import Contact, OutboxMessage, OutboxStatus
from models.types import utcnow
from services.chasing import Renderers, contact_lost

logger = logging.getLogger(__name__)

OUTBOX_JOB = "outbox-flush"

# Makes a document when its outbox item is sent: attachment key -> (file name, bytes).
AttachmentMaker = Callable[[str], tuple[str, bytes]]
MAX_BACKOFF = timedelta(minutes=10)
# Network errors are retried (a Telegram outage of hours must not lose prompts) until an item
# is this old; by then a prompt or reminder has lost its point.
GIVE_UP_AFTER = timedelta(days=3)
SENDERS = 8  # messages in flight at once; the rate limiter paces them
PER_CHAT_INTERVAL = timedelta(seconds=1)
# Sent again, so possibly twice (each counted in ``ambiguous``), and said so in the log: items
# a crash left "sending" (Telegram may have taken them just before), and a send that timed out.
REQUEUED_AFTER_CRASH = "%d outbox item(s) were interrupted while sending; queued again"
MAYBE_DELIVERED = "outbox %s: timed out; it may have been delivered"


@dataclass
class FlushResult:
    sent: int = 0
    failed: int = 0
    blocked: int = 0
    retry_later: int = 0
    ambiguous: int = 0  # timed out: may have been delivered; sent again, possibly twice


def backoff(attempts: int) -> timedelta:
    """Wait before retry number ``attempts`` after a network error: 2 s, 4 s, … up to 10 min."""
    return min(timedelta(seconds=2 ** min(attempts, 20)), MAX_BACKOFF)


def _claim(engine: Engine, item_id: int) -> bool:
    with write_session(engine) as session:
        result = session.exec(  # type: ignore[call-overload]
            update(OutboxMessage)
            .where(
                col(OutboxMessage.id) == item_id,
                col(OutboxMessage.status) == OutboxStatus.QUEUED,
            )
            .values(status=OutboxStatus.SENDING, attempts=OutboxMessage.attempts + 1)
        )
        return bool(result.rowcount)


def _finish(
    engine: Engine,
    item_id: int,
    status: OutboxStatus,
    *,
    now: datetime,
    error: str | None = None,
    message_id: int | None = None,
    not_before: datetime | None = None,
    renderers: Renderers | None = None,
    ambiguous: bool = False,
) -> None:
    with write_session(engine) as session:
        item = session.get(OutboxMessage, item_id)
        assert item is not None
        item.status = status
        item.ambiguous += int(ambiguous)
        item.last_error = error
        item.not_before = not_before
        if status is OutboxStatus.SENT:
            item.sent_at = now
            item.telegram_message_id = message_id
        session.add(item)
        if status is OutboxStatus.BLOCKED and item.contact_id is not None:
            contact = session.get(Contact, item.contact_id)
            if contact is not None and contact.active:
                contact.active = False
                contact.inactive_reason = "blocked"
                session.add(contact)
                session.flush()
                if renderers is not None:
                    contact_lost(session, contact=contact, renderers=renderers, now=now)


def requeue_interrupted(session: Session) -> int:
    """Items left 'sending' by a process that stopped holding the scheduler lease (it crashed)
    go back to the queue; delivery may repeat once, which ``ambiguous`` counts.

    Called by the process that has just taken the lease, in the same transaction: only the
    holder sends, so another replica's start-up must not touch items still on their way.
    """
    result = session.exec(  # type: ignore[call-overload]
        update(OutboxMessage)
        .where(col(OutboxMessage.status) == OutboxStatus.SENDING)
        .values(status=OutboxStatus.QUEUED, ambiguous=OutboxMessage.ambiguous + 1)
    )
    count = int(result.rowcount or 0)
    if count:
        logger.warning(REQUEUED_AFTER_CRASH, count)
    return count


def _due_ids(engine: Engine, now: datetime, limit: int) -> list[int]:
    """Due items, at most one per chat, none to a chat sent to in the last second (Telegram
    allows about one message per second to one chat)."""
    with write_session(engine) as session:
        recent = set(
            session.exec(
                select(OutboxMessage.chat_id).where(
                    OutboxMessage.status == OutboxStatus.SENT,
                    col(OutboxMessage.sent_at) > now - PER_CHAT_INTERVAL,
                )
            ).all()
        )
        rows = session.exec(
            select(OutboxMessage.id, OutboxMessage.chat_id)
            .where(
                OutboxMessage.status == OutboxStatus.QUEUED,
                or_(col(OutboxMessage.not_before).is_(None), col(OutboxMessage.not_before) <= now),
            )
            .order_by(col(OutboxMessage.id))
        ).all()
    chosen: list[int] = []
    for item_id, chat_id in rows:
        if chat_id in recent or item_id is None:
            continue
        recent.add(chat_id)
        chosen.append(item_id)
        if len(chosen) >= limit:
            break
    return chosen


async def flush_outbox(
    bot: Bot,
    engine: Engine,
    *,
    clock: Callable[[], datetime] = utcnow,
    renderers: Renderers | None = None,
    limit: int = 1000,
    stopping: asyncio.Event | None = None,
    attachments: AttachmentMaker | None = None,
) -> FlushResult:
    """Send due queued items; returns what happened. Safe to run concurrently with itself.

    ``stopping`` (set when the process shuts down) stops taking new items; messages already on
    their way are finished and recorded, so a graceful restart neither loses nor repeats one.
    """
    result = FlushResult()
    pause = asyncio.Event()  # set on flood control or a network error: stop taking new items
    ids = _due_ids(engine, clock(), limit)

    def halted() -> bool:
        return pause.is_set() or (stopping is not None and stopping.is_set())

    async def send_one(item_id: int) -> None:
        if halted() or not _claim(engine, item_id):
            return
        with write_session(engine) as session:
            item = session.get(OutboxMessage, item_id)
            assert item is not None
            chat_id, text, markup, attempts, attachment, created_at = (
                item.chat_id,
                item.text,
                item.reply_markup,
                item.attempts,
                item.attachment,
                item.created_at,
            )
            parse_mode = ParseMode(item.parse_mode) if item.parse_mode else None
        try:
            if attachment is not None:
                if attachments is None:
                    raise BadRequest(f"no maker for attachment {attachment}")
                file_name, data = await asyncio.to_thread(attachments, attachment)
                sent = await bot.send_document(
                    chat_id,
                    InputFile(io.BytesIO(data), filename=file_name),
                    caption=text or None,
                    parse_mode=parse_mode,
                )
            else:
                sent = await bot.send_message(
                    chat_id,
                    text,
                    parse_mode=parse_mode,
                    reply_markup=InlineKeyboardMarkup.de_json(markup, bot) if markup else None,
                )
        except Forbidden as exc:
            logger.warning("outbox %s: chat %s blocked the bot", item_id, chat_id)
            _finish(
                engine,
                item_id,
                OutboxStatus.BLOCKED,
                now=clock(),
                error=str(exc),
                renderers=renderers,
            )
            result.blocked += 1
        except RetryAfter as exc:
            wait = (
                exc.retry_after
                if isinstance(exc.retry_after, timedelta)
                else timedelta(seconds=exc.retry_after)
            )
            _finish(
                engine,
                item_id,
                OutboxStatus.QUEUED,
                now=clock(),
                error=str(exc),
                not_before=clock() + wait,
            )
            result.retry_later += 1
            pause.set()
            logger.warning("outbox: flood control, pausing for %s", wait)
        except BadRequest as exc:
            logger.error("outbox %s refused by Telegram: %s", item_id, exc)
            _finish(engine, item_id, OutboxStatus.FAILED, now=clock(), error=str(exc))
            result.failed += 1
        except NetworkError as exc:  # includes TimedOut
            timed_out = isinstance(exc, TimedOut)
            if timed_out:
                result.ambiguous += 1
                logger.warning(MAYBE_DELIVERED, item_id)
            if clock() - created_at >= GIVE_UP_AFTER:
                logger.error("outbox %s: giving up after %d attempts: %s", item_id, attempts, exc)
                _finish(
                    engine,
                    item_id,
                    OutboxStatus.FAILED,
                    now=clock(),
                    error=str(exc),
                    ambiguous=timed_out,
                )
                result.failed += 1
            else:
                _finish(
                    engine,
                    item_id,
                    OutboxStatus.QUEUED,
                    now=clock(),
                    error=str(exc),
                    not_before=clock() + backoff(attempts),
                    ambiguous=timed_out,
                )
                result.retry_later += 1
                pause.set()
                logger.warning("outbox: network error (%s); retrying later", exc)
        else:
            _finish(engine, item_id, OutboxStatus.SENT, now=clock(), message_id=sent.message_id)
            result.sent += 1

    queue: asyncio.Queue[int] = asyncio.Queue()
    for item_id in ids:
        queue.put_nowait(item_id)

    async def worker() -> None:
        while not queue.empty() and not halted():
            await send_one(queue.get_nowait())

    await asyncio.gather(*(worker() for _ in range(min(SENDERS, len(ids)))))
    return result
