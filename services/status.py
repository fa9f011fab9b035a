"""Who has submitted: the coordinator's ``/status`` view of their office's open rounds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from domain.periods import Period
from models.tables import Contact, Form, Office, Round, RoundStatus, Submission, Unit


@dataclass(frozen=True)
class UnitStatus:
    unit_code: str
    unit_name: str
    submitted_at: datetime | None
    submitted_by: str | None
    late: bool


@dataclass(frozen=True)
class RoundStatusView:
    round_id: int
    form_name: str
    period: Period
    deadline: datetime
    timezone: str
    units: list[UnitStatus]

    @property
    def submitted_count(self) -> int:
        return sum(1 for unit in self.units if unit.submitted_at is not None)


def office_status(session: Session, *, office_id: int) -> list[RoundStatusView]:
    """The open rounds of the office (the latest round if none is open), unit by unit."""
    office = session.get(Office, office_id)
    assert office is not None
    rounds = list(
        session.exec(
            select(Round)
            .where(Round.office_id == office_id, Round.status == RoundStatus.OPEN)
            .order_by(Round.deadline)  # type: ignore[arg-type]
        ).all()
    )
    if not rounds:
        latest = session.exec(
            select(Round).where(Round.office_id == office_id).order_by(Round.deadline.desc())  # type: ignore[attr-defined]
        ).first()
        rounds = [latest] if latest else []
    units = session.exec(
        select(Unit).where(Unit.office_id == office_id, Unit.active == True).order_by(Unit.id)  # type: ignore[arg-type]  # noqa: E712
    ).all()
    views = []
    for round_ in rounds:
        form = session.get(Form, round_.form_id)
        assert form is not None
        rows = session.exec(
            select(Submission, Contact)
            .join(Contact, Submission.submitted_by_contact_id == Contact.id, isouter=True)  # type: ignore[arg-type]
            .where(Submission.round_id == round_.id)
        ).all()
        by_unit = {submission.unit_id: (submission, contact) for submission, contact in rows}
        statuses = []
        for unit in units:
            found = by_unit.get(unit.id or 0)
            if found is None:
                statuses.append(UnitStatus(unit.code, unit.name, None, None, False))
            else:
                submission, contact = found
                statuses.append(
                    UnitStatus(
                        unit.code,
                        unit.name,
                        submission.updated_at,
                        contact.display_name if contact else None,
                        submission.late,
                    )
                )
        views.append(
            RoundStatusView(
                round_id=round_.id or 0,
                form_name=form.name,
                period=Period.parse(round_.period),
                deadline=round_.deadline,
                timezone=office.timezone,
                units=statuses,
            )
        )
    return views
