"""Helpers every handler module uses: the runtime, the caller's contact, sending screens."""

from __future__ import annotations

import logging
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from bot.i18n import normalise_language
from bot.runtime import RUNTIME_KEY, Runtime
from bot.views import Outgoing
from models.tables import Contact
from services.onboarding import active_contact

logger = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE


def runtime(context: Context) -> Runtime:
    return context.application.bot_data[RUNTIME_KEY]  # type: ignore[no-any-return]


def user_language(update: Update) -> str:
    """The language for someone we do not know yet: from their Telegram client."""
    user = update.effective_user
    return normalise_language(user.language_code if user else None)


def current_contact(context: Context, update: Update) -> Contact | None:
    user = update.effective_user
    if user is None:
        return None
    with runtime(context).reading() as session:
        return active_contact(session, telegram_user_id=user.id)


def keyboard(outgoing: Outgoing) -> InlineKeyboardMarkup | None:
    if not outgoing.keyboard:
        return None
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(b.text, callback_data=b.callback_data) for b in row]
            for row in outgoing.keyboard
        ]
    )


async def send(update: Update, context: Context, outgoing: list[Outgoing] | Outgoing) -> None:
    """Send messages to the update's chat, in order."""
    chat = update.effective_chat
    if chat is None:
        return
    for message in outgoing if isinstance(outgoing, list) else [outgoing]:
        await context.bot.send_message(
            chat.id, message.text, parse_mode=ParseMode.HTML, reply_markup=keyboard(message)
        )


async def retire_buttons(update: Update) -> None:
    """Take the keyboard off the message whose button was pressed, so it cannot be pressed
    again out of turn; the message text stays as a record."""
    query = update.callback_query
    if query is None or query.message is None:
        return
    try:
        await query.edit_message_reply_markup(reply_markup=None)
    except BadRequest as exc:  # already without keyboard, or too old to edit
        logger.debug("could not retire buttons: %s", exc)


def display_name(update: Update) -> str:
    user = update.effective_user
    if user is None:
        return "?"
    return user.full_name or (user.username or str(user.id))


def log_extra(update: Update) -> dict[str, Any]:
    return {"update_id": update.update_id}
