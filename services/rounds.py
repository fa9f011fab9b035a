"""Opening a collection round and queueing its prompts.

Opening is idempotent: (form, period, office) is unique, and each contact's prompt has a dedupe
key in the outbox, so running it twice opens one round and prompts nobody twice, while a
contact bound since the first run is prompted on the second.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from domain.periods import Period, PeriodKind
from domain.rounds import deadline_for
from models.crud import enqueue_message, get_round
from models.tables import Contact, Form, Office, Role, Round, RoundStatus, Unit

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


class RoundError(ValueError):
    """The round cannot be opened (unknown form or office, wrong period kind)."""


def prompt_key(form: Form, period: Period, office: Office, contact: Contact) -> str:
    return f"round-open:{form.key}:{period.code}:{office.code}:{contact.id}"


def open_round(
    session: Session,
    *,
    form: Form,
    office: Office,
    period: Period,
    now: datetime,
    render_prompt: PromptRenderer,
) -> OpenedRound:
    if period.kind is not PeriodKind(form.period_kind):
        raise RoundError(f"form {form.key} is collected per {form.period_kind}, not {period.kind}")
    assert form.id is not None and office.id is not None
    round_ = get_round(session, form_id=form.id, office_id=office.id, period=period.code)
    created = round_ is None
    if round_ is None:
        round_ = Round(
            form_id=form.id,
            office_id=office.id,
            period=period.code,
            indicator_keys=list(form.indicator_keys),
            opens_at=now,
            deadline=deadline_for(
                period,
                days_after_end=form.deadline_days,
                at=form.deadline_time,
                timezone=office.timezone,
            ),
            status=RoundStatus.OPEN,
        )
        session.add(round_)
        session.flush()
        logger.info("opened round %s %s for %s", form.key, period.code, office.code)
    assert round_.id is not None

    reporters = session.exec(
        select(Contact, Unit)
        .join(Unit, Contact.unit_id == Unit.id)  # type: ignore[arg-type]
        .where(
            Contact.office_id == office.id,
            Contact.role == Role.REPORTER,
            Contact.active == True,  # noqa: E712
            Unit.active == True,  # noqa: E712
        )
        .order_by(Unit.id, Contact.id)  # type: ignore[arg-type]
    ).all()
    queued = 0
    for contact, unit in reporters:
        text, markup = render_prompt(
            Prompt(
                round_id=round_.id,
                language=contact.language,
                unit_name=unit.name,
                form_name=form.name,
                period=period,
                deadline=round_.deadline,
                timezone=office.timezone,
            )
        )
        if enqueue_message(
            session,
            dedupe_key=prompt_key(form, period, office, contact),
            chat_id=contact.chat_id,
            contact_id=contact.id,
            text=text,
            reply_markup=markup,
        ):
            queued += 1
    return OpenedRound(
        round_id=round_.id, created=created, prompts_queued=queued, deadline=round_.deadline
    )
