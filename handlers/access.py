"""Access control, run before every other handler (negative group).

Only private chats are served, and only bound contacts get past this gate; ``/start`` is let
through so an invite can be redeemed. Everything else from a stranger gets a short polite
message and no data. The contact found here is kept on the context for the feature handlers.
"""

from __future__ import annotations

import logging
from typing import NoReturn

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop, TypeHandler

from bot import views
from domain.flood import FloodVerdict
from handlers.common import Context, answer_query, send
from models.crud import get_contact
from models.db import write_session
from services.onboarding import needs_recording, recognise

logger = logging.getLogger(__name__)


def _is_start_command(update: Update) -> bool:
    message = update.message
    if message is None or not message.text:
        return False
    return message.text.split(maxsplit=1)[0].split("@")[0] == "/start"


async def _refuse(update: Update, context: Context, outgoing: views.Outgoing | None) -> NoReturn:
    """Stop the update here, whatever happens to the refusal being sent: an error in this
    group must not let the update through to the feature handlers."""
    try:
        await answer_query(update)
        if outgoing is not None:
            await send(update, context, outgoing)
    except Exception:
        logger.warning("could not send a refusal", exc_info=True)
    raise ApplicationHandlerStop


async def gate(update: Update, context: Context) -> None:
    chat = update.effective_chat
    user = update.effective_user
    if chat is None or user is None:
        raise ApplicationHandlerStop
    if chat.type != ChatType.PRIVATE:
        message = update.effective_message
        if message is not None and message.text and message.text.startswith("/"):
            await _refuse(update, context, views.group_refused(context.language))
        await _refuse(update, context, None)
    rt = context.runtime
    message = update.message
    verdict = rt.flood.check(user.id, now=rt.now(), sent=message.date if message else None)
    if verdict is not FloodVerdict.ALLOW:
        logger.warning("flood limit: dropping an update of user %s", user.id)
        warning = views.too_fast(context.language) if verdict is FloodVerdict.WARN else None
        await _refuse(update, context, warning)
    # Most updates only read the contact; last-seen times are written at most every few
    # minutes, so an answer costs one write transaction (its own), not two. The read is one
    # statement, without a transaction around it.
    with rt.reading_once() as session:
        contact = get_contact(session, telegram_user_id=user.id)
    if needs_recording(contact, rt.now()):
        with write_session(rt.engine) as session:
            contact = recognise(session, telegram_user_id=user.id, now=rt.now())
    context.contact = contact if contact is None or contact.active else None
    if context.contact is None and not _is_start_command(update):
        await _refuse(update, context, views.not_bound(context.language))


HANDLERS = [TypeHandler(Update, gate)]
