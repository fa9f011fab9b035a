"""A form's schedule: when its rounds open, their deadline, reminders, digests and lock.

Everything here is a pure function of the schedule, a period and a time zone, so the calendar
an office sees in ``figbot schedule`` is exactly what the scheduler acts on. Cron expressions
are evaluated by APScheduler's ``CronTrigger``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from domain import workdays
from domain.periods import Period, PeriodKind

_OFFSET_RE = re.compile(r"^(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?$")


class ScheduleError(ValueError):
    """A schedule value that cannot be used; the message says what is expected."""


@dataclass(frozen=True)
class Offset:
    """A duration written like ``2d``, ``2h``, ``1d12h`` or ``30m``; ``0`` is allowed."""

    days: int = 0
    hours: int = 0
    minutes: int = 0

    @classmethod
    def parse(cls, text: str) -> Offset:
        text = text.strip().lower()
        if text == "0":
            return cls()
        match = _OFFSET_RE.match(text)
        if not text or match is None or not any(match.groups()):
            raise ScheduleError(f"not a duration: {text!r} (expected e.g. 2d, 2h, 1d12h, 30m)")
        days, hours, minutes = (int(part or 0) for part in match.groups())
        return cls(days, hours, minutes)

    @property
    def label(self) -> str:
        parts = [
            f"{self.days}d" if self.days else "",
            f"{self.hours}h" if self.hours else "",
            f"{self.minutes}m" if self.minutes else "",
        ]
        return "".join(parts) or "0"

    @property
    def delta(self) -> timedelta:
        return timedelta(days=self.days, hours=self.hours, minutes=self.minutes)


class OpenFor(StrEnum):
    CURRENT = "current"  # opening on 25 Oct collects October
    PREVIOUS = "previous"  # opening on 1 Nov collects October


@dataclass(frozen=True)
class Schedule:
    period_kind: PeriodKind
    open_cron: str | None = None  # None: rounds are opened by hand only
    open_for: OpenFor = OpenFor.CURRENT
    deadline_days: int = 3  # after the period's last day
    deadline_time: str = "18:00"
    reminders: tuple[Offset, ...] = ()  # before the deadline
    digests: tuple[Offset, ...] = ()  # before the deadline, to coordinators; 0 = at it
    lock_after: Offset = field(default_factory=Offset)  # grace after the deadline
    working_days: bool = False

    def trigger(self, timezone: str) -> CronTrigger:
        if self.open_cron is None:
            raise ScheduleError("this form has no opening schedule")
        try:
            return CronTrigger.from_crontab(self.open_cron, timezone=ZoneInfo(timezone))
        except ValueError as exc:
            raise ScheduleError(
                f"not a cron expression: {self.open_cron!r} ({exc}); "
                "expected 5 fields: minute hour day month weekday, e.g. '0 9 25 * *'"
            ) from None


class EventKind(StrEnum):
    OPEN = "open"
    REMINDER = "reminder"
    DIGEST = "digest"
    DEADLINE = "deadline"
    LOCK = "lock"


@dataclass(frozen=True)
class Event:
    kind: EventKind
    at: datetime  # UTC
    label: str  # the offset ("2d", "2h"), "" for open/deadline/lock


@dataclass(frozen=True)
class Timeline:
    """The dated events of one period's round."""

    period: Period
    opens_at: datetime
    deadline: datetime
    lock_at: datetime
    reminders: tuple[Event, ...]
    digests: tuple[Event, ...]

    def events(self) -> list[Event]:
        everything = [
            Event(EventKind.OPEN, self.opens_at, ""),
            *self.reminders,
            *self.digests,
            Event(EventKind.DEADLINE, self.deadline, ""),
            Event(EventKind.LOCK, self.lock_at, ""),
        ]
        return sorted(everything, key=lambda event: event.at)


def _local(day: date, at: str, timezone: str) -> datetime:
    hour, minute = (int(part) for part in at.split(":"))
    return datetime.combine(day, time(hour, minute), tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def deadline_for(schedule: Schedule, period: Period, timezone: str) -> datetime:
    day = period.last_day + timedelta(days=schedule.deadline_days)
    if schedule.working_days:
        day = workdays.next_workday(day)
    return _local(day, schedule.deadline_time, timezone)


def before_deadline(
    deadline: datetime, offset: Offset, schedule: Schedule, timezone: str
) -> datetime:
    """``offset`` before the deadline; with working days, whole days count working days."""
    if not schedule.working_days or not offset.days:
        return deadline - offset.delta
    local = deadline.astimezone(ZoneInfo(timezone))
    day = workdays.workdays_before(local.date(), offset.days)
    moved = datetime.combine(day, local.timetz())
    return (moved - timedelta(hours=offset.hours, minutes=offset.minutes)).astimezone(UTC)


def period_opened_at(schedule: Schedule, fire_time: datetime, timezone: str) -> Period:
    """The period a round opening at ``fire_time`` collects."""
    local_day = fire_time.astimezone(ZoneInfo(timezone)).date()
    period = Period.containing(schedule.period_kind, local_day)
    return period.previous() if schedule.open_for is OpenFor.PREVIOUS else period


def timeline(schedule: Schedule, period: Period, opens_at: datetime, timezone: str) -> Timeline:
    deadline = deadline_for(schedule, period, timezone)
    return Timeline(
        period=period,
        opens_at=opens_at,
        deadline=deadline,
        lock_at=deadline + schedule.lock_after.delta,
        reminders=tuple(
            Event(
                EventKind.REMINDER,
                before_deadline(deadline, offset, schedule, timezone),
                offset.label,
            )
            for offset in schedule.reminders
        ),
        digests=tuple(
            Event(
                EventKind.DIGEST,
                before_deadline(deadline, offset, schedule, timezone),
                offset.label,
            )
            for offset in schedule.digests
        ),
    )


def open_times(
    schedule: Schedule, timezone: str, start: datetime, end: datetime
) -> Iterator[datetime]:
    """Cron fire times in ``[start, end]`` (UTC)."""
    trigger = schedule.trigger(timezone)
    previous = None
    current = trigger.get_next_fire_time(None, start)
    while current is not None and current <= end:
        yield current.astimezone(UTC)
        previous = current
        current = trigger.get_next_fire_time(previous, previous + timedelta(seconds=1))


CATCH_UP_HORIZON = timedelta(days=500)


def timelines_between(
    schedule: Schedule, timezone: str, start: datetime, end: datetime
) -> list[Timeline]:
    """One timeline per period whose round opens in ``[start, end]`` (first opening wins when
    the cron fires several times for one period)."""
    seen: dict[Period, Timeline] = {}
    for fire_time in open_times(schedule, timezone, start, end):
        period = period_opened_at(schedule, fire_time, timezone)
        if period not in seen:
            seen[period] = timeline(schedule, period, fire_time, timezone)
    return list(seen.values())


def live_timelines(schedule: Schedule, timezone: str, now: datetime) -> list[Timeline]:
    """Rounds that should exist now: opened already and not yet locked. After downtime this is
    what must be caught up; older rounds are past their lock and are left alone."""
    if schedule.open_cron is None:
        return []
    return [
        line
        for line in timelines_between(schedule, timezone, now - CATCH_UP_HORIZON, now)
        if line.lock_at > now
    ]
