"""The reporter's conversation: ask each indicator, review, submit, change until the deadline.

State lives in ``conversation_state`` (one row per contact), so a restart resumes where the
reporter was. Every function runs inside the caller's write transaction and returns *screens*
(plain data) that the caller renders only after the commit, so nothing is acknowledged before
it is stored.
"""

from __future__ import annotations

import functools
import json
import logging
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from domain.figures import ProblemKind, Reading, Vocabulary, read_answer, read_figures
from domain.numbers import CountRefused, Number, RefusalReason
from domain.periods import Period
from domain.rounds import Window, submission_window
from domain.rules import (
    Bounds,
    CrossRule,
    OutlierPolicy,
    Violation,
    broken_rules,
    change_percent,
    outlier,
    parse_rule,
)
from models.crud import (
    CATALOG_VERSION,
    coordinators,
    get_submission,
    indicators_by_key,
    submission_values,
    unit_reopened,
)
from models.tables import (
    Contact,
    ConversationState,
    ConversationStep,
    Form,
    Office,
    Round,
    RoundStatus,
    Submission,
    Unit,
    Value,
)
from models.types import utcnow
from services.values import NewValue, new_submission, write_values

logger = logging.getLogger(__name__)


class Action(StrEnum):
    """What an inline button asks for; the value is the callback-data verb."""

    START = "start"
    SAME = "same"  # same as the previous period
    ZERO = "zero"
    ACCEPT = "accept"  # take the figure an approximate answer stated ("190多" → 190)
    ALL_ZERO = "allzero"  # nothing happened this period: every answer 0, then the review
    EDIT = "edit"
    SUBMIT = "submit"
    TAKE_OVER = "takeover"  # edit a submission another contact made
    OVERWRITE = "overwrite"  # confirm overwriting a concurrent submission
    CANCEL = "cancel"
    CONFIRM = "confirm"  # the figures read from a message are right: take them
    DISCARD = "discard"  # they are not: drop them, nothing changes
    SKIP = "skip"  # an optional indicator is left out (not reported, not 0)
    KEEP = "keep"  # an unusual figure is right as it is


# ---------------------------------------------------------------- screens (plain data)
@dataclass(frozen=True)
class RoundInfo:
    round_id: int
    unit_name: str
    form_name: str
    period: Period
    deadline: datetime
    timezone: str


@dataclass(frozen=True)
class Item:
    key: str
    label: str
    measure_word: str
    value: Number | None
    decimals: int = 0  # decimal places the indicator takes (0: a whole count)


@dataclass(frozen=True)
class Question:
    info: RoundInfo
    item: Item
    help: str | None
    position: int
    total: int
    previous_value: Number | None
    optional: bool = False  # the unit may skip it


@dataclass(frozen=True)
class BrokenRule:
    shown: str  # the rule with labels, e.g. "调解成功 ≤ 调解纠纷"
    items: list[Item]  # the indicators it names, with the unit's values


@dataclass(frozen=True)
class Review:
    info: RoundInfo
    items: list[Item]
    changing_submitted: bool  # reviewing an existing submission, not a first filling
    broken: list[BrokenRule] = field(default_factory=list)  # no submitting until fixed


@dataclass(frozen=True)
class Unreadable:
    """A part of a message that could not be taken as a figure, and why."""

    kind: ProblemKind
    text: str
    label: str | None = None
    measure_word: str | None = None
    reason: RefusalReason | str | None = None  # a RefusalReason, "below" or "above"
    choices: tuple[int, ...] = ()
    bound: int | None = None
    decimals: int = 0


@dataclass(frozen=True)
class FiguresReadBack:
    """Figures read from a free-text message, shown back before anything is stored."""

    info: RoundInfo
    changes: list[tuple[Item, Number | None]]  # (item with the new value, value it replaces)
    problems: list[Unreadable]
    correction: bool  # changing figures already submitted: [确认] stores them
    # Changes made earlier in the conversation and not submitted yet, which [确认] stores
    # along with the figures read (a correction only).
    also: list[tuple[Item, Number | None]] = field(default_factory=list)
    token: str = ""  # names what this screen shows: its buttons confirm exactly that


@dataclass(frozen=True)
class OutlierQuestion:
    info: RoundInfo
    item: Item
    median: float
    previous_value: Number | None
    change_percent: float | None  # against the previous period


@dataclass(frozen=True)
class Receipt:
    info: RoundInfo
    items: list[Item]
    submitted_at: datetime
    late: bool
    changes: list[tuple[Item, Number | None]]  # (item with new value, old value)
    first_submission: bool


@dataclass(frozen=True)
class SubmittedByOther:
    """The unit's figures were submitted by another contact: look before touching."""

    info: RoundInfo
    submitted_by: str
    submitted_at: datetime


@dataclass(frozen=True)
class ConfirmOverwrite:
    info: RoundInfo
    submitted_by: str
    submitted_at: datetime
    differences: list[tuple[Item, Number | None]]  # (item with my value, their value)


class NoticeKind(StrEnum):
    BAD_NUMBER = "bad_number"
    OUT_OF_BOUNDS = "out_of_bounds"
    NOTE_SAVED = "note_saved"
    NO_OPEN_ROUND = "no_open_round"
    NOTHING_IN_PROGRESS = "nothing_in_progress"
    USE_BUTTONS = "use_buttons"
    STALE_BUTTON = "stale_button"
    LOCKED = "locked"
    CLOSED = "closed"
    LATE_WARNING = "late_warning"
    CANCELLED = "cancelled"
    NOT_A_REPORTER = "not_a_reporter"
    NO_CHANGES = "no_changes"
    ANSWER_FIRST = "answer_first"  # a correction while an unusual figure is questioned


@dataclass(frozen=True)
class Notice:
    kind: NoticeKind
    reason: RefusalReason | None = None
    item: Item | None = None
    info: RoundInfo | None = None
    extra: dict[str, str] = field(default_factory=dict)


