"""``/start <code>``: redeem an invite; ``/start`` alone: say who you are here."""

from __future__ import annotations

import logging

from sqlmodel import Session
from telegram import Update
from telegram.ext import CommandHandler

from bot import views
from handlers.common import Context, display_name, keep_replies, send, send_kept
from models.tables import Office, Role, Unit
from services.onboarding import InviteRefused, redeem_invite

logger = logging.getLogger(__name__)


async def start(update: Update, context: Context) -> None:
    if not context.args:
        await _who_am_i(update, context)
        return
    with context.runtime.update_transaction(update) as session:
        if session is not None:
            keep_replies(session, update, _redeem(session, update, context, context.args[0]))
    await send_kept(update, context)


def _redeem(session: Session, update: Update, context: Context, code: str) -> views.Outgoing:
    user = update.effective_user
    chat = update.effective_chat
    assert user is not None and chat is not None
    name = display_name(update)
    try:
        binding = redeem_invite(
            session,
            code=code,
            telegram_user_id=user.id,
            chat_id=chat.id,
            display_name=name,
            language=context.language,
            now=context.runtime.now(),
        )
    except InviteRefused as refused:
        logger.info("invite refused for user %s: %s", user.id, refused.reason)
        return views.invite_refused(refused.reason, context.language)
    logger.info("user %s bound as %s", user.id, binding.role)
    return views.welcome(binding, name)


async def _who_am_i(update: Update, context: Context) -> None:
    contact = context.contact
    if contact is None:
        await send(update, context, views.not_bound(context.language))
        return
    with context.runtime.reading() as session:
        office = session.get(Office, contact.office_id)
        unit = session.get(Unit, contact.unit_id) if contact.unit_id else None
    await send(
        update,
        context,
        views.already_bound(
            Role(contact.role),
            unit.name if unit else None,
            office.name if office else "",
            contact.language,
        ),
    )


HANDLERS = [CommandHandler("start", start)]
