"""Coordinators' summaries: ``/summary [period]`` (message + .xlsx) and ``/missing``.

Loading is a short database read; the compile and the workbook run off the event loop.
"""

from __future__ import annotations

import asyncio
import io
import logging
import math

from telegram import InputFile, Update
from telegram.ext import CommandHandler

from bot import views
from domain.periods import PeriodError
from handlers.common import Context, coordinators_only, send
from reports.annual import (
    DEFAULT_TEMPLATE,
    ReportTemplateError,
    ReportTemplateTooSlow,
    draft_report,
)
from reports.charts import CJKFontMissing, bar_chart_png, trend_chart_png
from reports.compile import IndicatorSpec, SummaryInput, compile_summary
from reports.text import file_name, period_zh
from reports.xlsx import write_xlsx
from services.chasing import missing_units
from services.summary import (
    SummaryError,
    SummaryTarget,
    default_target,
    load_summary_input,
    target_for,
)

logger = logging.getLogger(__name__)


@coordinators_only
async def summary(update: Update, context: Context) -> None:
    contact = context.known_contact
    rt = context.runtime
    period_text = context.args[0] if context.args else None
    try:
        with rt.reading() as session:
            if period_text:
                target = target_for(session, office_id=contact.office_id, period_text=period_text)
            else:
                target = default_target(session, office_id=contact.office_id, now=rt.now())
            data = load_summary_input(session, config=rt.config, target=target)
    except SummaryError as exc:
        logger.info("summary refused: %s", exc)
        problem = period_text or "no_round"
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
        InputFile(io.BytesIO(workbook), filename=file_name(compiled, "xlsx")),
        rate_limit_args=2,
    )


@coordinators_only
async def missing(update: Update, context: Context) -> None:
    contact = context.known_contact
    with context.runtime.reading() as session:
        ref, rows = missing_units(session, office_id=contact.office_id)
    await send(update, context, views.missing_message(rows, ref, contact.language))


async def annual_report(update: Update, context: Context) -> None:
    """``/report 2026`` from a coordinator: the statistics paragraphs of the annual report."""
    contact = context.known_contact
    rt = context.runtime
    year_text = context.args[0] if context.args else str(rt.now().year)
    if not (year_text.isdigit() and len(year_text) == 4):
        await send(update, context, views.report_usage(contact.language))
        return
    try:
        with rt.reading() as session:
            target = target_for(session, office_id=contact.office_id, period_text=year_text)
            data = load_summary_input(session, config=rt.config, target=target)
    except (SummaryError, PeriodError):
        await send(update, context, views.summary_refused(year_text, contact.language))
        return
    compiled = await asyncio.to_thread(compile_summary, data)
    reports = rt.config.reports
    try:
        text = await asyncio.to_thread(
            draft_report,
            compiled,
            reports.annual_template or DEFAULT_TEMPLATE,
            seconds=reports.annual_template_seconds,
        )
    except ReportTemplateTooSlow as exc:
        logger.error("%s", exc)
        await send(update, context, views.report_template_too_slow(exc.seconds, contact.language))
        return
    except ReportTemplateError as exc:
        logger.error("%s", exc)
        await send(update, context, views.report_template_broken(str(exc), contact.language))
        return
    await send(update, context, views.report_message(text, compiled, contact.language))
    assert update.effective_chat is not None
    await context.bot.send_document(
        update.effective_chat.id,
        InputFile(
            io.BytesIO(text.encode("utf-8")),
            filename=file_name(compiled, "txt").replace(".txt", "-年报.txt"),
        ),
        rate_limit_args=2,
    )


def _find_indicator(data_indicators: list[IndicatorSpec], text: str) -> IndicatorSpec | None:
    for spec in data_indicators:
        if text in (spec.key, spec.label):
            return spec
    matches = [spec for spec in data_indicators if text in spec.label]
    return matches[0] if len(matches) == 1 else None


@coordinators_only
async def chart(update: Update, context: Context) -> None:
    """``/chart <indicator> [period]`` (by unit) or ``/chart <indicator> trend`` (12 periods)."""
    contact = context.known_contact
    args = context.args or []
    if not args:
        await send(update, context, views.chart_usage(contact.language))
        return
    rt = context.runtime
    trend = len(args) > 1 and args[1].lower() in ("trend", "趋势")
    period_text = args[1] if len(args) > 1 and not trend else None
    try:
        with rt.reading() as session:
            if period_text:
                target = target_for(session, office_id=contact.office_id, period_text=period_text)
            else:
                target = default_target(session, office_id=contact.office_id, now=rt.now())
            periods = (
                [target.period.shift(-i) for i in range(11, -1, -1)] if trend else [target.period]
            )
            inputs = [
                load_summary_input(
                    session,
                    config=rt.config,
                    target=SummaryTarget(target.office_id, target.form_key, p),
                )
                for p in periods
            ]
    except (SummaryError, PeriodError):
        await send(update, context, views.summary_refused(period_text or "", contact.language))
        return
    spec = _find_indicator(inputs[-1].indicators, args[0])
    if spec is None:
        await send(
            update,
            context,
            views.unknown_indicator(args[0], inputs[-1].indicators, contact.language),
        )
        return
    try:
        png = await asyncio.to_thread(_render_chart, inputs, spec, trend)
    except CJKFontMissing as exc:
        logger.error("%s", exc)
        await send(update, context, views.chart_unavailable(contact.language))
        return
    assert update.effective_chat is not None
    await context.bot.send_photo(update.effective_chat.id, png, rate_limit_args=2)


def _render_chart(inputs: list[SummaryInput], spec: IndicatorSpec, trend: bool) -> bytes:
    summaries = [compile_summary(data) for data in inputs]
    last = summaries[-1]
    if trend:
        return trend_chart_png(
            title=f"{last.office_name} {spec.label}（近{len(summaries)}期）",
            periods=[period_zh(s.period) for s in summaries],
            values=[_or_none(s.totals[spec.key]) for s in summaries],
            measure_word=spec.measure_word,
        )
    return bar_chart_png(
        title=f"{last.office_name} {period_zh(last.period)} {spec.label}",
        labels=last.table["unit"].tolist(),
        values=[_or_none(v) for v in last.table[spec.key].tolist()],
        measure_word=spec.measure_word,
    )


def _or_none(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


HANDLERS = [
    CommandHandler("summary", summary),
    CommandHandler("missing", missing),
    CommandHandler("chart", chart),
]
