from datetime import date

import pytest

from domain.periods import Period, PeriodError, PeriodKind


@pytest.mark.parametrize(
    ("text", "kind", "year", "index", "code"),
    [
        ("2026-10", PeriodKind.MONTH, 2026, 10, "2026-10"),
        ("2026-1", PeriodKind.MONTH, 2026, 1, "2026-01"),
        ("2026Q3", PeriodKind.QUARTER, 2026, 3, "2026Q3"),
        ("2026q4", PeriodKind.QUARTER, 2026, 4, "2026Q4"),
        (" 2026 ", PeriodKind.YEAR, 2026, 1, "2026"),
    ],
)
def test_parse(text: str, kind: PeriodKind, year: int, index: int, code: str) -> None:
    period = Period.parse(text)
    assert (period.kind, period.year, period.index, period.code) == (kind, year, index, code)


@pytest.mark.parametrize("text", ["2026-13", "2026-0", "2026Q5", "26-10", "十月", "", "2026/10"])
def test_parse_refuses(text: str) -> None:
    with pytest.raises(PeriodError):
        Period.parse(text)


def test_previous_and_same_period_last_year_cross_year_boundaries() -> None:
    assert Period.parse("2026-01").previous().code == "2025-12"
    assert Period.parse("2026Q1").previous().code == "2025Q4"
    assert Period.parse("2026").previous().code == "2025"
    assert Period.parse("2026-03").same_period_last_year().code == "2025-03"
    assert Period.parse("2026Q2").same_period_last_year().code == "2025Q2"
    assert Period.parse("2025-12").next().code == "2026-01"


def test_first_and_last_days() -> None:
    assert Period.parse("2024-02").last_day == date(2024, 2, 29)
    assert Period.parse("2026-02").last_day == date(2026, 2, 28)
    assert Period.parse("2026Q3").first_day == date(2026, 7, 1)
    assert Period.parse("2026Q3").last_day == date(2026, 9, 30)
    assert Period.parse("2026").last_day == date(2026, 12, 31)


def test_months_of_a_quarter_and_a_year() -> None:
    assert [p.code for p in Period.parse("2026Q4").months()] == ["2026-10", "2026-11", "2026-12"]
    assert len(Period.parse("2026").months()) == 12
    assert Period.parse("2026").months()[-1].code == "2026-12"


def test_containing() -> None:
    assert Period.containing(PeriodKind.QUARTER, date(2026, 11, 28)).code == "2026Q4"
    assert Period.containing(PeriodKind.MONTH, date(2026, 11, 28)).code == "2026-11"


def test_iso_weeks() -> None:
    week = Period.parse("2026-W05")
    assert (week.kind, week.code) == (PeriodKind.WEEK, "2026-W05")
    assert week.first_day == date(2026, 1, 26) and week.last_day == date(2026, 2, 1)
    assert Period.parse("2026-W01").previous().code == "2025-W52"
    assert Period.parse("2026-W53").next().code == "2027-W01"
    assert Period.containing(PeriodKind.WEEK, date(2027, 1, 1)).code == "2026-W53"
    assert Period.parse("2026-W53").same_period_last_year().code == "2025-W52"
    with pytest.raises(PeriodError):
        Period.parse("2025-W53")  # 2025 has 52 ISO weeks
