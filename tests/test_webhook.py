"""``figbot run --webhook``: Telegram posts updates over HTTP; replicas share one database.

The local Bot API server posts updates to the webhook as Telegram does (several at once, each
again until it is answered with 2xx). In the replica tests a round-robin balancer stands in
front of two figbot Applications on one database, so one user's updates land on both.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import pytest
from aiohttp import ClientSession
from pydantic import SecretStr
from sqlmodel import func, select

from bot.config import FigbotConfig, WebhookConfig
from bot.fakeapi import LocalBotApiServer
from bot.simulation import SimulatedUser
from bot.webhook import SECRET_HEADER
from models.crud import submission_values
from models.db import read_session
from models.tables import ProcessedUpdate, Role, Submission, Unit, ValueRevision
from tests.balancer import RoundRobinBalancer
from tests.conftest import Clock
from tests.flow import Harness, running_harness
from tests.test_flow_schedules import at
from tests.test_reporting_store import KEYS

SECRET = "figbot-webhook-secret_1"
PATH = "/telegram/updates"
ANSWERS = ["12", "5", "4", "2", "40", "3", "7", "300"]


@pytest.fixture
def clock() -> Clock:
    return Clock(at("2026-11-20T10:00"))  # before November's round opens (the 25th, 09:00)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def webhook_config(port: int, *, url: str | None = None) -> WebhookConfig:
    return WebhookConfig(
        url=url or f"http://127.0.0.1:{port}{PATH}",
        listen="127.0.0.1",
        port=port,
        secret_token=SecretStr(SECRET),
    )


class Replicas:
    """Harnesses sharing one database; an update counts as handled wherever it was handled."""

    def __init__(self, harnesses: list[Harness]) -> None:
        self.harnesses = harnesses

    def handled(self, update_id: int) -> int:
        return sum(h.app.handled.get(update_id, 0) for h in self.harnesses if h.app is not None)

    async def wait_handled(self, update_id: int, times: int = 1) -> None:
        async with asyncio.timeout(20):
            while self.handled(update_id) < times:
                await asyncio.sleep(0.005)

    def user(self, user_id: int, name: str) -> SimulatedUser:
        first = self.harnesses[0]
        return SimulatedUser(first.server, user_id, name, wait_handled=self.wait_handled)

    async def join(self, user_id: int, name: str, **invite: str | Role) -> SimulatedUser:
        user = self.user(user_id, name)
        (greeting,) = await user.send(f"/start {self.harnesses[0].invite_code(**invite)}")  # type: ignore[arg-type]
        assert "欢迎你" in greeting.text
        return user

    async def tick(self) -> list[object]:
        """Every replica's scheduler wakes up; only the lease holder acts."""
        return [await h.tick() if h.app is not None else None for h in self.harnesses]


@asynccontextmanager
async def replicas(
    server: LocalBotApiServer, config: FigbotConfig, clock: Clock, count: int
) -> AsyncIterator[tuple[Replicas, RoundRobinBalancer]]:
    ports = [free_port() for _ in range(count)]
    balancer = RoundRobinBalancer([f"http://127.0.0.1:{port}" for port in ports], path=PATH)
    await balancer.start()
    async with AsyncExitStack() as stack:
        stack.push_async_callback(balancer.stop)
        harnesses = [
            await stack.enter_async_context(
                running_harness(
                    server, config, clock, webhook=webhook_config(port, url=balancer.url)
                )
            )
            for port in ports
        ]
        yield Replicas(harnesses), balancer


async def test_a_reporter_is_served_over_the_webhook(
    server: LocalBotApiServer, config: FigbotConfig, clock: Clock
) -> None:
    port = free_port()
    async with running_harness(server, config, clock, webhook=webhook_config(port)) as harness:
        assert server.webhook_url == f"http://127.0.0.1:{port}{PATH}"
        assert server.webhook_secret == SECRET
        wang = await harness.join(1001, "王芳", unit="jinhai")
        await harness.open_round("2026-11")
        (question,) = await wang.press("开始填报")
        assert question.text.startswith("（1/8）")
        for answer in ANSWERS:
            await wang.send(answer)
        (receipt,) = await wang.press("提交")
        assert "✅ 已提交" in receipt.text
    assert server.calls_to("getUpdates") == []  # nothing was long-polled
    assert server.webhook_attempts and all(status == 200 for _, status in server.webhook_attempts)
    assert server.webhook_url  # stopping one replica leaves the webhook to the others