Screen = (
    Question
    | Review
    | Receipt
    | SubmittedByOther
    | ConfirmOverwrite
    | FiguresReadBack
    | OutlierQuestion
    | Notice
)
NOTE_LIMIT = 500  # characters of an explanation kept with a value


# ---------------------------------------------------------------- hot-path statements
# Built once: every answer runs them, and building a statement costs as much as running it.
_FORM_AND_OFFICE = (
    select(Form, Office)
    .join(Office, col(Office.id) == bindparam("office_id"))
    .where(col(Form.id) == bindparam("form_id"))
)
# What every step of a reporter starts from, in one statement: the unit, the conversation, and
# the conversation's round with its form and office (None where there is none), and the
# indicator catalog's version. The rows land in the session's identity map, so later
# ``session.get`` of them costs no query.
_STEP = (
    sa_select(Unit, ConversationState, Round, Form, Office, CATALOG_VERSION)
    .select_from(Unit)
    .outerjoin(ConversationState, col(ConversationState.contact_id) == bindparam("contact_id"))
    .outerjoin(Round, col(Round.id) == col(ConversationState.round_id))
    .outerjoin(Form, col(Form.id) == col(Round.form_id))
    .outerjoin(Office, col(Office.id) == col(Round.office_id))
    .where(col(Unit.id) == bindparam("unit_id"))
)
_RANKED = (
    select(
        col(Value.indicator_key).label("key"),
        col(Value.value).label("value"),
        col(Round.period).label("period"),
        func.row_number()
        .over(partition_by=col(Value.indicator_key), order_by=col(Round.period).desc())
        .label("rank"),
    )
    .join(Submission, col(Value.submission_id) == col(Submission.id))
    .join(Round, col(Submission.round_id) == col(Round.id))
    .where(
        col(Round.form_id) == bindparam("form_id"),
        col(Round.office_id) == bindparam("office_id"),
        col(Submission.unit_id) == bindparam("unit_id"),
        col(Round.period) < bindparam("period"),
    )
    .subquery()
)
_EARLIER_VALUES = (
    select(_RANKED.c.key, _RANKED.c.value, _RANKED.c.period)
    .where(_RANKED.c.rank <= bindparam("depth"))
    .order_by(_RANKED.c.key, _RANKED.c.period.desc())
)


