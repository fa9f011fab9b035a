"""Plain-text renderings of a summary for files (CSV, Markdown), Chinese period labels, and
the telling of a coverage gap (why a 环比 or 同比 is left out)."""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from domain.periods import Period, PeriodKind
from reports.compile import Summary, UnitStatus
from reports.coverage import CoverageGap, GapKind, Side

# "已报 N/M" under the table counts every unit that reported (on time, late or in part), so
# no single status may be called 已报.
STATUS_ZH = {
    UnitStatus.ON_TIME: "按时",
    UnitStatus.LATE: "逾期",
    UnitStatus.PARTIAL: "部分",
    UnitStatus.MISSING: "未报",
}
KIND_ZH = {"community": "社区", "village": "村"}


def period_zh(period: Period) -> str:
    if period.kind is PeriodKind.WEEK:
        return f"{period.year}年第{period.index}周"
    if period.kind is PeriodKind.MONTH:
        return f"{period.year}年{period.index}月"
    if period.kind is PeriodKind.QUARTER:
        return f"{period.year}年第{period.index}季度"
    return f"{period.year}年"


@dataclass(frozen=True)
class GapWords:
    """The phrases a coverage gap is told in: Chinese for the office's documents
    (:data:`GAP_ZH`), the reader's language in chat (``bot.views`` translates them)."""

    period: Callable[[Period], str]
    no_data: str  # {period}
    narrow: str  # {narrow} {narrow_parts} {wide} {wide_parts}: one side's parts within the other's
    parts: str  # {base} {base_parts} {current} {current_parts}
    only_in: str  # {units} {period}
    other_months: str  # {units}
    other_quarters: str  # {units}
    months: str  # {ranges}
    quarters: str  # {ranges}
    span: str  # {first} {last}
    list_separator: str
    clause_separator: str
    more_units: str  # {names} {total}


GAP_ZH = GapWords(
    period=period_zh,
    no_data="{period}无数据",
    narrow="{narrow}仅有{narrow_parts}的数据，{wide}有{wide_parts}的数据",
    parts="{base}有{base_parts}的数据，{current}有{current_parts}的数据",
    only_in="{units}只在{period}有数据",
    other_months="{units}两期有数据的月份不同",
    other_quarters="{units}两期有数据的季度不同",
    months="{ranges}月",
    quarters="第{ranges}季度",
    span="{first}—{last}",
    list_separator="、",
    clause_separator="，",
    more_units="{names}等{total}个单位",
)
NAMED_UNITS = 3  # a note names this many units, then counts the rest


def _parts_text(parts: Sequence[Period], words: GapWords) -> str:
    """ "1—3月、5月"-like: the months (or quarters) of one period, consecutive ones as a span."""
    kinds = {part.kind for part in parts}
    if kinds not in ({PeriodKind.MONTH}, {PeriodKind.QUARTER}):
        return words.list_separator.join(words.period(part) for part in parts)
    runs: list[list[int]] = []
    for index in sorted(part.index for part in parts):
        if runs and index == runs[-1][-1] + 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    ranges = words.list_separator.join(
        str(run[0]) if len(run) == 1 else words.span.format(first=run[0], last=run[-1])
        for run in runs
    )
    template = words.months if kinds == {PeriodKind.MONTH} else words.quarters
    return template.format(ranges=ranges)


def _units_text(names: Sequence[str], words: GapWords) -> str:
    shown = words.list_separator.join(names[:NAMED_UNITS])
    if len(names) <= NAMED_UNITS:
        return shown
    return words.more_units.format(names=shown, total=len(names))


def gap_text(gap: CoverageGap, words: GapWords = GAP_ZH) -> str:
    """Why a 环比/同比 is left out, e.g. "2025年仅有3月的数据，2026年有1—12月的数据"."""
    base, current = words.period(gap.base), words.period(gap.current)
    if gap.kind is GapKind.NO_BASE:
        return words.no_data.format(period=base)
    if gap.kind is GapKind.PARTS:
        base_parts = _parts_text(gap.base_parts, words)
        current_parts = _parts_text(gap.current_parts, words)
        if gap.narrower is Side.BASE:
            return words.narrow.format(
                narrow=base, narrow_parts=base_parts, wide=current, wide_parts=current_parts
            )
        if gap.narrower is Side.CURRENT:
            return words.narrow.format(
                narrow=current, narrow_parts=current_parts, wide=base, wide_parts=base_parts
            )
        return words.parts.format(
            base=base, base_parts=base_parts, current=current, current_parts=current_parts
        )
    clauses = []
    if gap.only_current:
        clauses.append(
            words.only_in.format(units=_units_text(gap.only_current, words), period=current)
        )
    if gap.only_base:
        clauses.append(words.only_in.format(units=_units_text(gap.only_base, words), period=base))
    if gap.other_parts:
        quarters = all(part.kind is PeriodKind.QUARTER for part in gap.current_parts)
        template = words.other_quarters if quarters else words.other_months
        clauses.append(template.format(units=_units_text(gap.other_parts, words)))
    return words.clause_separator.join(clauses)


def withheld(
    summary: Summary, column: str, keys: Iterable[str]
) -> list[tuple[list[str], CoverageGap]]:
    """The ``column`` ("mom" or "yoy") percentages of indicators ``keys`` left out for coverage,
    one entry per distinct gap (in indicator order) with the labels of its indicators; the
    labels are empty when the gap is that of every key with a figure, so a note need not
    list them."""
    rows = summary.comparison.set_index("key")
    with_figures = [key for key in dict.fromkeys(keys) if not math.isnan(rows.at[key, "current"])]
    groups: dict[CoverageGap, list[str]] = {}
    for key in with_figures:
        gap = rows.at[key, f"{column}_gap"]
        if gap is not None:
            groups.setdefault(gap, []).append(str(rows.at[key, "label"]))
    if len(groups) == 1 and len(next(iter(groups.values()))) == len(with_figures):
        return [([], next(iter(groups)))]
    return [(labels, gap) for gap, labels in groups.items()]


def number_text(value: float | None) -> str:
    """12 → "12", 12.5 → "12.5", 1234567.25 → "1234567.25" (never "1.23457e+06")."""
    if value is None or math.isnan(value):
        return ""
    if float(value).is_integer():
        return f"{int(value)}"
    return f"{value:.4f}".rstrip("0").rstrip(".")


def summary_rows(summary: Summary) -> tuple[list[str], list[list[str]]]:
    header = (
        ["单位", "类型"] + [f"{s.label}（{s.measure_word}）" for s in summary.indicators] + ["状态"]
    )
    rows = [
        [r["unit"], KIND_ZH.get(r["kind"], r["kind"])]
        + [number_text(r[s.key]) for s in summary.indicators]
        + [STATUS_ZH[UnitStatus(r["status"])]]
        for r in summary.table.to_dict("records")
    ]
    rows.append(
        ["合计", ""]
        + [number_text(summary.totals[s.key]) for s in summary.indicators]
        + [f"已报 {summary.reported}/{summary.unit_count}"]
    )
    return header, rows


def write_csv(summary: Summary) -> bytes:
    """UTF-8 with a BOM, so Excel opens the Chinese text correctly."""
    import csv

    header, rows = summary_rows(summary)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def write_markdown(summary: Summary) -> bytes:
    header, rows = summary_rows(summary)
    lines = [
        f"# {summary.office_name} {summary.form_name} {period_zh(summary.period)}",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return ("\n".join(lines) + "\n").encode("utf-8")


def file_name(summary: Summary, extension: str) -> str:
    return f"{summary.office_name}-{summary.form_name}-{summary.period.code}.{extension}"
