"""Opening a collection round and queueing its prompts.

Opening is idempotent: (form, period, office) is unique, and each contact's prompt has a dedupe
key in the outbox, so running it twice opens one round and prompts nobody twice, while a
contact bound since the first run is prompted on the second.

A round past its lock time prompts nobody: the prompt's [开始填报] would only answer "已锁定".
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from domain.periods import Period, PeriodKind
from domain.rounds import Window, submission_window
from domain.schedule import Schedule, timeline
from models.crud import enqueue_message, get_round
from models.tables import (
    Contact,
    Form,
    Office,
    OutboxMessage,
    Role,
    Round,
    RoundStatus,
    Submission,
    Unit,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prompt:
    """What a prompt message needs to say, in the contact's language."""

    round_id: int
    language: str
    unit_name: str
    form_name: str
    period: Period
    deadline: datetime
    timezone: str


PromptRenderer = Callable[[Prompt], tuple[str, dict[str, Any]]]


@dataclass(frozen=True)
class OpenedRound:
    round_id: int
    created: bool
    prompts_queued: int
    deadline: datetime
    locked: bool = False  # past its lock time: nobody was prompted


class RoundError(ValueError):
    """The round cannot be opened (unknown form or office, wrong period kind)."""


class RoundLocked(RoundError):
    """The round's lock time has passed (or it was closed): it prompts nobody."""

    def __init__(
        self, *, form: Form, office: Office, period: Period, lock_at: datetime, exists: bool
    ) -> None:
        state = "is locked since" if exists else "would have locked at"
        super().__init__(
            f"round {form.key} {period.code} of {office.code} {state} "
            f"{lock_at:%Y-%m-%d %H:%M} UTC: nobody is prompted"
        )
        self.form = form
        self.office = office
        self.period = period
        self.lock_at = lock_at
        self.exists = exists


def prompt_key(form: Form, period: Period, office: Office, contact_id: int | None) -> str:
    return f"round-open:{form.key}:{period.code}:{office.code}:{contact_id}"


def open_round(
    session: Session,
    *,
    form: Form,
    office: Office,
    period: Period,
    schedule: Schedule,
    now: datetime,
    render_prompt: PromptRenderer,
    locked: bool = False,
) -> OpenedRound:
    """Open the round (once) and queue a prompt for every active reporter not prompted yet.

    A round past its lock time raises :class:`RoundLocked` and changes nothing — unless
    ``locked``: then it is opened locked (if new) and nobody is prompted, so that coordinators
    can reopen single units of it (``/reopen``)."""
    if period.kind is not PeriodKind(form.period_kind):
        raise RoundError(f"form {form.key} is collected per {form.period_kind}, not {period.kind}")
    assert form.id is not None and office.id is not None
    round_ = get_round(session, form_id=form.id, office_id=office.id, period=period.code)
    created = round_ is None
    if round_ is None:
        line = timeline(schedule, period, now, office.timezone)
        round_ = Round(
            form_id=form.id,
            office_id=office.id,
            period=period.code,
            indicator_keys=list(form.indicator_keys),
            opens_at=now,
            deadline=line.deadline,
            lock_at=line.lock_at,
            status=RoundStatus.OPEN,
        )
    past_lock = _past_lock(round_, now)
    if past_lock and not locked:
        raise RoundLocked(
            form=form, office=office, period=period, lock_at=round_.lock_at, exists=not created
        )
    if created:
        if past_lock:  # nothing for the scheduler to do: no reminders, digests or summary
            round_.status = RoundStatus.LOCKED
        session.add(round_)
        session.flush()
        logger.info(
            "opened round %s %s for %s%s",
            form.key,
            period.code,
            office.code,
            " (locked)" if past_lock else "",
        )
    assert round_.id is not None
    queued = (
        0
        if past_lock
        else queue_prompts(
            session, round_=round_, form=form, office=office, render_prompt=render_prompt, now=now
        )
    )
    return OpenedRound(
        round_id=round_.id,
        created=created,
        prompts_queued=queued,
        deadline=round_.deadline,
        locked=past_lock,
    )


def _past_lock(round_: Round, now: datetime) -> bool:
    """No reporter could answer a prompt now: the rule their [开始填报] follows."""
    window = submission_window(
        round_closed=round_.status == RoundStatus.CLOSED,
        deadline=round_.deadline,
        lock_at=round_.lock_at,
        now=now,
    )
    return window in (Window.LOCKED, Window.CLOSED) or round_.status == RoundStatus.LOCKED


def queue_prompts(
    session: Session,
    *,
    round_: Round,
    form: Form,
    office: Office,
    render_prompt: PromptRenderer,
    now: datetime,
) -> int:
    """Queue the round's prompt to every active reporter not prompted yet whose unit has not
    submitted (a reporter bound while the round is open is prompted too)."""
    assert round_.id is not None
    period = Period.parse(round_.period)
    prompted = set(
        session.exec(
            select(OutboxMessage.contact_id).where(
                OutboxMessage.round_id == round_.id, OutboxMessage.kind == "prompt"
            )
        ).all()
    )
    submitted = select(Submission.unit_id).where(Submission.round_id == round_.id)
    reporters = session.execute(  # columns, not objects: an office may have 10,000 reporters
        sa_select(
            col(Contact.id),
            col(Contact.chat_id),
            col(Contact.language),
            col(Unit.id),
            col(Unit.name),
        )
        .join(Unit, col(Contact.unit_id) == col(Unit.id))
        .where(
            col(Contact.office_id) == office.id,
            col(Contact.role) == Role.REPORTER,
            col(Contact.active) == True,  # noqa: E712
            col(Unit.active) == True,  # noqa: E712
            col(Unit.id).not_in(submitted),
        )
        .order_by(col(Unit.id), col(Contact.id))
    ).all()
    queued = 0
    for contact_id, chat_id, language, unit_id, unit_name in reporters:
        if contact_id in prompted:
            continue
        text, markup = render_prompt(
            Prompt(
                round_id=round_.id,
                language=language,
                unit_name=unit_name,
                form_name=form.name,
                period=period,
                deadline=round_.deadline,
                timezone=office.timezone,
            )
        )
        if enqueue_message(
            session,
            dedupe_key=prompt_key(form, period, office, contact_id),
            chat_id=chat_id,
            now=now,
            contact_id=contact_id,
            text=text,
            reply_markup=markup,
            kind="prompt",
            round_id=round_.id,
            unit_id=unit_id,
        ):
            queued += 1
    return queued
