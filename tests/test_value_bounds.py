"""Every way a figure comes in goes through the same bounds: the cap, min/max, decimals.

A value is written only by ``services.values.write_values``, which checks it; each way in
also checks it where it is given, so the user hears at once what is wrong.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.admin import AdminError, set_value
from bot.config import FigbotConfig
from domain.numbers import MAX_COUNT
from domain.rules import Bounds, Violation
from models.crud import indicators_by_key
from models.db import read_session, write_session
from models.tables import ConversationState, Role, Round, Submission, Value, ValueRevision
from services.catalog import sync_config
from services.reporting import Action, Notice, NoticeKind, Question, Review, answer_text, press
from services.values import NewValue, ValueRefused, new_submission, write_values
from tests.conftest import Clock
from tests.flow import Harness
from tests.store_helpers import bind, open_, submit

ANSWERS = [12, 5, 4, 2, 40, 3, 7, 300]
HUGE = "9" * 45


# ---------------------------------------------------------------- the rule
@pytest.mark.parametrize(
    ("bounds", "value", "violation"),
    [
        (Bounds(minimum=0), 10**45, Violation.ABOVE),
        (Bounds(minimum=0), 10**400, Violation.ABOVE),  # more than a float can hold
        (Bounds(minimum=0), MAX_COUNT + 1, Violation.ABOVE),
        (Bounds(minimum=0), MAX_COUNT, None),
        (Bounds(minimum=0, maximum=5 * MAX_COUNT), MAX_COUNT + 1, Violation.ABOVE),
        (Bounds(minimum=0, maximum=100), 101, Violation.ABOVE),
        (Bounds(minimum=0), float("inf"), Violation.ABOVE),
        (Bounds(minimum=0), float("nan"), Violation.ABOVE),
        (Bounds(minimum=0), -1, Violation.BELOW),
        (Bounds(minimum=3), 2, Violation.BELOW),
        (Bounds(minimum=0), 2.5, Violation.DECIMALS),
        (Bounds(minimum=0, decimals=1), 2.55, Violation.DECIMALS),
        (Bounds(minimum=0, decimals=2), 2.55, None),
        (Bounds(minimum=0), 5.0, None),
    ],
)
def test_a_value_is_checked_against_the_cap_and_its_indicators_bounds(
    bounds: Bounds, value: float, violation: Violation | None
) -> None:
    assert bounds.violation(value) is violation


def test_the_cap_is_named_as_the_bound() -> None:
    assert Bounds(minimum=0).bound(Violation.ABOVE) == MAX_COUNT
    assert Bounds(minimum=0, maximum=100).bound(Violation.ABOVE) == 100
    assert Bounds(minimum=3).bound(Violation.BELOW) == 3


# ---------------------------------------------------------------- the one write
@pytest.mark.parametrize("value", [10**45, MAX_COUNT + 1, -1, 2.5])
def test_the_write_refuses_a_value_outside_its_bounds_and_writes_nothing(
    session: Session, clock: Clock, value: float
) -> None:
    wang = bind(session, user_id=1, name="王芳", unit="jinhai", now=clock())
    opened = open_(session, "2026-11", now=clock())
    round_ = session.get(Round, opened.round_id)
    assert round_ is not None
    submission = new_submission(
        session, round_=round_, unit_id=wang.unit_id or 0, contact_id=wang.id, now=clock()
    )
    keys = ["dispute_screenings", "disputes_mediated"]
    with pytest.raises(ValueRefused) as refused:
        write_values(
            session,
            submission=submission,
            indicators=indicators_by_key(session, keys=keys),
            values={"dispute_screenings": NewValue(12), "disputes_mediated": NewValue(value)},
            contact_id=wang.id,
            actor="test",
            now=clock(),
        )
    assert refused.value.key == "disputes_mediated"
    assert session.exec(select(Value)).all() == []
    assert session.exec(select(ValueRevision)).all() == []
    assert submission.version == 0


# ---------------------------------------------------------------- the reporter's conversation
def _catalog_with(engine: Engine, config: FigbotConfig, key: str, **rules: Any) -> None:
    """What ``figbot`` run with an edited indicator does to the database (another process)."""
    indicators = [
        ind.model_copy(update=rules) if ind.key == key else ind for ind in config.indicators
    ]
    with write_session(engine) as other:
        sync_config(other, config=config.model_copy(update={"indicators": indicators}))


def test_a_draft_figure_the_bounds_refuse_by_now_is_not_submitted(
    engine: Engine, session: Session, config: FigbotConfig, clock: Clock
) -> None:
    """Answered within bounds; the config's maximum is lowered before [提交]."""
    wang = bind(session, user_id=1, name="王芳", unit="jinhai", now=clock())
    opened = open_(session, "2026-11", now=clock())
    press(session, contact=wang, action=Action.START, round_id=opened.round_id, now=clock())
    for value in ANSWERS:
        screens = answer_text(session, contact=wang, text=str(value), now=clock())
    assert isinstance(screens[-1], Review)
    session.commit()
    _catalog_with(engine, config, "leaflets_distributed", max=100)

    notice, question = press(
        session, contact=wang, action=Action.SUBMIT, round_id=opened.round_id, now=clock()
    )
    assert isinstance(notice, Notice) and notice.kind is NoticeKind.OUT_OF_BOUNDS
    assert notice.extra == {"violation": "above", "bound": "100"}
    assert isinstance(question, Question) and question.item.key == "leaflets_distributed"
    assert session.exec(select(Submission)).all() == []
    (review,) = answer_text(session, contact=wang, text="90", now=clock())
    assert isinstance(review, Review)


