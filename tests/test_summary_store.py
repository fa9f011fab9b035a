"""Summaries compiled from a real database, and the .xlsx re-read with openpyxl."""

from __future__ import annotations

import io
import math
from datetime import UTC, datetime, timedelta

from openpyxl import load_workbook
from sqlmodel import Session

from bot import views
from bot.config import FigbotConfig
from models.tables import Contact
from reports.annual import DEFAULT_TEMPLATE, draft_report
from reports.compile import UnitStatus, compile_summary
from reports.text import write_csv, write_markdown
from reports.xlsx import write_xlsx
from services.reporting import Action, answer_text, press, start
from services.summary import load_summary_input, target_for
from tests.conftest import Clock
from tests.store_helpers import bind, open_, submit

OCT = [10, 4, 4, 1, 30, 2, 5, 100]
NOV_WANG = [12, 5, 5, 2, 40, 3, 7, 300]
NOV_CHEN = [4, 1, 1, 0, 9, 0, 2, 80]


def office_with_data(session: Session, clock: Clock):  # type: ignore[no-untyped-def]
    october = clock() - timedelta(days=31)
    wang = bind(session, user_id=1, name="王芳", unit="jinhai", now=october)
    chen = bind(session, user_id=3, name="陈敏", unit="dongling", now=october)
    oct_round = open_(session, "2026-10", now=october)
    submit(session, wang, oct_round.round_id, OCT, october)
    nov_round = open_(session, "2026-11", now=clock())
    submit(session, wang, nov_round.round_id, NOV_WANG, clock())
    clock.advance(days=6)  # past the deadline (3 Dec), before the lock: 陈敏 is late
    submit(session, chen, nov_round.round_id, NOV_CHEN, clock())
    # 王芳 corrects her mediated disputes: 5 → 6 (a revision).
    start(session, contact=wang, round_id=nov_round.round_id, now=clock())
    press(
        session,
        contact=wang,
        action=Action.EDIT,
        round_id=nov_round.round_id,
        key="disputes_mediated",
        now=clock(),
    )
    answer_text(session, contact=wang, text="6", now=clock())
    press(session, contact=wang, action=Action.SUBMIT, round_id=nov_round.round_id, now=clock())
    return wang, chen


def compiled(session: Session, config: FigbotConfig, period: str):  # type: ignore[no-untyped-def]
    target = target_for(session, office_id=1, period_text=period)
    return compile_summary(load_summary_input(session, config=config, target=target))


def test_a_month_from_the_database(session: Session, clock: Clock, config: FigbotConfig) -> None:
    office_with_data(session, clock)
    summary = compiled(session, config, "2026-11")
    assert summary.counts == {
        UnitStatus.ON_TIME: 1,
        UnitStatus.LATE: 1,
        UnitStatus.PARTIAL: 0,
        UnitStatus.MISSING: 4,
    }
    assert summary.totals["disputes_mediated"] == 6 + 1
    assert summary.totals["leaflets_distributed"] == 380
    comparison = summary.comparison.set_index("key")
    assert comparison.at["dispute_screenings", "previous"] == 10
    # 东岭村 reported in November only: 16 against 10 would count its figures as growth.
    assert math.isnan(comparison.at["dispute_screenings", "mom"])
    assert math.isnan(comparison.at["dispute_screenings", "yoy"])  # no 2025 data
    assert len(summary.revisions[summary.revisions["old_value"].notna()]) == 1
    assert len(summary.details) == 16


def test_a_quarter_rolls_up_the_months(
    session: Session, clock: Clock, config: FigbotConfig
) -> None:
    office_with_data(session, clock)
    summary = compiled(session, config, "2026Q4")
    table = summary.table.set_index("unit")
    assert table.at["金海社区", "dispute_screenings"] == 10 + 12
    assert table.at["金海社区", "status"] == UnitStatus.PARTIAL  # December not reported yet
    assert summary.totals["dispute_screenings"] == 10 + 12 + 4


def test_the_workbook(session: Session, clock: Clock, config: FigbotConfig) -> None:
    office_with_data(session, clock)
    summary = compiled(session, config, "2026-11")
    book = load_workbook(io.BytesIO(write_xlsx(summary)))
    assert book.sheetnames == ["汇总", "环比同比", "明细", "修改记录"]
    sheet = book["汇总"]
    assert sheet["A1"].value == "金湖街道办事处 法治工作月报 2026年11月 汇总表"
    header = [cell.value for cell in sheet[2]]
    assert header[:3] == ["单位", "类型", "矛盾纠纷排查（次）"] and header[-3:] == [
        "状态",
        "提交时间",
        "填报人",
    ]
    assert sheet["A2"].font.bold and sheet.freeze_panes == "B3"
    rows = list(sheet.iter_rows(min_row=3, values_only=True))
    units, total = rows[:-1], rows[-1]
    assert [row[0] for row in units] == [
        "金海社区",
        "湖光社区",
        "新城社区",
        "龙湾社区",
        "东岭村",
        "西溪村",
    ]
    assert total[0] == "合计"
    for column in range(2, 2 + 8):
        numbers = [row[column] for row in units if row[column] is not None]
        assert all(isinstance(n, int) for n in numbers)
        assert isinstance(total[column], int) and total[column] == sum(numbers)
    assert units[1][2] is None and units[1][-3] == "未报"  # missing is empty, not 0
    assert units[4][-3] == "逾期" and units[0][-3] == "按时"
    # The footer's 已报 2/6 counts every unit that reported, late or not: the rows say so.
    assert total[-3] == "已报 2/6" and [row[-3] for row in units].count("未报") == 6 - 2
    assert sheet.column_dimensions["C"].width >= 20  # fits "矛盾纠纷排查（次）"
    comparison = book["环比同比"]
    first = [cell.value for cell in comparison[3]]
    assert first == [
        "矛盾纠纷排查",
        "次",
        16,
        10,
        "—",
        None,
        "—",
        "环比未计算：东岭村只在2026年11月有数据；同比未计算：2025年11月无数据",
    ]
    assert comparison.cell(row=3, column=5).number_format == "0.0%"
    revisions = list(book["修改记录"].iter_rows(min_row=3, values_only=True))
    assert ("金海社区", "2026-11", "调解纠纷", 5, 6) in [row[:5] for row in revisions]


