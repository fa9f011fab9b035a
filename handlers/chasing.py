"""Coordinators chase and unlock: ``/remind [unit]``, ``/reopen <unit> [period]``,
``/lock <unit> [period]``."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlmodel import Session
from telegram import Update
from telegram.ext import CommandHandler

from bot import views
from handlers.common import Context, coordinators_only, keep_replies, send, send_kept
from services.chasing import notify_override, remind_now
from services.overrides import OverrideRefused, set_override

logger = logging.getLogger(__name__)


@coordinators_only
async def remind(update: Update, context: Context) -> None:
    contact = context.known_contact
    rt = context.runtime
    unit_text = " ".join(context.args or []) or None
    with rt.update_transaction(update) as session:
        if session is not None:
            result = remind_now(
                session,
                coordinator=contact,
                unit_text=unit_text,
                now=rt.now(),
                cooldown=timedelta(minutes=rt.config.scheduler.remind_cooldown_minutes),
                renderers=views.RENDERERS,
            )
            keep_replies(session, update, views.remind_result(result, contact.language))
    await send_kept(update, context)
    await context.scheduler.flush(context.bot)


async def _override(update: Update, context: Context, *, reopen: bool) -> None:
    contact = context.known_contact
    args = context.args or []
    if not args:
        await send(update, context, views.override_usage(contact.language))
        return
    period = args[-1] if len(args) > 1 and args[-1][:1].isdigit() else None
    unit_text = " ".join(args[:-1] if period else args)
    rt = context.runtime
    with rt.update_transaction(update) as session:
        if session is not None:
            outgoing = _apply_override(session, context, unit_text, period, reopen=reopen)
            keep_replies(session, update, outgoing)
    await send_kept(update, context)
    await context.scheduler.flush(context.bot)


def _apply_override(
    session: Session, context: Context, unit_text: str, period: str | None, *, reopen: bool
) -> views.Outgoing:
    contact = context.known_contact
    rt = context.runtime
    try:
        done = set_override(
            session,
            coordinator=contact,
            unit_text=unit_text,
            reopen=reopen,
            now=rt.now(),
            period=period,
        )
    except OverrideRefused as refused:
        return views.override_refused(refused, contact.language)
    logger.info(
        "%s %s for round %s by contact %s",
        "reopened" if reopen else "locked",
        done.unit_name,
        done.round_id,
        contact.id,
    )
    notify_override(
        session,
        round_id=done.round_id,
        reporters=done.reporters,
        unit_name=done.unit_name,
        reopened=reopen,
        now=rt.now(),
        renderers=views.RENDERERS,
    )
    return views.override_done(done, reopen, contact.language)


@coordinators_only
async def reopen(update: Update, context: Context) -> None:
    await _override(update, context, reopen=True)


@coordinators_only
async def lock(update: Update, context: Context) -> None:
    await _override(update, context, reopen=False)


HANDLERS = [
    CommandHandler("remind", remind),
    CommandHandler("reopen", reopen),
    CommandHandler("lock", lock),
]
