"""The compile on small hand-computed data: totals, 环比/同比, roll-ups, missing vs zero, late."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from domain.periods import Period, PeriodKind
from reports.compile import (
    Aggregation,
    IndicatorSpec,
    SubmissionRecord,
    SummaryInput,
    UnitSpec,
    UnitStatus,
    ValueRecord,
    compile_summary,
)

T = datetime(2026, 11, 1, tzinfo=UTC)
UNITS = [
    UnitSpec(1, "jinhai", "金海社区", "community"),
    UnitSpec(2, "dongling", "东岭村", "village"),
    UnitSpec(3, "huguang", "湖光社区", "community"),
]
DISPUTES = IndicatorSpec("disputes", "调解纠纷", "宗")
LECTURES = IndicatorSpec("lectures", "法治讲座", "场")
STAFF = IndicatorSpec("staff", "在岗调解员", "人", Aggregation.LATEST)
PEAK = IndicatorSpec("peak", "单日最多咨询", "人次", Aggregation.MAX)


def reported(unit: int, period: str, late: bool = False, **values: float):  # type: ignore[no-untyped-def]
    submission = SubmissionRecord(unit, period, T, f"user{unit}", late)
    return submission, [
        ValueRecord(unit, period, key, value, T, f"user{unit}") for key, value in values.items()
    ]


def make(period: str, *entries, indicators=(DISPUTES, LECTURES)) -> SummaryInput:  # type: ignore[no-untyped-def]
    submissions, values = [], []
    for submission, rows in entries:
        submissions.append(submission)
        values += rows
    return SummaryInput(
        "金湖街道",
        "月报",
        PeriodKind.MONTH,
        Period.parse(period),
        UNITS,
        list(indicators),
        submissions,
        values,
    )


def test_totals_missing_is_not_zero_and_late_is_counted() -> None:
    summary = compile_summary(
        make(
            "2026-10",
            reported(1, "2026-10", disputes=5, lectures=0),
            reported(2, "2026-10", late=True, disputes=2, lectures=1),
        )
    )
    table = summary.table.set_index("unit")
    assert list(table.index) == [
        "金海社区",
        "湖光社区",
        "东岭村",
    ]  # communities first, then villages
    assert table.at["金海社区", "lectures"] == 0  # an explicit zero stays zero
    assert math.isnan(table.at["湖光社区", "disputes"])  # did not report: missing, not 0
    assert table.at["湖光社区", "status"] == UnitStatus.MISSING
    assert table.at["东岭村", "status"] == UnitStatus.LATE
    assert summary.totals["disputes"] == 7 and summary.totals["lectures"] == 1
    assert summary.counts == {
        UnitStatus.ON_TIME: 1,
        UnitStatus.LATE: 1,
        UnitStatus.PARTIAL: 0,
        UnitStatus.MISSING: 1,
    }
    assert summary.reported == 2


def test_month_on_month_and_year_on_year() -> None:
    summary = compile_summary(
        make(
            "2026-10",
            reported(1, "2026-10", disputes=6, lectures=3),
            reported(1, "2026-09", disputes=4, lectures=0),
            reported(1, "2025-10", disputes=8),
        )
    )
    rows = summary.comparison.set_index("key")
    assert rows.at["disputes", "previous"] == 4 and rows.at["disputes", "mom"] == 0.5
    assert rows.at["disputes", "last_year"] == 8 and rows.at["disputes", "yoy"] == -0.25
    assert math.isnan(rows.at["lectures", "mom"])  # base 0: no percentage
    assert math.isnan(rows.at["lectures", "yoy"])  # no base last year


def test_quarter_and_year_roll_up_the_months() -> None:
    entries = [
        reported(1, "2026-07", disputes=1, lectures=1),
        reported(1, "2026-08", disputes=2, lectures=0),
        reported(1, "2026-09", disputes=3, lectures=2),
        reported(2, "2026-07", disputes=10),
        reported(2, "2026-09", disputes=5),
        reported(1, "2026-04", disputes=3),
    ]
    quarter = compile_summary(make("2026Q3", *entries))
    table = quarter.table.set_index("unit")
    assert (
        table.at["金海社区", "disputes"] == 6
        and table.at["金海社区", "status"] == UnitStatus.ON_TIME
    )
    assert (
        table.at["东岭村", "disputes"] == 15 and table.at["东岭村", "status"] == UnitStatus.PARTIAL
    )
    assert quarter.totals["disputes"] == 21
    assert quarter.comparison.set_index("key").at["disputes", "previous"] == 3  # 2026Q2
    year = compile_summary(make("2026", *entries))
    assert year.totals["disputes"] == 24


def test_other_aggregations() -> None:
    entries = [
        reported(1, "2026-07", staff=3, peak=20),
        reported(1, "2026-08", staff=4, peak=35),
        reported(1, "2026-09", staff=2, peak=12),
        reported(2, "2026-08", staff=5, peak=50),
    ]
    summary = compile_summary(make("2026Q3", *entries, indicators=(STAFF, PEAK)))
    table = summary.table.set_index("unit")
    assert table.at["金海社区", "staff"] == 2  # the latest month
    assert table.at["金海社区", "peak"] == 35  # the largest month
    assert summary.totals["staff"] == 7  # units' latest values add up
    assert summary.totals["peak"] == 50  # the office's peak is the largest unit's


def test_nobody_reported() -> None:
    summary = compile_summary(make("2026-10"))
    assert math.isnan(summary.totals["disputes"])
    assert summary.counts[UnitStatus.MISSING] == 3
    assert math.isnan(summary.comparison.set_index("key").at["disputes", "mom"])


def test_the_annual_paragraph_computes_every_figure() -> None:
    from reports.annual import draft_report

    entries = [
        reported(1, "2026-03", disputes=120, lectures=18, success=120),
        reported(2, "2026-06", disputes=76, lectures=11, success=76),
        reported(1, "2025-05", lectures=16),
    ]
    success = IndicatorSpec("success", "调解成功", "宗")
    summary = compile_summary(make("2026", *entries, indicators=(DISPUTES, LECTURES, success)))
    template = (
        "全年调解矛盾纠纷{{ n.disputes }}，调解成功率{{ rate('success', 'disputes') }}；"
        "开展法治讲座{{ n.lectures }}{{ yoy('lectures') }}{{ yoy('disputes') }}。"
    )
    assert draft_report(summary, template) == (
        "全年调解矛盾纠纷196宗，调解成功率100%；开展法治讲座29场，同比增长81.2%。"
    )