# ---------------------------------------------------------------- helpers
class _Ctx:
    """The rows one step works with, loaded once."""

    def __init__(
        self,
        session: Session,
        contact: Contact,
        round_: Round,
        unit: Unit | None = None,
        step: _Step | None = None,
    ) -> None:
        self.session = session
        self.contact = contact
        self.round = round_
        unit = unit or session.get(Unit, contact.unit_id)
        if step is not None and step.round is round_ and step.form and step.office:
            form, office = step.form, step.office
        else:
            form, office = session.exec(
                _FORM_AND_OFFICE, params={"form_id": round_.form_id, "office_id": round_.office_id}
            ).one()
        assert unit is not None
        self.unit = unit
        self.form = form
        self.office = office
        self.keys: list[str] = list(round_.indicator_keys)
        self.indicators = indicators_by_key(
            session, keys=self.keys, catalog_version=step.catalog_version if step else None
        )
        self.info = RoundInfo(
            round_id=round_.id or 0,
            unit_name=unit.name,
            form_name=form.name,
            period=Period.parse(round_.period),
            deadline=round_.deadline,
            timezone=office.timezone,
        )

    def item(self, key: str, value: Number | None) -> Item:
        indicator = self.indicators[key]
        return Item(
            key=key,
            label=indicator.label,
            measure_word=indicator.measure_word,
            value=value,
            decimals=self.decimals(key),
        )

    def items(self, values: Mapping[str, Number | None]) -> list[Item]:
        return [self.item(key, values.get(key)) for key in self.keys]

    def submission(self, *, for_update: bool = False) -> Submission | None:
        return get_submission(
            self.session,
            round_id=self.info.round_id,
            unit_id=self.unit.id or 0,
            for_update=for_update,
        )

    @functools.cached_property
    def reopened(self) -> bool:
        """Whether a coordinator reopened the unit (read once per step; windows ask often)."""
        return unit_reopened(self.session, round_id=self.info.round_id, unit_id=self.unit.id or 0)

    def window(self, now: datetime) -> Window:
        return submission_window(
            round_closed=self.round.status == RoundStatus.CLOSED,
            deadline=self.round.deadline,
            lock_at=self.round.lock_at,
            now=now,
            # A reopening only matters past the lock: no query for it before.
            reopened=now >= self.round.lock_at and self.reopened,
        )

    def locked_notice(self) -> Notice:
        """Locked: say whom to ask."""
        names = "、".join(
            c.display_name for c in coordinators(self.session, office_id=self.office.id or 0)
        )
        return Notice(NoticeKind.LOCKED, info=self.info, extra={"coordinators": names})

    def previous_value(self, key: str) -> Number | None:
        """The unit's value for ``key`` in the period just before this one."""
        latest = self._earlier_values.get(key)
        if latest and latest[0][0] == self.info.period.previous().code:
            return latest[0][1]
        return None

    def _rules(self, key: str) -> Mapping[str, Any]:
        return self.indicators[key].rules

    def bounds(self, key: str) -> Bounds:
        return self.indicators[key].bounds

    def decimals(self, key: str) -> int:
        return self.indicators[key].decimals

    def optional(self, key: str) -> bool:
        return not self._rules(key).get("required", True)

    def policy(self, key: str) -> OutlierPolicy:
        given = self._rules(key).get("outliers") or {}
        return OutlierPolicy(
            factor=float(given.get("factor", 3.0)),
            floor=int(given.get("floor", 10)),
            history=int(given.get("history", 6)),
        )

    def vocabulary(self) -> list[Vocabulary]:
        return [self.entry(key) for key in self.keys]

    def entry(self, key: str) -> Vocabulary:
        """How the reporter may name and count ``key`` (see ``domain.figures``)."""
        indicator = self.indicators[key]
        return Vocabulary(
            key=key,
            label=indicator.label,
            measure_word=indicator.measure_word,
            aliases=tuple(self._rules(key).get("aliases", [])),
            decimals=self.decimals(key),
            other_measure_words=indicator.other_measure_words,
        )

    @functools.cached_property
    def cross_rules(self) -> list[CrossRule]:
        rules = []
        for text in self.form.rules or []:
            try:
                rules.append(parse_rule(text, self.keys))
            except ValueError:  # checked at start-up; a rule naming a key the round lacks
                logger.warning(
                    "form %s: rule %r does not apply to round %s",
                    self.form.key,
                    text,
                    self.info.round_id,
                )
        return rules

    def broken(self, draft: dict[str, Number | None]) -> list[BrokenRule]:
        labels = {key: self.indicators[key].label for key in self.keys}
        return [
            BrokenRule(
                shown=rule.shown(labels),
                items=[self.item(key, draft.get(key)) for key in dict.fromkeys(rule.keys)],
            )
            for rule in broken_rules(self.cross_rules, draft)
        ]

    def history(self, key: str, limit: int) -> list[Number]:
        """The unit's values for ``key`` in its latest earlier periods, the latest first."""
        return [value for _, value in self._earlier_values.get(key, [])[:limit]]

    @functools.cached_property
    def _earlier_values(self) -> dict[str, list[tuple[str, Number]]]:
        """(period, value) of the unit's latest earlier periods, per indicator, latest first.

        One query serves a whole step: the outlier history of the figure just answered and
        the previous value shown with the next question. Past periods are not changed by a
        step, so it runs on the connection, without flushing the draft being edited first
        (and without the ORM's cost per statement). It reads every indicator of the form's
        earlier rounds, not only this round's: an indicator since dropped from the form costs
        a few rows, less than rendering an IN list of keys on every answer."""
        depth = max([1, *(self.policy(key).history for key in self.keys)])
        rows = self.session.connection().execute(
            _EARLIER_VALUES,
            {
                "form_id": self.form.id,
                "office_id": self.office.id,
                "unit_id": self.unit.id,
                "period": self.info.period.code,
                "depth": depth,
            },
        )
        earlier: dict[str, list[tuple[str, Number]]] = {}
        for key, value, period in rows:
            earlier.setdefault(key, []).append((period, value))
        return earlier

    def unusual(self, key: str, value: Number) -> OutlierQuestion | None:
        policy = self.policy(key)
        found = outlier(value, self.history(key, policy.history), policy)
        if found is None:
            return None
        previous = self.previous_value(key)
        return OutlierQuestion(
            info=self.info,
            item=self.item(key, value),
            median=found.median,
            previous_value=previous,
            change_percent=change_percent(value, previous),
        )

    def stored_values(self) -> dict[str, Number]:
        submission = self.submission()
        if submission is None:
            return {}
        return submission_values(self.session, submission_id=submission.id or 0)

    def question(self, state: ConversationState) -> Question:
        key = state.indicator_key or self.keys[0]
        indicator = self.indicators[key]
        return Question(
            info=self.info,
            item=self.item(key, state.draft.get(key)),
            help=indicator.help,
            position=self.keys.index(key) + 1,
            total=len(self.keys),
            previous_value=self.previous_value(key),
            optional=self.optional(key) and key not in self.stored_values(),
        )

    def review(self, state: ConversationState) -> Review:
        return Review(
            info=self.info,
            items=self.items(state.draft),
            changing_submitted=state.base_version > 0,
            broken=self.broken(state.draft),
        )

    def contact_name(self, contact_id: int | None) -> str:
        other = self.session.get(Contact, contact_id) if contact_id else None
        return other.display_name if other else "?"


def _state(session: Session, contact: Contact) -> ConversationState | None:
    return session.get(ConversationState, contact.id)


def _save(session: Session, state: ConversationState, now: datetime) -> None:
    state.updated_at = now
    # JSON columns are only written when the attribute is reassigned.
    state.draft = dict(state.draft)
    session.add(state)


def _current_screen(ctx: _Ctx, state: ConversationState) -> Screen:
    if state.step == ConversationStep.ASK:
        return ctx.question(state)
    if state.step == ConversationStep.CONFIRM_OVERWRITE:
        return _confirm_overwrite_screen(ctx, state)
    if state.step == ConversationStep.CONFIRM_FIGURES:
        return _figures_screen(ctx, state)
    if state.step == ConversationStep.OUTLIER and state.indicator_key is not None:
        value = state.draft.get(state.indicator_key)
        question = ctx.unusual(state.indicator_key, value) if value is not None else None
        if question is not None:
            return question
    return ctx.review(state)


def _confirm_overwrite_screen(ctx: _Ctx, state: ConversationState) -> ConfirmOverwrite:
    submission = ctx.submission()
    assert submission is not None
    theirs = submission_values(ctx.session, submission_id=submission.id or 0)
    differences = [
        (ctx.item(key, state.draft.get(key)), theirs.get(key))
        for key in ctx.keys
        if state.draft.get(key) != theirs.get(key)
    ]
    return ConfirmOverwrite(
        info=ctx.info,
        submitted_by=ctx.contact_name(submission.submitted_by_contact_id),
        submitted_at=submission.updated_at,
        differences=differences,
    )


def _open_rounds_for(session: Session, contact: Contact) -> list[Round]:
    """Rounds the contact's unit can report in: open ones, and locked ones a coordinator
    reopened for the unit."""
    rounds = session.exec(
        select(Round)
        .where(Round.office_id == contact.office_id, Round.status != RoundStatus.CLOSED)
        .order_by(col(Round.deadline))
    ).all()
    return [
        round_
        for round_ in rounds
        if round_.status == RoundStatus.OPEN
        or unit_reopened(session, round_id=round_.id or 0, unit_id=contact.unit_id or 0)
    ]


