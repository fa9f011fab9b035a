"""A reporter's correction in every state of the conversation: stored, or refused out loud.

Each case brings 金海社区's submitted November figures (调解纠纷 5宗) into one state of the
reporter's conversation, then the reporter sends ``更正 调解纠纷6宗，原因：漏报一宗`` and taps
[确认] where a read-back asks for it. Either the coordinator's /summary and its workbook show
6宗 with the reason in 修改记录, or the reporter was told why not and nothing changed.
"""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlmodel import select

from bot.fakeapi import SentMessage
from bot.simulation import SimulatedUser
from models.db import write_session
from models.tables import Contact, Role, Round, RoundStatus
from tests.flow import Harness
from tests.store_helpers import open_, submit

ANSWERS = ["12", "5", "4", "2", "40", "3", "7", "300"]
CORRECTION = "更正 调解纠纷6宗，原因：漏报一宗"
AFTER_DEADLINE = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)  # 4 Dec 10:00: late, not locked
AFTER_LOCK = datetime(2026, 12, 10, 2, 0, tzinfo=UTC)


@dataclass
class People:
    wang: SimulatedUser  # 金海社区's reporter, who submitted
    li: SimulatedUser  # her colleague at 金海社区
    zhao: SimulatedUser  # the office's coordinator


async def _people(harness: Harness) -> People:
    wang = await harness.join(1001, "王芳", unit="jinhai")
    li = await harness.join(1002, "李强", unit="jinhai")
    zhao = await harness.join(2001, "赵主任", role=Role.COORDINATOR, office="jinhu")
    return People(wang, li, zhao)


async def _submit(user: SimulatedUser) -> None:
    await user.press("开始填报")
    for answer in ANSWERS:
        await user.send(answer)
    (receipt,) = await user.press("提交")
    assert "✅ 已提交" in receipt.text


async def _correct(user: SimulatedUser) -> list[SentMessage]:
    """Send the correction, see it read back as a change of what is stored, tap [确认];
    what the reporter sees then."""
    (readback,) = await user.send(CORRECTION)
    assert "更正" in readback.text and "调解纠纷：5宗 → 6宗" in readback.text, readback.text
    return await user.press("确认", message=readback)


def _texts(replies: list[SentMessage]) -> str:
    return "\n".join(reply.text for reply in replies)


# ---------------------------------------------------------------- the states
Case = Callable[[Harness, People], Awaitable[list[SentMessage]]]


async def no_conversation(harness: Harness, p: People) -> list[SentMessage]:
    return await _correct(p.wang)


async def review_after_report(harness: Harness, p: People) -> list[SentMessage]:
    (review,) = await p.wang.send("/report")
    assert review.text.startswith("请核对")
    return await _correct(p.wang)


async def asked_after_change_tapped(harness: Harness, p: People) -> list[SentMessage]:
    await p.wang.send("/report")
    (question,) = await p.wang.press("修改 法治讲座")
    assert "法治讲座" in question.text
    return await _correct(p.wang)


async def asked_for_the_figure_corrected(harness: Harness, p: People) -> list[SentMessage]:
    await p.wang.send("/report")
    await p.wang.press("修改 调解纠纷")
    return await _correct(p.wang)


async def another_change_not_yet_submitted(harness: Harness, p: People) -> list[SentMessage]:
    await p.wang.send("/report")
    await p.wang.press("修改 法治讲座")
    await p.wang.send("3")  # back at the review, 法治讲座 3 not submitted yet
    (readback,) = await p.wang.send(CORRECTION)
    # what [确认] stores is shown: the figure read and the change waiting in the draft
    assert "调解纠纷：5宗 → 6宗" in readback.text and "法治讲座：2场 → 3场" in readback.text
    replies = await p.wang.press("确认")
    assert "法治讲座：2场 → 3场" in _texts(replies)
    return replies


async def the_figure_asked_given_with_a_reason(harness: Harness, p: People) -> list[SentMessage]:
    await p.wang.send("/report")
    await p.wang.press("修改 调解纠纷")
    (readback,) = await p.wang.send("调解纠纷6宗，原因：漏报一宗")  # no 更正: the reason counts
    assert "调解纠纷：5宗 → 6宗" in readback.text, readback.text
    return await p.wang.press("确认", message=readback)


async def after_the_deadline(harness: Harness, p: People) -> list[SentMessage]:
    harness.clock.set(AFTER_DEADLINE)
    return await _correct(p.wang)


