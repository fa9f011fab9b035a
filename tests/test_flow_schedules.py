"""Schedules and chasing, end to end: the real Application against the local Bot API server,
with the clock moved by hand (no test waits for wall-clock time)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import select

from bot.app import build_application, start_polling_in_loop, stop_serving_in_loop
from bot.runtime import SCHEDULER_KEY
from bot.simulation import SimulatedUser
from models.db import read_session
from models.tables import (
    Contact,
    OutboxMessage,
    OutboxStatus,
    ProcessedUpdate,
    Role,
    ScheduleEvent,
)
from scheduler.runner import SchedulerRunner
from tests.conftest import Clock
from tests.flow import Harness

ANSWERS = ["12", "5", "4", "2", "40", "3", "7", "300"]


def at(text: str) -> datetime:
    """A Shanghai wall-clock time as UTC."""
    return datetime.fromisoformat(text + "+08:00").astimezone(UTC)


@pytest.fixture
def clock() -> Clock:
    # Before November's round opens (the example's schedule opens on the 25th at 09:00).
    return Clock(at("2026-11-20T10:00"))


async def office(
    harness: Harness,
) -> tuple[SimulatedUser, SimulatedUser, SimulatedUser, SimulatedUser]:
    wang = await harness.join(1001, "王芳", unit="jinhai")
    li = await harness.join(1002, "李强", unit="huguang")
    chen = await harness.join(1003, "陈敏", unit="dongling")
    zhao = await harness.join(2001, "赵主任", role=Role.COORDINATOR, office="jinhu")
    return wang, li, chen, zhao


async def open_by_schedule(harness: Harness) -> None:
    harness.clock.set(at("2026-11-25T09:00"))
    report = await harness.tick()
    assert report is not None and "round-open:monthly:2026-11:jinhu" in report.done


async def submit_all(user: SimulatedUser) -> None:
    await user.press("开始填报")
    for answer in ANSWERS:
        await user.send(answer)
    await user.press("提交")


def sent_texts(user: SimulatedUser) -> list[str]:
    return [message.text for message in user.chat]


async def test_a_round_opens_on_schedule_and_prompts_every_reporter(harness: Harness) -> None:
    wang, li, chen, zhao = await office(harness)
    report = await harness.tick()
    assert report is not None and report.done == []  # nothing is due on the 20th
    assert not any("请填报" in text for text in sent_texts(wang))
    await open_by_schedule(harness)
    for user, unit in [(wang, "金海社区"), (li, "湖光社区"), (chen, "东岭村")]:
        assert user.last.text.startswith(f"【{unit}】请填报2026年11月法治工作月报")
        assert "截止时间：12月3日 18:00" in user.last.text
    assert not any("请填报" in text for text in sent_texts(zhao))
    counts = [len(user.chat) for user in (wang, li, chen)]
    harness.clock.advance(minutes=10)
    await harness.tick()
    assert [len(user.chat) for user in (wang, li, chen)] == counts  # nobody prompted twice
    # Someone who joins while the round is open is prompted at the next wake-up.
    liu = await harness.join(1004, "刘洋", unit="xincheng")
    await harness.tick()
    assert liu.last.text.startswith("【新城社区】请填报")


async def test_reminders_reach_only_units_that_have_not_submitted(harness: Harness) -> None:
    wang, li, chen, _ = await office(harness)
    await open_by_schedule(harness)
    await submit_all(wang)
    await li.press("开始填报")
    for answer in ANSWERS[:3]:
        await li.send(answer)
    before = len(wang.chat)
    harness.clock.set(at("2026-12-01T18:00"))
    report = await harness.tick()
    assert report is not None and report.done == ["reminder:monthly:2026-11:jinhu:2d"]
    assert len(wang.chat) == before  # submitted: not reminded
    assert li.last.text.startswith("⏰ 提醒：") and "已填到 3/8" in li.last.text
    assert li.last.button_texts() == ["继续填报"]
    assert chen.last.text.startswith("⏰ 提醒：") and "尚未提交" in chen.last.text
    assert chen.last.button_texts() == ["开始填报"]
    (question,) = await li.press("继续填报")
    assert question.text.startswith("（4/8）")
    await harness.tick()
    assert sum("⏰ 提醒" in text for text in sent_texts(chen)) == 1  # once


async def test_the_coordinator_digest_lists_exactly_the_pending_units(harness: Harness) -> None:
    wang, li, chen, zhao = await office(harness)
    await open_by_schedule(harness)
    await submit_all(wang)
    await submit_all(chen)
    harness.clock.set(at("2026-12-02T18:00"))
    await harness.tick()
    digest = zhao.last.text
    assert digest.startswith("⏰ 2026年11月法治工作月报：4/6个单位尚未提交（截止 12月3日 18:00）：")
    lines = digest.splitlines()[1:-1]
    assert lines == [
        "• 湖光社区（最后活动 11月20日 10:00）",
        "• 新城社区（无联系人，请邀请）",
        "• 龙湾社区（无联系人，请邀请）",
        "• 西溪村（无联系人，请邀请）",
    ]
    await submit_all(li)
    harness.clock.set(at("2026-12-03T18:00"))
    await harness.tick()
    assert zhao.last.text.startswith(
        "⏰ 2026年11月法治工作月报已到截止时间（12月3日 18:00），3/6个单位未报："
    )
    assert "湖光社区" not in zhao.last.text


async def test_remind_chases_pending_units_with_a_cooldown(harness: Harness) -> None:
    wang, li, chen, zhao = await office(harness)
    await open_by_schedule(harness)
    await submit_all(wang)
    harness.clock.advance(hours=2)
    (reply,) = await zhao.send("/remind")
    assert (
        reply.text == "已提醒：湖光社区、东岭村。\n没有可提醒的联系人：新城社区、龙湾社区、西溪村。"
    )
    assert li.last.text.startswith("⏰ 提醒：") and chen.last.text.startswith("⏰ 提醒：")
    harness.clock.advance(minutes=10)
    (reply,) = await zhao.send("/remind 东岭村")
    assert reply.text == "东岭村刚提醒过，50分钟后可再次提醒。"
    (reply,) = await zhao.send("/remind 金海社区")
    assert reply.text == "已提交：金海社区。"
    (reply,) = await zhao.send("/remind 不存在社区")
    assert reply.text == "本街道没有“不存在社区”这个单位。"
    harness.clock.advance(hours=1)
    (reply,) = await zhao.send("/remind 东岭村")
    assert reply.text == "已提醒：东岭村。"
    assert sum("⏰ 提醒" in text for text in sent_texts(chen)) == 2
    (refusal,) = await wang.send("/remind")
    assert "只有协调员" in refusal.text


async def test_late_submission_lock_and_reopen(harness: Harness) -> None:
    wang, li, chen, zhao = await office(harness)
    await open_by_schedule(harness)
    await submit_all(wang)
    harness.clock.set(at("2026-12-04T09:00"))  # past the deadline, before the lock
    await li.press("开始填报")
    assert "仍可填报，但会标记为逾期" in li.chat[-2].text
    for answer in ANSWERS:
        await li.send(answer)
    (receipt,) = await li.press("提交")
    assert "⚠️ 已过截止时间，本次提交标记为逾期。" in receipt.text
    (status,) = await zhao.send("/status")
    assert "✅ 湖光社区 — 12月4日 09:00 李强（逾期）" in status.text
    assert "✅ 金海社区 — 11月25日 09:00 王芳\n" in status.text

    harness.clock.set(at("2026-12-05T18:00"))
    report = await harness.tick()
    assert report is not None and "lock:monthly:2026-11:jinhu" in report.done
    (locked,) = await wang.send("/report")
    assert "已锁定" in locked.text and "请联系协调员：赵主任" in locked.text

    (done,) = await zhao.send("/reopen 金海社区")
    assert done.text.startswith("已重新开放金海社区·2026年11月法治工作月报")
    assert wang.last.text.startswith("协调员已重新开放") and wang.last.button_texts() == [
        "修改数据"
    ]
    (review,) = await wang.press("修改数据")
    assert "请核对" in review.text
    await wang.press("修改 法治讲座")
    await wang.send("3")
    (receipt,) = await wang.press("提交")
    assert "法治讲座：2场 → 3场" in receipt.text
    (done,) = await zhao.send("/lock 金海社区")
    assert done.text.startswith("已重新锁定")
    (locked,) = await wang.send("/report")
    assert "已锁定" in locked.text
    (refusal,) = await zhao.send("/lock 金海社区")
    assert refusal.text == "金海社区未重新开放，无需锁定。"


async def test_a_blocked_user_is_marked_inactive_and_coordinators_are_told(
    harness: Harness,
) -> None:
    wang, li, chen, zhao = await office(harness)
    harness.server.block_bot(1001)
    await open_by_schedule(harness)
    assert zhao.last.text.startswith("⚠️ 金海社区的联系人王芳已屏蔽机器人")
    assert "金海社区目前没有其他联系人" in zhao.last.text
    with read_session(harness.engine) as session:
        contact = session.exec(select(Contact).where(Contact.telegram_user_id == 1001)).one()
        assert not contact.active and contact.inactive_reason == "blocked"
        item = session.exec(
            select(OutboxMessage).where(
                OutboxMessage.chat_id == 1001, OutboxMessage.kind == "prompt"
            )
        ).one()
        assert item.status == OutboxStatus.BLOCKED and item.attempts == 1
    attempts = len(harness.server.calls_to("sendMessage"))
    harness.clock.set(at("2026-12-01T18:00"))
    await harness.tick()  # the reminder round: nothing is tried for the blocked contact
    calls = harness.server.calls_to("sendMessage")[attempts:]
    assert all(str(call.get("chat_id")) != "1001" for call in calls)
    # Unblocking and writing again brings the contact back.
    harness.server.unblock_bot(1001)
    (question,) = await wang.send("/report")
    assert question.text.startswith("（1/8）")


async def test_flood_control_is_honoured_and_each_prompt_delivered_once(harness: Harness) -> None:
    wang, li, chen, _ = await office(harness)
    harness.server.fail_next("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)
    await open_by_schedule(harness)
    with read_session(harness.engine) as session:
        (waiting,) = session.exec(
            select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.QUEUED)
        ).all()
    assert waiting.not_before == harness.clock() + timedelta(seconds=7)
    unlucky = next(user for user in (wang, li, chen) if user.user_id == waiting.chat_id)
    assert not any("请填报" in text for text in sent_texts(unlucky))
    harness.clock.advance(seconds=6)
    await harness.tick()
    assert not any("请填报" in text for text in sent_texts(unlucky))
    harness.clock.advance(seconds=1)
    await harness.tick()
    for user in (wang, li, chen):
        assert sum("请填报" in text for text in sent_texts(user)) == 1


async def test_a_restart_during_the_send_neither_loses_nor_duplicates_a_prompt(
    harness: Harness,
) -> None:
    users = await office(harness)
    reporters = users[:3]
    stuck = asyncio.Event()
    release = asyncio.Event()

    async def slow_for_li(method: str, params: dict[str, Any]) -> None:
        if method == "sendmessage" and str(params.get("chat_id")) == "1002":
            stuck.set()
            await release.wait()

    harness.server.fault_hook = slow_for_li
    harness.clock.set(at("2026-11-25T09:00"))
    tick = asyncio.create_task(harness.tick())
    await asyncio.wait_for(stuck.wait(), 10)
    # An admin restarts figbot while the prompt to 李强 is on its way.
    stopping = asyncio.create_task(harness.stop_bot())
    for _ in range(20):
        await asyncio.sleep(0)
    assert not stopping.done()  # the shutdown waits for the message in flight
    release.set()
    await stopping
    await tick
    harness.server.fault_hook = None
    await harness.start_bot()
    await harness.tick()
    for user in reporters:
        assert sum("请填报" in text for text in sent_texts(user)) == 1, user.name
    with read_session(harness.engine) as session:
        statuses = set(session.exec(select(OutboxMessage.status)).all())
    assert statuses == {OutboxStatus.SENT}


async def test_catch_up_after_downtime_sends_each_missed_reminder_once(harness: Harness) -> None:
    wang, li, chen, zhao = await office(harness)
    await open_by_schedule(harness)
    await submit_all(wang)
    await harness.stop_bot()
    # Down from 25 Nov to 3 Dec 17:00: both reminders (1 Dec 18:00, 3 Dec 16:00) and the
    # 1-day digest (2 Dec 18:00) were missed.
    harness.clock.set(at("2026-12-03T17:00"))
    await harness.start_bot()
    for user in (li, chen):
        assert sum("⏰ 提醒" in text for text in sent_texts(user)) == 1  # one, not two
    assert sum("尚未提交" in text for text in sent_texts(zhao)) == 1
    with read_session(harness.engine) as session:
        events = {e.key: (e.status, e.detail) for e in session.exec(select(ScheduleEvent))}
    assert events["reminder:monthly:2026-11:jinhu:2d"][0] == "skipped"
    assert "superseded" in (events["reminder:monthly:2026-11:jinhu:2d"][1] or "")
    assert events["reminder:monthly:2026-11:jinhu:2h"][0] == "done"
    assert events["digest:monthly:2026-11:jinhu:1d"][0] == "done"
    await harness.restart()  # and nothing fires twice
    for user in (li, chen):
        assert sum("⏰ 提醒" in text for text in sent_texts(user)) == 1


async def test_after_a_long_downtime_stale_reminders_are_skipped_not_sent(harness: Harness) -> None:
    wang, li, chen, zhao = await office(harness)
    await open_by_schedule(harness)
    await harness.stop_bot()
    harness.clock.set(at("2026-12-04T10:00"))  # past the deadline, before the lock
    await harness.start_bot()
    assert not any("⏰ 提醒" in text for text in sent_texts(li))
    assert sum("已到截止时间" in text for text in sent_texts(zhao)) == 1  # the deadline digest
    with read_session(harness.engine) as session:
        events = {e.key: (e.status, e.detail) for e in session.exec(select(ScheduleEvent))}
    assert events["reminder:monthly:2026-11:jinhu:2d"] == (
        "skipped",
        "stale: the deadline has passed",
    )
    assert events["digest:monthly:2026-11:jinhu:1d"] == ("skipped", "stale")


async def test_a_second_runner_on_the_same_database_sends_nothing(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    wang, li, chen, _ = await office(harness)
    second = build_application(harness.config, clock=harness.clock)
    await second.initialize()
    assert second.post_init is not None
    caplog.set_level(logging.INFO, logger="scheduler.runner")
    await second.post_init(second)
    runner: SchedulerRunner = second.bot_data[SCHEDULER_KEY]
    try:
        harness.clock.set(at("2026-11-25T09:00"))
        harness.scheduler.heartbeat()  # the first process renews its lease as time passes
        assert await runner.tick(second.bot) is None  # passive: the first process holds it
        assert "stays passive" in caplog.text
        with read_session(harness.engine) as session:
            assert session.exec(select(OutboxMessage)).all() == []
        await open_by_schedule(harness)
        assert sum("请填报" in text for text in sent_texts(wang)) == 1
        # When the first process stops it hands over; the second then runs the schedule.
        await harness.stop_bot()
        assert await runner.tick(second.bot) is not None
        assert runner.is_leader
    finally:
        await stop_serving_in_loop(second)


async def test_the_next_wake_up_is_the_next_due_event(harness: Harness) -> None:
    await office(harness)
    await open_by_schedule(harness)
    harness.clock.set(at("2026-12-01T17:58"))
    assert harness.scheduler.seconds_until_next() == 120  # the 2-day reminder at 18:00
    harness.clock.set(at("2026-11-26T09:00"))
    assert harness.scheduler.seconds_until_next() == 300  # never sleeps more than 5 minutes
    assert harness.app is not None and harness.app.job_queue is not None
    names = {job.name for job in harness.app.job_queue.jobs()}
    assert {"schedule-tick", "scheduler-lease", "outbox-flush"} <= names
    for job in harness.app.job_queue.jobs():
        assert job.job.misfire_grace_time is None  # a late wake-up still runs


del start_polling_in_loop  # imported for symmetry with stop_serving_in_loop in readers' eyes


async def test_old_processed_update_marks_are_forgotten_hourly(harness: Harness) -> None:
    await office(harness)
    old = await harness.server.send_text(1001, "/report")
    await harness.wait_handled(old)
    harness.clock.advance(days=6)
    recent = await harness.server.send_text(1001, "/report")
    await harness.wait_handled(recent)
    with read_session(harness.engine) as session:
        assert session.get(ProcessedUpdate, old) is not None
    harness.clock.advance(days=1, minutes=1)
    assert harness.scheduler.prune_if_due() >= 1
    with read_session(harness.engine) as session:
        assert session.get(ProcessedUpdate, old) is None
        assert session.get(ProcessedUpdate, recent) is not None
    assert harness.scheduler.prune_if_due() == 0  # at most hourly
    harness.clock.advance(days=7)
    assert harness.scheduler.prune_if_due() >= 1
    with read_session(harness.engine) as session:
        assert session.get(ProcessedUpdate, recent) is None
