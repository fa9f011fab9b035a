"""``/start <code>``: redeem an invite; ``/start`` alone: say who you are here."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import CommandHandler

from bot import views
from handlers.common import Context, display_name, send
from models.tables import Office, Role, Unit
from services.onboarding import InviteRefused, redeem_invite

logger = logging.getLogger(__name__)


async def start(update: Update, context: Context) -> None:
    user = update.effective_user
    chat = update.effective_chat
    assert user is not None and chat is not None
    if not context.args:
        await _who_am_i(update, context)
        return
    rt = context.runtime
    name = display_name(update)
    with rt.update_transaction(update.update_id) as session:
        if session is None:
            return
        try:
            binding = redeem_invite(
                session,
                code=context.args[0],
                telegram_user_id=user.id,
                chat_id=chat.id,
                display_name=name,
                language=context.language,
                now=rt.now(),
            )
        except InviteRefused as refused:
            logger.info("invite refused for user %s: %s", user.id, refused.reason)
            outgoing = views.invite_refused(refused.reason, context.language)
        else:
            logger.info("user %s bound as %s", user.id, binding.role)
            outgoing = views.welcome(binding, name)
    await send(update, context, outgoing)


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
