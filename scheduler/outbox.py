"""Sending queued messages (prompts) from the durable outbox.

Each item is claimed (queued → sending) in its own short transaction before it is sent and
marked sent right after, so two senders never send the same item. A blocked bot (403) marks the
item blocked and the contact inactive; a flood wait stops this flush and leaves the rest queued.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, update
from sqlmodel import col, select
from telegram import Bot, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter

from models.db import write_session
from models.tables import Contact, OutboxMessage, OutboxStatus
from models.types import utcnow

logger = logging.getLogger(__name__)

OUTBOX_JOB = "outbox-flush"


@dataclass
class FlushResult:
    sent: int = 0
    failed: int = 0
    blocked: int = 0
    retry_later: int = 0


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
    error: str | None = None,
    message_id: int | None = None,
    now: datetime | None = None,
) -> None:
    with write_session(engine) as session:
        item = session.get(OutboxMessage, item_id)
        assert item is not None
        item.status = status
        item.last_error = error
        if status is OutboxStatus.SENT:
            item.sent_at = now or utcnow()
            item.telegram_message_id = message_id
        if status is OutboxStatus.BLOCKED and item.contact_id is not None:
            contact = session.get(Contact, item.contact_id)
            if contact is not None:
                contact.active = False
                session.add(contact)
        session.add(item)


def requeue_interrupted(engine: Engine) -> int:
    """Items left 'sending' by a crash go back to the queue (delivery may repeat once)."""
    with write_session(engine) as session:
        result = session.exec(  # type: ignore[call-overload]
            update(OutboxMessage)
            .where(col(OutboxMessage.status) == OutboxStatus.SENDING)
            .values(status=OutboxStatus.QUEUED)
        )
        count = int(result.rowcount or 0)
    if count:
        logger.warning("%d outbox item(s) were interrupted while sending; queued again", count)
    return count


async def flush_outbox(bot: Bot, engine: Engine, *, limit: int = 200) -> FlushResult:
    with write_session(engine) as session:
        ids = list(
            session.exec(
                select(OutboxMessage.id)
                .where(OutboxMessage.status == OutboxStatus.QUEUED)
                .order_by(OutboxMessage.id)  # type: ignore[arg-type]
                .limit(limit)
            ).all()
        )
    result = FlushResult()
    for item_id in ids:
        assert item_id is not None
        if not _claim(engine, item_id):
            continue
        with write_session(engine) as session:
            item = session.get(OutboxMessage, item_id)
            assert item is not None
            chat_id, text, markup = item.chat_id, item.text, item.reply_markup
            parse_mode = item.parse_mode
        try:
            sent = await bot.send_message(
                chat_id,
                text,
                parse_mode=ParseMode(parse_mode) if parse_mode else None,
                reply_markup=InlineKeyboardMarkup.de_json(markup, bot) if markup else None,
            )
        except Forbidden as exc:
            logger.warning("outbox %s: chat %s blocked the bot", item_id, chat_id)
            _finish(engine, item_id, OutboxStatus.BLOCKED, error=str(exc))
            result.blocked += 1
        except RetryAfter as exc:
            _finish(engine, item_id, OutboxStatus.QUEUED, error=str(exc))
            result.retry_later += 1
            logger.warning("outbox: flood control, retrying after %s", exc.retry_after)
            break
        except BadRequest as exc:
            logger.error("outbox %s refused by Telegram: %s", item_id, exc)
            _finish(engine, item_id, OutboxStatus.FAILED, error=str(exc))
            result.failed += 1
        except NetworkError as exc:
            _finish(engine, item_id, OutboxStatus.QUEUED, error=str(exc))
            result.retry_later += 1
            logger.warning("outbox: network error (%s); will retry", exc)
            break
        else:
            _finish(engine, item_id, OutboxStatus.SENT, message_id=sent.message_id)
            result.sent += 1
    return result
