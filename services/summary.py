"""Loading a summary's records from the database (the compile itself is ``reports.compile``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Engine, String, type_coerce
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from bot.config import FigbotConfig
from domain.periods import Period, PeriodKind
from models.crud import indicators_by_key
from models.db import read_session
from models.tables import (
    Contact,
    Form,
    Office,
    Round,
    Submission,
    Unit,
    Value,
    ValueRevision,
)
from reports.compile import (
    Aggregation,
    IndicatorSpec,
    RevisionRecord,
    SubmissionRecord,
    SummaryInput,
    UnitSpec,
    compile_summary,
    periods_needed,
)
from reports.text import file_name
from reports.xlsx import write_xlsx

# Which forms a period can be compiled from, preferred first: its own, else finer ones rolled up.
_SOURCES = {
    PeriodKind.WEEK: [PeriodKind.WEEK],
    PeriodKind.MONTH: [PeriodKind.MONTH],
    PeriodKind.QUARTER: [PeriodKind.QUARTER, PeriodKind.MONTH],
    PeriodKind.YEAR: [PeriodKind.YEAR, PeriodKind.QUARTER, PeriodKind.MONTH],
}


class SummaryError(ValueError):
    """The summary cannot be made (unknown form, period of the wrong kind, no rounds)."""


@dataclass(frozen=True)
class SummaryTarget:
    office_id: int
    form_key: str
    period: Period


def default_target(session: Session, *, office_id: int, now: datetime) -> SummaryTarget:
    """The current round of the office, or the last one."""
    round_ = session.exec(
        select(Round)
        .where(Round.office_id == office_id, col(Round.opens_at) <= now)
        .order_by(col(Round.deadline).desc())
    ).first()
    if round_ is None:
        raise SummaryError("no round yet")
    form = session.get(Form, round_.form_id)
    assert form is not None
    return SummaryTarget(office_id, form.key, Period.parse(round_.period))


def target_for(
    session: Session, *, office_id: int, period_text: str, form_key: str | None = None
) -> SummaryTarget:
    period = Period.parse(period_text)
    forms = session.exec(select(Form).where(Form.active == True)).all()  # noqa: E712
    if form_key is not None:
        forms = [form for form in forms if form.key == form_key]
        if not forms:
            raise SummaryError(f"unknown form {form_key!r}")
    for kind in _SOURCES[period.kind]:
        for form in forms:
            if form.period_kind == kind:
                return SummaryTarget(office_id, form.key, period)
    raise SummaryError(f"no form can be summarised per {period.kind.value}")


def _plain_rows(session: Session, statement: Any) -> list[tuple[Any, ...]]:
    """Run a SELECT on the driver's own cursor: plain tuples, without building a SQLAlchemy Row
    per record (the load of a large office is mostly that cost). Only integer ids are inlined."""
    connection = session.connection()
    sql = str(statement.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def load_summary_input(
    session: Session, *, config: FigbotConfig, target: SummaryTarget
) -> SummaryInput:
    office = session.get(Office, target.office_id)
    form = session.exec(select(Form).where(Form.key == target.form_key)).first()
    if office is None or form is None:
        raise SummaryError("unknown office or form")
    form_kind = PeriodKind(form.period_kind)
    try:
        needed = periods_needed(target.period, form_kind)
    except ValueError as exc:
        raise SummaryError(str(exc)) from None
    aggregations = {i.key: Aggregation(i.aggregation) for i in config.indicators}
    indicators = indicators_by_key(session, keys=list(form.indicator_keys))
    specs = [
        IndicatorSpec(
            key,
            indicators[key].label,
            indicators[key].measure_word,
            aggregations.get(key, Aggregation.SUM),
        )
        for key in form.indicator_keys
        if key in indicators
    ]
    all_units = session.exec(
        select(Unit).where(Unit.office_id == office.id).order_by(col(Unit.id))
    ).all()
    units = [unit for unit in all_units if unit.active]
    rounds = {
        r.id: r
        for r in session.exec(
            select(Round).where(
                Round.office_id == office.id,
                Round.form_id == form.id,
                col(Round.period).in_(needed),
            )
        ).all()
    }
    names = {c.id: c.display_name for c in session.exec(select(Contact)).all()}
    submissions = pd.DataFrame(
        _plain_rows(
            session,
            sa_select(
                col(Submission.unit_id),
                col(Round.period),
                type_coerce(col(Submission.updated_at), String),
                col(Submission.submitted_by_contact_id),
                col(Submission.late),
            )
            .join(Round, col(Submission.round_id) == col(Round.id))
            .where(col(Round.id).in_(list(rounds))),
        ),
        columns=["unit_id", "period", "at", "contact_id", "late"],
    )
    submitted_at = pd.to_datetime(submissions["at"], utc=True, format="ISO8601")
    # Values are read as plain rows straight into a frame (a large office has millions),
    # joined on the few rounds rather than listing submission ids (SQLite caps bound variables).
    round_ids = list(rounds)
    value_rows = _plain_rows(
        session,
        sa_select(
            col(Submission.unit_id),
            col(Round.period),
            col(Value.indicator_key),
            col(Value.value),
            type_coerce(col(Value.updated_at), String),  # parsed below, all at once
            col(Value.updated_by_contact_id),
            col(Value.note),
        )
        .select_from(Value)
        .join(Submission, col(Value.submission_id) == col(Submission.id))
        .join(Round, col(Submission.round_id) == col(Round.id))
        .where(col(Round.id).in_(round_ids)),
    )
    values = pd.DataFrame(
        value_rows,
        columns=["unit_id", "period", "indicator_key", "value", "updated_at", "contact_id", "note"],
    )
    values["updated_at"] = pd.to_datetime(values["updated_at"], utc=True, format="ISO8601")
    values["updated_by"] = values["contact_id"].map(names).fillna("?")
    revision_rows = session.exec(
        select(ValueRevision, Submission.unit_id, Round.period)
        .join(Submission, col(ValueRevision.submission_id) == col(Submission.id))
        .join(Round, col(Submission.round_id) == col(Round.id))
        .where(col(Round.id).in_(round_ids))
    ).all()
    return SummaryInput(
        office_name=office.name,
        timezone=office.timezone,
        form_name=form.name,
        form_period_kind=form_kind,
        period=target.period,
        units=[UnitSpec(u.id or 0, u.code, u.name, u.kind) for u in units],
        former_units=[
            UnitSpec(u.id or 0, u.code, u.name, u.kind) for u in all_units if not u.active
        ],
        indicators=specs,
        submissions=[
            SubmissionRecord(
                unit_id, period, at.to_pydatetime(), names.get(contact_id, "?"), bool(late)
            )
            for unit_id, period, at, contact_id, late in zip(
                submissions["unit_id"],
                submissions["period"],
                submitted_at,
                submissions["contact_id"],
                submissions["late"],
                strict=True,
            )
        ],
        values=values,
        revisions=[
            RevisionRecord(
                unit_id,
                period,
                r.indicator_key,
                None if r.old_value is None else float(r.old_value),
                float(r.new_value),
                r.actor,
                r.at,
                r.via,
                r.reason,
            )
            for r, unit_id, period in revision_rows
        ],
    )


def round_workbook(engine: Engine, *, config: FigbotConfig, round_id: int) -> tuple[str, bytes]:
    """A round's summary workbook as it stands now (for the outbox; runs in a worker thread)."""
    with read_session(engine) as session:
        round_ = session.get(Round, round_id)
        if round_ is None:
            raise SummaryError(f"unknown round {round_id}")
        form = session.get(Form, round_.form_id)
        assert form is not None
        target = SummaryTarget(round_.office_id, form.key, Period.parse(round_.period))
        data = load_summary_input(session, config=config, target=target)
    summary = compile_summary(data)
    return file_name(summary, "xlsx"), write_xlsx(summary)
