"""What the scheduler does when it wakes: open rounds that are due, send due reminders and
digests, lock rounds past their lock time — each exactly once, recorded in ``schedule_event``.

It is a function of the database, the config and *now*, not of which timer fired: a late
wake-up, a restart or a long downtime all end in the same state. A round is opened only while
it is live (its opening time passed, its lock time not yet): after a longer downtime it is left
alone, and nobody is prompted to answer what is already locked. A reminder whose moment passed
while figbot was down is still sent once, unless it is stale (the deadline passed) or a later
reminder supersedes it; then it is recorded as skipped, with the reason, not dropped silently.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from bot.config import FigbotConfig
from domain.periods import Period
from domain.schedule import (
    EventKind,
    Offset,
    Schedule,
    before_deadline,
    live_timelines,
    timelines_between,
)
from models.tables import Form, Office, Round, RoundStatus, ScheduleEvent
from reports.compile import compile_summary
from services.chasing import (
    Renderers,
    pending_units,
    queue_digest,
    queue_reminders,
    queue_summary,
)
from services.rounds import PromptRenderer, RoundLocked, open_round, queue_prompts
from services.summary import SummaryTarget, load_summary_input

logger = logging.getLogger(__name__)

LOOKAHEAD = timedelta(days=400)


@dataclass
class TickReport:
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    queued: int = 0


def _recorded(session: Session, key: str) -> bool:
    return (
        session.exec(select(ScheduleEvent.id).where(ScheduleEvent.key == key)).first() is not None
    )


def _record(
    session: Session,
    report: TickReport,
    *,
    key: str,
    kind: EventKind,
    round_id: int | None,
    due_at: datetime,
    now: datetime,
    skipped: str | None = None,
    detail: str | None = None,
) -> None:
    session.add(
        ScheduleEvent(
            key=key,
            kind=kind.value,
            round_id=round_id,
            due_at=due_at,
            status="skipped" if skipped else "done",
            detail=skipped or detail,
            handled_at=now,
        )
    )
    session.flush()
    if skipped:
        logger.warning("schedule: %s skipped (%s)", key, skipped)
        report.skipped.append(key)
    else:
        logger.info("schedule: %s done (%s)", key, detail or "")
        report.done.append(key)


def _schedules(config: FigbotConfig) -> dict[str, Schedule]:
    return {form.key: form.as_schedule() for form in config.forms}


def run_due(
    session: Session,
    *,
    config: FigbotConfig,
    now: datetime,
    render_prompt: PromptRenderer,
    renderers: Renderers,
) -> TickReport:
    report = TickReport()
    schedules = _schedules(config)
    offices = session.exec(select(Office).where(Office.active == True)).all()  # noqa: E712
    forms = {form.key: form for form in session.exec(select(Form)).all()}

    # Rounds that should be open by now (catching up after downtime).
    for office in offices:
        for key, schedule in schedules.items():
            form = forms.get(key)
            if form is None or not form.active:
                continue
            for line in live_timelines(schedule, office.timezone, now):
                event_key = f"round-open:{form.key}:{line.period.code}:{office.code}"
                if _recorded(session, event_key):
                    continue
                try:
                    opened = open_round(
                        session,
                        form=form,
                        office=office,
                        period=line.period,
                        schedule=schedule,
                        now=now,
                        render_prompt=render_prompt,
                    )
                except RoundLocked as exc:  # locked or closed already, or past its lock time
                    _record(
                        session,
                        report,
                        key=event_key,
                        kind=EventKind.OPEN,
                        round_id=None,
                        due_at=line.opens_at,
                        now=now,
                        skipped=str(exc),
                    )
                    continue
                report.queued += opened.prompts_queued
                _record(
                    session,
                    report,
                    key=event_key,
                    kind=EventKind.OPEN,
                    round_id=opened.round_id,
                    due_at=line.opens_at,
                    now=now,
                    detail=f"{opened.prompts_queued} prompt(s)",
                )

    # Reminders, digests and the lock of every round still open.
    rounds = session.exec(select(Round).where(Round.status == RoundStatus.OPEN)).all()
    for round_ in rounds:
        round_form = session.get(Form, round_.form_id)
        round_office = session.get(Office, round_.office_id)
        assert round_form is not None and round_office is not None
        base = f"{round_form.key}:{round_.period}:{round_office.code}"
        if now < round_.deadline:  # reporters bound since the round opened
            report.queued += queue_prompts(
                session,
                round_=round_,
                form=round_form,
                office=round_office,
                render_prompt=render_prompt,
                now=now,
            )
        round_schedule = schedules.get(round_form.key)
        if round_schedule is not None:
            zone = round_office.timezone
            _reminders(session, report, round_, base, round_schedule, zone, now, renderers)
            _digests(session, report, round_, base, round_schedule, zone, now, renderers)
        if round_.deadline <= now and config.reports.push_summary_at_deadline:
            _push_summary(session, report, round_, round_form.key, base, config, now, renderers)
        if round_.lock_at <= now:
            round_.status = RoundStatus.LOCKED
            session.add(round_)
            _record(
                session,
                report,
                key=f"lock:{base}",
                kind=EventKind.LOCK,
                round_id=round_.id,
                due_at=round_.lock_at,
                now=now,
                detail=f"{len(pending_units(session, round_))} unit(s) never submitted",
            )
    return report


def _reminders(
    session: Session,
    report: TickReport,
    round_: Round,
    base: str,
    schedule: Schedule,
    timezone: str,
    now: datetime,
    renderers: Renderers,
) -> None:
    due = sorted(
        (before_deadline(round_.deadline, offset, schedule, timezone), offset)
        for offset in schedule.reminders
    )
    due = [(at, offset) for at, offset in due if at <= now]
    due = [(at, o) for at, o in due if not _recorded(session, f"reminder:{base}:{o.label}")]
    for index, (at, offset) in enumerate(due):
        key = f"reminder:{base}:{offset.label}"
        if now >= round_.deadline:
            reason = "stale: the deadline has passed"
        elif index < len(due) - 1:
            reason = "superseded by a later reminder due at the same time"
        else:
            reason = None
        if reason:
            _record(
                session,
                report,
                key=key,
                kind=EventKind.REMINDER,
                round_id=round_.id,
                due_at=at,
                now=now,
                skipped=reason,
            )
            continue
        queued = queue_reminders(
            session,
            round_=round_,
            units=pending_units(session, round_),
            key_prefix=key,
            renderers=renderers,
            now=now,
        )
        report.queued += queued
        _record(
            session,
            report,
            key=key,
            kind=EventKind.REMINDER,
            round_id=round_.id,
            due_at=at,
            now=now,
            detail=f"{queued} reminder(s)",
        )


def _digests(
    session: Session,
    report: TickReport,
    round_: Round,
    base: str,
    schedule: Schedule,
    timezone: str,
    now: datetime,
    renderers: Renderers,
) -> None:
    for offset in schedule.digests:
        at = before_deadline(round_.deadline, offset, schedule, timezone)
        key = f"digest:{base}:{offset.label}"
        if at > now or _recorded(session, key):
            continue
        at_deadline = offset == Offset()
        stale_from = round_.lock_at if at_deadline else round_.deadline
        if now >= stale_from:
            _record(
                session,
                report,
                key=key,
                kind=EventKind.DIGEST,
                round_id=round_.id,
                due_at=at,
                now=now,
                skipped="stale",
            )
            continue
        queued = queue_digest(
            session,
            round_=round_,
            key_prefix=key,
            at_deadline=at_deadline,
            renderers=renderers,
            now=now,
        )
        report.queued += queued
        _record(
            session,
            report,
            key=key,
            kind=EventKind.DIGEST,
            round_id=round_.id,
            due_at=at,
            now=now,
            detail=f"{queued} digest(s)",
        )


def _push_summary(
    session: Session,
    report: TickReport,
    round_: Round,
    form_key: str,
    base: str,
    config: FigbotConfig,
    now: datetime,
    renderers: Renderers,
) -> None:
    key = f"summary:{base}"
    if _recorded(session, key):
        return
    target = SummaryTarget(round_.office_id, form_key, Period.parse(round_.period))
    summary = compile_summary(load_summary_input(session, config=config, target=target))
    queued = queue_summary(
        session, round_=round_, summary=summary, key_prefix=key, renderers=renderers, now=now
    )
    report.queued += queued
    _record(
        session,
        report,
        key=key,
        kind=EventKind.DEADLINE,
        round_id=round_.id,
        due_at=round_.deadline,
        now=now,
        detail=f"summary to {queued} coordinator(s)",
    )


def next_due(session: Session, *, config: FigbotConfig, now: datetime) -> datetime | None:
    """When the scheduler next has something to do (None: nothing scheduled)."""
    candidates: list[datetime] = []
    schedules = _schedules(config)
    offices = session.exec(select(Office).where(Office.active == True)).all()  # noqa: E712
    for office in offices:
        for schedule in schedules.values():
            if schedule.open_cron is None:
                continue
            for line in timelines_between(schedule, office.timezone, now, now + LOOKAHEAD):
                if line.opens_at > now:
                    candidates.append(line.opens_at)
                    break
    rounds = session.exec(
        select(Round).where(Round.status == RoundStatus.OPEN).order_by(col(Round.deadline))
    ).all()
    for round_ in rounds:
        round_form = session.get(Form, round_.form_id)
        round_office = session.get(Office, round_.office_id)
        assert round_form is not None and round_office is not None
        times = [round_.lock_at, round_.deadline]
        round_schedule = schedules.get(round_form.key)
        if round_schedule is not None:
            times += [
                before_deadline(round_.deadline, offset, round_schedule, round_office.timezone)
                for offset in (*round_schedule.reminders, *round_schedule.digests)
            ]
        candidates += [t for t in times if t > now]
    return min(candidates) if candidates else None


@dataclass(frozen=True)
class CalendarEntry:
    office: str
    form: str
    period: Period
    kind: EventKind
    at: datetime
    label: str
    timezone: str


def calendar(config: FigbotConfig, *, now: datetime, periods: int) -> list[CalendarEntry]:
    """The coming events of the next ``periods`` scheduled rounds of every form and office."""
    entries: list[CalendarEntry] = []
    for office in config.offices:
        for form in config.forms:
            schedule = form.as_schedule()
            if schedule.open_cron is None:
                continue
            lines = [
                line
                for line in timelines_between(
                    schedule, office.timezone, now - LOOKAHEAD, now + LOOKAHEAD
                )
                if line.lock_at > now
            ][:periods]
            for line in lines:
                entries += [
                    CalendarEntry(
                        office.name,
                        form.name,
                        line.period,
                        event.kind,
                        event.at,
                        event.label,
                        office.timezone,
                    )
                    for event in line.events()
                    if event.at > now
                ]
    return sorted(entries, key=lambda entry: (entry.at, entry.office, entry.form))
