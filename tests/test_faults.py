"""Bot API faults survived: 1,000 prompts under a 10 % fault rate, a long outage, and a reply
sent again after a failure Telegram may get over."""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import select
from telegram.error import BadRequest, Forbidden, NetworkError, TelegramError, TimedOut
from telegram.ext import ExtBot
from telegram.request import HTTPXRequest

from bot.fakeapi import CONNECTION_RESET, LocalBotApiServer
from handlers.common import SENT_AGAIN_AFTER_TIMEOUT, with_retries
from models.crud import enqueue_message
from models.db import read_session, write_session
from models.tables import OutboxMessage, OutboxStatus
from scheduler.outbox import flush_outbox
from tests.conftest import TEST_TOKEN, Clock

PROMPTS = 1000
CLIENT_TIMEOUT = 0.5


def _queue(engine: Engine, server: LocalBotApiServer, clock: Clock, count: int) -> None:
    with write_session(engine) as session:
        for n in range(count):
            server.add_user(50_000 + n, f"填报员{n}")
            enqueue_message(
                session,
                dedupe_key=f"prompt:{n}",
                chat_id=50_000 + n,
                text=f"请填报第{n}号",
                now=clock(),
                kind="prompt",
            )


def _bot(server: LocalBotApiServer) -> ExtBot[None]:
    request = HTTPXRequest(connection_pool_size=16, read_timeout=CLIENT_TIMEOUT)
    return ExtBot(TEST_TOKEN, base_url=server.base_url, request=request)


async def _drain(bot: ExtBot[None], engine: Engine, clock: Clock, rounds: int = 200) -> int:
    """Flush until nothing is queued, moving the clock past every back-off; returns the number
    of sends that timed out (delivery unknown)."""
    ambiguous = 0
    for _ in range(rounds):
        result = await flush_outbox(bot, engine, clock=clock)
        ambiguous += result.ambiguous
        with read_session(engine) as session:
            left = session.exec(
                select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.QUEUED)
            ).all()
        if not left:
            return ambiguous
        clock.advance(minutes=11)
    raise AssertionError("the outbox did not drain")


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_a_round_of_prompts_survives_a_ten_percent_fault_rate(
    server: LocalBotApiServer, engine: Engine, clock: Clock
) -> None:
    rng = random.Random(7)
    injected: Counter[str] = Counter()

    async def faults(method: str, params: dict[str, Any]) -> Any:
        if method != "sendmessage" or rng.random() >= 0.10:
            return None
        kind = rng.choice(["429", "500", "502", "reset", "slow"])
        injected[kind] += 1
        if kind == "429":
            return server.error_response(429, "Too Many Requests: retry after 1", 1)
        if kind in ("500", "502"):
            return server.error_response(int(kind), "Bad Gateway" if kind == "502" else "Error")
        if kind == "reset":
            return CONNECTION_RESET
        await asyncio.sleep(CLIENT_TIMEOUT * 2)  # answered after the client gave up: delivered
        return None

    server.fault_hook = faults
    _queue(engine, server, clock, PROMPTS)
    bot = _bot(server)
    async with bot:
        ambiguous = await _drain(bot, engine, clock)

    delivered = Counter(m.chat_id for n in range(PROMPTS) for m in server.messages(50_000 + n))
    assert sorted(delivered) == [50_000 + n for n in range(PROMPTS)]  # every prompt arrived
    duplicates = sum(count - 1 for count in delivered.values())
    assert duplicates <= ambiguous  # a prompt arrives twice only where a timeout hid delivery
    assert set(injected) == {"429", "500", "502", "reset", "slow"}
    with read_session(engine) as session:
        items = session.exec(select(OutboxMessage)).all()
        assert {item.status for item in items} == {OutboxStatus.SENT}
        assert sum(item.ambiguous for item in items) == ambiguous  # counted per item too
    print(
        f"\n{PROMPTS} prompts, faults injected: {dict(injected)}; all delivered; "
        f"{ambiguous} timed out (ambiguous), {duplicates} delivered twice"
    )


async def test_a_long_outage_leaves_prompts_queued_until_telegram_is_back(
    server: LocalBotApiServer, engine: Engine, clock: Clock
) -> None:
    down = False

    def outage(method: str, params: dict[str, Any]) -> Any:
        return server.error_response(502, "Bad Gateway") if down else None

    server.fault_hook = outage
    _queue(engine, server, clock, 20)
    bot = _bot(server)
    async with bot:
        down = True
        for _ in range(40):  # hours of failed attempts, with the back-off capped at 10 min
            await flush_outbox(bot, engine, clock=clock)
            clock.advance(minutes=11)
        with read_session(engine) as session:
            statuses = {i.status for i in session.exec(select(OutboxMessage)).all()}
        assert statuses == {OutboxStatus.QUEUED}  # nothing given up, nothing lost
        down = False
        await _drain(bot, engine, clock)
    assert all(len(server.messages(50_000 + n)) == 1 for n in range(20))


def test_the_back_off_is_capped_however_many_attempts() -> None:
    from scheduler.outbox import MAX_BACKOFF, backoff

    assert backoff(1) == timedelta(seconds=2) and backoff(3) == timedelta(seconds=8)
    assert backoff(500) == MAX_BACKOFF  # three days of retries every 10 minutes


@pytest.mark.parametrize(
    ("failures", "attempts", "raised"),
    [
        ([NetworkError("Bad Gateway")], 2, None),  # a blip: the second attempt gets through
        ([NetworkError("reset")] * 3, 3, NetworkError),  # still failing: given up, raised
        ([BadRequest("Can't parse entities")], 1, BadRequest),  # the message is wrong
        ([Forbidden("bot was blocked by the user")], 1, Forbidden),  # the chat is closed
    ],
)
async def test_a_message_is_sent_again_only_after_failures_telegram_may_get_over(
    failures: list[TelegramError], attempts: int, raised: type[TelegramError] | None
) -> None:
    calls: list[int] = []

    async def attempt() -> None:
        calls.append(1)
        if len(calls) <= len(failures):
            raise failures[len(calls) - 1]

    if raised is None:
        await with_retries(attempt, chat_id=7, pauses=(0, 0))
    else:
        with pytest.raises(raised):
            await with_retries(attempt, chat_id=7, pauses=(0, 0))
    assert len(calls) == attempts


async def test_a_timed_out_message_sent_again_is_logged_as_a_possible_repeat(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Telegram may have taken a message whose answer timed out: the second send may show it
    twice, so the log says so (counted, like the outbox's ambiguous deliveries)."""
    calls: list[int] = []

    async def attempt() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise TimedOut()

    with caplog.at_level(logging.WARNING):
        await with_retries(attempt, chat_id=7, pauses=(0,))
    assert len(calls) == 2
    assert caplog.messages == [SENT_AGAIN_AFTER_TIMEOUT % 7]
