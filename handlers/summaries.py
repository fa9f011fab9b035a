"""Coordinators' summaries: ``/summary [period]`` (message + .xlsx) and ``/missing``.

Loading is a short database read; the compile and the workbook run off the event loop.
"""

from __future__ import annotations

import asyncio
import io
import logging

from telegram import InputFile, Update
from telegram.ext import CommandHandler

from bot import views
from domain.periods import PeriodError
from handlers.common import Context, send
from models.tables import Role
from reports.compile import compile_summary
from reports.xlsx import write_xlsx
from services.chasing import missing_units
from services.summary import SummaryError, default_target, load_summary_input, target_for

logger = logging.getLogger(__name__)


def _is_coordinator(context: Context) -> bool:
    return context.known_contact.role in (Role.COORDINATOR, Role.ADMIN)


async def summary(update: Update, context: Context) -> None:
    contact = context.known_contact
    if not _is_coordinator(context):
        await send(update, context, views.coordinators_only(contact.language))
        return
    rt = context.runtime
    period_text = context.args[0] if context.args else None
    with rt.reading() as session:
        try:
            if period_text:
                target = target_for(session, office_id=contact.office_id, period_text=period_text)
            else:
                target = default_target(session, office_id=contact.office_id, now=rt.now())
            data = load_summary_input(session, config=rt.config, target=target)
        except SummaryError as exc:
            problem = period_text or "no_round"
            logger.info("summary refused: %s", exc)
            await send(update, context, views.summary_refused(problem, contact.language))
            return
        except PeriodError:
            await send(update, context, views.summary_refused(period_text or "", contact.language))
            return
    compiled = await asyncio.to_thread(compile_summary, data)
    workbook = await asyncio.to_thread(write_xlsx, compiled)
    await send(update, context, views.summary_message(compiled, contact.language))
    assert update.effective_chat is not None
    await context.bot.send_document(
        update.effective_chat.id,
        InputFile(io.BytesIO(workbook), filename=views.summary_file_name(compiled, "xlsx")),
        rate_limit_args=2,
    )


async def missing(update: Update, context: Context) -> None:
    contact = context.known_contact
    if not _is_coordinator(context):
        await send(update, context, views.coordinators_only(contact.language))
        return
    with context.runtime.reading() as session:
        ref, rows = missing_units(session, office_id=contact.office_id)
    await send(update, context, views.missing_message(rows, ref, contact.language))


HANDLERS = [CommandHandler("summary", summary), CommandHandler("missing", missing)]
