"""``/correct``: a coordinator corrects one unit's value in chat, audited like any change."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import CommandHandler

from bot import views
from domain.periods import Period, PeriodError
from handlers.common import Context, coordinators_only, keep_replies, send, send_kept
from services.corrections import CorrectionRefused, correct_value, notify_correction

logger = logging.getLogger(__name__)


def _period(text: str) -> str | None:
    try:
        return Period.parse(text).code
    except PeriodError:
        return None


@coordinators_only
async def correct(update: Update, context: Context) -> None:
    """/correct <unit> <indicator> <value> [period] <reason…>"""
    contact = context.known_contact
    args = context.args or []
    if len(args) < 3:
        await send(update, context, views.correction_usage(contact.language))
        return
    unit_text, indicator_text, value_text, *rest = args
    period = _period(rest[0]) if rest else None
    reason = " ".join(rest[1:] if period else rest)
    rt = context.runtime
    with rt.update_transaction(update) as session:
        if session is not None:
            try:
                done = correct_value(
                    session,
                    office_id=contact.office_id,
                    unit_text=unit_text,
                    indicator_text=indicator_text,
                    value_text=value_text,
                    reason=reason,
                    actor=f"{contact.display_name} (tg:{contact.telegram_user_id})",
                    contact_id=contact.id,
                    via="chat",
                    now=rt.now(),
                    period=period,
                )
            except CorrectionRefused as refused:
                keep_replies(session, update, views.correction_refused(refused, contact.language))
            else:
                notify_correction(
                    session, correction=done, now=rt.now(), render=views.correction_notice
                )
                keep_replies(session, update, views.correction_done(done, contact.language))
    await send_kept(update, context)
    await context.scheduler.flush(context.bot)


HANDLERS = [CommandHandler("correct", correct)]
