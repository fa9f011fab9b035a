"""figbot's tables.

Offices, units, indicators and forms mirror the config (synced at start-up, never deleted);
everything else is what users did: contacts bound through invites, rounds, submissions, values
and every revision of a value, the reporter's conversation state (kept here, not in memory, so a
restart resumes it), processed update ids and the outbox of messages to send.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from models.types import Quantity, UTCDateTime, utcnow


def _now_field(**kwargs: Any) -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, **kwargs)


class Role(StrEnum):
    REPORTER = "reporter"
    COORDINATOR = "coordinator"
    ADMIN = "admin"


class UnitKind(StrEnum):
    COMMUNITY = "community"  # 社区
    VILLAGE = "village"  # 村


class RoundStatus(StrEnum):
    OPEN = "open"
    LOCKED = "locked"  # past its lock time; a coordinator may reopen single units
    CLOSED = "closed"


class ConversationStep(StrEnum):
    ASK = "ask"  # waiting for the value of ``indicator_key``
    REVIEW = "review"  # all answered, review screen shown
    CONFIRM_OVERWRITE = "confirm_overwrite"  # someone else submitted meanwhile
    CONFIRM_FIGURES = "confirm_figures"  # figures read from free text, shown back to confirm
    OUTLIER = "outlier"  # an unusual figure: confirm it or say why


class OutboxStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    BLOCKED = "blocked"


class Office(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, index=True)
    name: str
    timezone: str = "Asia/Shanghai"
    active: bool = True
    created_at: datetime = _now_field()


class Unit(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    office_id: int = Field(foreign_key="office.id", index=True)
    code: str = Field(unique=True, index=True)
    name: str
    kind: str = UnitKind.COMMUNITY
    active: bool = True
    created_at: datetime = _now_field()


class Indicator(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, index=True)
    label: str
    measure_word: str
    help: str | None = None
    active: bool = True
    # aliases, min, max, required, outliers {factor, floor, history}: see IndicatorConfig.
    rules: dict[str, Any] = Field(
        default_factory=dict,
        sa_column=Column(JSON, nullable=False, server_default=text("'{}'")),
    )


class Form(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, index=True)
    name: str
    period_kind: str
    indicator_keys: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    active: bool = True
    # Cross-indicator rules, e.g. "mediated_success <= disputes_mediated".
    rules: list[str] = Field(
        default_factory=list,
        sa_column=Column(JSON, nullable=False, server_default=text("'[]'")),
    )


class ConfigChange(SQLModel, table=True):
    """History of config-driven renames and deactivations (names are never lost)."""

    __tablename__ = "config_change"
    id: int | None = Field(default=None, primary_key=True)
    entity: str
    entity_key: str
    field: str
    old: str | None = None
    new: str | None = None
    at: datetime = _now_field()


class Contact(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    telegram_user_id: int = Field(sa_type=BigInteger, unique=True, index=True)
    chat_id: int = Field(sa_type=BigInteger)
    display_name: str
    role: str = Role.REPORTER
    office_id: int = Field(foreign_key="office.id", index=True)
    unit_id: int | None = Field(default=None, foreign_key="unit.id", index=True)
    language: str = "zh-Hans"
    active: bool = True
    inactive_reason: str | None = None  # "blocked": the user blocked the bot
    last_seen_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    invite_id: int | None = Field(default=None, foreign_key="invite.id")
    created_at: datetime = _now_field()


class InviteAttempt(SQLModel, table=True):
    """A failed invite redemption: guessing codes is limited per Telegram user."""

    __tablename__ = "invite_attempt"
    id: int | None = Field(default=None, primary_key=True)
    telegram_user_id: int = Field(sa_type=BigInteger, index=True)
    reason: str
    at: datetime = _now_field()


class Invite(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code_hash: str = Field(unique=True, index=True)
    role: str = Role.REPORTER
    office_id: int = Field(foreign_key="office.id")
    unit_id: int | None = Field(default=None, foreign_key="unit.id")
    created_at: datetime = _now_field()
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    used_by_telegram_user_id: int | None = Field(default=None, sa_type=BigInteger)


class Round(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("form_id", "period", "office_id", name="uq_round_form_period_office"),
    )
    id: int | None = Field(default=None, primary_key=True)
    form_id: int = Field(foreign_key="form.id")
    office_id: int = Field(foreign_key="office.id", index=True)
    period: str
    indicator_keys: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    opens_at: datetime = _now_field()
    deadline: datetime = Field(sa_type=UTCDateTime)
    lock_at: datetime = Field(sa_type=UTCDateTime)
    status: str = RoundStatus.OPEN


class Submission(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("round_id", "unit_id", name="uq_submission_round_unit"),)
    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id", index=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    submitted_by_contact_id: int | None = Field(default=None, foreign_key="contact.id")
    submitted_at: datetime = _now_field()
    updated_at: datetime = _now_field()
    late: bool = False
    version: int = 1


class Value(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("submission_id", "indicator_key", name="uq_value_submission_indicator"),
    )
    id: int | None = Field(default=None, primary_key=True)
    submission_id: int = Field(foreign_key="submission.id", index=True)
    indicator_key: str
    value: int | float = Field(sa_type=Quantity)
    updated_at: datetime = _now_field()
    updated_by_contact_id: int | None = Field(default=None, foreign_key="contact.id")
    note: str | None = None  # the reporter's explanation of an unusual figure


class ValueRevision(SQLModel, table=True):
    """One change of one value: nothing is ever overwritten without leaving this trace."""

    __tablename__ = "value_revision"
    id: int | None = Field(default=None, primary_key=True)
    submission_id: int = Field(foreign_key="submission.id", index=True)
    indicator_key: str
    old_value: int | float | None = Field(default=None, sa_type=Quantity)
    new_value: int | float = Field(sa_type=Quantity)
    contact_id: int | None = Field(default=None, foreign_key="contact.id")
    actor: str
    via: str = "chat"
    reason: str | None = None
    at: datetime = _now_field()


class ConversationState(SQLModel, table=True):
    """Where a reporter is in filling a round; survives restarts."""

    __tablename__ = "conversation_state"
    contact_id: int = Field(foreign_key="contact.id", primary_key=True)
    round_id: int = Field(foreign_key="round.id")
    step: str = ConversationStep.ASK
    indicator_key: str | None = None
    back_to_review: bool = False
    draft: dict[str, int | float | None] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )  # None: an optional indicator the reporter skipped
    base_version: int = 0
    # Explanations given for unusual figures, by indicator key (stored with the values).
    notes: dict[str, str] = Field(
        default_factory=dict,
        sa_column=Column(JSON, nullable=False, server_default=text("'{}'")),
    )
    # What waits for the reporter's confirmation: figures read from free text, or an unusual
    # figure being questioned (see services.reporting.Pending).
    pending: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    updated_at: datetime = _now_field()


class ProcessedUpdate(SQLModel, table=True):
    """Telegram update ids whose effect is committed, so a re-delivered update does nothing
    but send the replies a crash kept from being sent."""

    __tablename__ = "processed_update"
    __table_args__ = (Index("ix_processed_update_user_id_update_id", "user_id", "update_id"),)
    update_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    # Whose update it was: a repeat's replies are not sent once the user has sent a later one.
    user_id: int | None = Field(default=None, sa_type=BigInteger)
    processed_at: datetime = _now_field()
    # The replies, committed with the effect; replied_at is set once they were sent.
    replies: list[dict[str, Any]] | None = Field(
        default=None, sa_column=Column(JSON, nullable=True)
    )
    replied_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class OutboxMessage(SQLModel, table=True):
    """A message figbot must send, durable so a crash or outage neither loses nor repeats it."""

    __tablename__ = "outbox_message"
    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(unique=True, index=True)
    kind: str = "message"  # prompt, reminder, digest, notice
    chat_id: int = Field(sa_type=BigInteger)
    contact_id: int | None = Field(default=None, foreign_key="contact.id")
    round_id: int | None = Field(default=None, foreign_key="round.id", index=True)
    unit_id: int | None = Field(default=None, foreign_key="unit.id")
    text: str
    parse_mode: str | None = "HTML"
    reply_markup: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    status: str = Field(default=OutboxStatus.QUEUED, index=True)
    attempts: int = 0
    # Sends that timed out or were cut by a crash: Telegram may have delivered them, so the
    # retry may show the message twice. Counted, so a repeat is known, not hidden.
    ambiguous: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    last_error: str | None = None
    not_before: datetime | None = Field(default=None, sa_type=UTCDateTime)
    attachment: str | None = None  # a document made at send time, e.g. "summary-xlsx:<round id>"
    created_at: datetime = _now_field()
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    telegram_message_id: int | None = Field(default=None, sa_type=BigInteger)


class ScheduleEvent(SQLModel, table=True):
    """A scheduled event that was handled (done) or deliberately skipped (stale), once."""

    __tablename__ = "schedule_event"
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, index=True)
    kind: str
    round_id: int | None = Field(default=None, foreign_key="round.id")
    due_at: datetime = Field(sa_type=UTCDateTime)
    status: str  # done | skipped
    detail: str | None = None
    handled_at: datetime = _now_field()


class SchedulerLease(SQLModel, table=True):
    """Who does a job only one process may do (``services.lease``): run the scheduler
    (``scheduler``), long-poll Telegram (``polling``). One unexpired holder per name."""

    __tablename__ = "scheduler_lease"
    name: str = Field(primary_key=True)
    holder: str
    expires_at: datetime = Field(sa_type=UTCDateTime)
    acquired_at: datetime = _now_field()


class UnitOverride(SQLModel, table=True):
    """A coordinator reopened or locked again one unit of a locked round (audited)."""

    __tablename__ = "unit_override"
    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id", index=True)
    unit_id: int = Field(foreign_key="unit.id")
    action: str  # reopen | lock
    contact_id: int | None = Field(default=None, foreign_key="contact.id")
    at: datetime = _now_field()
