"""The bulk .xlsx writer: what openpyxl reads back is what was written, whatever the text."""

from __future__ import annotations

import io
import zipfile
from xml.etree import ElementTree

from openpyxl import load_workbook

from reports.xlsx import DECIMAL, INTEGER, PERCENT, SheetSpec, build_workbook


def _spec(**changes: object) -> SheetSpec:
    spec = SheetSpec(
        title="明细",
        heading="金湖街道 明细",
        header=["单位", "数值", "比例", "说明"],
        columns=[
            ["金海社区", "东岭村", "<b>龙湾</b> & 社区"],
            [12, None, 3.5],
            [0.125, -0.5, None],
            ["  前后有空格 ", "控制\x00字符\x1b", "=SUM(A1)"],
        ],
        formats={2: INTEGER, 3: PERCENT},
        footer=["合计", 15.5, None, "已报 2/3"],
    )
    for key, value in changes.items():
        setattr(spec, key, value)
    return spec


def test_values_styles_and_layout_survive_the_round_trip() -> None:
    book = load_workbook(io.BytesIO(build_workbook([_spec()])))
    sheet = book["明细"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "金湖街道 明细" and rows[1] == ("单位", "数值", "比例", "说明")
    assert rows[2] == ("金海社区", 12, 0.125, "  前后有空格 ")
    # Missing is a blank cell, markup is text, control characters are dropped, formulas stay text.
    assert rows[3] == ("东岭村", None, -0.5, "控制字符")
    assert rows[4] == ("<b>龙湾</b> & 社区", 3.5, None, "=SUM(A1)")
    assert rows[5] == ("合计", 15.5, None, "已报 2/3")
    assert sheet.cell(row=4, column=2).data_type == "n"
    assert sheet["B3"].number_format == INTEGER and sheet["C4"].number_format == PERCENT
    assert sheet["A6"].font.bold and not sheet["A5"].font.bold
    assert sheet.freeze_panes == "B3" and "A1:D1" in sheet.merged_cells
    assert sheet.max_row == 6 and sheet.max_column == 4


def test_an_empty_sheet_keeps_its_title_and_header() -> None:
    empty = _spec(columns=[[], [], [], []], footer=None, formats={2: DECIMAL})
    sheet = load_workbook(io.BytesIO(build_workbook([empty])))["明细"]
    assert [row for row in sheet.iter_rows(values_only=True)] == [
        ("金湖街道 明细", None, None, None),
        ("单位", "数值", "比例", "说明"),
    ]


def test_every_sheet_is_well_formed_xml_with_a_true_dimension() -> None:
    many = _spec(
        columns=[
            [f"第{i}社区" for i in range(1000)],
            list(range(1000)),
            [None] * 1000,
            ["x"] * 1000,
        ],
        footer=None,
    )
    data = build_workbook([_spec(title="汇总"), many])
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        assert package.testzip() is None
        for name in ("xl/worksheets/sheet1.xml", "xl/worksheets/sheet2.xml"):
            ElementTree.fromstring(package.read(name))  # raises on malformed XML
        second = package.read("xl/worksheets/sheet2.xml").decode("utf-8")
    assert '<dimension ref="A1:D1002" />' in second
    assert load_workbook(io.BytesIO(data))["明细"]["A1002"].value == "第999社区"
