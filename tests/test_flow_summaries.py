"""Coordinators' summaries through the local Bot API server."""

from __future__ import annotations

import asyncio
import io
import time
from datetime import UTC, datetime

from openpyxl import load_workbook
from sqlmodel import select

from bot.config import FigbotConfig
from bot.fakeapi import LocalBotApiServer
from bot.simulation import SimulatedUser
from models.db import write_session
from models.tables import Contact, Role
from tests.conftest import Clock
from tests.flow import Harness, running_harness
from tests.store_helpers import bind, open_, submit
from tests.test_sandbox import HEAVY_TEMPLATE

ANSWERS = ["12", "5", "4", "2", "40", "3", "7", "300"]


async def one_unit_submitted(harness: Harness) -> tuple[SimulatedUser, SimulatedUser]:
    """金海社区 (王芳) has submitted November; 赵主任 coordinates the office."""
    wang = await harness.join(1001, "王芳", unit="jinhai")
    zhao = await harness.join(2001, "赵主任", role=Role.COORDINATOR, office="jinhu")
    await harness.open_round("2026-11")
    await wang.press("开始填报")
    for answer in ANSWERS:
        await wang.send(answer)
    await wang.press("提交")
    return wang, zhao


async def test_summary_sends_the_message_and_the_workbook(harness: Harness) -> None:
    _, zhao = await one_unit_submitted(harness)
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


async def test_missing_with_long_emoji_names_arrives_whole(harness: Harness) -> None:
    zhao = await harness.join(2001, "赵主任", role=Role.COORDINATOR, office="jinhu")
    names = [("🌸王&李" * 16)[:62] + f"{i:02d}" for i in range(60)]  # Telegram allows 64
    with write_session(harness.engine) as session:
        for number, name in enumerate(names):
            bind(session, user_id=5000 + number, name=name, unit="jinhai", now=harness.clock())
    await harness.open_round("2026-11")
    replies = await zhao.send("/missing")
    shown = "".join(reply.text for reply in replies)
    assert len(replies) == 2 and shown.startswith("2026年11月法治工作月报：6个单位未提交")
    assert all(name in shown for name in names) and "• 东岭村 — 无联系人" in shown


async def test_chart_by_unit_and_trend(harness: Harness) -> None:
    _, zhao = await one_unit_submitted(harness)
    (photo,) = await zhao.send("/chart 调解纠纷")
    assert photo.photo is not None and photo.photo.startswith(b"\x89PNG")
    (photo,) = await zhao.send("/chart 法治讲座 trend")
    assert photo.photo is not None and photo.photo.startswith(b"\x89PNG")
    (refusal,) = await zhao.send("/chart 跳广场舞")
    assert refusal.text.startswith("没有“跳广场舞”这个指标。可选：矛盾纠纷排查、调解纠纷")


async def test_a_coordinators_report_contains_the_computed_figures(harness: Harness) -> None:
    _, zhao = await one_unit_submitted(harness)
    message, document = await zhao.send("/report 2026")
    assert message.text.startswith("2026年度报告数据段落（草稿）（1/6个单位有数据）")
    assert "金湖街道办事处所辖6个社区（村）中有1个参与法治工作数据填报" in message.text
    assert "全年共开展矛盾纠纷排查12次，调解矛盾纠纷5宗，调解成功4宗，调解成功率80%" in message.text
    assert "开展法治讲座2场；" in message.text and "发放普法宣传资料300份。" in message.text
    assert document.document is not None
    assert document.document["file_name"].endswith("2026-年报.txt")
    assert "调解成功率80%" in document.document["bytes"].decode("utf-8")
    (usage,) = await zhao.send("/report twenty")
    assert usage.text.startswith("用法：/report 2026")


def _with_template(config: FigbotConfig, template: str, seconds: float = 10.0) -> FigbotConfig:
    reports = config.reports.model_copy(
        update={"annual_template": template, "annual_template_seconds": seconds}
    )
    return config.model_copy(update={"reports": reports})


async def test_a_heavy_report_template_is_stopped_and_others_are_served_meanwhile(
    server: LocalBotApiServer, config: FigbotConfig, clock: Clock
) -> None:
    limit = 2.0
    async with running_harness(server, _with_template(config, HEAVY_TEMPLATE, limit), clock) as h:
        wang, zhao = await one_unit_submitted(h)
        asked = time.monotonic()
        report = await server.send_text(2001, "/report 2026")
        assert h.app is not None
        while not h.app.handled.get(report):  # the bot keeps answering meanwhile
            turn = time.monotonic()
            (reply,) = await wang.send("/help")
            assert "我负责为街道收集" in reply.text
            await asyncio.sleep(0.5)  # (this test runs on the bot's event loop too)
            assert time.monotonic() - turn < limit
        assert time.monotonic() - asked < limit + 3
    assert zhao.last.text == (
        "配置中的报告模板运行超过2秒，已被停止。请简化模板（例如减少循环）后再试。"
    )


async def test_a_report_template_cannot_reach_out_of_the_sandbox(
    server: LocalBotApiServer, config: FigbotConfig, clock: Clock
) -> None:
    prying = "{{ n.__class__.__mro__[1].__subclasses__() }}"
    async with running_harness(server, _with_template(config, prying), clock) as harness:
        _, zhao = await one_unit_submitted(harness)
        (refusal,) = await zhao.send("/report 2026")
    assert refusal.text.startswith("配置中的报告模板有误：")
    assert "__class__" in refusal.text and "subclasses" not in refusal.text.split("：", 1)[0]


async def test_the_report_explains_a_yoy_it_leaves_out(harness: Harness) -> None:
    _, zhao = await one_unit_submitted(harness)
    with write_session(harness.engine) as session:  # 金海社区 in October, and March last year
        wang = session.exec(select(Contact).where(Contact.telegram_user_id == 1001)).one()
        for period, answers in (("2026-10", [10, 4, 4, 1, 30, 2, 5, 100]), ("2025-03", [4] * 8)):
            year, month = map(int, period.split("-"))
            now = datetime(year, month, 28, 2, 0, tzinfo=UTC)
            opened = open_(session, period, now=now)
            submit(session, wang, opened.round_id, answers, now)
    message, document = await zhao.send("/report 2026")
    assert "全年共开展矛盾纠纷排查22次，调解矛盾纠纷9宗" in message.text  # not "，同比增长450%"
    assert "同比增长" not in message.text
    note = "（说明：2025年仅有3月的数据，2026年有10—11月的数据，未计算同比。）"
    assert message.text.endswith(note)
    assert document.document is not None
    assert document.document["bytes"].decode("utf-8").rstrip().endswith(note)


async def test_the_summary_is_pushed_to_coordinators_after_the_deadline(harness: Harness) -> None:
    from datetime import UTC, datetime

    _, zhao = await one_unit_submitted(harness)
    harness.clock.set(datetime(2026, 12, 3, 10, 0, tzinfo=UTC))  # 18:00 in Shanghai
    for _ in range(4):  # digest, summary, workbook: one message per second to one chat
        await harness.tick()
        harness.clock.advance(seconds=1)
    texts = [m.text for m in zhao.chat]
    assert any(t.startswith("金湖街道办事处·2026年11月法治工作月报") for t in texts)
    documents = [m for m in zhao.chat if m.document is not None]
    assert len(documents) == 1
    assert documents[0].document["file_name"] == "金湖街道办事处-法治工作月报-2026-11.xlsx"
    await harness.restart()  # pushed once, not again
    assert len([m for m in zhao.chat if m.document is not None]) == 1