async def review_after_the_deadline(harness: Harness, p: People) -> list[SentMessage]:
    harness.clock.set(AFTER_DEADLINE)
    await p.wang.send("/report")
    return await _correct(p.wang)


async def submitted_by_a_colleague(harness: Harness, p: People) -> list[SentMessage]:
    (other,) = await p.li.send("/report")
    assert "已由王芳" in other.text
    return await _correct(p.li)


async def viewing_a_colleagues_submission(harness: Harness, p: People) -> list[SentMessage]:
    await p.li.send("/report")
    (review,) = await p.li.press("查看并修改")
    assert review.text.startswith("请核对")
    return await _correct(p.li)


async def a_second_message_read_back(harness: Harness, p: People) -> list[SentMessage]:
    await p.wang.send("/report")
    await p.wang.send("更正 法治讲座3场")  # read back, not confirmed
    return await _correct(p.wang)


async def changed_by_the_coordinator_meanwhile(harness: Harness, p: People) -> list[SentMessage]:
    await p.wang.send("/report")
    (done,) = await p.zhao.send("/correct 金海社区 法治讲座 3 电话核实")
    assert "已更正" in done.text
    (overwrite,) = await _correct(p.wang)
    assert "法治讲座：对方 3场，你的 2场" in overwrite.text  # every difference is shown
    assert "调解纠纷：对方 5宗，你的 6宗" in overwrite.text
    return await p.wang.press("确认覆盖")


async def reopened_after_the_lock(harness: Harness, p: People) -> list[SentMessage]:
    harness.clock.set(AFTER_LOCK)
    (reopened,) = await p.zhao.send("/reopen 金海社区")
    assert "已重新开放" in reopened.text
    return await _correct(p.wang)


STORED: list[Case] = [
    no_conversation,
    review_after_report,
    asked_after_change_tapped,
    asked_for_the_figure_corrected,
    another_change_not_yet_submitted,
    the_figure_asked_given_with_a_reason,
    after_the_deadline,
    review_after_the_deadline,
    submitted_by_a_colleague,
    viewing_a_colleagues_submission,
    a_second_message_read_back,
    changed_by_the_coordinator_meanwhile,
    reopened_after_the_lock,
]


async def after_the_lock(harness: Harness, p: People) -> list[SentMessage]:
    harness.clock.set(AFTER_LOCK)
    return await p.wang.send(CORRECTION)


async def review_open_when_the_lock_came(harness: Harness, p: People) -> list[SentMessage]:
    await p.wang.send("/report")
    harness.clock.set(AFTER_LOCK)
    return await p.wang.send(CORRECTION)


async def confirmed_after_the_lock(harness: Harness, p: People) -> list[SentMessage]:
    (readback,) = await p.wang.send(CORRECTION)
    harness.clock.set(AFTER_LOCK)
    return await p.wang.press("确认", message=readback)


async def an_older_read_back_confirmed(harness: Harness, p: People) -> list[SentMessage]:
    await p.wang.send("/report")
    (first,) = await p.wang.send(CORRECTION)
    (second,) = await p.wang.send("更正 法治讲座3场")
    assert "法治讲座：2场 → 3场" in second.text
    return await p.wang.press("确认", message=first)  # shows 调解纠纷 6, not pending


async def overwrite_question_open(harness: Harness, p: People) -> list[SentMessage]:
    await p.wang.send("/report")
    await p.zhao.send("/correct 金海社区 法治讲座 3 电话核实")
    await p.wang.press("修改 法治讲座")
    await p.wang.send("4")
    (overwrite,) = await p.wang.press("提交")
    assert "确认覆盖" in [text for text, _ in overwrite.buttons]
    return await p.wang.send(CORRECTION)


async def unusual_figure_questioned(harness: Harness, p: People) -> list[SentMessage]:
    await p.wang.send("/report")
    await p.wang.press("修改 法治讲座")
    (question,) = await p.wang.send("30")  # 2 in each of the three months before
    assert "请确认，或发送正确的数字，或直接回复说明原因" in question.text
    return await p.wang.send(CORRECTION)


async def other_figures_while_one_is_questioned(harness: Harness, p: People) -> list[SentMessage]:
    await p.wang.send("/report")
    await p.wang.press("修改 法治讲座")
    (question,) = await p.wang.send("30")
    assert "请确认，或发送正确的数字，或直接回复说明原因" in question.text
    return await p.wang.send("调解纠纷6宗，检查二十次")  # figures, not an explanation of 30


