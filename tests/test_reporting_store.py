"""The reporter's conversation on a real database, without Telegram."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.config import FigbotConfig, FormConfig, IndicatorConfig
from domain.numbers import RefusalReason
from domain.periods import PeriodKind
from models.crud import submission_values
from models.db import write_session
from models.tables import ConversationState, Round, Submission, ValueRevision
from services.catalog import sync_config
from services.reporting import (
    Action,
    ConfirmOverwrite,
    Notice,
    NoticeKind,
    Question,
    Receipt,
    Review,
    SubmittedByOther,
    answer_text,
    press,
    start,
)
from tests.conftest import Clock
from tests.store_helpers import bind, fill_all, open_

KEYS = [
    "dispute_screenings",
    "disputes_mediated",
    "mediated_success",
    "legal_lectures",
    "legal_consultations",
    "contracts_reviewed",
    "inspections",
    "leaflets_distributed",
]
ANSWERS = [12, 5, 4, 2, 40, 3, 7, 300]


def test_questions_come_one_by_one_with_progress(session: Session, clock: Clock) -> None:
    wang = bind(session, user_id=1, name="王芳", unit="jinhai", now=clock())
    opened = open_(session, "2026-11", now=clock())
    screens = start(session, contact=wang, round_id=opened.round_id, now=clock())
    first = screens[-1]
    assert isinstance(first, Question)
    assert (first.position, first.total, first.item.label, first.item.measure_word) == (
        1,
        8,
        "矛盾纠纷排查",
        "次",
    )
    assert first.previous_value is None
    second = answer_text(session, contact=wang, text="１２", now=clock())[-1]
    assert isinstance(second, Question)
    assert (second.position, second.item.key) == (2, "disputes_mediated")


def test_bad_input_is_refused_and_the_same_question_asked_again(
    session: Session, clock: Clock
) -> None:
    wang = bind(session, user_id=1, name="王芳", unit="jinhai", now=clock())
    opened = open_(session, "2026-11", now=clock())
    start(session, contact=wang, round_id=opened.round_id, now=clock())
    answer_text(session, contact=wang, text="12", now=clock())
    for text, reason in [
        ("l5", RefusalReason.NOT_A_NUMBER),
        ("-1", RefusalReason.NEGATIVE),
        ("2.5", RefusalReason.DECIMAL),
        ("5场", RefusalReason.WRONG_MEASURE_WORD),
    ]:
        notice, question = answer_text(session, contact=wang, text=text, now=clock())
        assert isinstance(notice, Notice) and notice.reason is reason
        assert isinstance(question, Question) and question.item.key == "disputes_mediated"
    state = session.get(ConversationState, wang.id)
    assert state is not None and state.draft == {"dispute_screenings": 12}
    assert session.exec(select(Submission)).all() == []


def test_submit_stores_values_with_revisions(session: Session, clock: Clock) -> None:
    wang = bind(session, user_id=1, name="王芳", unit="jinhai", now=clock())
    opened = open_(session, "2026-11", now=clock())
    (receipt,) = fill_all(session, wang, opened.round_id, ANSWERS, clock())
    assert isinstance(receipt, Receipt) and receipt.first_submission and not receipt.late
    submission = session.exec(select(Submission)).one()
    assert submission.submitted_by_contact_id == wang.id
    assert submission_values(session, submission_id=submission.id) == dict(
        zip(KEYS, ANSWERS, strict=True)
    )
    revisions = session.exec(select(ValueRevision)).all()
    assert len(revisions) == 8
    assert all(
        r.old_value is None and r.contact_id == wang.id and r.via == "chat" for r in revisions
    )
    assert session.get(ConversationState, wang.id) is None


def test_previous_period_value_is_offered_and_same_as_last_period_works(
    session: Session, clock: Clock
) -> None:
    wang = bind(session, user_id=1, name="王芳", unit="jinhai", now=clock())
    late_october = clock() - timedelta(days=31)
    october = open_(session, "2026-10", now=late_october)
    fill_all(session, wang, october.round_id, ANSWERS, late_october)
    november = open_(session, "2026-11", now=clock())
    question = start(session, contact=wang, round_id=november.round_id, now=clock())[-1]
    assert isinstance(question, Question) and question.previous_value == 12
    nxt = press(
        session,
        contact=wang,
        action=Action.SAME,
        round_id=november.round_id,
        key="dispute_screenings",
        now=clock(),
    )[-1]
    assert isinstance(nxt, Question) and nxt.previous_value == 5
    press(
        session,
        contact=wang,
        action=Action.ZERO,
        round_id=november.round_id,
        key="disputes_mediated",
        now=clock(),
    )
    state = session.get(ConversationState, wang.id)
    assert state is not None
    assert state.draft == {"dispute_screenings": 12, "disputes_mediated": 0}


def test_a_stale_button_does_not_answer_the_current_question(
    session: Session, clock: Clock
) -> None:
    wang = bind(session, user_id=1, name="王芳", unit="jinhai", now=clock())
    opened = open_(session, "2026-11", now=clock())
    start(session, contact=wang, round_id=opened.round_id, now=clock())
    answer_text(session, contact=wang, text="3", now=clock())
    screens = press(
        session,
        contact=wang,
        action=Action.ZERO,
        round_id=opened.round_id,
        key="dispute_screenings",
        now=clock(),
    )
    assert isinstance(screens[0], Notice) and screens[0].kind is NoticeKind.STALE_BUTTON
    assert isinstance(screens[1], Question) and screens[1].item.key == "disputes_mediated"
    state = session.get(ConversationState, wang.id)
    assert state is not None and state.draft == {"dispute_screenings": 3}


def test_change_after_submit_keeps_a_revision(session: Session, clock: Clock) -> None:
    wang = bind(session, user_id=1, name="王芳", unit="jinhai", now=clock())
    opened = open_(session, "2026-11", now=clock())
    fill_all(session, wang, opened.round_id, ANSWERS, clock())
    clock.advance(hours=2)
    review = start(session, contact=wang, round_id=opened.round_id, now=clock())[-1]
    assert isinstance(review, Review) and review.items[1].value == 5
    question = press(
        session,
        contact=wang,
        action=Action.EDIT,
        round_id=opened.round_id,
        key="disputes_mediated",
        now=clock(),
    )[-1]
    assert isinstance(question, Question) and question.item.value == 5
    assert isinstance(answer_text(session, contact=wang, text="6宗", now=clock())[-1], Review)
    (receipt,) = press(
        session, contact=wang, action=Action.SUBMIT, round_id=opened.round_id, now=clock()
    )
    assert isinstance(receipt, Receipt) and not receipt.first_submission
    assert [(item.key, item.value, old) for item, old in receipt.changes] == [
        ("disputes_mediated", 6, 5)
    ]
    revision = session.exec(
        select(ValueRevision).where(ValueRevision.old_value.is_not(None))  # type: ignore[union-attr]
    ).one()
    assert (revision.indicator_key, revision.old_value, revision.new_value) == (
        "disputes_mediated",
        5,
        6,
    )
    assert revision.at == clock()
    submission = session.exec(select(Submission)).one()
    assert submission.version == 2


def test_second_contact_sees_who_submitted_and_must_confirm(session: Session, clock: Clock) -> None:
    wang = bind(session, user_id=1, name="王芳", unit="jinhai", now=clock())
    liu = bind(session, user_id=2, name="刘洋", unit="jinhai", now=clock())
    opened = open_(session, "2026-11", now=clock())
    fill_all(session, wang, opened.round_id, ANSWERS, clock())
    (screen,) = start(session, contact=liu, round_id=opened.round_id, now=clock())
    assert isinstance(screen, SubmittedByOther) and screen.submitted_by == "王芳"
    assert session.get(ConversationState, liu.id) is None  # nothing started without consent
    review = press(
        session, contact=liu, action=Action.TAKE_OVER, round_id=opened.round_id, now=clock()
    )[-1]
    assert isinstance(review, Review) and review.items[0].value == 12


def test_concurrent_changes_need_confirmation_before_overwriting(
    session: Session, clock: Clock
) -> None:
    wang = bind(session, user_id=1, name="王芳", unit="jinhai", now=clock())
    liu = bind(session, user_id=2, name="刘洋", unit="jinhai", now=clock())
    opened = open_(session, "2026-11", now=clock())
    rid = opened.round_id
    fill_all(session, wang, rid, ANSWERS, clock())
    # Both open the submission for changes.
    start(session, contact=wang, round_id=rid, now=clock())
    start(session, contact=liu, round_id=rid, now=clock())
    press(session, contact=liu, action=Action.TAKE_OVER, round_id=rid, now=clock())
    # Wang changes disputes to 9 and submits first.
    press(
        session,
        contact=wang,
        action=Action.EDIT,
        round_id=rid,
        key="disputes_mediated",
        now=clock(),
    )
    answer_text(session, contact=wang, text="9", now=clock())
    assert isinstance(
        press(session, contact=wang, action=Action.SUBMIT, round_id=rid, now=clock())[0], Receipt
    )
    # Liu changes lectures to 8 and submits: sees Wang's values first.
    press(session, contact=liu, action=Action.EDIT, round_id=rid, key="legal_lectures", now=clock())
    answer_text(session, contact=liu, text="8", now=clock())
    (confirm,) = press(session, contact=liu, action=Action.SUBMIT, round_id=rid, now=clock())
    assert isinstance(confirm, ConfirmOverwrite) and confirm.submitted_by == "王芳"
    assert {(item.key, item.value, theirs) for item, theirs in confirm.differences} == {
        ("disputes_mediated", 5, 9),
        ("legal_lectures", 8, 2),
    }
    submission = session.exec(select(Submission)).one()
    assert submission_values(session, submission_id=submission.id)["disputes_mediated"] == 9
    (receipt,) = press(session, contact=liu, action=Action.OVERWRITE, round_id=rid, now=clock())
    assert isinstance(receipt, Receipt)
    values = submission_values(session, submission_id=submission.id)
    assert values["disputes_mediated"] == 5 and values["legal_lectures"] == 8
    history = session.exec(
        select(ValueRevision.old_value, ValueRevision.new_value, ValueRevision.contact_id)
        .where(ValueRevision.indicator_key == "disputes_mediated")
        .order_by(ValueRevision.id)  # type: ignore[arg-type]
    ).all()
    assert history == [(None, 5, wang.id), (5, 9, wang.id), (9, 5, liu.id)]


def test_after_the_deadline_submissions_are_late_until_the_lock(
    session: Session, clock: Clock
) -> None:
    wang = bind(session, user_id=1, name="王芳", unit="jinhai", now=clock())
    li = bind(session, user_id=3, name="李强", unit="huguang", now=clock())
    opened = open_(session, "2026-11", now=clock())
    fill_all(session, wang, opened.round_id, ANSWERS, clock())
    clock.set(opened.deadline)
    # Changes are still taken between the deadline and the lock.
    review = start(session, contact=wang, round_id=opened.round_id, now=clock())[-1]
    assert isinstance(review, Review)
    press(session, contact=wang, action=Action.CANCEL, round_id=opened.round_id, now=clock())
    # A first submission now is accepted and flagged late.
    warning, question = start(session, contact=li, round_id=opened.round_id, now=clock())
    assert isinstance(warning, Notice) and warning.kind is NoticeKind.LATE_WARNING
    assert isinstance(question, Question)
    (receipt,) = fill_all(session, li, opened.round_id, ANSWERS, clock())
    assert isinstance(receipt, Receipt) and receipt.late
    on_time = session.exec(select(Submission).where(Submission.unit_id == wang.unit_id)).one()
    assert not on_time.late


def test_after_the_lock_changes_are_refused_until_a_coordinator_reopens(
    session: Session, clock: Clock
) -> None:
    from models.tables import Role
    from services.overrides import set_override

    wang = bind(session, user_id=1, name="王芳", unit="jinhai", now=clock())
    zhao = bind(session, user_id=9, name="赵主任", role=Role.COORDINATOR, now=clock())
    opened = open_(session, "2026-11", now=clock())
    start(session, contact=wang, round_id=opened.round_id, now=clock())
    answer_text(session, contact=wang, text="3", now=clock())
    clock.set(session.get(Round, opened.round_id).lock_at)  # type: ignore[union-attr]
    (locked,) = answer_text(session, contact=wang, text="4", now=clock())
    assert isinstance(locked, Notice) and locked.kind is NoticeKind.LOCKED
    assert locked.extra["coordinators"] == "赵主任"
    assert session.get(ConversationState, wang.id) is None  # the draft is dropped
    done = set_override(session, coordinator=zhao, unit_text="金海社区", reopen=True, now=clock())
    assert done.unit_name == "金海社区" and [c.id for c in done.reporters] == [wang.id]
    question = start(session, contact=wang, round_id=None, now=clock())[-1]
    assert isinstance(question, Question)
    (receipt,) = fill_all(session, wang, opened.round_id, ANSWERS, clock())
    assert isinstance(receipt, Receipt) and receipt.late
    set_override(session, coordinator=zhao, unit_text="jinhai", reopen=False, now=clock())
    (locked,) = start(session, contact=wang, round_id=opened.round_id, now=clock())
    assert isinstance(locked, Notice) and locked.kind is NoticeKind.LOCKED


def test_a_reporter_cannot_reach_another_offices_round(session: Session, clock: Clock) -> None:
    from models.tables import Office, Unit

    other = Office(code="other", name="别的街道")
    session.add(other)
    session.flush()
    session.add(Unit(code="far", name="远方社区", office_id=other.id))
    session.flush()
    stranger_round = open_(session, "2026-11", now=clock(), office="other")
    wang = bind(session, user_id=1, name="王芳", unit="jinhai", now=clock())
    (notice,) = start(session, contact=wang, round_id=stranger_round.round_id, now=clock())
    assert isinstance(notice, Notice) and notice.kind is NoticeKind.NO_OPEN_ROUND
    (notice,) = press(
        session, contact=wang, action=Action.SUBMIT, round_id=stranger_round.round_id, now=clock()
    )
    assert isinstance(notice, Notice) and notice.kind is NoticeKind.STALE_BUTTON
    assert session.exec(select(Submission)).all() == []


def test_moving_to_another_unit_drops_the_old_draft(session: Session, clock: Clock) -> None:
    wang = bind(session, user_id=1, name="王芳", unit="jinhai", now=clock())
    opened = open_(session, "2026-11", now=clock())
    start(session, contact=wang, round_id=opened.round_id, now=clock())
    answer_text(session, contact=wang, text="12", now=clock())
    moved = bind(session, user_id=1, name="王芳", unit="huguang", now=clock())
    assert moved.id == wang.id
    assert session.get(ConversationState, wang.id) is None
    question = start(session, contact=moved, round_id=opened.round_id, now=clock())[-1]
    assert isinstance(question, Question) and question.info.unit_name == "湖光社区"
    assert question.position == 1


def test_a_reporter_of_a_removed_unit_reports_no_more(session: Session, clock: Clock) -> None:
    from models.crud import get_unit

    wang = bind(session, user_id=1, name="王芳", unit="jinhai", now=clock())
    opened = open_(session, "2026-11", now=clock())
    unit = get_unit(session, code="jinhai")
    assert unit is not None
    unit.active = False
    session.add(unit)
    session.flush()
    (notice,) = start(session, contact=wang, round_id=opened.round_id, now=clock())
    assert isinstance(notice, Notice) and notice.kind is NoticeKind.NOT_A_REPORTER


# ------------------------------------------------ the indicator catalog kept between answers
def _changed_catalog(engine: Engine, config: FigbotConfig, **updates: Any) -> None:
    """What ``figbot <any command>`` with an edited config does to the database, from a
    session of its own."""
    with write_session(engine) as other:
        sync_config(other, config=config.model_copy(update=updates))


def test_a_label_changed_in_the_config_shows_in_the_next_question(
    engine: Engine, session: Session, config: FigbotConfig, clock: Clock
) -> None:
    """The catalog kept since the last answer is out of date once another process synced an
    edited config: the next question has the new label and takes the new measure word."""
    wang = bind(session, user_id=1, name="王芳", unit="jinhai", now=clock())
    opened = open_(session, "2026-11", now=clock())
    start(session, contact=wang, round_id=opened.round_id, now=clock())
    second = answer_text(session, contact=wang, text="12", now=clock())[-1]
    assert isinstance(second, Question) and second.item.label == "调解纠纷"
    session.commit()

    _changed_catalog(
        engine,
        config,
        indicators=[
            ind.model_copy(update={"label": "成功调处纠纷", "measure_word": "件"})
            if ind.key == "mediated_success"
            else ind
            for ind in config.indicators
        ],
    )
    third = answer_text(session, contact=wang, text="5", now=clock())[-1]
    assert isinstance(third, Question) and third.item.key == "mediated_success"
    assert (third.item.label, third.item.measure_word) == ("成功调处纠纷", "件")
    refusal, _ = answer_text(session, contact=wang, text="4宗", now=clock())
    assert isinstance(refusal, Notice) and refusal.reason == RefusalReason.WRONG_MEASURE_WORD


def test_an_indicator_added_with_a_new_form_is_asked_with_its_label(
    engine: Engine, session: Session, config: FigbotConfig, clock: Clock
) -> None:
    """A new indicator and a new form write no ``config_change`` row: the catalog's version
    does not move, and the kept catalog lacks the key."""
    wang = bind(session, user_id=1, name="王芳", unit="jinhai", now=clock())
    opened = open_(session, "2026-11", now=clock())
    start(session, contact=wang, round_id=opened.round_id, now=clock())
    answer_text(session, contact=wang, text="12", now=clock())
    session.commit()

    visits = IndicatorConfig(key="mediation_visits", label="上门调解走访", measure_word="户")
    form = FormConfig(
        key="visits", name="走访月报", period=PeriodKind.MONTH, indicators=[visits.key]
    )
    _changed_catalog(
        engine, config, indicators=[*config.indicators, visits], forms=[*config.forms, form]
    )
    new_round = open_(session, "2026-11", now=clock(), form="visits", schedule=form.as_schedule())
    first = start(session, contact=wang, round_id=new_round.round_id, now=clock())[-1]
    assert isinstance(first, Question)
    assert (first.item.label, first.item.measure_word) == ("上门调解走访", "户")
    review = answer_text(session, contact=wang, text="6户", now=clock())[-1]
    assert isinstance(review, Review) and review.items[0].value == 6
