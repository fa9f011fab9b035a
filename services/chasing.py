"""Chasing: reminders to units that have not submitted, digests to coordinators, ``/remind``,
and telling coordinators when a unit loses its contact.

Everything goes through the outbox with a dedupe key, so a reminder is queued once however
often the scheduler runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from domain.periods import Period
from models.crud import coordinators, enqueue_message
from models.tables import (
    Contact,
    ConversationState,
    Form,
    Office,
    OutboxMessage,
    Role,
    Round,
    RoundStatus,
    Submission,
    Unit,
)

Rendered = tuple[str, dict[str, Any] | None]


@dataclass(frozen=True)
class RoundRef:
    round_id: int
    form_name: str
    period: Period
    deadline: datetime
    timezone: str


@dataclass(frozen=True)
class Reminder:
    round: RoundRef
    language: str
    unit_name: str
    answered: int | None  # questions answered in a draft, None when not started
    total: int


@dataclass(frozen=True)
class PendingUnit:
    name: str
    last_seen: datetime | None
    has_contact: bool


@dataclass(frozen=True)
class Digest:
    round: RoundRef
    language: str
    total_units: int
    pending: list[PendingUnit]
    at_deadline: bool


@dataclass(frozen=True)
class ContactLost:
    language: str
    unit_name: str
    contact_name: str
    remaining_contacts: int


@dataclass(frozen=True)
class Reopened:
    round: RoundRef
    language: str
    unit_name: str
    reopened: bool  # False: locked again


@dataclass(frozen=True)
class Renderers:
    """How each kind of message is worded (``bot.views`` provides them)."""

    reminder: Callable[[Reminder], Rendered]
    digest: Callable[[Digest], Rendered]
    contact_lost: Callable[[ContactLost], Rendered]
    reopened: Callable[[Reopened], Rendered]
    summary: Callable[[Any, str], Rendered]  # (reports.compile.Summary, language)


def round_ref(session: Session, round_: Round) -> RoundRef:
    form = session.get(Form, round_.form_id)
    office = session.get(Office, round_.office_id)
    assert form is not None and office is not None
    return RoundRef(
        round_id=round_.id or 0,
        form_name=form.name,
        period=Period.parse(round_.period),
        deadline=round_.deadline,
        timezone=office.timezone,
    )


def pending_units(session: Session, round_: Round) -> list[Unit]:
    submitted = select(Submission.unit_id).where(Submission.round_id == round_.id)
    return list(
        session.exec(
            select(Unit)
            .where(
                Unit.office_id == round_.office_id,
                Unit.active == True,  # noqa: E712
                col(Unit.id).not_in(submitted),
            )
            .order_by(col(Unit.id))
        ).all()
    )


def _reporters(session: Session, unit: Unit) -> list[Contact]:
    return list(
        session.exec(
            select(Contact)
            .where(
                Contact.unit_id == unit.id,
                Contact.role == Role.REPORTER,
                Contact.active == True,  # noqa: E712
            )
            .order_by(col(Contact.id))
        ).all()
    )


def queue_reminders(
    session: Session,
    *,
    round_: Round,
    units: list[Unit],
    key_prefix: str,
    renderers: Renderers,
    now: datetime,
) -> int:
    """Queue a reminder to every active reporter of ``units``; returns how many were new."""
    ref = round_ref(session, round_)
    queued = 0
    for unit in units:
        for contact in _reporters(session, unit):
            state = session.get(ConversationState, contact.id)
            answered = len(state.draft) if state and state.round_id == round_.id else None
            text, markup = renderers.reminder(
                Reminder(ref, contact.language, unit.name, answered, len(round_.indicator_keys))
            )
            if enqueue_message(
                session,
                dedupe_key=f"{key_prefix}:{contact.id}",
                chat_id=contact.chat_id,
                now=now,
                text=text,
                reply_markup=markup,
                contact_id=contact.id,
                kind="reminder",
                round_id=round_.id,
                unit_id=unit.id,
            ):
                queued += 1
    return queued


def queue_digest(
    session: Session,
    *,
    round_: Round,
    key_prefix: str,
    at_deadline: bool,
    renderers: Renderers,
    now: datetime,
) -> int:
    """Queue the list of pending units to every coordinator of the round's office."""
    ref = round_ref(session, round_)
    pending = [
        PendingUnit(unit.name, _last_seen(session, unit), bool(_reporters(session, unit)))
        for unit in pending_units(session, round_)
    ]
    total = len(
        session.exec(
            select(Unit.id).where(Unit.office_id == round_.office_id, Unit.active == True)  # noqa: E712
        ).all()
    )
    queued = 0
    for coordinator in coordinators(session, office_id=round_.office_id):
        text, markup = renderers.digest(
            Digest(ref, coordinator.language, total, pending, at_deadline)
        )
        if enqueue_message(
            session,
            dedupe_key=f"{key_prefix}:{coordinator.id}",
            chat_id=coordinator.chat_id,
            now=now,
            text=text,
            reply_markup=markup,
            contact_id=coordinator.id,
            kind="digest",
            round_id=round_.id,
        ):
            queued += 1
    return queued


def _last_seen(session: Session, unit: Unit) -> datetime | None:
    return session.exec(
        select(func.max(Contact.last_seen_at)).where(Contact.unit_id == unit.id)
    ).first()


def last_reminded(session: Session, *, round_id: int, unit_id: int) -> datetime | None:
    """When the unit was last prompted or reminded for the round."""
    return session.exec(
        select(func.max(OutboxMessage.created_at)).where(
            OutboxMessage.round_id == round_id,
            OutboxMessage.unit_id == unit_id,
            col(OutboxMessage.kind).in_(["prompt", "reminder"]),
        )
    ).first()


