"""``/status``: the coordinator's view of who has submitted in their office's open rounds."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CommandHandler

from bot import views
from handlers.common import Context, coordinators_only, send
from services.status import office_status


@coordinators_only
async def status(update: Update, context: Context) -> None:
    contact = context.known_contact
    with context.runtime.reading() as session:
        rounds = office_status(session, office_id=contact.office_id)
    await send(update, context, views.status_message(rounds, contact.language))


HANDLERS = [CommandHandler("status", status)]
