"""The polling lease on a real database: of several ``figbot run``, one polls at a time.

Two :class:`LeasedPolling` in one process stand for two processes; each starts a stand-in for
:class:`CommittedPolling` that notes when it polls. The lease row follows the test's clock, so
a lease expires only when the test moves the clock; renewals come every quarter of a short
lease in real time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from bot.config import FigbotConfig
from bot.fakeapi import LocalBotApiServer
from bot.polling import ACTIVE_LOG, PASSIVE_LOG, CommittedPolling, LeasedPolling
from tests.conftest import Clock
from tests.flow import running_harness

TTL = timedelta(seconds=1)  # renewed every 0.25 s
STOPPING_TAKES = 0.05  # a poller finishing the updates it has in hand


class Pollers:
    """Stand-ins for CommittedPolling that record who polls when."""

    def __init__(self) -> None:
        self.polling: set[str] = set()
        self.most_at_once = 0
        self.checks: dict[str, Callable[[], bool]] = {}

    def maker(self, name: str) -> Callable[[Callable[[], bool]], CommittedPolling]:
        pollers = self

        class StandIn:
            def start(self) -> None:
                pollers.polling.add(name)
                pollers.most_at_once = max(pollers.most_at_once, len(pollers.polling))

            async def stop(self, *, confirm: bool = True) -> None:
                await asyncio.sleep(STOPPING_TAKES)
                pollers.polling.discard(name)

        def make(may_start: Callable[[], bool]) -> CommittedPolling:
            pollers.checks[name] = may_start
            return StandIn()  # type: ignore[return-value]

        return make


async def _until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


def _leased(engine: Engine, clock: Clock, pollers: Pollers, name: str) -> LeasedPolling:
    return LeasedPolling(engine, clock=clock, ttl=TTL, make_polling=pollers.maker(name))


async def test_one_polls_the_other_waits_and_takes_over_when_it_stops(
    engine: Engine, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.polling")
    pollers = Pollers()
    a, b = _leased(engine, clock, pollers, "a"), _leased(engine, clock, pollers, "b")
    a.start()
    await _until(lambda: pollers.polling == {"a"})
    b.start()
    await asyncio.sleep(1.0)  # four renewals: b stays passive all along
    assert pollers.polling == {"a"} and pollers.checks["a"]()
    await a.stop()  # a SIGTERM: a stops polling, then hands the lease over
    await _until(lambda: pollers.polling == {"b"})
    await b.stop()
    assert pollers.most_at_once == 1
    said = [record.getMessage() for record in caplog.records]
    # Each change of role is logged once.
    assert said.count(ACTIVE_LOG % a.holder) == 1 and said.count(ACTIVE_LOG % b.holder) == 1
    assert said.count(PASSIVE_LOG % a.holder) == 1, said


@pytest.mark.parametrize("failure", ["refused", "hangs"])
async def test_a_holder_that_cannot_renew_stops_polling_before_its_lease_can_be_taken(
    engine: Engine, clock: Clock, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    pollers = Pollers()
    a, b = _leased(engine, clock, pollers, "a"), _leased(engine, clock, pollers, "b")
    a.start()
    await _until(lambda: pollers.polling == {"a"})
    b.start()
    await asyncio.sleep(0.3)

    # The database stops answering a (refuses at once, or only after a long wait); b's
    # connection still works.
    def unreachable(now: object) -> tuple[bool, str]:
        if failure == "hangs":
            time.sleep(2 * TTL.total_seconds())
        raise OperationalError("renew", {}, Exception("connection refused"))

    monkeypatch.setattr(a, "_try_acquire", unreachable)
    loop = asyncio.get_running_loop()
    failing_since = loop.time()
    await _until(lambda: not pollers.polling)
    # a stopped — its updates in hand finished — within half the lease: well before the lease
    # could run out and b take it.
    assert loop.time() - failing_since < TTL.total_seconds() / 2 + STOPPING_TAKES + 0.1
    assert not pollers.checks["a"]()  # and it starts no update it still receives
    await asyncio.sleep(TTL.total_seconds())
    assert not pollers.polling  # b waits: a's lease has not run out by the database's clock
    clock.advance(seconds=TTL.total_seconds())
    await _until(lambda: pollers.polling == {"b"})
    monkeypatch.undo()
    await a.stop()
    await b.stop()
    assert pollers.most_at_once == 1


async def test_no_update_is_started_once_half_the_lease_passed_without_renewal(
    engine: Engine, clock: Clock
) -> None:
    """Whatever holds a renewal up (a blocked event loop, a slow database), the holder's own
    deadline stops it from starting updates in time."""
    pollers = Pollers()
    a = _leased(engine, clock, pollers, "a")
    a.start()
    await _until(lambda: pollers.polling == {"a"})
    assert pollers.checks["a"]()
    # The event loop blocked past half the lease: no renewal could run meanwhile.
    time.sleep(TTL.total_seconds() / 2 + 0.05)
    assert not pollers.checks["a"]()
    await a.stop()


async def test_with_the_scheduler_off_a_process_still_polls_and_answers(
    server: LocalBotApiServer, config: FigbotConfig, clock: Clock
) -> None:
    """``[scheduler] enabled = false`` keeps a process out of the scheduler lease only: it
    still takes part in the polling lease, so a lone such process answers reporters (and
    sends no prompts or reminders)."""
    off = config.model_copy(
        update={"scheduler": config.scheduler.model_copy(update={"enabled": False})}
    )
    async with running_harness(server, off, clock) as harness:
        wang = await harness.join(1001, "王芳", unit="jinhai")
        assert "你已成为金海社区（金湖街道办事处）的填报员" in wang.last.text
        assert harness.scheduler.is_leader is False
        assert await harness.tick() is None  # no schedules run from here
