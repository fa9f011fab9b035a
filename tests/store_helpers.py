"""Helpers for store tests: make contacts and rounds through the real services."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from bot.config import load_config
from bot.views import render_prompt
from domain.periods import Period
from domain.schedule import Schedule
from models.crud import get_form, get_office, get_unit
from models.tables import Contact, Role
from services.onboarding import create_invite, redeem_invite
from services.reporting import (
    Action,
    Question,
    Receipt,
    Review,
    Screen,
    answer_text,
    press,
    start,
)
from services.rounds import OpenedRound, open_round
from tests.conftest import EXAMPLE_CONFIG

EXAMPLE = load_config(EXAMPLE_CONFIG, environ={})


def bind(
    session: Session,
    *,
    user_id: int,
    name: str,
    unit: str | None = None,
    office: str = "jinhu",
    role: Role = Role.REPORTER,
    now: datetime,
) -> Contact:
    office_row = get_office(session, code=office)
    unit_row = get_unit(session, code=unit) if unit else None
    assert office_row is not None
    _, code = create_invite(
        session, role=role, office=office_row, unit=unit_row, now=now, ttl=timedelta(days=7)
    )
    binding = redeem_invite(
        session,
        code=code,
        telegram_user_id=user_id,
        chat_id=user_id,
        display_name=name,
        language="zh-Hans",
        now=now,
    )
    contact = session.get(Contact, binding.contact_id)
    assert contact is not None
    return contact


def open_(
    session: Session,
    period: str,
    *,
    now: datetime,
    form: str = "monthly",
    office: str = "jinhu",
    schedule: Schedule | None = None,
    locked: bool = False,
) -> OpenedRound:
    """Open ``form``'s round for ``period``, on the example config's schedule for the form
    unless ``schedule`` is given (a form the example config lacks); ``locked``: see
    ``services.rounds.open_round``."""
    form_row = get_form(session, key=form)
    office_row = get_office(session, code=office)
    assert form_row is not None and office_row is not None
    return open_round(
        session,
        form=form_row,
        office=office_row,
        period=Period.parse(period),
        schedule=schedule or EXAMPLE.form(form).as_schedule(),
        now=now,
        render_prompt=render_prompt,
        locked=locked,
    )


def fill_all(
    session: Session, contact: Contact, round_id: int, answers: list[int], now: datetime
) -> list[Screen]:
    """Answer every question of a round through the reporter's conversation, then submit;
    returns what the submit showed."""
    screens = start(session, contact=contact, round_id=round_id, now=now)
    for value in answers:
        assert isinstance(screens[-1], Question), screens
        screens = answer_text(session, contact=contact, text=str(value), now=now)
    assert isinstance(screens[-1], Review), screens
    return press(session, contact=contact, action=Action.SUBMIT, round_id=round_id, now=now)


def submit(
    session: Session, contact: Contact, round_id: int, answers: list[int], now: datetime
) -> None:
    """Fill and submit a round; it must end in a receipt."""
    (receipt,) = fill_all(session, contact, round_id, answers, now)
    assert isinstance(receipt, Receipt), receipt
