"""Schedules as pure functions: cron openings, deadlines on the working-day calendar,
reminders, digests, lock, catch-up windows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import ConfigError, load_config
from domain import workdays
from domain.periods import Period, PeriodKind
from domain.schedule import (
    EventKind,
    Offset,
    OpenFor,
    Schedule,
    ScheduleError,
    live_timelines,
    timeline,
    timelines_between,
)
from tests.conftest import EXAMPLE_CONFIG

SHANGHAI = "Asia/Shanghai"


def at(text: str) -> datetime:
    """A Shanghai wall-clock time as UTC."""
    return datetime.fromisoformat(text + "+08:00").astimezone(UTC)


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("2d", timedelta(days=2)),
        ("2h", timedelta(hours=2)),
        ("1d12h", timedelta(hours=36)),
        ("30m", timedelta(minutes=30)),
        ("0", timedelta(0)),
    ],
)
def test_offsets(text: str, delta: timedelta) -> None:
    assert Offset.parse(text).delta == delta


@pytest.mark.parametrize("text", ["", "2", "two days", "-1d", "2w"])
def test_bad_offsets_are_refused(text: str) -> None:
    with pytest.raises(ScheduleError):
        Offset.parse(text)


MONTHLY = Schedule(
    PeriodKind.MONTH,
    "0 9 25 * *",
    deadline_days=3,
    deadline_time="18:00",
    reminders=(Offset.parse("2d"), Offset.parse("2h")),
    digests=(Offset.parse("1d"), Offset()),
    lock_after=Offset.parse("2d"),
    working_days=True,
)


def test_monthly_timeline() -> None:
    line = timeline(MONTHLY, Period.parse("2026-11"), at("2026-11-25T09:00"), SHANGHAI)
    assert line.deadline == at("2026-12-03T18:00")
    assert line.lock_at == at("2026-12-05T18:00")
    assert [e.at for e in line.reminders] == [at("2026-12-01T18:00"), at("2026-12-03T16:00")]
    assert [e.at for e in line.digests] == [at("2026-12-02T18:00"), at("2026-12-03T18:00")]
    kinds = [e.kind for e in line.events()]
    assert kinds[0] is EventKind.OPEN and kinds[-1] is EventKind.LOCK


def test_a_deadline_on_a_statutory_holiday_moves_to_the_next_working_day() -> None:
    # September 2026 + 1 day = 1 October, National Day; the holiday runs to 7 October.
    schedule = Schedule(PeriodKind.MONTH, None, deadline_days=1, working_days=True)
    line = timeline(schedule, Period.parse("2026-09"), at("2026-09-25T09:00"), SHANGHAI)
    assert line.deadline == at("2026-10-08T18:00")
    plain = Schedule(PeriodKind.MONTH, None, deadline_days=1, working_days=False)
    assert timeline(plain, Period.parse("2026-09"), at("2026-09-25T09:00"), SHANGHAI).deadline == (
        at("2026-10-01T18:00")
    )


def test_an_adjusted_working_sunday_counts_as_a_working_day() -> None:
    assert date(2026, 9, 20).weekday() == 6 and workdays.is_workday(date(2026, 9, 20))
    # Week 38 of 2026 ends on Sunday 20 September, a working day (调休): the deadline stays.
    weekly = Schedule(PeriodKind.WEEK, "0 9 * * 5", deadline_days=0, working_days=True)
    line = timeline(weekly, Period.parse("2026-W38"), at("2026-09-18T09:00"), SHANGHAI)
    assert line.deadline == at("2026-09-20T18:00")
    # An ordinary Sunday moves to Monday.
    line = timeline(weekly, Period.parse("2026-W46"), at("2026-11-13T09:00"), SHANGHAI)
    assert line.deadline == at("2026-11-16T18:00")


def test_day_reminders_count_working_days() -> None:
    # Deadline Thursday 8 Oct 2026 (after the holiday); "2d" = two working days before it:
    # 30 Sep is one, 29 Sep is two (1-7 Oct are holidays).
    schedule = Schedule(
        PeriodKind.MONTH, None, deadline_days=1, working_days=True, reminders=(Offset.parse("2d"),)
    )
    line = timeline(schedule, Period.parse("2026-09"), at("2026-09-25T09:00"), SHANGHAI)
    assert line.reminders[0].at == at("2026-09-29T18:00")


def test_quarter_and_year_forms_opening_for_the_previous_period() -> None:
    quarterly = Schedule(
        PeriodKind.QUARTER, "0 9 1 1,4,7,10 *", open_for=OpenFor.PREVIOUS, deadline_days=10
    )
    lines = timelines_between(quarterly, SHANGHAI, at("2026-01-01T00:00"), at("2026-12-31T00:00"))
    assert [line.period.code for line in lines] == ["2025Q4", "2026Q1", "2026Q2", "2026Q3"]
    assert lines[0].deadline == at("2026-01-10T18:00")
    yearly = Schedule(PeriodKind.YEAR, "0 9 2 1 *", open_for=OpenFor.PREVIOUS, deadline_days=15)
    (line,) = timelines_between(yearly, SHANGHAI, at("2026-06-01T00:00"), at("2027-06-01T00:00"))
    assert line.period.code == "2026" and line.deadline == at("2027-01-15T18:00")


def test_after_downtime_only_rounds_before_their_lock_are_live() -> None:
    now = at("2026-12-04T12:00")  # November's round: deadline passed, lock not yet
    assert [line.period.code for line in live_timelines(MONTHLY, SHANGHAI, now)] == ["2026-11"]
    now = at("2026-12-06T12:00")  # November locked, December not open yet
    assert live_timelines(MONTHLY, SHANGHAI, now) == []
    now = at("2026-12-25T09:00")
    assert [line.period.code for line in live_timelines(MONTHLY, SHANGHAI, now)] == ["2026-12"]


def _config_with(tmp_path: Path, old: str, new: str) -> Path:
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "config.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('open = "0 9 25 * *"', 'open = "0 9 32 * *"', "forms.0.schedule.open: not a cron"),
        ('open = "0 9 25 * *"', 'open = "every month"', "forms.0.schedule.open"),
        ('reminders = ["2d", "2h"]', 'reminders = ["2 days"]', "forms.0.schedule.reminders"),
        ('lock_after = "2d"', 'lock_after = "soon"', "forms.0.lock_after: not a duration"),
        ('open_for = "current"', 'open_for = "next"', "forms.0.schedule.open_for"),
    ],
)
def test_a_bad_schedule_stops_start_up_naming_the_key(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(_config_with(tmp_path, old, new), environ={})
    assert message in str(error.value)