@dataclass(frozen=True)
class _Step:
    """The rows a reporter's step starts from (see ``_STEP``)."""

    unit: Unit
    state: ConversationState | None
    round: Round | None
    form: Form | None
    office: Office | None
    catalog_version: int


def _load_step(session: Session, contact: Contact) -> _Step | None:
    """The contact's step if their unit is active (a unit removed from the config reports no
    more); None for a contact who reports for no unit."""
    if contact.unit_id is None:
        return None
    row = session.execute(_STEP, {"unit_id": contact.unit_id, "contact_id": contact.id}).first()
    if row is None or not row[0].active:
        return None
    return _Step(*row)


def _reporting_unit(session: Session, contact: Contact) -> Unit | None:
    """The contact's unit if it is active (a unit removed from the config reports no more)."""
    if contact.unit_id is None:
        return None
    unit = session.get(Unit, contact.unit_id)
    return unit if unit is not None and unit.active else None


# ---------------------------------------------------------------- entry points
def start(
    session: Session, *, contact: Contact, round_id: int | None, now: datetime | None = None
) -> list[Screen]:
    """Begin, resume or reopen filling ``round_id`` (None: the most urgent open round)."""
    now = now or utcnow()
    step = _load_step(session, contact)
    if step is None:
        return [Notice(NoticeKind.NOT_A_REPORTER)]
    round_ = _pick_round(session, contact, round_id)
    if round_ is None:
        return [Notice(NoticeKind.NO_OPEN_ROUND)]
    ctx = _Ctx(session, contact, round_, step.unit, step)
    state = _state(session, contact)
    refusal = _refuse_if_shut(ctx, state, now)
    if refusal is not None:
        return [refusal]
    if state is not None and state.round_id == round_.id:
        return [_current_screen(ctx, state)]

    window = ctx.window(now)
    submission = ctx.submission()
    if state is not None:  # a draft of another round is dropped for this one
        session.delete(state)
        session.flush()
    if submission is not None:
        if submission.submitted_by_contact_id != contact.id:
            return [
                SubmittedByOther(
                    info=ctx.info,
                    submitted_by=ctx.contact_name(submission.submitted_by_contact_id),
                    submitted_at=submission.updated_at,
                )
            ]
        return [_begin_change(ctx, submission, now)]

    state = ConversationState(
        contact_id=contact.id or 0,
        round_id=round_.id or 0,
        step=ConversationStep.ASK,
        indicator_key=ctx.keys[0],
        draft={},
        base_version=0,
    )
    _save(session, state, now)
    screens: list[Screen] = []
    if window is Window.LATE:
        screens.append(Notice(NoticeKind.LATE_WARNING, info=ctx.info))
    screens.append(ctx.question(state))
    return screens


def _refuse_if_shut(ctx: _Ctx, state: ConversationState | None, now: datetime) -> Notice | None:
    """Past the lock (or closed) nothing more is taken; a draft for the round is dropped."""
    window = ctx.window(now)
    if window not in (Window.LOCKED, Window.CLOSED):
        return None
    if state is not None and state.round_id == ctx.info.round_id:
        ctx.session.delete(state)
    if window is Window.LOCKED:
        return ctx.locked_notice()
    return Notice(NoticeKind.CLOSED, info=ctx.info)


def _pick_round(session: Session, contact: Contact, round_id: int | None) -> Round | None:
    if round_id is not None:
        round_ = session.get(Round, round_id)
        # A round of another office is treated as unknown: forged callback data gets nothing.
        if round_ is None or round_.office_id != contact.office_id:
            return None
        return round_
    state = _state(session, contact)
    rounds = _open_rounds_for(session, contact)
    if state is not None:
        for round_ in rounds:
            if round_.id == state.round_id:
                return round_
    for round_ in rounds:  # the most urgent round the unit has not submitted
        if get_submission(session, round_id=round_.id or 0, unit_id=contact.unit_id or 0) is None:
            return round_
    if rounds:
        return rounds[0]
    # Nothing open: the latest locked round, so the reporter hears whom to ask.
    return session.exec(
        select(Round)
        .where(Round.office_id == contact.office_id, Round.status == RoundStatus.LOCKED)
        .order_by(col(Round.deadline).desc())
    ).first()


def _begin_change(ctx: _Ctx, submission: Submission, now: datetime) -> Review:
    state = ConversationState(
        contact_id=ctx.contact.id or 0,
        round_id=ctx.info.round_id,
        step=ConversationStep.REVIEW,
        draft=dict(submission_values(ctx.session, submission_id=submission.id or 0)),
        base_version=submission.version,
    )
    _save(ctx.session, state, now)
    return ctx.review(state)


