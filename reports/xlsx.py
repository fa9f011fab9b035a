"""The summary as an .xlsx workbook an office can hand on: 汇总, 环比同比, 明细, 修改记录.

Headers and sheet names are in Chinese: the workbook is the office's document, read by people
who file it upward. Numbers are written as numbers (never text) so Excel, LibreOffice and WPS
can add them up; a unit that did not report has empty cells, not zeros.
"""

from __future__ import annotations

import io
import unicodedata
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from reports.compile import Summary, UnitStatus
from reports.text import KIND_ZH, STATUS_ZH, period_zh

HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
TITLE_FONT = Font(bold=True, size=14)
INTEGER = "#,##0"
DECIMAL = "#,##0.##"
PERCENT = "0.0%"


def _width(value: Any) -> int:
    """Display width: CJK characters take two columns."""
    text = "" if value is None else str(value)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _text(value: Any) -> str | None:
    return None if value is None or pd.isna(value) else str(value)


def _number(value: Any) -> float | int | None:
    if value is None or pd.isna(value):
        return None
    number = float(value)
    return int(number) if number.is_integer() else number


def _local(moment: datetime | None, timezone: str) -> str | None:
    if moment is None or pd.isna(moment):
        return None
    return moment.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")


def _sheet(
    workbook: Workbook,
    title: str,
    heading: str,
    header: list[str],
    rows: list[list[Any]],
    formats: dict[int, str],
) -> Worksheet:
    sheet: Worksheet = workbook.create_sheet(title)
    sheet.append([heading])
    sheet.cell(row=1, column=1).font = TITLE_FONT
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=max(len(header), 1))
    sheet.append(header)
    for cell in sheet[2]:
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    for row in rows:
        sheet.append(row)
    for column, number_format in formats.items():
        for (cell,) in sheet.iter_rows(min_row=3, min_col=column, max_col=column):
            cell.number_format = number_format
    sample = rows[:500]  # widths from the first rows: enough to fit the text, cheap for big files
    for index, name in enumerate(header, start=1):
        widest = max([_width(name)] + [_width(r[index - 1]) for r in sample if len(r) >= index])
        sheet.column_dimensions[get_column_letter(index)].width = min(max(widest + 2, 8), 60)
    sheet.freeze_panes = "B3"
    return sheet


def write_xlsx(summary: Summary) -> bytes:
    """The workbook as bytes (callers run this off the event loop)."""
    workbook = Workbook()
    workbook.remove(workbook.active)  # type: ignore[arg-type]
    period = period_zh(summary.period)
    title = f"{summary.office_name} {summary.form_name} {period}"
    indicators = summary.indicators
    tz = summary.timezone

    header = (
        ["单位", "类型"]
        + [f"{s.label}（{s.measure_word}）" for s in indicators]
        + ["状态", "提交时间", "填报人"]
    )
    rows: list[list[Any]] = []
    for record in summary.table.to_dict("records"):
        rows.append(
            [record["unit"], KIND_ZH.get(record["kind"], record["kind"])]
            + [_number(record[s.key]) for s in indicators]
            + [
                STATUS_ZH[UnitStatus(record["status"])],
                _local(record["submitted_at"], tz),
                _text(record["submitted_by"]),
            ]
        )
    rows.append(
        ["合计", None]
        + [_number(summary.totals[s.key]) for s in indicators]
        + [f"已报 {summary.reported}/{summary.unit_count}", None, None]
    )
    numbers = {
        3 + i: INTEGER if float(summary.table[s.key].fillna(0).mod(1).sum()) == 0 else DECIMAL
        for i, s in enumerate(indicators)
    }
    sheet = _sheet(workbook, "汇总", f"{title} 汇总表", header, rows, numbers)
    for cell in sheet[sheet.max_row]:
        cell.font = HEADER_FONT

    comparison_rows = [
        [
            r["label"],
            r["measure_word"],
            _number(r["current"]),
            _number(r["previous"]),
            _number(r["mom"]),
            _number(r["last_year"]),
            _number(r["yoy"]),
        ]
        for r in summary.comparison.to_dict("records")
    ]
    _sheet(
        workbook,
        "环比同比",
        f"{title} 环比同比",
        ["指标", "单位", "本期", "上期", "环比", "去年同期", "同比"],
        comparison_rows,
        {3: DECIMAL, 4: DECIMAL, 5: PERCENT, 6: DECIMAL, 7: PERCENT},
    )

    detail_rows = [
        [
            r["unit"],
            r["period"],
            r["indicator"],
            _number(r["value"]),
            r["updated_by"],
            _local(r["updated_at"], tz),
            r["note"],
        ]
        for r in summary.details.to_dict("records")
    ]
    _sheet(
        workbook,
        "明细",
        f"{title} 明细",
        ["单位", "期间", "指标", "数值", "填报人", "填报时间", "说明"],
        detail_rows,
        {4: DECIMAL},
    )

    revision_rows = [
        [
            r["unit"],
            r["period"],
            r["indicator"],
            _number(r["old_value"]),
            _number(r["new_value"]),
            r["actor"],
            _local(r["at"], tz),
            r["via"],
            r["reason"],
        ]
        for r in summary.revisions.to_dict("records")
    ]
    _sheet(
        workbook,
        "修改记录",
        f"{title} 修改记录",
        ["单位", "期间", "指标", "原值", "新值", "修改人", "时间", "方式", "原因"],
        revision_rows,
        {4: DECIMAL, 5: DECIMAL},
    )

    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
