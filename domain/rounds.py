"""Round rules: when a round's deadline falls and what a reporter may still do.

Pure functions of plain values so the rules are tested without a database or a bot.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from domain.periods import Period


class Window(StrEnum):
    OPEN = "open"  # before the deadline: submit and change freely
    LATE = "late"  # past the deadline, nothing submitted yet: accepted, flagged late
    LOCKED = "locked"  # past the deadline with a submission: changes go through a coordinator
    CLOSED = "closed"  # the round was closed


def deadline_for(period: Period, *, days_after_end: int, at: str, timezone: str) -> datetime:
    """The deadline in UTC: ``days_after_end`` days after the period's last day, at ``at``
    (HH:MM) in the office's time zone."""
    hour, minute = (int(part) for part in at.split(":"))
    day = period.last_day + timedelta(days=days_after_end)
    local = datetime.combine(day, time(hour, minute), tzinfo=ZoneInfo(timezone))
    return local.astimezone(UTC)


def submission_window(
    *, round_open: bool, deadline: datetime, now: datetime, already_submitted: bool
) -> Window:
    if not round_open:
        return Window.CLOSED
    if now < deadline:
        return Window.OPEN
    return Window.LOCKED if already_submitted else Window.LATE
