"""Serving updates over HTTP (``figbot run --webhook``), so several replicas can share a token.

Telegram posts each update to the webhook URL and posts it again later unless it gets a 2xx
answer. figbot answers only after the update has been handled — its effect and the
processed-update mark committed together — so a replica killed mid-update loses nothing: the
update comes again (to any replica) and the mark makes the repeat harmless. This is why
python-telegram-bot's own webhook server (which answers 200 before handling) is not used.

Any replica can take any update because conversation state lives in the database; the
per-user lock in ``Runtime.update_transaction`` keeps one user's updates in turn even when
the load balancer hands two of them to different replicas. Exactly one replica runs the
scheduler and sends the outbox (the scheduler lease).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Sequence

from aiohttp import web
from telegram import Update
from telegram.ext import Application

from bot.config import WebhookConfig
from bot.ordering import ChatLanes, lane_of

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
HEALTH_PATH = "/healthz"


class WebhookServer:
    def __init__(
        self,
        application: Application,  # type: ignore[type-arg]
        config: WebhookConfig,
        *,
        allowed_updates: Sequence[str],
    ) -> None:
        self.application = application
        self.config = config
        self.allowed_updates = list(allowed_updates)
        self.port = config.port  # the bound port (differs when config.port is 0, in tests)
        self._secret = config.secret_token.get_secret_value().encode()
        self._lanes = ChatLanes()
        self._runner: web.AppRunner | None = None
        self._accepting = False

    async def start(self) -> None:
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_post(self.config.path, self._receive)
        app.router.add_get(HEALTH_PATH, self._health)
        # Handlers finish even if Telegram gives up on the request: the effect must commit.
        runner = web.AppRunner(app, access_log=None, handler_cancellation=False)
        await runner.setup()
        site = web.TCPSite(runner, self.config.listen, self.config.port)
        await site.start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        self._accepting = True
        logger.info(
            "serving the webhook on http://%s:%s%s", self.config.listen, self.port, self.config.path
        )
        if self.config.set_webhook:
            await self.application.bot.set_webhook(
                self.config.url,
                secret_token=self.config.secret_token.get_secret_value(),
                allowed_updates=self.allowed_updates,
                max_connections=self.config.max_connections,
            )
            logger.info("Telegram posts updates to %s", self.config.url)

    async def stop(self) -> None:
        """Refuse new updates (Telegram sends them again, to a replica still serving), finish
        the ones being handled, then close. The webhook stays set for the other replicas."""
        self._accepting = False
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _health(self, _request: web.Request) -> web.Response:
        return web.Response(
            text="ok" if self._accepting else "stopping", status=200 if self._accepting else 503
        )

    async def _receive(self, request: web.Request) -> web.Response:
        if not self._accepting:
            return web.Response(status=503, text="stopping")
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self._secret):
            logger.warning("webhook request without the right secret token from %s", request.remote)
            return web.Response(status=403)
        try:
            data = await request.json(loads=json.loads)
            update = Update.de_json(data, self.application.bot)
        except (ValueError, TypeError, KeyError, AttributeError):
            return web.Response(status=400, text="not a Telegram update")
        if update is None:
            return web.Response(status=400, text="not a Telegram update")
        try:
            await self._lanes.run(lane_of(update), lambda: self.application.process_update(update))
        except asyncio.CancelledError:
            raise
        except Exception:  # handler errors are PTB's; this is a bug outside them: retry later
            logger.exception("update %s could not be processed", update.update_id)
            return web.Response(status=500)
        return web.Response(status=200)
