"""``/help``, ``/lang`` and the answer to unknown commands and buttons."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot import views
from handlers.common import Context, keep_replies, send, send_kept, unknown_button
from models.tables import Contact, Role

_LANGUAGE_CHOICES = {
    "zh": "zh-Hans",
    "zh-hans": "zh-Hans",
    "中文": "zh-Hans",
    "en": "en",
    "english": "en",
}


async def help_command(update: Update, context: Context) -> None:
    contact = context.known_contact
    await send(update, context, views.help_text(Role(contact.role), contact.language))


async def lang(update: Update, context: Context) -> None:
    contact = context.known_contact
    choice = _LANGUAGE_CHOICES.get((context.args or [""])[0].lower())
    if choice is None:
        await send(update, context, views.language_usage(contact.language))
        return
    with context.runtime.update_transaction(update) as session:
        if session is not None:
            row = session.get(Contact, contact.id)
            assert row is not None
            row.language = choice
            session.add(row)
            keep_replies(session, update, views.language_set(choice))
    await send_kept(update, context)


async def unknown_command(update: Update, context: Context) -> None:
    await send(update, context, views.unknown_command(context.language))


HANDLERS = [CommandHandler("help", help_command), CommandHandler("lang", lang)]
# Last of all: any other /command, and any button press no feature recognised (every press
# is answered, or the user's spinner turns on).
FALLBACK = [MessageHandler(filters.COMMAND, unknown_command), CallbackQueryHandler(unknown_button)]
