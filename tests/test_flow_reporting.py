"""Flow tests: the real Application over HTTP against the local Bot API server; assertions are
on what the users see."""

from __future__ import annotations

import logging

import pytest
from sqlmodel import select

from bot.config import FigbotConfig
from bot.fakeapi import CONNECTION_RESET, LocalBotApiServer
from bot.simulation import SimulatedUser
from handlers.common import RESENT_AFTER_RESTART, SEND_RETRY_PAUSES
from models.crud import submission_values
from models.db import read_session, write_session
from models.tables import (
    Contact,
    ConversationState,
    ProcessedUpdate,
    Role,
    Submission,
    ValueRevision,
)
from tests.conftest import TEST_TOKEN, Clock
from tests.flow import Harness, running_harness

ANSWERS = ["12", "5", "4宗", "２", "40", "3", "7", "300"]


async def answer_all(user: SimulatedUser, answers: list[str] = ANSWERS) -> None:
    for answer in answers:
        await user.send(answer)


async def test_invite_binds_and_greets_by_unit_name(harness: Harness) -> None:
    wang = harness.user(1001, "王芳")
    code = harness.invite_code(unit="jinhai")
    (greeting,) = await wang.send(f"/start {code}")
    assert "欢迎你，王芳" in greeting.text and "金海社区" in greeting.text
    li = harness.user(1002, "李强")
    (refusal,) = await li.send(f"/start {code}")
    assert "已被使用" in refusal.text
    (refusal,) = await li.send("/start not-a-code")
    assert "邀请链接无效" in refusal.text
    with read_session(harness.engine) as session:
        assert [c.telegram_user_id for c in session.exec(select(Contact))] == [1001]


async def test_expired_invite_is_refused(harness: Harness) -> None:
    code = harness.invite_code(unit="jinhai")
    harness.clock.advance(days=8)
    user = harness.user(1001, "王芳")
    (refusal,) = await user.send(f"/start {code}")
    assert "已过期" in refusal.text


async def test_a_stranger_gets_a_polite_message_and_no_data(harness: Harness) -> None:
    await harness.join(1001, "王芳", unit="jinhai")
    await harness.open_round("2026-11")
    stranger = harness.user(666, "路人")
    for text in ["15", "/status", "/report", "/start"]:
        (reply,) = await stranger.send(text)
        assert "请使用街道发给你的邀请链接" in reply.text
        assert "金海社区" not in reply.text and "已报" not in reply.text


async def test_prompt_answer_review_submit_receipt(harness: Harness) -> None:
    wang = await harness.join(1001, "王芳", unit="jinhai")
    await harness.open_round("2026-11")
    prompt = wang.last
    assert (
        "金海社区" in prompt.text and "2026年11月" in prompt.text and "12月3日 18:00" in prompt.text
    )
    assert prompt.button_texts() == ["开始填报"]

    (question,) = await wang.press("开始填报")
    assert question.text.startswith("（1/8）矛盾纠纷排查（次）")
    # No previous period yet: no [同上期]; a quiet month can be answered at once.
    assert question.button_texts() == ["0", "本期全部为0"]

    (refusal, again) = await wang.send("l5")
    assert "请回复一个整数" in refusal.text
    assert again.text.startswith("（1/8）矛盾纠纷排查")
    (second,) = await wang.send("12")
    assert second.text.startswith("（2/8）调解纠纷（宗）")
    (third,) = await wang.send("5宗")
    assert third.text.startswith("（3/8）调解成功（宗）")
    (fourth,) = await wang.press("0")
    assert fourth.text.startswith("（4/8）法治讲座（场）")
    await answer_all(wang, ["２", "40", "3", "7"])
    (review,) = await wang.send("300")
    assert "请核对" in review.text
    assert "2. 调解纠纷：5宗" in review.text and "3. 调解成功：0宗" in review.text
    assert review.button_texts()[0] == "✅ 提交"
    assert "修改 法治讲座" in review.button_texts()

    (receipt,) = await wang.press("提交")
    assert "✅ 已提交" in receipt.text and "共8项" in receipt.text
    with read_session(harness.engine) as session:
        submission = session.exec(select(Submission)).one()
        values = submission_values(session, submission_id=submission.id)
    assert values["disputes_mediated"] == 5 and values["legal_lectures"] == 2
    assert values["leaflets_distributed"] == 300
    # The review's buttons were retired so they cannot be pressed again out of turn.
    assert wang.chat[-2].buttons == []


