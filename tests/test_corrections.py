"""Coordinators' corrections: in the store, from the command line and in chat."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.views import correction_refused
from domain.numbers import RefusalReason
from models.crud import submission_values
from models.db import read_session
from models.tables import OutboxMessage, OutboxStatus, Role, Submission, ValueRevision
from services.corrections import CorrectionRefusal, CorrectionRefused, correct_value
from tests.conftest import Clock
from tests.flow import Harness
from tests.processes import config_file, run_figbot
from tests.store_helpers import bind, open_, submit

ANSWERS = [12, 5, 4, 2, 40, 3, 7, 300]


def _values(session: Session, unit_id: int) -> dict[str, int]:
    submission = session.exec(select(Submission).where(Submission.unit_id == unit_id)).first()
    return submission_values(session, submission_id=submission.id or 0) if submission else {}


def _correct(session: Session, clock: Clock, **changes: str) -> object:
    arguments = {
        "unit_text": "金海社区",
        "indicator_text": "调解纠纷",
        "value_text": "6",
        "reason": "电话核实，漏报一宗",
    }
    arguments.update(changes)
    return correct_value(
        session,
        office_id=1,
        actor="赵主任 (tg:2001)",
        contact_id=None,
        via="chat",
        now=clock(),
        **arguments,
    )


def test_a_correction_is_a_revision_and_bumps_the_version(session: Session, clock: Clock) -> None:
    wang = bind(session, user_id=1, name="王芳", unit="jinhai", now=clock())
    opened = open_(session, "2026-11", now=clock())
    submit(session, wang, opened.round_id, ANSWERS, clock())
    clock.advance(days=10)  # after the lock: coordinators still correct
    done = _correct(session, clock)
    assert (done.old, done.new, done.label) == (5, 6, "调解纠纷")  # type: ignore[attr-defined]
    assert _values(session, wang.unit_id or 0)["disputes_mediated"] == 6
    last = session.exec(select(ValueRevision).order_by(col(ValueRevision.id).desc())).first()
    assert last is not None
    assert (last.old_value, last.new_value, last.via, last.reason, last.actor) == (
        5,
        6,
        "chat",
        "电话核实，漏报一宗",
        "赵主任 (tg:2001)",
    )
    assert session.exec(select(Submission)).one().version == 2


@pytest.mark.parametrize(
    ("changes", "refusal"),
    [
        ({"unit_text": "不存在社区"}, CorrectionRefusal.UNKNOWN_UNIT),
        ({"indicator_text": "植树"}, CorrectionRefusal.UNKNOWN_INDICATOR),
        ({"value_text": "六个多"}, CorrectionRefusal.BAD_VALUE),
        ({"value_text": "-1"}, CorrectionRefusal.BAD_VALUE),
        ({"value_text": "七八"}, CorrectionRefusal.BAD_VALUE),
        ({"value_text": "两三宗"}, CorrectionRefusal.BAD_VALUE),
        ({"value_text": "三四十"}, CorrectionRefusal.BAD_VALUE),
        ({"value_text": "10²"}, CorrectionRefusal.BAD_VALUE),
        ({"value_text": "①②"}, CorrectionRefusal.BAD_VALUE),
        ({"value_text": "九" * 309}, CorrectionRefusal.BAD_VALUE),
        ({"reason": "  "}, CorrectionRefusal.NO_REASON),
        ({"value_text": "5"}, CorrectionRefusal.UNCHANGED),
    ],
)
def test_a_bad_correction_changes_nothing(
    session: Session, clock: Clock, changes: dict[str, str], refusal: CorrectionRefusal
) -> None:
    wang = bind(session, user_id=1, name="王芳", unit="jinhai", now=clock())
    opened = open_(session, "2026-11", now=clock())
    submit(session, wang, opened.round_id, ANSWERS, clock())
    before = len(session.exec(select(ValueRevision)).all())
    with pytest.raises(CorrectionRefused) as refused:
        _correct(session, clock, **changes)
    assert refused.value.reason is refusal
    assert _values(session, wang.unit_id or 0)["disputes_mediated"] == 5
    assert len(session.exec(select(ValueRevision)).all()) == before


@pytest.mark.parametrize(
    ("value_text", "refusal", "choices_said"),
    [
        ("七八", RefusalReason.RANGE, "range"),
        ("10²", RefusalReason.LOOKALIKE, "look like digits"),
        ("十来宗", RefusalReason.APPROXIMATE, "estimate"),
    ],
)
def test_a_value_that_is_no_count_is_refused_saying_what_it_is(
    session: Session, clock: Clock, value_text: str, refusal: RefusalReason, choices_said: str
) -> None:
    bind(session, user_id=1, name="王芳", unit="jinhai", now=clock())
    open_(session, "2026-11", now=clock())
    with pytest.raises(CorrectionRefused) as refused:
        _correct(session, clock, value_text=value_text)
    assert (refused.value.reason, refused.value.refusal) == (CorrectionRefusal.BAD_VALUE, refusal)
    assert choices_said in correction_refused(refused.value, "en").text
    assert session.exec(select(ValueRevision)).all() == []


def test_a_correction_in_a_measure_word_the_indicator_is_also_counted_in(
    session: Session, clock: Clock
) -> None:
    wang = bind(session, user_id=1, name="王芳", unit="jinhai", now=clock())
    opened = open_(session, "2026-11", now=clock())
    submit(session, wang, opened.round_id, ANSWERS, clock())
    done = _correct(session, clock, value_text="6件")
    assert (done.old, done.new) == (5, 6)  # type: ignore[attr-defined]


def test_figures_phoned_in_are_entered_for_a_unit_that_did_not_report(
    session: Session, clock: Clock
) -> None:
    bind(session, user_id=1, name="王芳", unit="jinhai", now=clock())
    open_(session, "2026-11", now=clock())
    done = _correct(session, clock, unit_text="东岭村", value_text="3")
    assert (done.old, done.new) == (None, 3)  # type: ignore[attr-defined]
    assert _values(session, done.unit_id) == {"disputes_mediated": 3}  # type: ignore[attr-defined]


@pytest.mark.slow
async def test_set_value_from_the_command_line(
    engine: Engine, db_url: str, tmp_path: Path, clock: Clock
) -> None:
    with Session(engine, expire_on_commit=False) as session:
        wang = bind(session, user_id=1, name="王芳", unit="jinhai", now=clock())
        opened = open_(session, "2026-11", now=clock())
        submit(session, wang, opened.round_id, ANSWERS, clock())
        session.commit()
    config = config_file(tmp_path, db_url)
    base = ["--config", str(config), "set-value", "--unit", "jinhai", "--indicator"]
    code, out, err = await run_figbot(
        *base,
        "disputes_mediated",
        "--value",
        "6",
        "--period",
        "2026-11",
        "--reason",
        "核实",
        "--by",
        "赵主任",
        clock=clock,
    )
    assert code == 0, err
    assert "调解纠纷: 5 → 6 宗" in out
    code, out, err = await run_figbot(
        *base, "调解", "--value", "abc", "--reason", "核实", clock=clock
    )
    assert code == 2 and "'abc' is not a whole count" in err
    code, out, err = await run_figbot(
        *base, "调解", "--value", "七八", "--reason", "核实", clock=clock
    )
    assert code == 2 and "'七八' is a range, not one count: give the exact figure" in err
    assert "Traceback" not in err
    with read_session(engine) as session:
        assert _values(session, wang.unit_id or 0)["disputes_mediated"] == 6
        last = session.exec(select(ValueRevision).order_by(col(ValueRevision.id).desc())).first()
        assert last is not None
        assert (last.via, last.actor, last.reason) == ("cli", "赵主任 (cli)", "核实")
        notice = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "notice")).one()
        assert "街道（赵主任）已将2026年11月法治工作月报的调解纠纷由5宗改为6宗" in notice.text


async def test_a_coordinator_corrects_in_chat_and_the_reporter_is_told(harness: Harness) -> None:
    wang = await harness.join(1001, "王芳", unit="jinhai")
    zhao = await harness.join(2001, "赵主任", role=Role.COORDINATOR, office="jinhu")
    await harness.open_round("2026-11")
    await wang.press("开始填报")
    for answer in ANSWERS:
        await wang.send(str(answer))
    await wang.press("提交")
    harness.clock.advance(minutes=30)

    (usage,) = await zhao.send("/correct 金海社区")
    assert usage.text.startswith("用法：/correct")
    (refused,) = await zhao.send("/correct 金海社区 调解纠纷 6")
    assert "请写明更正原因" in refused.text
    (refused,) = await zhao.send("/correct 金海社区 调解纠纷 七八 2026-11 电话核实")
    assert refused.text == "“七八”是一个范围，不是一个确定的数。"
    assert "街道" not in wang.last.text  # the reporter hears of no change: there was none
    with read_session(harness.engine) as session:
        assert _values(session, 1)["disputes_mediated"] == 5
    (done,) = await zhao.send("/correct 金海社区 调解 6 2026-11 电话核实，漏报一宗")
    assert "已更正 金海社区·2026年11月·调解纠纷：5宗 → 6宗" in done.text
    assert "原因：电话核实，漏报一宗" in done.text
    assert "街道（赵主任）已将2026年11月法治工作月报的调解纠纷由5宗改为6宗" in wang.last.text
    (denied,) = await wang.send("/correct 金海社区 调解纠纷 9 我自己改")
    assert "只有协调员" in denied.text
    with read_session(harness.engine) as session:
        assert _values(session, 1)["disputes_mediated"] == 6


async def test_a_long_reason_full_of_ampersands_and_emoji_arrives_whole(harness: Harness) -> None:
    wang = await harness.join(1001, "王芳", unit="jinhai")
    zhao = await harness.join(2001, "赵主任", role=Role.COORDINATOR, office="jinhu")
    await harness.open_round("2026-11")
    await wang.press("开始填报")
    for answer in ANSWERS:
        await wang.send(str(answer))
    await wang.press("提交")
    harness.clock.advance(minutes=30)
    command = "/correct 金海社区 调解纠纷 6 "
    reason = ("核实&&&😀" * 1000)[: 4096 - len(command)]  # as long as Telegram lets a user write
    since = harness.server.message_count(1001)
    replies = await zhao.send(command + reason)
    shown = "".join(reply.text for reply in replies)
    assert "已更正 金海社区·2026年11月·调解纠纷：5宗 → 6宗" in shown
    assert f"原因：{reason}。" in shown and "出了点问题" not in shown
    harness.clock.advance(seconds=1)  # one message a second to a chat: the notice's second part
    await harness.scheduler.flush(harness.app.bot)  # type: ignore[union-attr]
    notice = "".join(message.text for message in harness.server.messages(1001, since=since))
    assert "调解纠纷由5宗改为6宗" in notice and f"原因：{reason}。" in notice
    with read_session(harness.engine) as session:
        notices = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "notice")).all()
    assert len(notices) == 2 and all(n.status == OutboxStatus.SENT for n in notices)
