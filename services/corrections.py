"""A coordinator corrects one unit's value (from chat or the command line), audited.

Coordinators correct what a unit phoned in or got wrong, also after the round locked — that
is their job — but never silently: each correction is a revision with who, when, via and a
reason, the submission's version moves on (a reporter editing at the same moment is shown the
new figures before overwriting them), and the unit's reporters are told.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlmodel import Session, col, select

from domain.numbers import CountRefused, Number, RefusalReason, parse_count
from domain.periods import Period
from domain.rules import Violation
from models.crud import IndicatorDef, enqueue_message, get_submission, indicators_by_key
from models.tables import Contact, Form, Round, RoundStatus, Unit
from services.overrides import find_unit
from services.values import NewValue, new_submission, write_values

logger = logging.getLogger(__name__)


class CorrectionRefusal(StrEnum):
    UNKNOWN_UNIT = "unknown_unit"
    UNKNOWN_INDICATOR = "unknown_indicator"
    NO_ROUND = "no_round"
    BAD_VALUE = "bad_value"
    OUT_OF_BOUNDS = "out_of_bounds"
    NO_REASON = "no_reason"
    UNCHANGED = "unchanged"


class CorrectionRefused(Exception):
    def __init__(
        self,
        reason: CorrectionRefusal,
        detail: str = "",
        refusal: RefusalReason | None = None,
    ) -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail
        self.refusal = refusal


@dataclass(frozen=True)
class Correction:
    round_id: int
    unit_id: int
    unit_name: str
    form_name: str
    period: Period
    indicator_key: str
    label: str
    measure_word: str
    old: Number | None
    new: Number
    actor: str
    reason: str
    revision_id: int
    reporters: list[Contact]


def _find_indicator(indicators: dict[str, IndicatorDef], text: str) -> IndicatorDef | None:
    text = text.strip()
    for indicator in indicators.values():
        names = [indicator.key, indicator.label, *indicator.rules.get("aliases", [])]
        if text in names:
            return indicator
    return None


def _find_round(
    session: Session, office_id: int, text: str, period: str | None, form_key: str | None
) -> tuple[Round, IndicatorDef]:
    """The round to correct in: the given period (and form), else the latest one whose form
    asks for the indicator."""
    query = select(Round).where(Round.office_id == office_id, Round.status != RoundStatus.CLOSED)
    if period is not None:
        query = query.where(Round.period == period)
    if form_key is not None:
        form = session.exec(select(Form).where(Form.key == form_key)).first()
        if form is None:
            raise CorrectionRefused(CorrectionRefusal.NO_ROUND, form_key)
        query = query.where(Round.form_id == form.id)
    rounds = session.exec(query.order_by(col(Round.deadline).desc())).all()
    if not rounds:
        raise CorrectionRefused(CorrectionRefusal.NO_ROUND, period or "")
    for round_ in rounds:
        indicator = _find_indicator(
            indicators_by_key(session, keys=list(round_.indicator_keys)), text
        )
        if indicator is not None:
            return round_, indicator
    raise CorrectionRefused(CorrectionRefusal.UNKNOWN_INDICATOR, text)


def correct_value(
    session: Session,
    *,
    office_id: int,
    unit_text: str,
    indicator_text: str,
    value_text: str,
    reason: str,
    actor: str,
    contact_id: int | None,
    via: str,
    now: datetime,
    period: str | None = None,
    form_key: str | None = None,
) -> Correction:
    """Set one value of one unit; raises :class:`CorrectionRefused` and changes nothing if the
    unit, indicator, round or value is not right, or no reason is given."""
    unit = find_unit(session, office_id=office_id, text=unit_text)
    if unit is None or unit.id is None:
        raise CorrectionRefused(CorrectionRefusal.UNKNOWN_UNIT, unit_text)
    round_, indicator = _find_round(session, office_id, indicator_text, period, form_key)
    try:
        new = parse_count(
            value_text,
            indicator.measure_word,
            indicator.decimals,
            also=indicator.other_measure_words,
        )
    except CountRefused as refused:
        raise CorrectionRefused(
            CorrectionRefusal.BAD_VALUE, value_text, refusal=refused.reason
        ) from None
    bounds = indicator.bounds
    violation = bounds.violation(new)
    if violation is Violation.DECIMALS:
        raise CorrectionRefused(
            CorrectionRefusal.BAD_VALUE, value_text, refusal=RefusalReason.DECIMAL
        )
    if violation is not None:
        raise CorrectionRefused(
            CorrectionRefusal.OUT_OF_BOUNDS, f"{violation} {bounds.bound(violation)}"
        )
    reason = reason.strip()
    if not reason:
        raise CorrectionRefused(CorrectionRefusal.NO_REASON)

    round_id = round_.id or 0
    submission = get_submission(session, round_id=round_id, unit_id=unit.id, for_update=True)
    if submission is None:  # figures phoned in: the coordinator enters them for the unit
        submission = new_submission(
            session, round_=round_, unit_id=unit.id, contact_id=contact_id, now=now
        )
    # The coordinator's value starts without the reporter's explanation of the one it replaces.
    changes = write_values(
        session,
        submission=submission,
        indicators={indicator.key: indicator},
        values={indicator.key: NewValue(new, via=via, reason=reason)},
        contact_id=contact_id,
        actor=actor,
        now=now,
    )
    if not changes:
        raise CorrectionRefused(CorrectionRefusal.UNCHANGED, str(new))
    (change,) = changes
    old, revision = change.old, change.revision
    session.flush()
    form = session.get(Form, round_.form_id)
    assert form is not None
    reporters = list(
        session.exec(
            select(Contact).where(Contact.unit_id == unit.id, Contact.active == True)  # noqa: E712
        ).all()
    )
    logger.info(
        "correction unit=%s round=%s %s %s -> %s via %s",
        unit.code,
        round_id,
        indicator.key,
        old,
        new,
        via,
    )
    return Correction(
        round_id=round_id,
        unit_id=unit.id,
        unit_name=unit.name,
        form_name=form.name,
        period=Period.parse(round_.period),
        indicator_key=indicator.key,
        label=indicator.label,
        measure_word=indicator.measure_word,
        old=old,
        new=new,
        actor=actor,
        reason=reason,
        revision_id=revision.id or 0,
        reporters=reporters,
    )


def notify_correction(
    session: Session,
    *,
    correction: Correction,
    now: datetime,
    render: Callable[[Correction, str], str],
) -> int:
    """Tell the unit's reporters what was changed, by whom and why (once per revision)."""
    queued = 0
    for contact in correction.reporters:
        if enqueue_message(
            session,
            dedupe_key=f"correction:{correction.revision_id}:{contact.id}",
            chat_id=contact.chat_id,
            now=now,
            text=render(correction, contact.language),
            contact_id=contact.id,
            kind="notice",
            round_id=correction.round_id,
            unit_id=correction.unit_id,
        ):
            queued += 1
    return queued


def office_units(session: Session, *, office_id: int) -> list[Unit]:
    return list(session.exec(select(Unit).where(Unit.office_id == office_id)).all())
