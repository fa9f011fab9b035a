"""Column types shared by the tables."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, Numeric
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

logger = logging.getLogger(__name__)

# A process started by a test follows the test's clock: the test sets both variables, and
# figbot's entry point (bot.cli.main) calls follow_test_clock. The flag keeps a stray
# FIGBOT_TEST_CLOCK_OFFSET in a real deployment's environment from moving a real clock.
TEST_FLAG_VARIABLE = "FIGBOT_TESTING"
TEST_CLOCK_VARIABLE = "FIGBOT_TEST_CLOCK_OFFSET"

_shift = timedelta(0)


def utcnow() -> datetime:
    """Now, in UTC: the real time, unless this process follows a test's clock."""
    return datetime.now(UTC) + _shift


def follow_test_clock(environ: Mapping[str, str]) -> timedelta | None:
    """Shift this process's clock by ``FIGBOT_TEST_CLOCK_OFFSET`` seconds when
    ``FIGBOT_TESTING=1`` is set too; the shift applied, or None.

    An offset rather than a fixed moment: the child's clock runs on from the test's "now",
    and every process a test starts (one after a SIGKILL, a CLI command beside a running bot)
    reads the same time at the same moment.
    """
    global _shift
    offset = environ.get(TEST_CLOCK_VARIABLE)
    if offset is None:
        return None
    if environ.get(TEST_FLAG_VARIABLE) != "1":
        logger.warning("%s is set but this is not a test run: ignored", TEST_CLOCK_VARIABLE)
        return None
    _shift = timedelta(seconds=float(offset))
    logger.warning("test clock: now is %s", utcnow().isoformat(timespec="seconds"))
    return _shift


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC and always gives back aware UTC datetimes.

    SQLite has no time zone support, so without this a value would come back naive and compare
    wrongly with ``utcnow()``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Quantity(TypeDecorator[float]):
    """A reported figure: exact decimal in the database, ``int`` in Python when it is whole.

    Most indicators are counts (调解纠纷 N宗), some are amounts with decimals (涉案金额 12.5万元);
    one column serves both, and a count never comes back as ``5.0``.
    """

    impl = Numeric(20, 4, asdecimal=False)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> int | float | None:
        if value is None:
            return None
        number = float(value)
        return int(number) if number.is_integer() else number