async def test_a_request_without_the_secret_changes_nothing(
    server: LocalBotApiServer, config: FigbotConfig, clock: Clock
) -> None:
    port = free_port()
    async with running_harness(server, config, clock, webhook=webhook_config(port)) as harness:
        wang = await harness.join(1001, "王芳", unit="jinhai")
        since = server.message_count(1001)
        forged = {
            "update_id": 900_001,
            "message": {
                "message_id": 77,
                "date": 1_795_000_000,
                "chat": {"id": 1001, "type": "private", "first_name": "王芳"},
                "from": {"id": 1001, "is_bot": False, "first_name": "王芳"},
                "text": "/report",
            },
        }
        url = f"http://127.0.0.1:{port}{PATH}"
        async with ClientSession() as client:
            for headers in ({}, {SECRET_HEADER: "guessed"}, {SECRET_HEADER: SECRET[:-1]}):
                async with client.post(url, json=forged, headers=headers) as response:
                    assert response.status == 403
            right = {SECRET_HEADER: SECRET}
            async with client.post(url, data=b"{not json", headers=right) as response:
                assert response.status == 400
            async with client.get(f"http://127.0.0.1:{port}/healthz") as response:
                assert response.status == 200
        assert server.message_count(1001) == since  # nothing answered, nothing stored
        with read_session(harness.engine) as session:
            assert session.get(ProcessedUpdate, 900_001) is None
        # The same update with the secret is handled: the refusal was about the secret.
        async with ClientSession() as client, client.post(url, json=forged, headers=right) as ok:
            assert ok.status == 200
        assert server.message_count(1001) > since
        assert wang.last.text  # the reply to /report


async def test_two_replicas_prompt_once_remind_once_and_store_each_answer_once(
    server: LocalBotApiServer, config: FigbotConfig, clock: Clock
) -> None:
    async with replicas(server, config, clock, 2) as (group, balancer):
        wang = await group.join(1001, "王芳", unit="jinhai")
        li = await group.join(1002, "李强", unit="huguang")
        chen = await group.join(1003, "陈敏", unit="dongling")
        zhou = await group.join(1004, "周杰", unit="jinhai")  # a second contact of 金海社区
        # The round opens on schedule: the replica holding the scheduler lease sends.
        clock.set(at("2026-11-25T09:00"))
        reports = await group.tick()
        assert sum(report is not None for report in reports) == 1
        for user in (wang, li, chen, zhou):
            assert sum("请填报" in m.text for m in user.chat) == 1
        # Answers arrive through the balancer, alternating between the replicas.
        await wang.press("开始填报")
        for answer in ANSWERS:
            await wang.send(answer)
        await wang.press("提交")
        await li.press("开始填报")
        for answer in ANSWERS[:3]:
            await li.send(answer)
        assert all(count > 5 for count in balancer.passed.values()), balancer.passed
        # Reminders at the deadline's eve go once, and only to units that have not submitted.
        clock.set(at("2026-12-01T18:00"))
        await group.tick()
        clock.advance(minutes=5)
        await group.tick()
        assert not any("⏰ 提醒" in m.text for m in wang.chat + zhou.chat)
        assert sum("⏰ 提醒" in m.text for m in li.chat) == 1
        assert sum("⏰ 提醒" in m.text for m in chen.chat) == 1

        with read_session(group.harnesses[0].engine) as session:
            (submission,) = session.exec(select(Submission)).all()
            unit = session.get(Unit, submission.unit_id)
            assert unit is not None and unit.code == "jinhai"
            assert submission_values(session, submission_id=submission.id or 0) == dict(
                zip(KEYS, [int(a) for a in ANSWERS], strict=True)
            )
            revisions = session.exec(select(func.count()).select_from(ValueRevision)).one()
            assert revisions == len(KEYS)  # each answer stored once


async def test_when_a_replica_stops_the_other_serves_and_takes_the_scheduler(
    server: LocalBotApiServer, config: FigbotConfig, clock: Clock
) -> None:
    async with replicas(server, config, clock, 2) as (group, balancer):
        wang = await group.join(1001, "王芳", unit="jinhai")
        first, second = group.harnesses
        assert first.scheduler.is_leader and not second.scheduler.is_leader
        await first.stop_bot()  # a rolling restart: the balancer sends everything to the second
        clock.set(at("2026-11-25T09:00"))
        reports = await group.tick()
        assert reports[1] is not None  # the second took the scheduler over
        assert sum("请填报" in m.text for m in wang.chat) == 1
        await wang.press("开始填报")
        for answer in ANSWERS:
            await wang.send(answer)
        (receipt,) = await wang.press("提交")
        assert "✅ 已提交" in receipt.text


async def test_long_polling_again_takes_the_webhook_down(
    server: LocalBotApiServer, config: FigbotConfig, clock: Clock
) -> None:
    port = free_port()
    async with running_harness(server, config, clock, webhook=webhook_config(port)):
        assert server.webhook_url
    async with running_harness(server, config, clock) as harness:  # plain `figbot run`
        assert server.webhook_url == ""
        wang = await harness.join(1001, "王芳", unit="jinhai")
        assert "金海社区" in wang.last.text
