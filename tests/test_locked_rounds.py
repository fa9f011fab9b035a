"""A round past its lock time prompts nobody: its [开始填报] could only answer "已锁定".

``figbot open-round`` refuses such a period (naming the lock time and the way on) unless asked
to open it locked; the scheduler's catch-up leaves it alone.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from bot import views
from bot.config import FigbotConfig, load_config
from bot.fakeapi import LocalBotApiServer
from domain.periods import Period
from domain.schedule import Offset, timeline
from models.tables import OutboxMessage, Role, Round, RoundStatus, ScheduleEvent
from services.catalog import prepare_database
from services.overrides import set_override
from services.rounds import RoundLocked
from services.scheduling import run_due
from tests.conftest import Clock
from tests.processes import config_file, run_figbot
from tests.store_helpers import EXAMPLE, bind, open_

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONTHLY = EXAMPLE.form("monthly").as_schedule()


def at(text: str) -> datetime:
    """A Shanghai wall-clock time as UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).astimezone(UTC)


def _lock_at(period: str) -> datetime:
    return timeline(MONTHLY, Period.parse(period), at("2026-01-01T00:00"), "Asia/Shanghai").lock_at


def _prompts(session: Session) -> list[OutboxMessage]:
    return list(session.exec(select(OutboxMessage).where(OutboxMessage.kind == "prompt")))


def test_a_period_past_its_lock_is_not_opened_and_nobody_is_prompted(
    session: Session, clock: Clock
) -> None:
    bind(session, user_id=1, name="王芳", unit="jinhai", now=clock())
    assert _lock_at("2026-10") <= clock()  # 28 Nov: October locked early in November
    with pytest.raises(RoundLocked) as refused:
        open_(session, "2026-10", now=clock())
    assert refused.value.lock_at == _lock_at("2026-10") and not refused.value.exists
    assert session.exec(select(Round)).all() == []
    assert _prompts(session) == []


def test_a_round_opened_in_time_prompts_nobody_once_locked(session: Session, clock: Clock) -> None:
    wang = bind(session, user_id=1, name="王芳", unit="jinhai", now=at("2026-10-25T10:00"))
    open_(session, "2026-10", now=at("2026-10-25T10:00"))
    assert [p.contact_id for p in _prompts(session)] == [wang.id]
    # A reporter bound after the lock is not prompted by opening the round again.
    bind(session, user_id=2, name="李强", unit="huguang", now=clock())
    with pytest.raises(RoundLocked) as refused:
        open_(session, "2026-10", now=clock())
    assert refused.value.exists
    assert [p.contact_id for p in _prompts(session)] == [wang.id]


def test_opened_locked_on_request_it_prompts_nobody_and_a_unit_can_be_reopened(
    session: Session, clock: Clock
) -> None:
    bind(session, user_id=1, name="王芳", unit="jinhai", now=clock())
    zhao = bind(session, user_id=9, name="赵主任", role=Role.COORDINATOR, now=clock())
    opened = open_(session, "2026-10", now=clock(), locked=True)
    assert opened.locked and opened.created and opened.prompts_queued == 0
    round_ = session.get(Round, opened.round_id)
    assert round_ is not None and round_.status == RoundStatus.LOCKED
    assert _prompts(session) == []
    again = open_(session, "2026-10", now=clock(), locked=True)
    assert again.round_id == opened.round_id and not again.created and again.prompts_queued == 0
    done = set_override(
        session, coordinator=zhao, unit_text="金海社区", reopen=True, now=clock(), period="2026-10"
    )
    assert done.round_id == opened.round_id and [c.display_name for c in done.reporters] == ["王芳"]


def test_the_schedulers_catch_up_prompts_nobody_for_a_round_past_its_lock(
    session: Session, config: FigbotConfig, clock: Clock
) -> None:
    """A round opened by hand with a shorter grace than the config's now (lock_after was
    raised since): the schedule holds it live, its own lock time has passed."""
    bind(session, user_id=1, name="王芳", unit="jinhai", now=clock())
    short = dataclasses.replace(MONTHLY, lock_after=Offset())
    opened = open_(session, "2026-11", now=clock(), schedule=short)
    bind(session, user_id=2, name="李强", unit="huguang", now=clock())
    prompted = [p.contact_id for p in _prompts(session)]
    round_ = session.get(Round, opened.round_id)
    assert round_ is not None
    now = round_.lock_at + timedelta(hours=1)
    assert _lock_at("2026-11") > now  # the config's grace: still live by the schedule
    report = run_due(
        session,
        config=config,
        now=now,
        render_prompt=views.render_prompt,
        renderers=views.RENDERERS,
    )
    assert report.skipped[0] == "round-open:monthly:2026-11:jinhu"
    event = session.exec(
        select(ScheduleEvent).where(ScheduleEvent.key == "round-open:monthly:2026-11:jinhu")
    ).one()
    assert event.status == "skipped" and "locked" in (event.detail or "")
    assert [p.contact_id for p in _prompts(session)] == prompted  # 李强 is not prompted
    session.refresh(round_)
    assert round_.status == RoundStatus.LOCKED


@pytest.mark.slow
@pytest.mark.timeout(20)
async def test_open_round_refuses_a_locked_period_and_prompts_nobody(
    server: LocalBotApiServer, db_url: str, tmp_path: Path, clock: Clock
) -> None:
    config = config_file(tmp_path, db_url, base_url=server.base_url)
    engine = prepare_database(load_config(config, environ={}))
    with Session(engine, expire_on_commit=False) as session:
        bind(session, user_id=1001, name="王芳", unit="jinhai", now=clock())
        session.commit()
    server.add_user(1001, "王芳")
    october = ("--config", str(config), "open-round", "--form", "monthly", "--period", "2026-10")

    code, out, err = await run_figbot(*october, clock=clock)
    lock_time = f"{_lock_at('2026-10').astimezone(SHANGHAI):%Y-%m-%d %H:%M} (Asia/Shanghai)"
    assert code == 2, out + err
    assert f"would have locked at {lock_time}, which has passed" in err, err
    assert "nobody was prompted" in err and "--locked" in err and "/reopen" in err, err
    assert "Traceback" not in err

    code, out, err = await run_figbot(*october, "--locked", clock=clock)
    assert code == 0, err
    assert "round monthly 2026-10 opened locked; nobody prompted" in out, out

    code, out, err = await run_figbot(*october, clock=clock)
    assert code == 2 and f"is locked since {lock_time}: nobody was prompted" in err, err
    assert "/reopen <unit> 2026-10" in err, err

    await server.wait_until_idle(timeout=10)
    assert server.messages(1001) == []  # no prompt with a past deadline
    with Session(engine) as session:
        assert session.exec(select(OutboxMessage)).all() == []
    engine.dispose()
