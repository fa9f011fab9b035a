"""A coordinator reopens one unit of a locked round, or locks it again (audited)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlmodel import Session, col, select

from domain.periods import Period
from models.crud import unit_reopened
from models.tables import Contact, Form, Round, RoundStatus, Unit, UnitOverride


class OverrideRefusal(StrEnum):
    UNKNOWN_UNIT = "unknown_unit"
    NO_ROUND = "no_round"
    NOT_LOCKED = "not_locked"  # nothing to reopen: the round still takes changes
    ALREADY_REOPENED = "already_reopened"
    NOT_REOPENED = "not_reopened"


class OverrideRefused(Exception):
    def __init__(self, reason: OverrideRefusal, unit_name: str = "") -> None:
        super().__init__(reason.value)
        self.reason = reason
        self.unit_name = unit_name


@dataclass(frozen=True)
class OverrideDone:
    round_id: int
    unit_id: int
    unit_name: str
    form_name: str
    period: Period
    reporters: list[Contact]


def find_unit(session: Session, *, office_id: int, text: str) -> Unit | None:
    """A unit of the office by its code or its name (as a coordinator would type it)."""
    text = text.strip()
    units = session.exec(select(Unit).where(Unit.office_id == office_id, Unit.active == True)).all()  # noqa: E712
    for unit in units:
        if text in (unit.code, unit.name):
            return unit
    matches = [unit for unit in units if text and text in unit.name]
    return matches[0] if len(matches) == 1 else None


def _target_round(
    session: Session, office_id: int, period: str | None, now: datetime, unit_name: str
) -> Round:
    """The round named by ``period``, else the latest one past its lock."""
    rounds = session.exec(
        select(Round)
        .where(Round.office_id == office_id, Round.status != RoundStatus.CLOSED)
        .order_by(col(Round.deadline).desc())
    ).all()
    if period is not None:
        rounds = [r for r in rounds if r.period == period]
    locked = [r for r in rounds if r.status == RoundStatus.LOCKED or r.lock_at <= now]
    if locked:
        return locked[0]
    if rounds:
        raise OverrideRefused(OverrideRefusal.NOT_LOCKED, unit_name)
    raise OverrideRefused(OverrideRefusal.NO_ROUND, unit_name)


def set_override(
    session: Session,
    *,
    coordinator: Contact,
    unit_text: str,
    reopen: bool,
    now: datetime,
    period: str | None = None,
) -> OverrideDone:
    unit = find_unit(session, office_id=coordinator.office_id, text=unit_text)
    if unit is None:
        raise OverrideRefused(OverrideRefusal.UNKNOWN_UNIT, unit_text)
    round_ = _target_round(session, coordinator.office_id, period, now, unit.name)
    assert round_.id is not None and unit.id is not None
    reopened = unit_reopened(session, round_id=round_.id, unit_id=unit.id)
    if reopen and reopened:
        raise OverrideRefused(OverrideRefusal.ALREADY_REOPENED, unit.name)
    if not reopen and not reopened:
        raise OverrideRefused(OverrideRefusal.NOT_REOPENED, unit.name)
    session.add(
        UnitOverride(
            round_id=round_.id,
            unit_id=unit.id,
            action="reopen" if reopen else "lock",
            contact_id=coordinator.id,
            at=now,
        )
    )
    form = session.get(Form, round_.form_id)
    assert form is not None
    reporters = list(
        session.exec(
            select(Contact).where(Contact.unit_id == unit.id, Contact.active == True)  # noqa: E712
        ).all()
    )
    session.flush()
    return OverrideDone(
        round_id=round_.id,
        unit_id=unit.id,
        unit_name=unit.name,
        form_name=form.name,
        period=Period.parse(round_.period),
        reporters=reporters,
    )