def answer_text(
    session: Session, *, contact: Contact, text: str, now: datetime | None = None
) -> list[Screen]:
    """A text message from the reporter: an answer, figures in words, an explanation."""
    now = now or utcnow()
    step = _load_step(session, contact)
    if step is None:
        return [Notice(NoticeKind.NOT_A_REPORTER)]
    state, round_ = step.state, step.round
    if state is None:
        return _figures_without_conversation(session, contact, text, now)
    assert round_ is not None
    ctx = _Ctx(session, contact, round_, step.unit, step)
    refusal = _refuse_if_shut(ctx, state, now)
    if refusal is not None:
        return [refusal]
    if state.step == ConversationStep.OUTLIER:
        return _answer_outlier(ctx, state, text, now)
    reading = read_figures(text, ctx.vocabulary())
    key = state.indicator_key or ctx.keys[0]
    if state.step in (
        ConversationStep.ASK,
        ConversationStep.REVIEW,
        ConversationStep.CONFIRM_FIGURES,
    ):
        # "更正 …", or the figure asked given with a reason ("调解6宗，原因：漏报"), is read
        # back: once submitted, [确认] stores it with the reason, which a plain answer drops.
        plain_answer = state.step == ConversationStep.ASK and (
            not reading.named_any
            or (reading.only_about(key) and not reading.correction and reading.reason is None)
        )
        if not plain_answer and reading.named_any:
            return _read_back(ctx, state, reading, now)
    if state.step != ConversationStep.ASK:
        return [Notice(NoticeKind.USE_BUTTONS), _current_screen(ctx, state)]
    try:
        value = read_answer(text, ctx.entry(key), reading)
    except CountRefused as refused:
        extra = {}
        if refused.choices:  # offered as one-tap buttons ("190多": 190; "七八次": 7, 8)
            extra = {
                "choices": " ".join(str(choice) for choice in refused.choices),
                "position": str(ctx.keys.index(key) + 1),
            }
        return [
            Notice(
                NoticeKind.BAD_NUMBER,
                reason=refused.reason,
                item=ctx.item(key, None),
                info=ctx.info,
                extra=extra,
            ),
            ctx.question(state),
        ]
    return _record_answer(ctx, state, key, value, now)


def _bounds_notice(ctx: _Ctx, key: str, value: Number) -> Notice | None:
    """Why ``value`` cannot be taken for ``key`` (see :class:`Bounds`), or None if it can."""
    bounds = ctx.bounds(key)
    violation = bounds.violation(value)
    if violation is None:
        return None
    if violation is Violation.DECIMALS:
        return Notice(
            NoticeKind.BAD_NUMBER,
            reason=RefusalReason.DECIMAL,
            item=ctx.item(key, None),
            info=ctx.info,
        )
    return Notice(
        NoticeKind.OUT_OF_BOUNDS,
        item=ctx.item(key, value),
        info=ctx.info,
        extra={"violation": violation.value, "bound": str(bounds.bound(violation))},
    )


def _figures_without_conversation(
    session: Session, contact: Contact, text: str, now: datetime
) -> list[Screen]:
    """Figures typed outside a conversation ("更正 调解5宗"): into the open round, after a
    read-back; a unit that already submitted gets them as a change, stored on confirming."""
    round_ = _pick_round(session, contact, None)
    if round_ is None:
        return [Notice(NoticeKind.NOTHING_IN_PROGRESS)]
    ctx = _Ctx(session, contact, round_)
    reading = read_figures(text, ctx.vocabulary())
    if not reading.named_any:
        return [Notice(NoticeKind.NOTHING_IN_PROGRESS)]
    refusal = _refuse_if_shut(ctx, None, now)
    if refusal is not None:
        return [refusal]
    submission = ctx.submission()
    state = ConversationState(
        contact_id=contact.id or 0,
        round_id=ctx.info.round_id,
        step=ConversationStep.REVIEW if submission else ConversationStep.ASK,
        indicator_key=None if submission else ctx.keys[0],
        draft=dict(ctx.stored_values()) if submission else {},
        base_version=submission.version if submission else 0,
    )
    screens = _read_back(ctx, state, reading, now, created=True)
    if state.step != ConversationStep.CONFIRM_FIGURES:  # nothing readable: keep no state
        if session.get(ConversationState, state.contact_id) is not None:
            session.delete(state)
        return screens[:1]
    return screens


def _read_back(
    ctx: _Ctx,
    state: ConversationState,
    reading: Reading,
    now: datetime,
    *,
    created: bool = False,
) -> list[Screen]:
    """Show what was read; store nothing until [确认]. Once the unit has submitted, the
    figures are a correction: [确认] stores them (with any change the conversation holds),
    whichever step the conversation is at."""
    stored = ctx.stored_values()
    values: dict[str, Number] = {}
    problems: list[Unreadable] = []
    for figure in reading.figures:
        bounds = ctx.bounds(figure.key)
        violation = bounds.violation(figure.value)
        if violation is not None:
            indicator = ctx.indicators[figure.key]
            decimals = violation is Violation.DECIMALS
            problems.append(
                Unreadable(
                    ProblemKind.REFUSED if decimals else ProblemKind.OUT_OF_BOUNDS,
                    figure.text,
                    label=indicator.label,
                    measure_word=indicator.measure_word,
                    reason=RefusalReason.DECIMAL if decimals else violation.value,
                    bound=bounds.bound(violation),
                    decimals=bounds.decimals,
                )
            )
        else:
            values[figure.key] = figure.value
    for problem in reading.problems:
        named = ctx.indicators.get(problem.key or "")
        problems.append(
            Unreadable(
                problem.kind,
                problem.text,
                label=named.label if named else None,
                measure_word=named.measure_word if named else None,
                reason=problem.reason,
                choices=problem.choices,
                decimals=ctx.decimals(named.key) if named else 0,
            )
        )
    if not values:  # nothing to confirm: say what could not be read, change nothing
        screen = FiguresReadBack(ctx.info, [], problems, correction=bool(stored))
        if created:
            return [screen]
        return [screen, _current_screen(ctx, state)]
    pending = dict(state.pending or {})
    if state.step != ConversationStep.CONFIRM_FIGURES:
        pending["back"] = {
            "step": str(state.step),
            "key": state.indicator_key,
            "back_to_review": state.back_to_review,
        }
    pending.update({"read": values, "created": created or pending.get("created", False)})
    pending["reason"] = reading.reason[:NOTE_LIMIT] if reading.reason else None
    if ctx.submission() is not None:
        pending["correction"] = True
    state.pending = pending
    state.step = ConversationStep.CONFIRM_FIGURES
    _save(ctx.session, state, now)
    return [_figures_screen(ctx, state, problems)]