async def test_previous_period_value_and_same_as_last_period(harness: Harness) -> None:
    november = harness.clock()
    harness.clock.advance(days=-31)
    wang = await harness.join(1001, "王芳", unit="jinhai")
    await harness.open_round("2026-10")
    await wang.press("开始填报")
    await answer_all(wang)
    await wang.press("提交")
    harness.clock.set(november)
    await harness.open_round("2026-11")
    (question,) = await wang.press("开始填报", message=wang.last)
    assert "上期：12次" in question.text
    assert question.button_texts() == ["同上期（12）", "0", "本期全部为0"]
    (second,) = await wang.press("同上期")
    assert second.text.startswith("（2/8）") and "上期：5宗" in second.text


async def test_bad_inputs_store_nothing(harness: Harness) -> None:
    wang = await harness.join(1001, "王芳", unit="jinhai")
    await harness.open_round("2026-11")
    await wang.press("开始填报")
    await wang.send("12")
    expectations = {
        "-3": "不能为负数",
        "2.5": "请填写整数",
        "5场": "单位是“宗”",
        "很多": "请回复一个整数",
        "99999999999": "数字太大",
    }
    for text, expected in expectations.items():
        refusal, again = await wang.send(text)
        assert expected in refusal.text
        assert again.text.startswith("（2/8）调解纠纷")
    refusal, again = await wang.send_sticker()
    assert refusal.text == "请直接发送数字。" and again.text.startswith("（2/8）")
    with read_session(harness.engine) as session:
        state = session.get(ConversationState, 1)
        assert state is not None and state.draft == {"dispute_screenings": 12}
        assert session.exec(select(Submission)).all() == []


async def test_restart_mid_conversation_resumes(harness: Harness) -> None:
    wang = await harness.join(1001, "王芳", unit="jinhai")
    await harness.open_round("2026-11")
    await wang.press("开始填报")
    await answer_all(wang, ["12", "5", "4"])
    await harness.restart()
    (question,) = await wang.send("2")
    assert question.text.startswith("（5/8）法律咨询（人次）")
    await answer_all(wang, ["40", "3", "7", "300"])
    (receipt,) = await wang.press("提交")
    assert "✅ 已提交" in receipt.text


def _resends_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The bot's own count of replies it sent again, each a possible repeat."""
    return [r.getMessage() for r in caplog.records if r.msg == RESENT_AFTER_RESTART]


