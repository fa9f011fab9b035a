"""Plain-text renderings of a summary for files (CSV, Markdown) and Chinese period labels."""

from __future__ import annotations

import io
import math

from domain.periods import Period, PeriodKind
from reports.compile import Summary, UnitStatus

STATUS_ZH = {
    UnitStatus.ON_TIME: "已报",
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
