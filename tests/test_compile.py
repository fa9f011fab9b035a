"""The compile on small hand-computed data: totals, 环比/同比, roll-ups, missing vs zero, late."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from bot import views
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
from reports.xlsx import summary_sheets

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
        reported(1, "2025-03", lectures=10),  # the same units' same months: 同比 given
        reported(2, "2025-06", lectures=6),
    ]
    success = IndicatorSpec("success", "调解成功", "宗")
    summary = compile_summary(make("2026", *entries, indicators=(DISPUTES, LECTURES, success)))
    template = (
        "全年调解矛盾纠纷{{ n.disputes }}，调解成功率{{ rate('success', 'disputes') }}；"
        "开展法治讲座{{ n.lectures }}{{ yoy('lectures') }}{{ yoy('disputes') }}。"
    )
    assert draft_report(summary, template) == (
        "全年调解矛盾纠纷196宗，调解成功率100%；开展法治讲座29场，同比增长81.2%。\n\n"
        "（说明：调解纠纷方面，2025年无数据，未计算同比。）"
    )


def yoy_draft(summary, *keys: str) -> str:  # type: ignore[no-untyped-def]
    from reports.annual import draft_report

    return draft_report(
        summary, "".join(f"{{{{ n.{key} }}}}{{{{ yoy('{key}') }}}}；" for key in keys)
    )


def test_a_year_with_one_month_is_not_compared_with_a_full_year() -> None:
    entries = [reported(1, f"2026-{month:02d}", disputes=10) for month in range(1, 13)]
    summary = compile_summary(make("2026", *entries, reported(1, "2025-03", disputes=12)))
    row = summary.comparison.set_index("key").loc["disputes"]
    assert row["current"] == 120 and row["last_year"] == 12  # both totals stay shown
    assert math.isnan(row["yoy"])  # but 12 months against 1 is no 同比
    assert yoy_draft(summary, "disputes") == (
        "120宗；\n\n（说明：2025年仅有3月的数据，2026年有1—12月的数据，未计算同比。）"
    )
    text = views.summary_message(summary, "zh-Hans").text
    assert "调解纠纷：120宗 · 环比 — · 同比 —" in text
    assert "环比、同比未计算：2025年度仅有3月的数据，2026年度有1—12月的数据。" in text


def test_years_with_the_same_months_from_the_same_units_are_compared() -> None:
    entries = [
        reported(1, "2026-03", disputes=10),
        reported(1, "2026-04", disputes=20),
        reported(2, "2026-04", disputes=15),
        reported(1, "2025-03", disputes=8),
        reported(1, "2025-04", disputes=12),
        reported(2, "2025-04", disputes=10),
    ]
    summary = compile_summary(make("2026", *entries))
    assert summary.comparison.set_index("key").at["disputes", "yoy"] == (45 - 30) / 30
    assert yoy_draft(summary, "disputes") == "45宗，同比增长50%；"  # no note


def test_the_current_year_so_far_is_not_compared_with_a_whole_year() -> None:
    entries = [reported(1, f"2025-{month:02d}", disputes=10) for month in range(1, 13)]
    entries += [reported(1, f"2026-{month:02d}", disputes=10) for month in range(1, 12)]
    summary = compile_summary(make("2026", *entries))
    assert math.isnan(summary.comparison.set_index("key").at["disputes", "yoy"])
    assert yoy_draft(summary, "disputes").endswith(
        "（说明：2026年仅有1—11月的数据，2025年有1—12月的数据，未计算同比。）"
    )


def test_the_same_months_from_other_units_are_not_compared() -> None:
    entries = [
        reported(1, "2026-10", disputes=6),
        reported(1, "2026-11", disputes=6),
        reported(2, "2026-11", disputes=4),  # 东岭村 did not report in October
    ]
    summary = compile_summary(make("2026-11", *entries))
    rows = summary.comparison.set_index("key")
    assert rows.at["disputes", "current"] == 10 and rows.at["disputes", "previous"] == 6
    assert math.isnan(rows.at["disputes", "mom"])  # not a 67% increase: one unit more
    text = views.summary_message(summary, "zh-Hans").text
    assert "调解纠纷：10宗 · 环比 — · 同比 —" in text
    assert "环比未计算：东岭村只在2026年11月有数据。" in text
    assert "同比未计算：2025年11月无数据。" in text


def test_a_quarter_with_two_months_is_not_compared_with_a_full_quarter() -> None:
    entries = [reported(1, f"2026-{month:02d}", disputes=3) for month in (7, 8, 9, 10, 11)]
    quarter = compile_summary(make("2026Q4", *entries))
    rows = quarter.comparison.set_index("key")
    assert rows.at["disputes", "current"] == 6 and rows.at["disputes", "previous"] == 9
    assert math.isnan(rows.at["disputes", "mom"])  # not a 33% fall: December is not in yet
    text = views.summary_message(quarter, "zh-Hans").text
    assert "环比未计算：2026年第4季度仅有10—11月的数据，2026年第3季度有7—9月的数据。" in text
    changes = summary_sheets(quarter)[1]
    assert changes.header[-1] == "说明"
    mom, note = changes.columns[4][0], changes.columns[-1][0]
    assert mom == "—"
    assert note == (
        "环比未计算：2026年第4季度仅有10—11月的数据，2026年第3季度有7—9月的数据；"
        "同比未计算：2025年第4季度无数据"
    )
    entries.append(reported(1, "2026-12", disputes=3))
    full = compile_summary(make("2026Q4", *entries))
    assert full.comparison.set_index("key").at["disputes", "mom"] == 0
    assert summary_sheets(full)[1].columns[4][0] == 0


def test_an_indicator_added_mid_year_is_compared_on_its_own_months() -> None:
    entries = [reported(1, f"2025-{month:02d}", disputes=2) for month in (1, 2)]
    entries += [reported(1, f"2025-{month:02d}", disputes=2, lectures=1) for month in (3, 4)]
    entries += [reported(1, f"2026-{m:02d}", disputes=3, lectures=1) for m in (1, 2, 3, 4)]
    summary = compile_summary(make("2026", *entries))
    rows = summary.comparison.set_index("key")
    assert rows.at["disputes", "yoy"] == 0.5  # the same four months in both years
    assert math.isnan(rows.at["lectures", "yoy"])  # 法治讲座 started in March 2025
    assert yoy_draft(summary, "disputes", "lectures") == (
        "12宗，同比增长50%；4场；\n\n"
        "（说明：法治讲座方面，2025年仅有3—4月的数据，2026年有1—4月的数据，未计算同比。）"
    )


def test_units_reported_counts_units_with_figures() -> None:
    from reports.annual import draft_report

    no_figures = SubmissionRecord(2, "2026-05", T, "user2", False), []
    summary = compile_summary(make("2026", reported(1, "2026-05", disputes=1), no_figures))
    assert summary.unit_count == 3
    text = draft_report(summary, "{{ units_reported }}/{{ units_total }}")
    assert text == "1/3"  # 东岭村 sent a form without a figure, 湖光社区 nothing
    assert "（1/3个单位有数据）" in views.report_message(text, summary, "zh-Hans").text


def test_a_unit_no_longer_in_the_office_is_named_in_the_note() -> None:
    from dataclasses import replace

    entries = [
        reported(1, "2026-11", disputes=5),
        reported(1, "2025-11", disputes=5),
        reported(4, "2025-11", disputes=7),  # 西湾村, since merged away
    ]
    data = replace(
        make("2026-11", *entries), former_units=[UnitSpec(4, "xiwan", "西湾村", "village")]
    )
    summary = compile_summary(data)
    assert summary.comparison.set_index("key").at["disputes", "last_year"] == 12
    assert math.isnan(summary.comparison.set_index("key").at["disputes", "yoy"])  # not -58%
    assert (
        "同比未计算：西湾村只在2025年11月有数据。" in views.summary_message(summary, "zh-Hans").text
    )