def test_same_as_last_period_takes_last_periods_figure_only_within_bounds(
    engine: Engine, session: Session, config: FigbotConfig, clock: Clock
) -> None:
    """October's 300份 was fine then; November's maximum is 100."""
    wang = bind(session, user_id=1, name="王芳", unit="jinhai", now=clock())
    october = clock().replace(month=10)
    submit(session, wang, open_(session, "2026-10", now=october).round_id, ANSWERS, october)
    opened = open_(session, "2026-11", now=clock())
    press(session, contact=wang, action=Action.START, round_id=opened.round_id, now=clock())
    for value in ANSWERS[:-1]:
        (question,) = answer_text(session, contact=wang, text=str(value), now=clock())
    assert isinstance(question, Question) and question.previous_value == 300
    session.commit()
    _catalog_with(engine, config, "leaflets_distributed", max=100)

    notice, again = press(
        session,
        contact=wang,
        action=Action.SAME,
        round_id=opened.round_id,
        key="leaflets_distributed",
        now=clock(),
    )
    assert isinstance(notice, Notice) and notice.kind is NoticeKind.OUT_OF_BOUNDS
    assert isinstance(again, Question) and again.item.key == "leaflets_distributed"
    state = session.get(ConversationState, wang.id)
    assert state is not None and "leaflets_distributed" not in state.draft


# ---------------------------------------------------------------- through the bot
def _totals(harness: Harness) -> dict[str, float]:
    with read_session(harness.engine) as session:
        return {value.indicator_key: value.value for value in session.exec(select(Value)).all()}


async def test_a_forged_suggestion_button_cannot_store_a_figure_over_the_cap(
    harness: Harness,
) -> None:
    wang = await harness.join(1001, "王芳", unit="jinhai")
    opened = await harness.open_round("2026-11")
    (question,) = await wang.press("开始填报")
    answered = len(harness.server.answered_callbacks)
    for figure in [HUGE, str(MAX_COUNT + 1)]:
        refusal, again = await wang.press_forged(
            f"REPORT:accept:{opened.round_id}:1={figure}", message=question
        )
        assert refusal.text == "矛盾纠纷排查不能大于1000000000，请核对后重新输入。"
        assert again.text.startswith("（1/8）矛盾纠纷排查")
    assert len(harness.server.answered_callbacks) == answered + 2  # no spinner left turning
    with read_session(harness.engine) as session:
        state = session.get(ConversationState, 1)
        assert state is not None and state.draft == {}
    (second,) = await wang.press_forged(f"REPORT:accept:{opened.round_id}:1=12", message=again)
    assert second.text.startswith("（2/8）调解纠纷")  # the same button within bounds is taken
    for answer in ANSWERS[1:]:
        await wang.send(str(answer))
    await wang.press("提交")
    assert _totals(harness)["dispute_screenings"] == 12


async def test_every_way_in_from_chat_refuses_a_figure_over_the_cap(harness: Harness) -> None:
    wang = await harness.join(1001, "王芳", unit="jinhai")
    zhao = await harness.join(2001, "赵主任", role=Role.COORDINATOR, office="jinhu")
    await harness.open_round("2026-11")
    await wang.press("开始填报")
    refusal, again = await wang.send("10000000000")  # the answer to a question
    assert refusal.text == "数字太大了，请核对后重新输入。" and again.text.startswith("（1/8）")
    (readback,) = await wang.send("调解纠纷10000000000宗，讲座3场")  # several figures at once
    assert "法治讲座：3场" in readback.text
    assert "调解纠纷“10000000000宗”：数字太大了" in readback.text
    await wang.press("修改")
    for answer in ANSWERS:
        await wang.send(str(answer))
    await wang.press("提交")

    (readback,) = await wang.send("更正 调解纠纷10000000000宗")  # a correction
    assert "调解纠纷“10000000000宗”：数字太大了" in readback.text and not readback.buttons
    (refused,) = await zhao.send("/correct 金海社区 调解纠纷 10000000000 核实")  # a coordinator's
    assert refused.text == "数字太大了，请核对后重新输入。"
    assert _totals(harness)["disputes_mediated"] == 5


def test_set_value_refuses_a_figure_over_the_cap(engine: Engine, clock: Clock) -> None:
    with write_session(engine) as session:
        wang = bind(session, user_id=1, name="王芳", unit="jinhai", now=clock())
        submit(session, wang, open_(session, "2026-11", now=clock()).round_id, ANSWERS, clock())
    for value, message in [
        ("10000000000", "'10000000000' is more than figbot takes (1,000,000,000)"),
        ("2.5", "'2.5' is not a whole count"),
        ("-3", "'-3' is not a whole count"),
    ]:
        with pytest.raises(AdminError) as refused:
            set_value(
                engine,
                office_code=None,
                unit="jinhai",
                indicator="调解纠纷",
                value=value,
                reason="核实",
                actor="赵主任 (cli)",
                now=clock(),
            )
        assert str(refused.value) == message
    with read_session(engine) as session:
        assert len(session.exec(select(ValueRevision)).all()) == len(ANSWERS)