def _figures_screen(
    ctx: _Ctx, state: ConversationState, problems: list[Unreadable] | None = None
) -> FiguresReadBack:
    pending = state.pending or {}
    stored = ctx.stored_values()
    read: dict[str, Number] = pending.get("read", {})
    correction = bool(pending.get("correction"))
    changes = [
        (ctx.item(key, read[key]), stored.get(key) if correction else state.draft.get(key))
        for key in ctx.keys
        if key in read
    ]
    also = [
        (ctx.item(key, value), stored.get(key))
        for key in ctx.keys
        if correction
        and key not in read
        and (value := state.draft.get(key)) is not None
        and value != stored.get(key)
    ]
    return FiguresReadBack(
        ctx.info,
        changes,
        problems or [],
        correction=correction,
        also=also,
        token=_read_token(read, (state.pending or {}).get("reason")),
    )


def _read_token(read: Mapping[str, Number], reason: str | None) -> str:
    """A short name for figures read back with their reason: a read-back's buttons carry it,
    so [确认] on an older read-back never confirms what a newer one shows."""
    shown = json.dumps([read, reason], sort_keys=True, ensure_ascii=False)
    return f"{zlib.crc32(shown.encode()):08x}"


def _confirm_figures(ctx: _Ctx, state: ConversationState, now: datetime) -> list[Screen]:
    pending = dict(state.pending or {})
    read: dict[str, Number] = pending.pop("read", {})
    back = pending.pop("back", {})
    state.step = ConversationStep(back.get("step", ConversationStep.ASK))
    state.indicator_key = back.get("key")
    state.back_to_review = bool(back.get("back_to_review", False))
    reason = pending.pop("reason", None)
    via = dict(pending.get("via", {}))
    via.update(dict.fromkeys(read, "text"))
    pending["via"] = via
    pending["outliers"] = list(pending.get("outliers", [])) + [
        key for key in ctx.keys if key in read and ctx.unusual(key, read[key]) is not None
    ]
    state.pending = pending
    _set_draft(state, read)
    if reason:  # the reason given with the figures goes with each of them
        reasons = {**(state.pending or {}).get("reasons", {}), **dict.fromkeys(read, reason)}
        state.pending = {**(state.pending or {}), "reasons": reasons}
    return _advance(ctx, state, now)


def _set_draft(state: ConversationState, values: Mapping[str, Number | None]) -> None:
    """Put ``values`` into the draft. An explanation, or a correction's reason, belongs to
    the value it was given for: a figure that changes drops its own."""
    changed = {key for key, value in values.items() if state.draft.get(key, value) != value}
    state.draft = {**state.draft, **values}
    state.notes = {k: v for k, v in (state.notes or {}).items() if k not in changed}
    pending = dict(state.pending or {})
    reasons = pending.get("reasons", {})
    if any(key in reasons for key in changed):
        pending["reasons"] = {k: v for k, v in reasons.items() if k not in changed}
        state.pending = pending


def _discard_figures(ctx: _Ctx, state: ConversationState, now: datetime) -> list[Screen]:
    pending = dict(state.pending or {})
    if pending.get("created"):
        ctx.session.delete(state)
        return [Notice(NoticeKind.CANCELLED, info=ctx.info)]
    for name in ("read", "reason", "correction"):
        pending.pop(name, None)
    back = pending.pop("back", {})
    state.step = ConversationStep(back.get("step", ConversationStep.ASK))
    state.indicator_key = back.get("key")
    state.back_to_review = bool(back.get("back_to_review", False))
    state.pending = pending
    _save(ctx.session, state, now)
    return [Notice(NoticeKind.CANCELLED, info=ctx.info), _current_screen(ctx, state)]


def _advance(ctx: _Ctx, state: ConversationState, now: datetime) -> list[Screen]:
    """The next step after values entered the draft: question unusual figures first, then
    ask what is missing, then review (or store, for a change confirmed by read-back)."""
    pending = dict(state.pending or {})
    queue = [key for key in pending.get("outliers", []) if key in state.draft]
    while queue:
        value = state.draft.get(queue[0])
        question = ctx.unusual(queue[0], value) if value is not None else None
        if question is not None:
            pending["outliers"] = queue
            state.pending = pending
            state.step = ConversationStep.OUTLIER
            state.indicator_key = queue[0]
            _save(ctx.session, state, now)
            return [question]
        queue.pop(0)
    pending["outliers"] = []
    state.pending = pending
    remaining = [k for k in ctx.keys if k not in state.draft]
    if pending.get("correction"):  # confirmed figures change the submission right away
        state.step = ConversationStep.REVIEW
        state.indicator_key = None
        return _submit(ctx, state, now)
    if state.back_to_review or not remaining:
        state.step = ConversationStep.REVIEW
        state.indicator_key = None
        state.back_to_review = False
    else:
        state.step = ConversationStep.ASK
        state.indicator_key = remaining[0]
    _save(ctx.session, state, now)
    return [_current_screen(ctx, state)]


def _answer_outlier(ctx: _Ctx, state: ConversationState, text: str, now: datetime) -> list[Screen]:
    """While an unusual figure is questioned: a number replaces it, other text explains it."""
    key = state.indicator_key or ctx.keys[0]
    reading = read_figures(text, ctx.vocabulary())
    if any(figure.key != key for figure in reading.figures):
        # "讲座3场", "更正 讲座3场" is no explanation of this figure: it would be lost as one.
        return [
            Notice(NoticeKind.ANSWER_FIRST, item=ctx.item(key, state.draft.get(key))),
            _current_screen(ctx, state),
        ]
    try:
        value = read_answer(text, ctx.entry(key), reading)  # "调解纠纷7宗": the figure again
    except CountRefused as refused:
        if refused.reason is not RefusalReason.NOT_A_NUMBER:
            return [
                Notice(
                    NoticeKind.BAD_NUMBER,
                    reason=refused.reason,
                    item=ctx.item(key, None),
                    info=ctx.info,
                ),
                _current_screen(ctx, state),
            ]
        note = text.strip()[:NOTE_LIMIT]
        state.notes = {**(state.notes or {}), key: note}
        return [Notice(NoticeKind.NOTE_SAVED, item=ctx.item(key, state.draft.get(key)))] + (
            _pop_outlier(ctx, state, now)
        )
    out_of_bounds = _bounds_notice(ctx, key, value)
    if out_of_bounds is not None:
        return [out_of_bounds, _current_screen(ctx, state)]
    _set_draft(state, {key: value})
    return _advance(ctx, state, now)