def test_csv_and_markdown(session: Session, clock: Clock, config: FigbotConfig) -> None:
    office_with_data(session, clock)
    summary = compiled(session, config, "2026-11")
    csv_text = write_csv(summary).decode("utf-8")
    assert csv_text.startswith("\ufeff单位,类型,矛盾纠纷排查（次）")
    assert "合计,,16,7,6,2,49,3,9,380,已报 2/6" in csv_text
    assert "金海社区,社区,16," not in csv_text and ",按时" in csv_text
    markdown = write_markdown(summary).decode("utf-8")
    assert markdown.startswith("# 金湖街道办事处 法治工作月报 2026年11月")
    assert "| 湖光社区 | 社区 |  |" in markdown


def report_in(
    session: Session, clock: Clock, period: str, reports: list[tuple[Contact, list[int]]]
) -> None:
    """Open ``period``'s monthly round on the 28th and submit ``reports`` in it, on time."""
    year, month = map(int, period.split("-"))
    now = datetime(year, month, 28, 2, 0, tzinfo=UTC)
    opened = open_(session, period, now=now)
    for contact, answers in reports:
        submit(session, contact, opened.round_id, answers, now)


def draft_of(session: Session, config: FigbotConfig, year: str) -> tuple[str, str]:
    """The year's draft and the chat message that carries it."""
    summary = compiled(session, config, year)
    text = draft_report(summary, DEFAULT_TEMPLATE)
    return text, views.report_message(text, summary, "zh-Hans").text


def test_a_year_with_one_month_of_last_year_gets_no_yoy(
    session: Session, clock: Clock, config: FigbotConfig
) -> None:
    wang, _ = office_with_data(session, clock)
    report_in(session, clock, "2025-03", [(wang, OCT)])  # the only month of 2025
    text, _ = draft_of(session, config, "2026")
    paragraph, note = text.split("\n\n")
    assert "全年共开展矛盾纠纷排查26次，调解矛盾纠纷11宗" in paragraph  # no "同比增长160%"
    assert "同比" not in paragraph
    assert note == "（说明：2025年仅有3月的数据，2026年有10—11月的数据，未计算同比。）"


def test_years_of_the_same_units_and_months_get_a_yoy(
    session: Session, clock: Clock, config: FigbotConfig
) -> None:
    wang, chen = office_with_data(session, clock)
    report_in(session, clock, "2025-10", [(wang, OCT)])
    report_in(session, clock, "2025-11", [(wang, NOV_CHEN), (chen, NOV_CHEN)])
    text, _ = draft_of(session, config, "2026")
    assert "全年共开展矛盾纠纷排查26次，同比增长44.4%，" in text  # 26 against 10 + 4 + 4
    assert "开展法治讲座3场，同比增长200%；" in text  # 1 + 2 + 0 against 1 + 0 + 0
    assert "说明" not in text
    book = load_workbook(io.BytesIO(write_xlsx(compiled(session, config, "2026"))))
    first = [cell.value for cell in book["环比同比"][3]]
    assert first[5] == 18 and abs(first[6] - 8 / 18) < 1e-9 and first[7] is None


def test_a_quarter_missing_a_month_gets_no_mom(
    session: Session, clock: Clock, config: FigbotConfig
) -> None:
    wang, _ = office_with_data(session, clock)
    for month in ("2026-07", "2026-08", "2026-09"):
        report_in(session, clock, month, [(wang, OCT)])
    summary = compiled(session, config, "2026Q4")  # December is not in yet
    comparison = summary.comparison.set_index("key")
    assert comparison.at["dispute_screenings", "previous"] == 30
    assert math.isnan(comparison.at["dispute_screenings", "mom"])  # not "-13.3%"
    why = "2026年第4季度仅有10—11月的数据，2026年第3季度有7—9月的数据"
    message = views.summary_message(summary, "zh-Hans").text
    assert "矛盾纠纷排查：26次 · 环比 — · 同比 —" in message
    assert f"环比未计算：{why}。" in message
    book = load_workbook(io.BytesIO(write_xlsx(summary)))
    first = [cell.value for cell in book["环比同比"][3]]
    assert first[3:5] == [30, "—"]
    assert first[7] == f"环比未计算：{why}；同比未计算：2025年第4季度无数据"


def test_the_report_counts_units_that_reported_a_figure(
    session: Session, clock: Clock, config: FigbotConfig
) -> None:
    office_with_data(session, clock)  # 王芳 and 陈敏 report; four units send nothing
    bind(session, user_id=4, name="李强", unit="huguang", now=clock())  # joined, never reported
    text, message = draft_of(session, config, "2026")
    assert text.startswith("2026年，金湖街道办事处所辖6个社区（村）中有2个参与法治工作数据填报。")
    assert "（2/6个单位有数据）" in message
