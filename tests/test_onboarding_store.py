"""Invites and opening rounds on a real database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from models.crud import get_office, get_unit, mark_update_processed
from models.tables import Contact, Invite, OutboxMessage, Role, Round
from services.onboarding import InviteRefusal, InviteRefused, create_invite, redeem_invite
from tests.conftest import Clock
from tests.store_helpers import bind, open_


def _invite(session: Session, clock: Clock, unit: str = "jinhai") -> str:
    office = get_office(session, code="jinhu")
    assert office is not None
    _, code = create_invite(
        session,
        role=Role.REPORTER,
        office=office,
        unit=get_unit(session, code=unit),
        now=clock(),
        ttl=timedelta(days=7),
    )
    return code


def _redeem(session: Session, code: str, clock: Clock, user_id: int = 7):  # type: ignore[no-untyped-def]
    return redeem_invite(
        session,
        code=code,
        telegram_user_id=user_id,
        chat_id=user_id,
        display_name="王芳",
        language="zh-Hans",
        now=clock(),
    )


def test_invite_binds_once_and_is_stored_hashed(session: Session, clock: Clock) -> None:
    code = _invite(session, clock)
    binding = _redeem(session, code, clock)
    assert binding.unit_name == "金海社区" and binding.role is Role.REPORTER
    stored = session.exec(select(Invite)).one()
    assert code not in stored.code_hash and len(stored.code_hash) == 64
    dump = " ".join(str(v) for v in session.execute(text("SELECT * FROM invite")).one())
    assert code not in dump
    with pytest.raises(InviteRefused) as refused:
        _redeem(session, code, clock, user_id=8)
    assert refused.value.reason is InviteRefusal.USED
    assert session.exec(select(Contact)).one().telegram_user_id == 7


def test_expired_and_unknown_invites_are_refused(session: Session, clock: Clock) -> None:
    code = _invite(session, clock)
    clock.advance(days=7)
    with pytest.raises(InviteRefused) as refused:
        _redeem(session, code, clock)
    assert refused.value.reason is InviteRefusal.EXPIRED
    with pytest.raises(InviteRefused) as refused:
        _redeem(session, "not-a-real-code", clock)
    assert refused.value.reason is InviteRefusal.UNKNOWN
    assert session.exec(select(Contact)).all() == []


def test_coordinator_invite_binds_to_the_office(session: Session, clock: Clock) -> None:
    zhao = bind(session, user_id=9, name="赵主任", role=Role.COORDINATOR, now=clock())
    assert zhao.role == Role.COORDINATOR and zhao.unit_id is None


def test_opening_a_round_twice_opens_one_and_prompts_nobody_twice(
    session: Session, clock: Clock
) -> None:
    bind(session, user_id=1, name="王芳", unit="jinhai", now=clock())
    bind(session, user_id=2, name="李强", unit="huguang", now=clock())
    bind(session, user_id=9, name="赵主任", role=Role.COORDINATOR, now=clock())
    first = open_(session, "2026-11", now=clock())
    second = open_(session, "2026-11", now=clock())
    assert first.created and not second.created
    assert (first.prompts_queued, second.prompts_queued) == (2, 0)
    assert first.round_id == second.round_id
    assert len(session.exec(select(Round)).all()) == 1
    bind(session, user_id=3, name="陈敏", unit="dongling", now=clock())
    third = open_(session, "2026-11", now=clock())
    assert third.prompts_queued == 1
    prompts = session.exec(select(OutboxMessage)).all()
    assert sorted(p.chat_id for p in prompts) == [1, 2, 3]
    assert all("开始填报" in str(p.reply_markup) and "2026年11月" in p.text for p in prompts)


def test_an_update_id_is_processed_once(session: Session) -> None:
    assert mark_update_processed(session, update_id=42)
    assert not mark_update_processed(session, update_id=42)
    assert mark_update_processed(session, update_id=43)