def _pop_outlier(ctx: _Ctx, state: ConversationState, now: datetime) -> list[Screen]:
    pending = dict(state.pending or {})
    queue = list(pending.get("outliers", []))
    if queue:
        queue.pop(0)
    pending["outliers"] = queue
    state.pending = pending
    return _advance(ctx, state, now)


def _record_answer(
    ctx: _Ctx, state: ConversationState, key: str, value: Number | None, now: datetime
) -> list[Screen]:
    """One figure answered (typed, tapped, or skipped: None), checked against its bounds."""
    if value is not None:
        out_of_bounds = _bounds_notice(ctx, key, value)
        if out_of_bounds is not None:
            return [out_of_bounds, ctx.question(state)]
    _set_draft(state, {key: value})
    pending = dict(state.pending or {})
    via = dict(pending.get("via", {}))
    via.pop(key, None)
    pending["via"] = via
    if value is not None and ctx.unusual(key, value) is not None:
        pending["outliers"] = [key] + [k for k in pending.get("outliers", []) if k != key]
    state.pending = pending
    return _advance(ctx, state, now)


def press(
    session: Session,
    *,
    contact: Contact,
    action: Action,
    round_id: int,
    key: str | None = None,
    now: datetime | None = None,
) -> list[Screen]:
    """An inline button of the conversation was pressed."""
    now = now or utcnow()
    step = _load_step(session, contact)
    if step is None:
        return [Notice(NoticeKind.NOT_A_REPORTER)]
    if action is Action.START:
        return start(session, contact=contact, round_id=round_id, now=now)
    round_ = session.get(Round, round_id)  # no query when it is the conversation's round
    if round_ is None or round_.office_id != contact.office_id:
        return [Notice(NoticeKind.STALE_BUTTON)]
    ctx = _Ctx(session, contact, round_, step.unit, step)
    if action is Action.TAKE_OVER:
        return _take_over(ctx, now)
    state = _state(session, contact)
    if action is Action.CANCEL and (state is None or state.round_id == round_id):
        if state is not None:
            session.delete(state)
        return [Notice(NoticeKind.CANCELLED, info=ctx.info)]
    if state is None or state.round_id != round_id:
        return [Notice(NoticeKind.STALE_BUTTON)] + (
            [] if state is None else [_resume(session, contact, state)]
        )
    refusal = _refuse_if_shut(ctx, state, now)
    if refusal is not None:
        return [refusal]

    waiting = {
        ConversationStep.CONFIRM_FIGURES: (Action.CONFIRM, Action.DISCARD),
        ConversationStep.OUTLIER: (Action.KEEP,),
    }.get(ConversationStep(state.step))
    if waiting is not None and action not in waiting:  # answer the open question first
        return [Notice(NoticeKind.STALE_BUTTON), _current_screen(ctx, state)]
    if action in (Action.SAME, Action.ZERO):
        if state.step != ConversationStep.ASK or key is None or key != state.indicator_key:
            return [Notice(NoticeKind.STALE_BUTTON), _current_screen(ctx, state)]
        value = 0 if action is Action.ZERO else ctx.previous_value(key)
        if value is None:
            return [Notice(NoticeKind.STALE_BUTTON), _current_screen(ctx, state)]
        return _record_answer(ctx, state, key, value, now)
    if action is Action.SKIP:
        if (
            state.step != ConversationStep.ASK
            or key is None
            or key != state.indicator_key
            or not ctx.optional(key)
            or key in ctx.stored_values()
        ):
            return [Notice(NoticeKind.STALE_BUTTON), _current_screen(ctx, state)]
        return _record_answer(ctx, state, key, None, now)
    if action in (Action.CONFIRM, Action.DISCARD):
        pending = state.pending or {}
        token = _read_token(pending.get("read", {}), pending.get("reason"))
        if state.step != ConversationStep.CONFIRM_FIGURES or key != token:
            return [Notice(NoticeKind.STALE_BUTTON), _current_screen(ctx, state)]
        if action is Action.CONFIRM:
            return _confirm_figures(ctx, state, now)
        return _discard_figures(ctx, state, now)
    if action is Action.KEEP:
        if state.step != ConversationStep.OUTLIER or key != state.indicator_key:
            return [Notice(NoticeKind.STALE_BUTTON), _current_screen(ctx, state)]
        return _pop_outlier(ctx, state, now)
    if action is Action.ACCEPT:
        position, _, figure = (key or "").partition("=")
        current = ctx.keys.index(state.indicator_key) + 1 if state.indicator_key else 0
        if (
            state.step != ConversationStep.ASK
            or position != str(current)
            or not (figure.isascii() and figure.isdigit())
        ):
            return [Notice(NoticeKind.STALE_BUTTON), _current_screen(ctx, state)]
        assert state.indicator_key is not None
        return _record_answer(ctx, state, state.indicator_key, int(figure), now)
    if action is Action.ALL_ZERO:
        if state.step != ConversationStep.ASK or state.draft:
            return [Notice(NoticeKind.STALE_BUTTON), _current_screen(ctx, state)]
        # Explicit zeros, distinct from "not reported"; the review screen is the confirmation.
        state.draft = dict.fromkeys(ctx.keys, 0)
        state.step = ConversationStep.REVIEW
        state.indicator_key = None
        _save(session, state, now)
        return [ctx.review(state)]
    if action is Action.EDIT:
        if key not in ctx.keys or state.step == ConversationStep.ASK and key == state.indicator_key:
            return [_current_screen(ctx, state)]
        if state.step == ConversationStep.ASK and state.indicator_key != key:
            return [Notice(NoticeKind.STALE_BUTTON), _current_screen(ctx, state)]
        state.step = ConversationStep.ASK
        state.indicator_key = key
        state.back_to_review = True
        _save(session, state, now)
        return [ctx.question(state)]
    if action is Action.SUBMIT:
        if state.step != ConversationStep.REVIEW:
            return [Notice(NoticeKind.STALE_BUTTON), _current_screen(ctx, state)]
        return _submit(ctx, state, now)
    if action is Action.OVERWRITE:
        if state.step != ConversationStep.CONFIRM_OVERWRITE:
            return [Notice(NoticeKind.STALE_BUTTON), _current_screen(ctx, state)]
        return _submit(ctx, state, now)
    raise AssertionError(action)


