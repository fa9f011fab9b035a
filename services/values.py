"""Writing a unit's figures: the one way a value reaches the database.

A reporter's submission (``services.reporting``) and a coordinator's correction from chat or
the command line (``services.corrections``) both write here, so every value — typed, tapped
as a suggested figure, read from a message, or given to ``/correct`` and ``figbot set-value``
— is checked against its indicator's bounds (``domain.rules.Bounds``: the global cap, min and
max, decimal places) right before it is stored, even where the caller checked it already.
Each change leaves a revision, and the submission's version moves on so an editor working from
an older version is shown the new figures before overwriting them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from domain.numbers import Number
from domain.rounds import is_late
from domain.rules import Violation
from models.crud import IndicatorDef
from models.tables import Round, Submission, Value, ValueRevision


class ValueRefused(Exception):
    """A value outside its indicator's bounds; nothing was written."""

    def __init__(self, key: str, value: Number, violation: Violation) -> None:
        super().__init__(f"{key}={value!r}: {violation.value}")
        self.key = key
        self.value = value
        self.violation = violation


@dataclass(frozen=True)
class NewValue:
    value: Number
    via: str = "chat"  # chat, text (read from a message), cli
    reason: str | None = None  # why it changes: kept in the revision (修改记录's 原因)
    # The explanation of this very value, when it is unusual (明细's 说明). A changed value
    # starts without one: the old explanation stays in the history, beside the old value.
    note: str | None = None


@dataclass(frozen=True)
class Change:
    key: str
    old: Number | None
    new: Number
    revision: ValueRevision


def new_submission(
    session: Session, *, round_: Round, unit_id: int, contact_id: int | None, now: datetime
) -> Submission:
    """A unit's first submission of a round (version 0 until a value is written); late when
    it comes once the deadline has passed, whoever enters it."""
    submission = Submission(
        round_id=round_.id or 0,
        unit_id=unit_id,
        submitted_by_contact_id=contact_id,
        submitted_at=now,
        updated_at=now,
        late=is_late(deadline=round_.deadline, now=now),
        version=0,
    )
    session.add(submission)
    session.flush()
    return submission


def write_values(
    session: Session,
    *,
    submission: Submission,
    indicators: Mapping[str, IndicatorDef],
    values: Mapping[str, NewValue],
    contact_id: int | None,
    actor: str,
    now: datetime,
) -> list[Change]:
    """Write ``values`` (by indicator key) into ``submission``, in the caller's transaction.

    Raises :class:`ValueRefused` before writing anything if a value is outside its
    indicator's bounds. A value equal to the stored one is no change (its explanation is
    kept with it, or replaced by the one given). Returns the changes, in ``values``' order.
    """
    for key, given in values.items():
        violation = indicators[key].bounds.violation(given.value)
        if violation is not None:
            raise ValueRefused(key, given.value, violation)
    rows = {
        row.indicator_key: row
        for row in session.exec(select(Value).where(Value.submission_id == submission.id)).all()
    }
    changes: list[Change] = []
    for key, given in values.items():
        row = rows.get(key)
        old = row.value if row is not None else None
        if old == given.value:
            if row is not None and given.note is not None and row.note != given.note:
                row.note = given.note
                session.add(row)
            continue
        if row is None:
            row = Value(submission_id=submission.id or 0, indicator_key=key, value=given.value)
        row.value = given.value
        row.updated_at = now
        row.updated_by_contact_id = contact_id
        row.note = given.note
        session.add(row)
        revision = ValueRevision(
            submission_id=submission.id or 0,
            indicator_key=key,
            old_value=old,
            new_value=given.value,
            contact_id=contact_id,
            actor=actor,
            via=given.via,
            reason=given.reason,
            at=now,
        )
        session.add(revision)
        changes.append(Change(key, old, given.value, revision))
    if changes:
        submission.version += 1
        submission.updated_at = now
        session.add(submission)
    return changes
