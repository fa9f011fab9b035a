"""Flow tests for what workers type: figures in words, read back, corrected, questioned."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from bot.fakeapi import TINY_PNG
from models.crud import submission_values
from models.db import read_session
from models.tables import ConversationState, Submission, Value, ValueRevision
from tests.flow import Harness

ANSWERS = ["12", "5", "4", "2", "40", "3", "7", "300"]


def _stored(harness: Harness) -> dict[str, int]:
    with read_session(harness.engine) as session:
        submission = session.exec(select(Submission)).first()
        if submission is None:
            return {}
        return submission_values(session, submission_id=submission.id or 0)


async def test_several_figures_in_one_message_are_read_back_then_stored(
    harness: Harness,
) -> None:
    wang = await harness.join(1001, "王芳", unit="jinhai")
    await harness.open_round("2026-11")
    await wang.press("开始填报")
    (readback,) = await wang.send("调解纠纷15宗，讲座3场，检查二十次，电话13812345678")
    assert "识别到以下数字" in readback.text
    assert "调解纠纷：15宗" in readback.text and "法治讲座：3场" in readback.text
    assert "行政检查：20次" in readback.text
    assert "“电话13812345678”：不知道是哪一项" in readback.text
    assert readback.button_texts() == ["✅ 确认", "✏️ 修改"]
    with read_session(harness.engine) as session:
        assert session.get(ConversationState, 1).draft == {}  # type: ignore[union-attr]

    (question,) = await wang.press("确认")
    assert question.text.startswith("（1/8）矛盾纠纷排查")
    for answer in ["12", "4", "40", "3"]:
        await wang.send(answer)
    (review,) = await wang.send("300")
    assert "2. 调解纠纷：15宗" in review.text and "7. 行政检查：20次" in review.text
    await wang.press("提交")
    stored = _stored(harness)
    assert stored["disputes_mediated"] == 15 and stored["inspections"] == 20


async def test_a_correction_in_plain_words_after_submitting(harness: Harness) -> None:
    wang = await harness.join(1001, "王芳", unit="jinhai")
    await harness.open_round("2026-11")
    await wang.press("开始填报")
    for answer in ANSWERS:
        await wang.send(answer)
    await wang.press("提交")
    harness.clock.advance(hours=3)

    (readback,) = await wang.send("更正 调解6宗，原因：漏报一宗")
    assert "更正" in readback.text and "调解纠纷：5宗 → 6宗" in readback.text
    assert _stored(harness)["disputes_mediated"] == 5
    (receipt,) = await wang.press("确认")
    assert "✅ 已保存" in receipt.text and "调解纠纷：5宗 → 6宗" in receipt.text
    assert _stored(harness)["disputes_mediated"] == 6
    with read_session(harness.engine) as session:
        last = session.exec(select(ValueRevision).order_by(ValueRevision.id.desc())).first()  # type: ignore[union-attr]
    assert last is not None
    assert (last.old_value, last.new_value, last.via, last.reason) == (5, 6, "text", "漏报一宗")

    (readback,) = await wang.send("讲座改为4场")
    (cancelled,) = await wang.press("修改")
    assert "已取消" in cancelled.text and _stored(harness)["legal_lectures"] == 2


async def test_a_correction_glued_to_what_cannot_be_read_is_refused(harness: Harness) -> None:
    """ "调解纠纷1e309宗" is no figure: not 1, not 0; nothing to confirm, nothing changes."""
    wang = await harness.join(1001, "王芳", unit="jinhai")
    await harness.open_round("2026-11")
    await wang.press("开始填报")
    for answer in ANSWERS:
        await wang.send(answer)
    await wang.press("提交")
    harness.clock.advance(hours=3)
    with read_session(harness.engine) as session:
        revisions = len(session.exec(select(ValueRevision)).all())

    for typed in ["更正 调解纠纷1e309宗，原因：核实", "调解纠纷改为15%", "更正 调解七八宗"]:
        (refusal,) = await wang.send(typed)
        assert "未能识别" in refusal.text and "调解纠纷" in refusal.text, typed
        assert "→" not in refusal.text and refusal.button_texts() == [], typed
    assert "范围" in refusal.text  # the range is named for what it is
    assert _stored(harness)["disputes_mediated"] == 5
    with read_session(harness.engine) as session:
        assert len(session.exec(select(ValueRevision)).all()) == revisions
        assert session.get(ConversationState, 1) is None


async def test_an_unusual_figure_is_questioned_and_the_reason_kept(harness: Harness) -> None:
    november = harness.clock()
    wang = await harness.join(1001, "王芳", unit="jinhai")
    for months_back, period in [(3, "2026-08"), (2, "2026-09"), (1, "2026-10")]:
        harness.clock.set(november - timedelta(days=31 * months_back))
        await harness.open_round(period)
        await wang.press("开始填报", message=wang.last)
        for answer in ANSWERS:
            await wang.send(answer)
        await wang.press("提交")
    harness.clock.set(november)
    await harness.open_round("2026-11")
    await wang.press("开始填报", message=wang.last)
    await wang.send("12")
    (question,) = await wang.send("27")
    assert "调解纠纷：27宗" in question.text and "上期：5宗（+440.0%）" in question.text
    assert "请确认，或发送正确的数字，或直接回复说明原因" in question.text
    assert question.button_texts() == ["确认无误"]
    noted, following = await wang.send("本月开展矛盾纠纷<集中>调解")
    assert "已记录" in noted.text
    assert following.text.startswith("（3/8）调解成功")
    for answer in ANSWERS[2:]:
        await wang.send(answer)
    await wang.press("提交")
    with read_session(harness.engine) as session:
        value = session.exec(
            select(Value).where(Value.indicator_key == "disputes_mediated", Value.value == 27)
        ).one()
    assert value.note == "本月开展矛盾纠纷<集中>调解"


async def test_rules_across_indicators_block_submitting(harness: Harness) -> None:
    wang = await harness.join(1001, "王芳", unit="jinhai")
    await harness.open_round("2026-11")
    await wang.press("开始填报")
    for answer in ["12", "3", "5", "2", "40", "3", "7"]:
        await wang.send(answer)
    (review,) = await wang.send("300")
    assert "以下数字对不上" in review.text
    assert "应满足「调解成功 ≤ 调解纠纷」，但调解成功5宗，调解纠纷3宗" in review.text
    assert "✅ 提交" not in review.button_texts()
    assert _stored(harness) == {}
    await wang.press("修改 调解成功")
    (fixed,) = await wang.send("3")
    assert "✅ 提交" in fixed.button_texts()


async def test_anything_but_text_is_refused_and_nothing_stored(harness: Harness) -> None:
    wang = await harness.join(1001, "王芳", unit="jinhai")
    await harness.open_round("2026-11")
    await wang.press("开始填报")
    await wang.send("12")
    others = [
        {"voice": {"file_id": "VOICE1", "file_unique_id": "V1", "duration": 3}},
        {"location": {"latitude": 30.0, "longitude": 120.0}},
        {"contact": {"phone_number": "13812345678", "first_name": "王"}},
    ]
    for fields in others:
        refusal, again = await wang.send_message_fields(fields)
        assert refusal.text == "请直接发送数字。" and again.text.startswith("（2/8）调解纠纷")
    since = wang.server.message_count(wang.user_id)
    await wang._wait_handled(await wang.server.send_photo_from_user(wang.user_id, data=TINY_PNG))
    refusal = wang.server.messages(wang.user_id)[since]
    assert refusal.text == "请直接发送数字。"
    echo, again = await wang.send("讲座<b>很多</b>&场")
    assert "法治讲座“很多&场”：请回复一个整数" in echo.text and again.text.startswith("（2/8）")
    (readback,) = await wang.send("讲座3场，备注<5&6>")
    assert "“备注<5&6>”：不知道是哪一项" in readback.text  # echoed as text, not markup
    await wang.press("修改")
    long_text, again = await wang.send("讲座" + "很" * 5000)
    assert "法治讲座“很很很" in long_text.text and "…”" in long_text.text
    assert len(long_text.text) < 200 and again.text.startswith("（2/8）")
    with read_session(harness.engine) as session:
        state = session.get(ConversationState, 1)
        assert state is not None and state.draft == {"dispute_screenings": 12}
    assert _stored(harness) == {}
