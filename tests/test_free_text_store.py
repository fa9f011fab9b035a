"""Free-text figures, rules, outliers and corrections in the reporter's conversation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from bot.config import FigbotConfig
from domain.figures import ProblemKind
from models.crud import submission_values
from models.tables import Contact, ConversationState, Indicator, Submission, Value, ValueRevision
from reports.compile import compile_summary
from services.reporting import (
    Action,
    FiguresReadBack,
    Notice,
    NoticeKind,
    OutlierQuestion,
    Question,
    Receipt,
    Review,
    answer_text,
    press,
    start,
)
from services.summary import load_summary_input, target_for
from tests.conftest import Clock
from tests.store_helpers import bind, open_, submit

ANSWERS = [12, 5, 4, 2, 40, 3, 7, 300]


def _draft(session: Session, contact_id: int) -> dict[str, int | None]:
    state = session.get(ConversationState, contact_id)
    return dict(state.draft) if state else {}


def _revisions(session: Session) -> list[ValueRevision]:
    return list(session.exec(select(ValueRevision).order_by(ValueRevision.id)).all())


def test_several_figures_are_read_back_and_stored_only_on_confirm(
    session: Session, clock: Clock
) -> None:
    wang = bind(session, user_id=1, name="王芳", unit="jinhai", now=clock())
    opened = open_(session, "2026-11", now=clock())
    start(session, contact=wang, round_id=opened.round_id, now=clock())
    screens = answer_text(
        session,
        contact=wang,
        text="调解纠纷15宗，讲座3场，检查二十次，电话13812345678",
        now=clock(),
    )
    (readback,) = screens
    assert isinstance(readback, FiguresReadBack)
    assert [(item.key, item.value) for item, _ in readback.changes] == [
        ("disputes_mediated", 15),
        ("legal_lectures", 3),
        ("inspections", 20),
    ]
    assert [(p.kind, p.text) for p in readback.problems] == [
        (ProblemKind.UNKNOWN, "电话13812345678")
    ]
    assert _draft(session, wang.id or 0) == {}  # nothing taken before the confirmation

    screens = press(
        session,
        contact=wang,
        action=Action.CONFIRM,
        round_id=opened.round_id,
        key=readback.token,
        now=clock(),
    )
    assert _draft(session, wang.id or 0) == {
        "disputes_mediated": 15,
        "legal_lectures": 3,
        "inspections": 20,
    }
    (question,) = screens
    assert isinstance(question, Question) and question.item.key == "dispute_screenings"
    for text in ["12", "4", "40", "3", "300"]:
        screens = answer_text(session, contact=wang, text=text, now=clock())
    assert isinstance(screens[-1], Review)
    (receipt,) = press(
        session, contact=wang, action=Action.SUBMIT, round_id=opened.round_id, now=clock()
    )
    assert isinstance(receipt, Receipt)
    vias = {r.indicator_key: r.via for r in _revisions(session)}
    assert vias["disputes_mediated"] == "text" and vias["dispute_screenings"] == "chat"


def test_discarding_a_read_back_changes_nothing(session: Session, clock: Clock) -> None:
    wang = bind(session, user_id=1, name="王芳", unit="jinhai", now=clock())
    opened = open_(session, "2026-11", now=clock())
    start(session, contact=wang, round_id=opened.round_id, now=clock())
    answer_text(session, contact=wang, text="12", now=clock())
    (readback,) = answer_text(session, contact=wang, text="讲座两场，咨询40人次", now=clock())
    assert isinstance(readback, FiguresReadBack)
    screens = press(
        session,
        contact=wang,
        action=Action.DISCARD,
        round_id=opened.round_id,
        key=readback.token,
        now=clock(),
    )
    assert isinstance(screens[0], Notice) and screens[0].kind is NoticeKind.CANCELLED
    assert isinstance(screens[1], Question) and screens[1].item.key == "disputes_mediated"
    assert _draft(session, wang.id or 0) == {"dispute_screenings": 12}


def test_a_message_with_nothing_readable_changes_nothing(session: Session, clock: Clock) -> None:
    wang = bind(session, user_id=1, name="王芳", unit="jinhai", now=clock())
    opened = open_(session, "2026-11", now=clock())
    start(session, contact=wang, round_id=opened.round_id, now=clock())
    readback, question = answer_text(session, contact=wang, text="调解纠纷190多宗", now=clock())
    assert isinstance(readback, FiguresReadBack) and readback.changes == []
    assert readback.problems[0].choices == (190,)
    assert isinstance(question, Question) and question.item.key == "dispute_screenings"
    assert _draft(session, wang.id or 0) == {}


def test_figures_outside_a_conversation_start_the_round(session: Session, clock: Clock) -> None:
    wang = bind(session, user_id=1, name="王芳", unit="jinhai", now=clock())
    opened = open_(session, "2026-11", now=clock())
    (readback,) = answer_text(session, contact=wang, text="讲座两场，咨询40人次", now=clock())
    assert isinstance(readback, FiguresReadBack) and not readback.correction
    (question,) = press(
        session,
        contact=wang,
        action=Action.CONFIRM,
        round_id=opened.round_id,
        key=readback.token,
        now=clock(),
    )
    assert isinstance(question, Question) and question.item.key == "dispute_screenings"
    assert _draft(session, wang.id or 0) == {"legal_lectures": 2, "legal_consultations": 40}


def test_a_plain_words_correction_after_submitting_is_a_revision_with_its_reason(
    session: Session, clock: Clock
) -> None:
    wang = bind(session, user_id=1, name="王芳", unit="jinhai", now=clock())
    opened = open_(session, "2026-11", now=clock())
    submit(session, wang, opened.round_id, ANSWERS, clock())
    clock.advance(hours=2)
    (readback,) = answer_text(
        session, contact=wang, text="更正 调解6宗，原因：漏报一宗", now=clock()
    )
    assert isinstance(readback, FiguresReadBack) and readback.correction
    assert [(item.value, old) for item, old in readback.changes] == [(6, 5)]
    submission = session.exec(select(Submission)).one()
    assert submission_values(session, submission_id=submission.id or 0)["disputes_mediated"] == 5

    (receipt,) = press(
        session,
        contact=wang,
        action=Action.CONFIRM,
        round_id=opened.round_id,
        key=readback.token,
        now=clock(),
    )
    assert isinstance(receipt, Receipt) and not receipt.first_submission
    assert [(item.key, item.value, old) for item, old in receipt.changes] == [
        ("disputes_mediated", 6, 5)
    ]
    last = _revisions(session)[-1]
    assert (last.old_value, last.new_value, last.via, last.reason) == (5, 6, "text", "漏报一宗")
    assert last.actor.startswith("王芳") and last.at == clock()
    assert session.get(ConversationState, wang.id) is None


def test_a_correction_can_be_cancelled_and_is_refused_after_the_lock(
    session: Session, clock: Clock
) -> None:
    wang = bind(session, user_id=1, name="王芳", unit="jinhai", now=clock())
    opened = open_(session, "2026-11", now=clock())
    submit(session, wang, opened.round_id, ANSWERS, clock())
    (readback,) = answer_text(session, contact=wang, text="调解纠纷改为6", now=clock())
    assert isinstance(readback, FiguresReadBack)
    (notice,) = press(
        session,
        contact=wang,
        action=Action.DISCARD,
        round_id=opened.round_id,
        key=readback.token,
        now=clock(),
    )
    assert isinstance(notice, Notice) and notice.kind is NoticeKind.CANCELLED
    session.flush()
    assert session.get(ConversationState, wang.id) is None
    clock.advance(days=10)  # past the deadline and the lock
    (locked,) = answer_text(session, contact=wang, text="调解纠纷改为6", now=clock())
    assert isinstance(locked, Notice) and locked.kind is NoticeKind.LOCKED
    assert len(_revisions(session)) == len(ANSWERS)


def test_a_broken_cross_indicator_rule_blocks_submitting(session: Session, clock: Clock) -> None:
    wang = bind(session, user_id=1, name="王芳", unit="jinhai", now=clock())
    opened = open_(session, "2026-11", now=clock())
    answers = [12, 3, 5, 2, 40, 3, 7, 300]  # 5 mediated successfully out of 3 mediated
    start(session, contact=wang, round_id=opened.round_id, now=clock())
    for value in answers:
        screens = answer_text(session, contact=wang, text=str(value), now=clock())
    (review,) = screens
    assert isinstance(review, Review)
    (broken,) = review.broken
    assert broken.shown == "调解成功 ≤ 调解纠纷"
    assert [(i.label, i.value) for i in broken.items] == [("调解成功", 5), ("调解纠纷", 3)]
    (still,) = press(
        session, contact=wang, action=Action.SUBMIT, round_id=opened.round_id, now=clock()
    )
    assert isinstance(still, Review) and still.broken
    assert session.exec(select(Submission)).first() is None
    press(
        session,
        contact=wang,
        action=Action.EDIT,
        round_id=opened.round_id,
        key="mediated_success",
        now=clock(),
    )
    (fixed,) = answer_text(session, contact=wang, text="3", now=clock())
    assert isinstance(fixed, Review) and fixed.broken == []
    (receipt,) = press(
        session, contact=wang, action=Action.SUBMIT, round_id=opened.round_id, now=clock()
    )
    assert isinstance(receipt, Receipt)


def test_bounds_and_optional_items(session: Session, clock: Clock) -> None:
    leaflets = session.exec(select(Indicator).where(Indicator.key == "leaflets_distributed")).one()
    leaflets.rules = {**leaflets.rules, "max": 1000, "required": False}
    session.add(leaflets)
    session.flush()
    wang = bind(session, user_id=1, name="王芳", unit="jinhai", now=clock())
    opened = open_(session, "2026-11", now=clock())
    start(session, contact=wang, round_id=opened.round_id, now=clock())
    for value in ANSWERS[:-1]:
        screens = answer_text(session, contact=wang, text=str(value), now=clock())
    (question,) = screens
    assert isinstance(question, Question) and question.optional
    notice, again = answer_text(session, contact=wang, text="5000", now=clock())
    assert isinstance(notice, Notice) and notice.kind is NoticeKind.OUT_OF_BOUNDS
    assert notice.extra == {"violation": "above", "bound": "1000"}
    assert "leaflets_distributed" not in _draft(session, wang.id or 0)
    (review,) = press(
        session,
        contact=wang,
        action=Action.SKIP,
        round_id=opened.round_id,
        key="leaflets_distributed",
        now=clock(),
    )
    assert isinstance(review, Review) and review.items[-1].value is None
    (receipt,) = press(
        session, contact=wang, action=Action.SUBMIT, round_id=opened.round_id, now=clock()
    )
    assert isinstance(receipt, Receipt)
    stored = session.exec(select(Value.indicator_key)).all()
    assert "leaflets_distributed" not in stored and len(stored) == len(ANSWERS) - 1


def _history(session: Session, clock: Clock) -> tuple[Contact, int]:
    wang = bind(session, user_id=1, name="王芳", unit="jinhai", now=clock() - timedelta(days=200))
    for months_back, period in [(3, "2026-08"), (2, "2026-09"), (1, "2026-10")]:
        when = clock() - timedelta(days=31 * months_back)
        past = open_(session, period, now=when)
        submit(session, wang, past.round_id, ANSWERS, when)  # 5 disputes mediated each month
    opened = open_(session, "2026-11", now=clock())
    return wang, opened.round_id


def test_an_unusual_figure_is_questioned_and_its_explanation_kept(
    session: Session, clock: Clock, config: FigbotConfig
) -> None:
    wang, round_id = _history(session, clock)
    start(session, contact=wang, round_id=round_id, now=clock())
    answer_text(session, contact=wang, text="12", now=clock())
    (question,) = answer_text(session, contact=wang, text="27", now=clock())
    assert isinstance(question, OutlierQuestion)
    assert (question.item.value, question.median, question.previous_value) == (27, 5, 5)
    assert question.change_percent == pytest.approx(440.0)
    note, next_question = answer_text(
        session, contact=wang, text="本月开展矛盾纠纷集中调解", now=clock()
    )
    assert isinstance(note, Notice) and note.kind is NoticeKind.NOTE_SAVED
    assert isinstance(next_question, Question) and next_question.item.key == "mediated_success"
    for value in [4, 2, 40, 3, 7, 300]:
        screens = answer_text(session, contact=wang, text=str(value), now=clock())
    assert isinstance(screens[-1], Review)
    press(session, contact=wang, action=Action.SUBMIT, round_id=round_id, now=clock())
    value = session.exec(
        select(Value)
        .join(Submission)
        .where(Submission.round_id == round_id, Value.indicator_key == "disputes_mediated")
    ).one()
    assert (value.value, value.note) == (27, "本月开展矛盾纠纷集中调解")
    (revision,) = [
        r
        for r in _revisions(session)
        if r.submission_id == value.submission_id and r.indicator_key == "disputes_mediated"
    ]
    assert revision.reason == "本月开展矛盾纠纷集中调解"
    # The explanation is in the summary's detail sheet, next to the value.
    target = target_for(session, office_id=1, period_text="2026-11")
    details = compile_summary(load_summary_input(session, config=config, target=target)).details
    noted = details[details["indicator_key"] == "disputes_mediated"]
    assert noted[["value", "note"]].values.tolist() == [[27, "本月开展矛盾纠纷集中调解"]]


def test_an_unusual_figure_can_be_replaced_by_a_number(session: Session, clock: Clock) -> None:
    wang, round_id = _history(session, clock)
    start(session, contact=wang, round_id=round_id, now=clock())
    answer_text(session, contact=wang, text="12", now=clock())
    (question,) = answer_text(session, contact=wang, text="50", now=clock())
    assert isinstance(question, OutlierQuestion)
    (next_question,) = answer_text(session, contact=wang, text="调解纠纷6宗", now=clock())
    assert isinstance(next_question, Question) and next_question.item.key == "mediated_success"
    assert _draft(session, wang.id or 0)["disputes_mediated"] == 6  # the figure, not a note


def test_an_unusual_figure_can_be_confirmed_as_it_is(session: Session, clock: Clock) -> None:
    wang, round_id = _history(session, clock)
    start(session, contact=wang, round_id=round_id, now=clock())
    answer_text(session, contact=wang, text="12", now=clock())
    (question,) = answer_text(session, contact=wang, text="60", now=clock())
    assert isinstance(question, OutlierQuestion)
    stale = press(
        session, contact=wang, action=Action.KEEP, round_id=round_id, key="inspections", now=clock()
    )
    assert isinstance(stale[0], Notice) and stale[0].kind is NoticeKind.STALE_BUTTON
    (next_question,) = press(
        session,
        contact=wang,
        action=Action.KEEP,
        round_id=round_id,
        key="disputes_mediated",
        now=clock(),
    )
    assert isinstance(next_question, Question) and next_question.item.key == "mediated_success"
    assert _draft(session, wang.id or 0)["disputes_mediated"] == 60


def test_an_amount_with_decimals_is_stored_exactly(
    session: Session, clock: Clock, config: FigbotConfig
) -> None:
    """An indicator declared with decimals (e.g. 万元) takes them; a count still does not."""
    leaflets = session.exec(select(Indicator).where(Indicator.key == "leaflets_distributed")).one()
    leaflets.rules = {**leaflets.rules, "decimals": 2}
    session.add(leaflets)
    session.flush()
    wang = bind(session, user_id=1, name="王芳", unit="jinhai", now=clock())
    opened = open_(session, "2026-11", now=clock())
    start(session, contact=wang, round_id=opened.round_id, now=clock())
    refusal, _ = answer_text(session, contact=wang, text="12.5", now=clock())
    assert isinstance(refusal, Notice) and refusal.reason == "decimal"  # a count: no decimals
    for value in ANSWERS[:-1]:
        answer_text(session, contact=wang, text=str(value), now=clock())
    refusal, question = answer_text(session, contact=wang, text="12.345", now=clock())
    assert isinstance(refusal, Notice) and refusal.item is not None
    assert refusal.item.decimals == 2 and isinstance(question, Question)
    (review,) = answer_text(session, contact=wang, text="十二点三五", now=clock())
    assert isinstance(review, Review) and review.items[-1].value == 12.35
    press(session, contact=wang, action=Action.SUBMIT, round_id=opened.round_id, now=clock())
    session.expire_all()
    stored = session.exec(select(Value).where(Value.indicator_key == "leaflets_distributed")).one()
    assert stored.value == 12.35
    counted = session.exec(select(Value).where(Value.indicator_key == "inspections")).one()
    assert counted.value == 7 and isinstance(counted.value, int)
    target = target_for(session, office_id=1, period_text="2026-11")
    summary = compile_summary(load_summary_input(session, config=config, target=target))
    assert summary.totals["leaflets_distributed"] == pytest.approx(12.35)


def test_other_buttons_wait_while_figures_are_read_back(session: Session, clock: Clock) -> None:
    wang = bind(session, user_id=1, name="王芳", unit="jinhai", now=clock())
    opened = open_(session, "2026-11", now=clock())
    start(session, contact=wang, round_id=opened.round_id, now=clock())
    answer_text(session, contact=wang, text="讲座两场", now=clock())
    stale, shown = press(
        session,
        contact=wang,
        action=Action.ZERO,
        round_id=opened.round_id,
        key="dispute_screenings",
        now=clock(),
    )
    assert isinstance(stale, Notice) and stale.kind is NoticeKind.STALE_BUTTON
    assert isinstance(shown, FiguresReadBack)
    assert _draft(session, wang.id or 0) == {}


def test_history_is_the_units_own_and_the_previous_value_only_the_period_before(
    session: Session, clock: Clock
) -> None:
    """One query serves both the outlier history and the previous value: a unit that did not
    report last period is shown no previous value, and another unit's figures never count."""
    wang = bind(session, user_id=1, name="王芳", unit="jinhai", now=clock() - timedelta(days=200))
    li = bind(session, user_id=2, name="李强", unit="huguang", now=clock() - timedelta(days=200))
    for months_back, period in [(5, "2026-06"), (4, "2026-07"), (3, "2026-08")]:
        when = clock() - timedelta(days=31 * months_back)
        submit(session, wang, open_(session, period, now=when).round_id, ANSWERS, when)
    october = clock() - timedelta(days=31)  # jinhai skipped September and October
    submit(
        session, li, open_(session, "2026-10", now=october).round_id, [99, *ANSWERS[1:]], october
    )
    opened = open_(session, "2026-11", now=clock())
    (first,) = start(session, contact=wang, round_id=opened.round_id, now=clock())
    assert isinstance(first, Question) and first.previous_value is None  # not huguang's 99
    (second,) = answer_text(session, contact=wang, text="12", now=clock())
    assert isinstance(second, Question) and second.previous_value is None  # not August's 5
    (question,) = answer_text(session, contact=wang, text="27", now=clock())
    assert isinstance(question, OutlierQuestion)
    assert (question.median, question.previous_value, question.change_percent) == (5, None, None)


