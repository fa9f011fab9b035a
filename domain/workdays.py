"""The Chinese working-day calendar: statutory holidays and adjusted working weekends (调休).

Backed by the maintained ``chinese_calendar`` package. Years it does not cover yet (the State
Council publishes each year's arrangement in the autumn before) fall back to "Monday to Friday"
and say so in the log, rather than failing a deadline computation.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from functools import cache

import chinese_calendar

logger = logging.getLogger(__name__)


@cache
def _warn_uncovered(year: int) -> None:
    logger.warning(
        "no official holiday data for %d yet; treating Monday-Friday as working days", year
    )


def is_workday(day: date) -> bool:
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        _warn_uncovered(day.year)
        return day.weekday() < 5


def next_workday(day: date) -> date:
    """``day`` itself if it is a working day, else the first working day after it."""
    while not is_workday(day):
        day += timedelta(days=1)
    return day


def workdays_before(day: date, count: int) -> date:
    """The working day ``count`` working days before ``day``."""
    while count > 0:
        day -= timedelta(days=1)
        if is_workday(day):
            count -= 1
    return day