async def test_a_repeated_update_has_effect_once(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    wang = await harness.join(1001, "王芳", unit="jinhai")
    await harness.open_round("2026-11")
    await wang.press("开始填报")
    since = harness.server.message_count(1001)
    update_id = await harness.server.send_text(1001, "12")
    await harness.wait_handled(update_id)
    harness.server.redeliver(update_id)
    await harness.wait_handled(update_id, times=2)
    assert harness.server.message_count(1001) == since + 1  # one reply, not two
    assert _resends_logged(caplog) == []  # noted as sent: nothing to resend, nothing to count
    (question,) = await wang.send("5")
    assert question.text.startswith("（3/8）")
    with read_session(harness.engine) as session:
        state = session.get(ConversationState, 1)
        assert state is not None
        assert state.draft == {"dispute_screenings": 12, "disputes_mediated": 5}


def _forget_reply_was_sent(harness: Harness, update_id: int) -> None:
    """As if the process died after committing the update, before its replies went out."""
    with write_session(harness.engine) as session:
        row = session.get(ProcessedUpdate, update_id)
        assert row is not None and row.replies
        row.replied_at = None
        session.add(row)


async def test_a_repeat_resends_lost_replies_unless_the_user_has_moved_on(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    wang = await harness.join(1001, "王芳", unit="jinhai")
    await harness.open_round("2026-11")
    await wang.press("开始填报")
    first = await harness.server.send_text(1001, "12")
    await harness.wait_handled(first)
    assert wang.last.text.startswith("（2/8）")
    # Delivered again after a crash that cut the reply: the question comes (again) once.
    _forget_reply_was_sent(harness, first)
    since = harness.server.message_count(1001)
    harness.server.redeliver(first)
    await harness.wait_handled(first, times=2)
    assert [m.text[:5] for m in wang.chat[since:]] == ["（2/8）"]
    # The bot cannot know whether the cut reply had reached Telegram: it says so, counted.
    assert [
        f"update {first} came again with 1 kept replies" in m for m in _resends_logged(caplog)
    ] == [True]
    # Once the user has answered on, an old question shown again would be answered against
    # the current one: it is not repeated.
    (question,) = await wang.send("5")
    assert question.text.startswith("（3/8）")
    _forget_reply_was_sent(harness, first)
    since = harness.server.message_count(1001)
    harness.server.redeliver(first)
    await harness.wait_handled(first, times=3)
    assert harness.server.message_count(1001) == since
    assert len(_resends_logged(caplog)) == 1  # nothing sent: nothing counted
    (question,) = await wang.send("4")
    assert question.text.startswith("（4/8）")
    with read_session(harness.engine) as session:
        state = session.get(ConversationState, 1)
        assert state is not None
        assert state.draft == {
            "dispute_screenings": 12,
            "disputes_mediated": 5,
            "mediated_success": 4,
        }


async def test_change_after_submit_shows_old_and_new(harness: Harness) -> None:
    wang = await harness.join(1001, "王芳", unit="jinhai")
    await harness.open_round("2026-11")
    await wang.press("开始填报")
    await answer_all(wang)
    await wang.press("提交")
    (review,) = await wang.send("/report")
    assert "请核对" in review.text and "1. 矛盾纠纷排查：12次" in review.text
    (question,) = await wang.press("修改 调解纠纷")
    assert "当前填写：5宗" in question.text
    (review,) = await wang.send("6")
    assert "2. 调解纠纷：6宗" in review.text
    (receipt,) = await wang.press("提交")
    assert "已保存" in receipt.text and "调解纠纷：5宗 → 6宗" in receipt.text
    with read_session(harness.engine) as session:
        revision = session.exec(
            select(ValueRevision)
            .where(ValueRevision.indicator_key == "disputes_mediated")
            .order_by(ValueRevision.id.desc())  # type: ignore[union-attr]
        ).first()
    assert revision is not None and (revision.old_value, revision.new_value) == (5, 6)
    assert "王芳" in revision.actor


async def test_a_second_contact_sees_who_submitted(harness: Harness) -> None:
    wang = await harness.join(1001, "王芳", unit="jinhai")
    liu = await harness.join(1003, "刘洋", unit="jinhai")
    await harness.open_round("2026-11")
    await wang.press("开始填报")
    await answer_all(wang)
    await wang.press("提交")
    (notice,) = await liu.press("开始填报")
    assert "已由王芳于" in notice.text and "需要查看并修改吗" in notice.text
    (review,) = await liu.press("查看并修改")
    assert "1. 矛盾纠纷排查：12次" in review.text


async def test_coordinator_status_lists_submitted_and_pending_units(harness: Harness) -> None:
    wang = await harness.join(1001, "王芳", unit="jinhai")
    await harness.join(1002, "李强", unit="huguang")
    zhao = await harness.join(2001, "赵主任", role=Role.COORDINATOR, office="jinhu")
    assert "协调员" in zhao.last.text
    await harness.open_round("2026-11")
    assert zhao.last.text.startswith("欢迎你")  # coordinators are not prompted
    await wang.press("开始填报")
    await answer_all(wang)
    harness.clock.advance(minutes=30)
    await wang.press("提交")
    (status,) = await zhao.send("/status")
    assert "已报 1/6" in status.text
    assert "✅ 金海社区 — 11月28日 10:30 王芳" in status.text
    assert "⏳ 湖光社区 — 未报" in status.text and "⏳ 西溪村 — 未报" in status.text
    (refusal,) = await wang.send("/status")
    assert "只有协调员" in refusal.text


async def test_english_is_available(harness: Harness) -> None:
    wang = await harness.join(1001, "Wang", unit="jinhai")
    (reply,) = await wang.send("/lang en")
    assert reply.text == "Language set to English."
    await harness.open_round("2026-11")
    assert "please report" in wang.last.text and wang.last.button_texts() == ["Start reporting"]
    (question,) = await wang.press("Start reporting")
    assert question.text.startswith("(1/8) 矛盾纠纷排查 (次)")
    (refusal, _) = await wang.send("many")
    assert "Please reply with a whole number" in refusal.text


async def test_names_with_markup_are_shown_literally(harness: Harness) -> None:
    user = await harness.join(1001, "<b>Tom & Jerry</b>", unit="jinhai")
    assert "欢迎你，<b>Tom & Jerry</b>！" in user.last.text


async def test_the_token_never_reaches_the_log(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wang = await harness.join(1001, "王芳", unit="jinhai")
    await harness.open_round("2026-11")
    await wang.press("开始填报")
    await wang.send("12")
    assert caplog.records  # something was logged
    assert TEST_TOKEN not in caplog.text


async def test_the_office_default_language_applies_to_newcomers(
    server: LocalBotApiServer, config: FigbotConfig, clock: Clock
) -> None:
    english = config.model_copy(update={"bot": config.bot.model_copy(update={"language": "en"})})
    async with running_harness(server, english, clock) as harness:
        stranger = harness.user(666, "Passer-by", language_code="zh-hans")
        (reply,) = await stranger.send("hello")
        assert reply.text.startswith("Hello! This bot collects figures")
        wang = await harness.join(1001, "Wang", unit="jinhai")
        assert wang.last.text.startswith("Welcome, Wang!")


async def test_chinese_numerals_and_an_approximate_answer_confirmed_by_one_tap(
    harness: Harness,
) -> None:
    wang = await harness.join(1001, "王芳", unit="jinhai")
    await harness.open_round("2026-11")
    await wang.press("开始填报")
    (second,) = await wang.send("十二")
    assert second.text.startswith("（2/8）调解纠纷")
    refusal, again = await wang.send("190多")
    assert refusal.text.startswith("请填写“调解纠纷”的准确数字")
    assert refusal.button_texts() == ["记为190"]
    assert again.text.startswith("（2/8）调解纠纷")
    (third,) = await wang.press("记为190")
    assert third.text.startswith("（3/8）调解成功")
    (fourth,) = await wang.send("无")
    assert fourth.text.startswith("（4/8）")
    with read_session(harness.engine) as session:
        state = session.get(ConversationState, 1)
        assert state is not None
        assert state.draft == {
            "dispute_screenings": 12,
            "disputes_mediated": 190,
            "mediated_success": 0,
        }
    # An offer belongs to its question: typed past, tapping it later changes nothing.
    offer, _ = await wang.send("约5场")
    assert offer.button_texts() == ["记为5"]
    await wang.send("4")
    stale = await wang.press("记为5", message=offer)
    assert stale[0].text.startswith("这个按钮已过期")
    with read_session(harness.engine) as session:
        state = session.get(ConversationState, 1)
        assert state is not None and state.draft["legal_lectures"] == 4


async def test_a_range_is_asked_back_with_its_bounds_as_buttons(harness: Harness) -> None:
    """ "七八次" is seven or eight, not 78: nothing is stored, the exact number is asked for,
    and each bound is one tap away."""
    wang = await harness.join(1001, "王芳", unit="jinhai")
    await harness.open_round("2026-11")
    await wang.press("开始填报")
    refusal, again = await wang.send("七八次")
    assert refusal.text.startswith(
        "请填写“矛盾纠纷排查”的准确数字：“七八”“两三”这样的写法是一个范围"
    )
    assert "请点下方对应的按钮" in refusal.text
    assert refusal.button_texts() == ["记为7", "记为8"]
    assert again.text.startswith("（1/8）矛盾纠纷排查")
    with read_session(harness.engine) as session:
        state = session.get(ConversationState, 1)
        assert state is not None and state.draft == {}
    (second,) = await wang.press("记为8")
    assert second.text.startswith("（2/8）调解纠纷")
    # A range with no bounds to offer ("十来宗": ten or so) is asked back without buttons.
    vague, _ = await wang.send("十来宗")
    assert vague.text.startswith("请填写“调解纠纷”的准确数字") and vague.button_texts() == []
    # The words around a figure, and a measure word the indicator is also counted in.
    (third,) = await wang.send("调解了5件")
    assert third.text.startswith("（3/8）调解成功")
    (fourth,) = await wang.send("本月无")
    assert fourth.text.startswith("（4/8）法治讲座")
    with read_session(harness.engine) as session:
        state = session.get(ConversationState, 1)
        assert state is not None
        assert state.draft == {
            "dispute_screenings": 8,
            "disputes_mediated": 5,
            "mediated_success": 0,
        }


async def test_characters_that_only_look_like_digits_are_refused(harness: Harness) -> None:
    wang = await harness.join(1001, "王芳", unit="jinhai")
    await harness.open_round("2026-11")
    await wang.press("开始填报")
    for typed in ["10²", "①②", "½"]:
        refusal, again = await wang.send(typed)
        assert refusal.text.startswith("请用普通数字或汉字填写") and refusal.button_texts() == []
        assert again.text.startswith("（1/8）矛盾纠纷排查")
    (second,) = await wang.send("１５")
    assert second.text.startswith("（2/8）调解纠纷")
    with read_session(harness.engine) as session:
        state = session.get(ConversationState, 1)
        assert state is not None and state.draft == {"dispute_screenings": 15}


async def test_a_quiet_month_in_one_tap_stores_explicit_zeros(harness: Harness) -> None:
    wang = await harness.join(1001, "王芳", unit="jinhai")
    await harness.open_round("2026-11")
    await wang.press("开始填报")
    (review,) = await wang.press("本期全部为0")
    assert "请核对" in review.text
    assert "1. 矛盾纠纷排查：0次" in review.text and "8. 发放普法资料：0份" in review.text
    (receipt,) = await wang.press("提交")
    assert "✅ 已提交" in receipt.text
    with read_session(harness.engine) as session:
        submission = session.exec(select(Submission)).one()
        values = submission_values(session, submission_id=submission.id)
    assert len(values) == 8 and set(values.values()) == {0}


@pytest.mark.parametrize("fault", ["bad gateway", "connection reset"])
async def test_a_reply_telegram_fails_to_take_once_still_arrives_once(
    harness: Harness, fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Telegram has a blip as the receipt goes out: figbot sends it again after a pause, and
    the reporter gets it once, with no apology. The log says why, without the token."""
    caplog.set_level(logging.INFO)
    wang = await harness.join(1001, "王芳", unit="jinhai")
    await harness.open_round("2026-11")
    await wang.press("开始填报")
    await answer_all(wang)
    if fault == "bad gateway":
        harness.server.fail_next("sendMessage", 502, "Bad Gateway")
    else:
        resets = [1]

        def reset_once(method: str, _params: dict[str, object]) -> object:
            if method == "sendmessage" and resets:
                resets.pop()
                return CONNECTION_RESET
            return None

        harness.server.fault_hook = reset_once
    since = harness.server.message_count(1001)
    update_id = await harness.server.press_button_by_text(1001, wang.last.message_id, "提交")
    await harness.wait_handled(update_id)
    replies = [m.text for m in harness.server.messages(1001, since=since)]
    assert len(replies) == 1 and "✅ 已提交" in replies[0], replies  # no apology, no repeat
    assert harness.server.stats.faults == 1
    retried = [r.getMessage() for r in caplog.records if "sending it again" in r.getMessage()]
    assert len(retried) == 1 and TEST_TOKEN not in caplog.text, retried


async def test_a_reply_hit_by_flood_control_arrives_once_after_telegrams_wait(
    harness: Harness,
) -> None:
    """Telegram asks for a second's wait as the receipt goes out: the receipt follows after
    it, once, with no apology."""
    wang = await harness.join(1001, "王芳", unit="jinhai")
    await harness.open_round("2026-11")
    await wang.press("开始填报")
    await answer_all(wang)
    harness.server.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    since = harness.server.message_count(1001)
    update_id = await harness.server.press_button_by_text(1001, wang.last.message_id, "提交")
    await harness.wait_handled(update_id)
    replies = [m.text for m in harness.server.messages(1001, since=since)]
    assert len(replies) == 1 and "✅ 已提交" in replies[0], replies
    assert harness.server.stats.faults == 1


async def test_a_reply_that_could_not_be_sent_comes_with_the_repeated_update(
    harness: Harness,
) -> None:
    """Committed but not replied (a crash, or Telegram failing just then): when Telegram
    delivers the update again, the figure is not stored twice and the receipt arrives once."""
    wang = await harness.join(1001, "王芳", unit="jinhai")
    await harness.open_round("2026-11")
    await wang.press("开始填报")
    for answer in ANSWERS:
        await wang.send(answer)
    review = wang.last
    # The receipt fails every time it is tried, and so does the apology the error handler
    # tries next.
    attempts = len(SEND_RETRY_PAUSES) + 1
    harness.server.fail_next("sendMessage", 500, "Internal Server Error", times=2 * attempts)
    since = harness.server.message_count(1001)
    update_id = await harness.server.press_button_by_text(1001, review.message_id, "提交")
    await harness.wait_handled(update_id)
    receipts = [m for m in harness.server.messages(1001, since=since) if "✅ 已提交" in m.text]
    assert receipts == []  # stored, but the receipt did not get through
    with read_session(harness.engine) as session:
        assert session.exec(select(Submission)).one() is not None
    harness.server.redeliver(update_id)
    await harness.wait_handled(update_id, times=2)
    harness.server.redeliver(update_id)
    await harness.wait_handled(update_id, times=3)
    receipts = [m for m in harness.server.messages(1001, since=since) if "✅ 已提交" in m.text]
    assert len(receipts) == 1
    with read_session(harness.engine) as session:
        assert len(session.exec(select(ValueRevision)).all()) == len(ANSWERS)