async def breaking_a_rule(harness: Harness, p: People) -> list[SentMessage]:
    (readback,) = await p.wang.send("更正 调解纠纷3宗，原因：漏报一宗")  # 调解成功 is 4
    return await p.wang.press("确认", message=readback)


REFUSED: list[tuple[Case, str]] = [
    (breaking_a_rule, "应满足「调解成功 ≤ 调解纠纷」，但调解成功4宗，调解纠纷3宗"),
    (after_the_lock, "已锁定，不能再在这里修改"),
    (review_open_when_the_lock_came, "已锁定，不能再在这里修改"),
    (confirmed_after_the_lock, "已锁定，不能再在这里修改"),
    (an_older_read_back_confirmed, "这个按钮已过期"),
    (overwrite_question_open, "请点击下方按钮操作"),
    (unusual_figure_questioned, "请先回答上面关于法治讲座的问题"),
    (other_figures_while_one_is_questioned, "请先回答上面关于法治讲座的问题"),
]


# ---------------------------------------------------------------- what the coordinator sees
@dataclass
class Seen:
    summary: str
    overview: dict[str, Any]  # 汇总 row of 金海社区, by header
    details: dict[str, tuple[Any, Any]]  # 明细 of 金海社区: indicator → (数值, 说明)
    history: list[tuple[Any, ...]]  # 修改记录 of 金海社区: (指标, 原值, 新值, 原因)


async def coordinator_sees(zhao: SimulatedUser) -> Seen:
    message, document = await zhao.send("/summary 2026-11")
    assert document.document is not None
    book = load_workbook(io.BytesIO(document.document["bytes"]))
    rows = list(book["汇总"].iter_rows(min_row=2, values_only=True))
    overview = dict(zip(rows[0], next(r for r in rows if r[0] == "金海社区"), strict=True))
    details = {
        row[2]: (row[3], row[6])
        for row in book["明细"].iter_rows(min_row=3, values_only=True)
        if row[0] == "金海社区"
    }
    history = [
        (row[2], row[3], row[4], row[8])
        for row in book["修改记录"].iter_rows(min_row=3, values_only=True)
        if row[0] == "金海社区"
    ]
    return Seen(message.text, overview, details, history)


async def _submitted_november(harness: Harness) -> People:
    people = await _people(harness)
    await harness.open_round("2026-11")
    await _submit(people.wang)
    harness.clock.advance(hours=1)
    return people


@pytest.mark.parametrize("case", STORED, ids=lambda case: case.__name__)
async def test_a_confirmed_correction_is_stored(harness: Harness, case: Case) -> None:
    people = await _submitted_november(harness)
    replies = await case(harness, people)

    seen = _texts(replies)
    assert "✅ 已保存" in seen and "调解纠纷：5宗 → 6宗" in seen, seen
    coordinator = await coordinator_sees(people.zhao)
    assert "调解纠纷：6宗" in coordinator.summary
    assert coordinator.overview["调解纠纷（宗）"] == 6
    assert coordinator.details["调解纠纷"] == (6, None)
    assert ("调解纠纷", 5, 6, "漏报一宗") in coordinator.history


@pytest.mark.parametrize(("case", "refusal"), REFUSED, ids=[case.__name__ for case, _ in REFUSED])
async def test_a_correction_not_taken_is_refused_out_loud(
    harness: Harness, case: Case, refusal: str
) -> None:
    people = await _submitted_november(harness)
    if case in (unusual_figure_questioned, other_figures_while_one_is_questioned):
        await _earlier_months(harness)
    before = await coordinator_sees(people.zhao)

    replies = await case(harness, people)

    seen = _texts(replies)
    assert refusal in seen, seen
    assert "✅ 已保存" not in seen
    after = await coordinator_sees(people.zhao)
    assert after.overview["调解纠纷（宗）"] == 5
    assert _disputes(after.history) == _disputes(before.history)