def _resume(session: Session, contact: Contact, state: ConversationState) -> Screen:
    round_ = session.get(Round, state.round_id)
    assert round_ is not None
    return _current_screen(_Ctx(session, contact, round_), state)


def _take_over(ctx: _Ctx, now: datetime) -> list[Screen]:
    """The contact confirmed they want to change what a colleague submitted."""
    refusal = _refuse_if_shut(ctx, _state(ctx.session, ctx.contact), now)
    if refusal is not None:
        return [refusal]
    submission = ctx.submission()
    if submission is None:
        return start(ctx.session, contact=ctx.contact, round_id=ctx.info.round_id, now=now)
    existing = _state(ctx.session, ctx.contact)
    if existing is not None:
        ctx.session.delete(existing)
        ctx.session.flush()
    return [_begin_change(ctx, submission, now)]


def _submit(ctx: _Ctx, state: ConversationState, now: datetime) -> list[Screen]:
    """Store the draft; if the submission changed since the contact last saw it, show them
    the other contact's figures first and store only after they confirm that version.

    A correction (figures confirmed from a message) is stored even where the draft lacks a
    figure the unit never gave: what was not reported stays so. Nothing is stored when a
    figure is outside its bounds or a rule across indicators is not kept; the contact is
    shown why."""
    session = ctx.session
    pending = dict(state.pending or {})
    missing = [key for key in ctx.keys if key not in state.draft]
    if missing and not pending.get("correction"):
        state.step = ConversationStep.ASK
        state.indicator_key = missing[0]
        _save(session, state, now)
        return [ctx.question(state)]
    for key in ctx.keys:  # checked when given; the indicator's bounds may have changed since
        value = state.draft.get(key)
        out_of_bounds = _bounds_notice(ctx, key, value) if value is not None else None
        if out_of_bounds is not None:
            pending.pop("correction", None)  # once fixed, the review's [提交] stores it
            state.pending = pending
            state.step = ConversationStep.ASK
            state.indicator_key = key
            state.back_to_review = True
            _save(session, state, now)
            return [out_of_bounds, ctx.question(state)]
    broken = ctx.broken(state.draft)
    if broken:  # a rule across indicators is not kept: nothing is stored
        pending.pop("correction", None)
        state.pending = pending
        state.step = ConversationStep.REVIEW
        state.indicator_key = None
        _save(session, state, now)
        return [ctx.review(state)]
    submission = ctx.submission(for_update=True)
    current_version = submission.version if submission else 0
    if current_version != state.base_version:
        state.step = ConversationStep.CONFIRM_OVERWRITE
        state.base_version = current_version  # confirming overwrites exactly what was shown
        _save(session, state, now)
        return [_confirm_overwrite_screen(ctx, state)]

    first = submission is None
    if submission is None:
        submission = new_submission(
            session,
            round_=ctx.round,
            unit_id=ctx.unit.id or 0,
            contact_id=ctx.contact.id,
            now=now,
        )
    via: dict[str, str] = pending.get("via", {})
    reasons: dict[str, str] = pending.get("reasons", {})
    notes = state.notes or {}
    written = write_values(
        session,
        submission=submission,
        indicators=ctx.indicators,
        values={
            key: NewValue(
                value,
                via=via.get(key, "chat"),
                reason=_revision_reason(reasons.get(key), notes.get(key)),
                note=notes.get(key),
            )
            for key in ctx.keys
            # None: skipped (optional), not reported; a stored value is never dropped
            if (value := state.draft.get(key)) is not None
        },
        contact_id=ctx.contact.id,
        actor=f"{ctx.contact.display_name} (tg:{ctx.contact.telegram_user_id})",
        now=now,
    )
    changes = [(ctx.item(change.key, change.new), change.old) for change in written]
    if changes or first:
        submission.version = max(submission.version, 1)
        submission.updated_at = now
        submission.submitted_by_contact_id = ctx.contact.id
        session.add(submission)
    session.delete(state)
    session.flush()
    logger.info(
        "submission unit=%s round=%s version=%s changes=%d",
        ctx.unit.code,
        ctx.info.round_id,
        submission.version,
        len(changes),
    )
    receipt = Receipt(
        info=ctx.info,
        items=ctx.items(state.draft),
        submitted_at=now,
        late=submission.late,
        changes=[] if first else changes,
        first_submission=first,
    )
    if not first and not changes:
        return [Notice(NoticeKind.NO_CHANGES, info=ctx.info)]
    return [receipt]


def _revision_reason(reason: str | None, note: str | None) -> str | None:
    """What the history keeps of why a figure changed: the reason given with it and, for an
    unusual figure, its explanation — which stays there, beside this value, once a later
    change drops it from the value itself."""
    given = [text for text in dict.fromkeys([reason, note]) if text]
    return "；".join(given) or None


def current(session: Session, *, contact: Contact) -> list[Screen]:
    """The screen the contact is on, to show again (nothing changes)."""
    state = _state(session, contact)
    if state is None or _reporting_unit(session, contact) is None:
        return []
    return [_resume(session, contact, state)]
