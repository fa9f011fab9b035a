"""Reporting periods (week, month, quarter, year) and their arithmetic.

A period is written the way an office writes it in a spreadsheet: ``2026-10`` (month),
``2026Q3`` (quarter), ``2026`` (year), or ``2026-W05`` (ISO week, Monday to Sunday).
Summaries need "previous period" (环比) and "same period last year" (同比), and rounds need
the period's end to compute deadlines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum


class PeriodKind(StrEnum):
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


_MONTH_RE = re.compile(r"^(\d{4})-(\d{1,2})$")
_QUARTER_RE = re.compile(r"^(\d{4})[Qq]([1-4])$")
_YEAR_RE = re.compile(r"^(\d{4})$")
_WEEK_RE = re.compile(r"^(\d{4})-?[Ww](\d{1,2})$")


class PeriodError(ValueError):
    """The text is not a period figbot understands."""


@dataclass(frozen=True, order=True)
class Period:
    kind: PeriodKind
    year: int
    index: int = 1  # ISO week 1-52/53, month 1-12, quarter 1-4, 1 for a year

    def __post_init__(self) -> None:
        if not 1900 <= self.year <= 9998:
            raise PeriodError(f"year out of range: {self.year}")
        if self.kind is PeriodKind.WEEK:
            limit = date(self.year, 12, 28).isocalendar().week
        else:
            limit = {PeriodKind.MONTH: 12, PeriodKind.QUARTER: 4, PeriodKind.YEAR: 1}[self.kind]
        if not 1 <= self.index <= limit:
            raise PeriodError(f"{self.kind} index out of range: {self.index}")

    @classmethod
    def parse(cls, text: str) -> Period:
        stripped = text.strip()
        try:
            if m := _MONTH_RE.match(stripped):
                return cls(PeriodKind.MONTH, int(m[1]), int(m[2]))
            if m := _QUARTER_RE.match(stripped):
                return cls(PeriodKind.QUARTER, int(m[1]), int(m[2]))
            if m := _YEAR_RE.match(stripped):
                return cls(PeriodKind.YEAR, int(m[1]))
            if m := _WEEK_RE.match(stripped):
                return cls(PeriodKind.WEEK, int(m[1]), int(m[2]))
        except PeriodError:
            pass
        raise PeriodError(
            f"not a period: {text!r} (expected e.g. 2026-10, 2026Q3, 2026 or 2026-W05)"
        )

    @classmethod
    def containing(cls, kind: PeriodKind, day: date) -> Period:
        if kind is PeriodKind.WEEK:
            iso = day.isocalendar()
            return cls(kind, iso.year, iso.week)
        if kind is PeriodKind.MONTH:
            return cls(kind, day.year, day.month)
        if kind is PeriodKind.QUARTER:
            return cls(kind, day.year, (day.month - 1) // 3 + 1)
        return cls(kind, day.year)

    @property
    def code(self) -> str:
        """Canonical text form, also the value stored in the database."""
        if self.kind is PeriodKind.WEEK:
            return f"{self.year:04d}-W{self.index:02d}"
        if self.kind is PeriodKind.MONTH:
            return f"{self.year:04d}-{self.index:02d}"
        if self.kind is PeriodKind.QUARTER:
            return f"{self.year:04d}Q{self.index}"
        return f"{self.year:04d}"

    def __str__(self) -> str:
        return self.code

    @property
    def first_day(self) -> date:
        if self.kind is PeriodKind.WEEK:
            return date.fromisocalendar(self.year, self.index, 1)
        if self.kind is PeriodKind.MONTH:
            return date(self.year, self.index, 1)
        if self.kind is PeriodKind.QUARTER:
            return date(self.year, 3 * (self.index - 1) + 1, 1)
        return date(self.year, 1, 1)

    @property
    def last_day(self) -> date:
        return self.next().first_day - timedelta(days=1)

    def shift(self, steps: int) -> Period:
        """The period ``steps`` periods later (negative: earlier)."""
        if self.kind is PeriodKind.WEEK:
            return Period.containing(PeriodKind.WEEK, self.first_day + timedelta(weeks=steps))
        if self.kind is PeriodKind.YEAR:
            return Period(self.kind, self.year + steps)
        per_year = 12 if self.kind is PeriodKind.MONTH else 4
        absolute = self.year * per_year + (self.index - 1) + steps
        return Period(self.kind, absolute // per_year, absolute % per_year + 1)

    def next(self) -> Period:
        return self.shift(1)

    def previous(self) -> Period:
        """The period before this one: the base for 环比."""
        return self.shift(-1)

    def same_period_last_year(self) -> Period:
        """The base for 同比 (for a week: the ISO week with the same number, or the last one)."""
        if self.kind is PeriodKind.WEEK:
            last_week = date(self.year - 1, 12, 28).isocalendar().week
            return Period(self.kind, self.year - 1, min(self.index, last_week))
        return Period(self.kind, self.year - 1, self.index)

    def months(self) -> list[Period]:
        """The months a quarter or year is made of (a month: itself), for roll-ups."""
        if self.kind is PeriodKind.WEEK:
            raise PeriodError("a week is not made of months")
        first = Period.containing(PeriodKind.MONTH, self.first_day)
        count = {PeriodKind.MONTH: 1, PeriodKind.QUARTER: 3, PeriodKind.YEAR: 12}[self.kind]
        return [first.shift(i) for i in range(count)]