def _disputes(history: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [row for row in history if row[0] == "调解纠纷"]


async def _earlier_months(harness: Harness) -> None:
    """August to October, each with 法治讲座 2场, so 30场 in November is unusual."""
    with write_session(harness.engine) as session:
        wang = session.exec(select(Contact).where(Contact.telegram_user_id == 1001)).one()
        for month in [8, 9, 10]:
            during = datetime(2026, month, 28, 2, 0, tzinfo=UTC)
            opened = open_(session, f"2026-{month:02}", now=during)
            submit(session, wang, opened.round_id, [int(a) for a in ANSWERS], during)
            past = session.get(Round, opened.round_id)
            assert past is not None
            past.status = RoundStatus.LOCKED  # as the scheduler did at its lock
            session.add(past)


async def test_an_explanation_stays_beside_the_figure_it_explained(harness: Harness) -> None:
    """In the /summary workbook: 明细 shows a figure's own explanation, 修改记录 keeps each
    explanation beside the value it was given for."""
    people = await _people(harness)
    wang = people.wang
    await harness.open_round("2026-11")
    await _earlier_months(harness)  # 调解纠纷 5宗 in each month before
    await wang.press("开始填报")
    await wang.send("12")
    await wang.send("27")
    await wang.send("本月集中调解")
    for answer in ANSWERS[2:]:
        await wang.send(answer)
    await wang.press("提交")
    seen = await coordinator_sees(people.zhao)
    assert seen.details["调解纠纷"] == (27, "本月集中调解")
    harness.clock.advance(minutes=5)  # a reporter's pace, under the flood limit

    (readback,) = await wang.send(CORRECTION)
    await wang.press("确认", message=readback)
    seen = await coordinator_sees(people.zhao)
    assert seen.details["调解纠纷"] == (6, None)  # 6 explains nothing
    assert _disputes(seen.history) == [
        ("调解纠纷", None, 27, "本月集中调解"),
        ("调解纠纷", 27, 6, "漏报一宗"),
    ]
    harness.clock.advance(minutes=5)

    await wang.send("/report")
    await wang.press("修改 调解纠纷")
    await wang.send("40")
    await wang.send("拆迁纠纷集中")  # explains 40
    await wang.press("修改 调解纠纷")
    await wang.send("7")  # …which is not submitted: 7 is
    await wang.press("提交")
    seen = await coordinator_sees(people.zhao)
    assert seen.details["调解纠纷"] == (7, None)
    assert _disputes(seen.history)[-1] == ("调解纠纷", 6, 7, None)
    assert "调解纠纷：7宗" in seen.summary


@pytest.mark.parametrize(
    ("answer", "explanation", "reason"),
    [("拆迁纠纷集中", "拆迁纠纷集中", "漏报三宗；拆迁纠纷集中"), (None, None, "漏报三宗")],
)
async def test_an_unusual_correction_is_questioned_then_stored(
    harness: Harness, answer: str | None, explanation: str | None, reason: str
) -> None:
    people = await _submitted_november(harness)
    await _earlier_months(harness)
    (readback,) = await people.wang.send("更正 调解纠纷27宗，原因：漏报三宗")
    (question,) = await people.wang.press("确认", message=readback)
    assert "与本单位以往数字相差较大" in question.text
    if answer is None:
        (receipt,) = await people.wang.press("确认无误")
    else:
        _, receipt = await people.wang.send(answer)
    assert "✅ 已保存" in receipt.text and "调解纠纷：5宗 → 27宗" in receipt.text
    seen = await coordinator_sees(people.zhao)
    assert seen.details["调解纠纷"] == (27, explanation)
    assert _disputes(seen.history)[-1] == ("调解纠纷", 5, 27, reason)


async def test_figures_read_before_the_first_submission_go_into_the_draft(
    harness: Harness,
) -> None:
    """Nothing is submitted yet, so nothing is corrected: the figures join the draft, with
    their reason, and are stored when the unit submits."""
    people = await _people(harness)
    await harness.open_round("2026-11")
    wang = people.wang
    await wang.press("开始填报")
    await wang.send("12")
    await wang.send("5")
    (readback,) = await wang.send(CORRECTION)
    assert "识别到以下数字" in readback.text and "调解纠纷：5宗 → 6宗" in readback.text
    (question,) = await wang.press("确认")
    assert question.text.startswith("（3/8）调解成功")
    for answer in ANSWERS[2:]:
        await wang.send(answer)
    (receipt,) = await wang.press("提交")
    assert "✅ 已提交" in receipt.text and "2. 调解纠纷：6宗" in receipt.text
    seen = await coordinator_sees(people.zhao)
    assert ("调解纠纷", None, 6, "漏报一宗") in seen.history
    assert [row[3] for row in seen.history if row[0] != "调解纠纷"] == [None] * 7