def _explained_27(session: Session, clock: Clock) -> tuple[Contact, int]:
    """November in the review: 调解纠纷 27宗 (5 each month before), explained."""
    wang, round_id = _history(session, clock)
    start(session, contact=wang, round_id=round_id, now=clock())
    answer_text(session, contact=wang, text="12", now=clock())
    (question,) = answer_text(session, contact=wang, text="27", now=clock())
    assert isinstance(question, OutlierQuestion)
    answer_text(session, contact=wang, text="本月集中调解", now=clock())
    for value in [4, 2, 40, 3, 7, 300]:
        screens = answer_text(session, contact=wang, text=str(value), now=clock())
    assert isinstance(screens[-1], Review)
    return wang, round_id


def _changed_to(session: Session, clock: Clock, wang: Contact, round_id: int, change: str) -> None:
    """Change 调解纠纷 in the review the way ``change`` names; back at the review."""

    def tap(action: Action, key: str | None = None) -> list[object]:
        screens = press(
            session, contact=wang, action=action, round_id=round_id, key=key, now=clock()
        )
        return list(screens)

    def say(text: str) -> list[object]:
        return list(answer_text(session, contact=wang, text=text, now=clock()))

    if change == "typed after tapping 修改":
        tap(Action.EDIT, "disputes_mediated")
        (review,) = say("5")
    elif change == "read from a message":
        (readback,) = say("调解纠纷5宗")
        assert isinstance(readback, FiguresReadBack)
        (review,) = tap(Action.CONFIRM, readback.token)
    elif change == "another unusual figure confirmed as it is":
        tap(Action.EDIT, "disputes_mediated")
        (question,) = say("28")
        assert isinstance(question, OutlierQuestion)
        (review,) = tap(Action.KEEP, "disputes_mediated")
    else:
        assert change == "another unusual figure explained again"
        tap(Action.EDIT, "disputes_mediated")
        say("30")
        _, review = say("拆迁纠纷集中")
    assert isinstance(review, Review)


@pytest.mark.parametrize(
    ("change", "value", "explanation"),
    [
        ("typed after tapping 修改", 5, None),
        ("read from a message", 5, None),
        ("another unusual figure confirmed as it is", 28, None),
        ("another unusual figure explained again", 30, "拆迁纠纷集中"),
    ],
)
def test_an_explanation_stays_with_the_figure_it_explained(
    session: Session,
    clock: Clock,
    config: FigbotConfig,
    change: str,
    value: int,
    explanation: str | None,
) -> None:
    wang, round_id = _explained_27(session, clock)
    _changed_to(session, clock, wang, round_id, change)
    press(session, contact=wang, action=Action.SUBMIT, round_id=round_id, now=clock())

    target = target_for(session, office_id=1, period_text="2026-11")
    summary = compile_summary(load_summary_input(session, config=config, target=target))
    details = summary.details[summary.details["indicator_key"] == "disputes_mediated"]
    assert details[["value", "note"]].values.tolist() == [[value, explanation]]
    history = summary.revisions[summary.revisions["indicator_key"] == "disputes_mediated"]
    assert history[["new_value", "reason"]].values.tolist() == [[value, explanation]]
