"""Coordinators' summaries through the local Bot API server."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from models.tables import Role
from tests.flow import Harness

ANSWERS = ["12", "5", "4", "2", "40", "3", "7", "300"]


async def test_summary_sends_the_message_and_the_workbook(harness: Harness) -> None:
    wang = await harness.join(1001, "王芳", unit="jinhai")
    zhao = await harness.join(2001, "赵主任", role=Role.COORDINATOR, office="jinhu")
    await harness.open_round("2026-11")
    await wang.press("开始填报")
    for answer in ANSWERS:
        await wang.send(answer)
    await wang.press("提交")
    message, document = await zhao.send("/summary")
    assert message.text.startswith("金湖街道办事处·2026年11月法治工作月报")
    assert "已报 1/6：逾期 0，部分 0，未报 5" in message.text
    assert "未报单位：湖光社区、新城社区、龙湾社区、东岭村、西溪村" in message.text
    assert "矛盾纠纷排查：12次 · 环比 — · 同比 —" in message.text
    assert document.document is not None
    assert document.document["file_name"] == "金湖街道办事处-法治工作月报-2026-11.xlsx"
    book = load_workbook(io.BytesIO(document.document["bytes"]))
    assert book.sheetnames == ["汇总", "环比同比", "明细", "修改记录"]
    total = [row for row in book["汇总"].iter_rows(values_only=True) if row[0] == "合计"][0]
    assert total[2] == 12
    (again,) = await zhao.send("/summary 2026-13")
    assert again.text.startswith("无法汇总“2026-13”")
    message, _ = await zhao.send("/summary 2026Q4")
    assert "2026年第4季度" in message.text and "部分 1" in message.text


async def test_reporters_cannot_see_summaries(harness: Harness) -> None:
    wang = await harness.join(1001, "王芳", unit="jinhai")
    await harness.open_round("2026-11")
    for command in ["/summary", "/summary 2026-11", "/missing"]:
        (refusal,) = await wang.send(command)
        assert "只有协调员" in refusal.text


async def test_missing_lists_pending_units_with_contacts_and_last_reminder(
    harness: Harness,
) -> None:
    wang = await harness.join(1001, "王芳", unit="jinhai")
    await harness.join(1002, "李强", unit="huguang")
    zhao = await harness.join(2001, "赵主任", role=Role.COORDINATOR, office="jinhu")
    await harness.open_round("2026-11")
    await wang.press("开始填报")
    for answer in ANSWERS:
        await wang.send(answer)
    await wang.press("提交")
    (reply,) = await zhao.send("/missing")
    lines = reply.text.splitlines()
    assert lines[0] == "2026年11月法治工作月报：5个单位未提交（截止 12月3日 18:00）"
    assert "• 湖光社区 — 李强；最后提醒 11月28日 10:00" in lines
    assert "• 新城社区 — 无联系人；最后提醒 从未" in lines
    assert not any("金海社区" in line for line in lines)