@dataclass(frozen=True)
class RemindResult:
    round: RoundRef | None
    reminded: list[str]
    cooling: list[tuple[str, int]]  # unit, minutes until it may be reminded again
    already_submitted: list[str]
    without_contact: list[str]
    unknown_unit: str | None = None


def remind_now(
    session: Session,
    *,
    coordinator: Contact,
    unit_text: str | None,
    now: datetime,
    cooldown: timedelta,
    renderers: Renderers,
) -> RemindResult:
    """A coordinator's ``/remind [unit]``: chase pending units of the most urgent open round."""
    from services.overrides import find_unit

    round_ = session.exec(
        select(Round)
        .where(Round.office_id == coordinator.office_id, Round.status == RoundStatus.OPEN)
        .order_by(col(Round.deadline))
    ).first()
    if round_ is None:
        return RemindResult(None, [], [], [], [])
    ref = round_ref(session, round_)
    pending = pending_units(session, round_)
    if unit_text:
        unit = find_unit(session, office_id=coordinator.office_id, text=unit_text)
        if unit is None:
            return RemindResult(ref, [], [], [], [], unknown_unit=unit_text)
        if unit not in pending:
            return RemindResult(ref, [], [], [unit.name], [])
        pending = [unit]
    reminded, cooling, without = [], [], []
    stamp = now.strftime("%Y%m%dT%H%M%S")
    for unit in pending:
        last = last_reminded(session, round_id=round_.id or 0, unit_id=unit.id or 0)
        if last is not None and now - last < cooldown:
            minutes = math.ceil((cooldown - (now - last)).total_seconds() / 60)
            cooling.append((unit.name, minutes))
            continue
        if queue_reminders(
            session,
            round_=round_,
            units=[unit],
            key_prefix=f"remind-now:{round_.id}:{unit.id}:{stamp}",
            renderers=renderers,
            now=now,
        ):
            reminded.append(unit.name)
        else:
            without.append(unit.name)
    return RemindResult(ref, reminded, cooling, [], without)


def contact_lost(session: Session, *, contact: Contact, renderers: Renderers, now: datetime) -> int:
    """Tell the office's coordinators that a unit's contact blocked the bot."""
    if contact.unit_id is None:
        return 0
    unit = session.get(Unit, contact.unit_id)
    assert unit is not None
    remaining = len([c for c in _reporters(session, unit) if c.id != contact.id])
    queued = 0
    for coordinator in coordinators(session, office_id=contact.office_id):
        text, markup = renderers.contact_lost(
            ContactLost(coordinator.language, unit.name, contact.display_name, remaining)
        )
        if enqueue_message(
            session,
            dedupe_key=f"contact-lost:{contact.id}:{now.isoformat()}:{coordinator.id}",
            chat_id=coordinator.chat_id,
            now=now,
            text=text,
            reply_markup=markup,
            contact_id=coordinator.id,
            kind="notice",
        ):
            queued += 1
    return queued


def notify_override(
    session: Session,
    *,
    round_id: int,
    reporters: list[Contact],
    unit_name: str,
    reopened: bool,
    now: datetime,
    renderers: Renderers,
) -> int:
    round_ = session.get(Round, round_id)
    assert round_ is not None
    ref = round_ref(session, round_)
    queued = 0
    for contact in reporters:
        text, markup = renderers.reopened(Reopened(ref, contact.language, unit_name, reopened))
        if enqueue_message(
            session,
            dedupe_key=f"override:{round_id}:{contact.id}:{now.isoformat()}",
            chat_id=contact.chat_id,
            now=now,
            text=text,
            reply_markup=markup,
            contact_id=contact.id,
            kind="notice",
            round_id=round_id,
            unit_id=contact.unit_id,
        ):
            queued += 1
    return queued


@dataclass(frozen=True)
class MissingUnit:
    unit_name: str
    contacts: list[str]
    last_reminded: datetime | None


def missing_units(session: Session, *, office_id: int) -> tuple[RoundRef | None, list[MissingUnit]]:
    """``/missing``: the most urgent open round's pending units, their contacts, last reminder."""
    round_ = session.exec(
        select(Round)
        .where(Round.office_id == office_id, Round.status == RoundStatus.OPEN)
        .order_by(col(Round.deadline))
    ).first()
    if round_ is None:
        return None, []
    rows = [
        MissingUnit(
            unit.name,
            [c.display_name for c in _reporters(session, unit)],
            last_reminded(session, round_id=round_.id or 0, unit_id=unit.id or 0),
        )
        for unit in pending_units(session, round_)
    ]
    return round_ref(session, round_), rows


SUMMARY_ATTACHMENT = "summary-xlsx"


def queue_summary(
    session: Session,
    *,
    round_: Round,
    summary: Any,
    key_prefix: str,
    renderers: Renderers,
    now: datetime,
) -> int:
    """Push the round's summary to the coordinators: the message, then the workbook (made when
    it is sent, so it holds the figures of that moment)."""
    queued = 0
    for coordinator in coordinators(session, office_id=round_.office_id):
        text, markup = renderers.summary(summary, coordinator.language)
        for suffix, kind, body, attachment in (
            ("", "summary", text, None),
            (":xlsx", "document", "", f"{SUMMARY_ATTACHMENT}:{round_.id}"),
        ):
            if (
                enqueue_message(
                    session,
                    dedupe_key=f"{key_prefix}:{coordinator.id}{suffix}",
                    chat_id=coordinator.chat_id,
                    text=body,
                    reply_markup=markup if attachment is None else None,
                    contact_id=coordinator.id,
                    kind=kind,
                    round_id=round_.id,
                    attachment=attachment,
                    now=now,
                )
                and attachment is None
            ):
                queued += 1
    return queued
