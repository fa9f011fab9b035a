"""The reporter's conversation: ``/report``, the ``REPORT:*`` buttons, and typed answers.

The state is in the database (``services.reporting``); this module only translates Telegram
updates into service calls and sends the resulting screens after the commit.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot import views
from bot.callbacks import REPORT_PATTERN, ReportCallback
from handlers.common import (
    Context,
    answer_query,
    keep_replies,
    retire_buttons,
    send,
    send_kept,
    unknown_button,
)
from handlers.summaries import annual_report
from models.tables import Role
from services import reporting

logger = logging.getLogger(__name__)


async def report_command(update: Update, context: Context) -> None:
    contact = context.known_contact
    if contact.role != Role.REPORTER:  # a coordinator's /report 2026: the annual report draft
        await annual_report(update, context)
        return
    rt = context.runtime
    with rt.update_transaction(update) as session:
        if session is not None:
            screens = reporting.start(session, contact=contact, round_id=None, now=rt.now())
            keep_replies(session, update, views.render_screens(screens, contact.language))
    await send_kept(update, context)


async def button(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    contact = context.known_contact
    try:
        callback = ReportCallback.decode(query.data)
        action = reporting.Action(callback.action)
    except ValueError:  # a well-formed button with a verb this figbot does not know
        await unknown_button(update, context)
        return
    rt = context.runtime
    with rt.update_transaction(update) as session:
        if session is not None:
            screens = reporting.press(
                session,
                contact=contact,
                action=action,
                round_id=callback.round_id,
                key=callback.key,
                now=rt.now(),
            )
            keep_replies(session, update, views.render_screens(screens, contact.language))
    await answer_query(update)
    if action is not reporting.Action.START:
        await retire_buttons(update)
    await send_kept(update, context)


async def text_answer(update: Update, context: Context) -> None:
    message = update.effective_message
    assert message is not None and message.text is not None
    contact = context.known_contact
    rt = context.runtime
    with rt.update_transaction(update) as session:
        if session is not None:
            screens = reporting.answer_text(
                session, contact=contact, text=message.text, now=rt.now()
            )
            keep_replies(session, update, views.render_screens(screens, contact.language))
    await send_kept(update, context)


async def not_text(update: Update, context: Context) -> None:
    """A sticker, photo, voice… where a number is expected."""
    contact = context.known_contact
    with context.runtime.reading() as session:
        screens = reporting.current(session, contact=contact)
    await send(
        update,
        context,
        [views.send_text_please(contact.language)]
        + views.render_screens(screens, contact.language),
    )


HANDLERS = [
    CommandHandler("report", report_command),
    CallbackQueryHandler(button, pattern=REPORT_PATTERN),
    MessageHandler(filters.TEXT & ~filters.COMMAND, text_answer),
    MessageHandler(~filters.TEXT & ~filters.StatusUpdate.ALL, not_text),
]
