"""Flow-test harness: the real figbot Application against the local Bot API server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.admin import new_invite, open_rounds
from bot.app import (
    build_application,
    start_polling_in_loop,
    start_webhook_in_loop,
    stop_serving_in_loop,
)
from bot.config import FigbotConfig, WebhookConfig
from bot.fakeapi import LocalBotApiServer
from bot.runtime import RUNTIME_KEY, SCHEDULER_KEY, Runtime
from bot.simulation import SimulatedUser, TrackedApplication
from models.db import make_engine
from models.tables import Role
from scheduler.runner import SchedulerRunner
from services.rounds import OpenedRound
from services.scheduling import TickReport
from tests.conftest import Clock


class Harness:
    def __init__(
        self,
        server: LocalBotApiServer,
        config: FigbotConfig,
        clock: Clock,
        *,
        webhook: WebhookConfig | None = None,
    ) -> None:
        """``webhook``: serve over HTTP (``figbot run --webhook``) instead of long polling."""
        self.server = server
        self.config = config
        self.clock = clock
        self.webhook = webhook
        self.app: TrackedApplication | None = None
        self.engine = make_engine(config.database.url)

    @property
    def runtime(self) -> Runtime:
        assert self.app is not None
        return self.app.bot_data[RUNTIME_KEY]  # type: ignore[no-any-return]

    async def start_bot(self) -> None:
        app = build_application(self.config, clock=self.clock, application_class=TrackedApplication)
        if self.webhook is None:
            await start_polling_in_loop(app)
        else:
            await start_webhook_in_loop(app, self.webhook)
        self.app = app
        await self.tick()  # the start-up catch-up, awaited so tests start from a settled state

    @property
    def scheduler(self) -> SchedulerRunner:
        assert self.app is not None
        return self.app.bot_data[SCHEDULER_KEY]  # type: ignore[no-any-return]

    async def tick(self) -> TickReport | None:
        """What the scheduler's wake-up job does, at the harness clock's now."""
        assert self.app is not None
        return await self.scheduler.tick(self.app.bot)

    async def wait_handled(self, update_id: int, times: int = 1) -> None:
        """Wait until the running bot has completely handled ``update_id``."""
        assert self.app is not None
        await self.app.wait_handled(update_id, times)

    def user(
        self, user_id: int, first_name: str, *, language_code: str = "zh-hans"
    ) -> SimulatedUser:
        return SimulatedUser(
            self.server,
            user_id,
            first_name,
            wait_handled=self.wait_handled,
            language_code=language_code,
        )

    async def stop_bot(self) -> None:
        if self.app is None:
            return
        app, self.app = self.app, None
        await stop_serving_in_loop(app)

    async def restart(self) -> None:
        await self.stop_bot()
        await self.start_bot()

    def invite_code(
        self, *, unit: str | None = None, role: Role = Role.REPORTER, office: str | None = None
    ) -> str:
        link = new_invite(
            self.engine,
            self.config,
            username=self.server.username,
            role=role,
            unit_code=unit,
            office_code=office,
            now=self.clock(),
        )
        return link.code

    async def join(
        self,
        user_id: int,
        first_name: str,
        *,
        unit: str | None = None,
        role: Role = Role.REPORTER,
        office: str | None = None,
        language_code: str = "zh-hans",
    ) -> SimulatedUser:
        user = self.user(user_id, first_name, language_code=language_code)
        code = self.invite_code(unit=unit, role=role, office=office)
        await user.send(f"/start {code}")
        return user

    async def open_round(self, period: str, *, form: str = "monthly") -> OpenedRound:
        [(_, opened)] = open_rounds(
            self.engine,
            self.config,
            form_key=form,
            period_text=period,
            office_code="jinhu",
            now=self.clock(),
        )
        assert self.app is not None
        await self.scheduler.flush(self.app.bot)
        return opened

    def dispose(self) -> None:
        self.engine.dispose()


@asynccontextmanager
async def running_harness(
    server: LocalBotApiServer,
    config: FigbotConfig,
    clock: Clock,
    *,
    webhook: WebhookConfig | None = None,
) -> AsyncIterator[Harness]:
    """figbot running with ``config`` pointed at ``server``; the outbox is flushed by the tests
    themselves (``Harness.open_round``) rather than by the periodic job."""
    pointed = config.model_copy(
        update={
            "telegram": config.telegram.model_copy(
                update={"base_url": server.base_url, "base_file_url": server.base_file_url}
            ),
            "bot": config.bot.model_copy(update={"outbox_interval_seconds": 3600}),
        }
    )
    harness = Harness(server, pointed, clock, webhook=webhook)
    await harness.start_bot()
    try:
        yield harness
    finally:
        await harness.stop_bot()
        harness.dispose()
