"""Assembling the Telegram Application: every handler is registered here, in order.

Production and tests build the Application with this same function; only the config differs
(``telegram.base_url`` points tests and the demo at figbot's local Bot API server).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import warnings
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from telegram import BotCommand, Update
from telegram.error import InvalidToken, RetryAfter, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    BaseHandler,
    ContextTypes,
)
from telegram.warnings import PTBUserWarning

from bot import views
from bot.admin import (
    AdminError,
    TelegramUnreachable,
    TokenRefused,
    telegram_failure,
    telegram_request,
)
from bot.config import FigbotConfig, WebhookConfig
from bot.i18n import translator
from bot.logsetup import quiet_http_loggers
from bot.polling import CommittedPolling, LeasedPolling
from bot.runtime import RUNTIME_KEY, SCHEDULER_KEY, Runtime
from bot.webhook import WebhookServer
from handlers import (
    access,
    chasing,
    corrections,
    onboarding,
    reporting,
    settings,
    status,
    summaries,
)
from handlers.common import RAW_SEND_WARNING, Context, answer_query, send
from models.types import utcnow
from scheduler.runner import SchedulerRunner
from services.catalog import prepare_database

logger = logging.getLogger(__name__)

# Bot API requests at once: more than the updates handled at once (32) and the outbox's senders
# (8) together, so a reply waits for Telegram, not for a connection (aiohttp reuses an idle one
# without looking at the others). Beyond that a request waits up to SEND_POOL_WAIT_SECONDS.
SEND_CONNECTIONS = 64
SEND_POOL_WAIT_SECONDS = 30.0


def build_application(
    config: FigbotConfig,
    *,
    clock: Callable[[], datetime] = utcnow,
    application_class: type[Application] = Application,  # type: ignore[type-arg]
) -> Application:  # type: ignore[type-arg]
    """The Application for ``config``; ``clock`` and ``application_class`` are seams for the
    demo and tests (a moved clock; an Application that reports when an update is handled)."""
    quiet_http_loggers()
    warnings.filterwarnings("ignore", RAW_SEND_WARNING, PTBUserWarning)
    token = config.telegram.token.get_secret_value()
    if not token:
        raise ValueError("telegram.token is empty (set it in the config or FIGBOT_TELEGRAM_TOKEN)")

    async def post_init(application: Application) -> None:  # type: ignore[type-arg]
        engine = await asyncio.to_thread(prepare_database, config)
        runtime = Runtime(config=config, engine=engine, clock=clock)
        application.bot_data[RUNTIME_KEY] = runtime
        await _set_commands(application)
        runner = SchedulerRunner(
            runtime, render_prompt=views.render_prompt, renderers=views.RENDERERS
        )
        application.bot_data[SCHEDULER_KEY] = runner
        runner.install(application)

    async def post_stop(application: Application) -> None:  # type: ignore[type-arg]
        runner: SchedulerRunner | None = application.bot_data.get(SCHEDULER_KEY)
        if runner is not None:
            await runner.shutdown()

    async def post_shutdown(application: Application) -> None:  # type: ignore[type-arg]
        application.bot_data.pop(SCHEDULER_KEY, None)
        runtime: Runtime | None = application.bot_data.pop(RUNTIME_KEY, None)
        if runtime is not None:
            runtime.engine.dispose()

    application = (
        ApplicationBuilder()
        .application_class(application_class)
        .token(token)
        .base_url(config.telegram.base_url)
        .base_file_url(config.telegram.base_file_url)
        .context_types(ContextTypes(context=Context))
        # No automatic retries: the outbox reschedules flood-controlled messages itself, and
        # replies ask for retries explicitly (handlers.common.send).
        .rate_limiter(
            AIORateLimiter(
                overall_max_rate=config.telegram.max_messages_per_second,
                overall_time_period=1,
                max_retries=0,
            )
        )
        # aiohttp rather than httpx underneath: the same requests for far less CPU.
        .request(
            telegram_request(
                config, connections=SEND_CONNECTIONS, pool_timeout=SEND_POOL_WAIT_SECONDS
            )
        )
        .get_updates_request(telegram_request(config))
        .concurrent_updates(False)  # one update at a time: per-user order matters
        .updater(None)  # figbot polls itself (bot.polling): an update is confirmed once handled
        .post_init(post_init)
        .post_stop(post_stop)
        .post_shutdown(post_shutdown)
        .build()
    )

    # Handler groups run in ascending order; a handler raising ApplicationHandlerStop ends the
    # update. Within a group the first matching handler wins, so the most specific come first.
    groups: list[tuple[int, list[BaseHandler[Any, Any, Any]]]] = [
        # -1: access control — private chats only; strangers get a polite refusal and no data.
        (-1, [*access.HANDLERS]),
        # 0: features.
        (
            0,
            [
                *onboarding.HANDLERS,  # /start <invite code>
                *reporting.HANDLERS,  # /report, REPORT:* buttons, typed answers, non-text input
                *status.HANDLERS,  # /status for coordinators
                *chasing.HANDLERS,  # /remind, /reopen, /lock for coordinators
                *corrections.HANDLERS,  # /correct <unit> <item> <number> <reason>, coordinators
                *summaries.HANDLERS,  # /summary, /missing, /chart for coordinators
                *settings.HANDLERS,  # /help, /lang
                *settings.FALLBACK,  # any other /command or button
            ],
        ),
    ]
    for group, handlers in groups:
        for handler in handlers:
            application.add_handler(handler, group=group)
    application.add_error_handler(_on_error)
    return application


async def _set_commands(application: Application) -> None:  # type: ignore[type-arg]
    for language, telegram_code in (("zh-Hans", None), ("en", "en")):
        commands = [BotCommand(name, text) for name, text in views.bot_commands(language)]
        await application.bot.set_my_commands(commands, language_code=telegram_code)


async def _on_error(update: object, context: Context) -> None:  # type: ignore[override]
    logger.error("error while handling an update", exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat is not None:
        assert isinstance(context, Context)
        _ = translator(context.language)
        try:
            await answer_query(update)  # a press that failed is still answered
            await send(
                update,
                context,
                views.Outgoing(
                    _(
                        "Sorry, something went wrong. Please try again; "
                        "send /report to see where you are."
                    )
                ),
            )
        except Exception:
            logger.exception("could not tell the user about the error")


ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
FEED_KEY = "figbot.feed"  # the polling loop or the webhook server: where updates come from


async def start_polling_in_loop(
    application: Application,  # type: ignore[type-arg]
    *,
    poll_timeout: int = 1,
    on_token_refused: Callable[[InvalidToken], None] = lambda exc: None,
) -> None:
    """Start the Application inside a running event loop, in the order ``run_polling`` would:
    initialize → post_init → start → polling (figbot's own, confirming only handled updates,
    and only while this process holds the polling lease). ``on_token_refused`` is told when
    Telegram refuses the token later on (see :class:`CommittedPolling`)."""
    await _start_application(application)
    info = await application.bot.get_webhook_info()
    if info.url:  # Telegram refuses getUpdates while a webhook is set
        logger.warning("a webhook was set; removing it to serve by long polling")
        await application.bot.delete_webhook()
    runtime: Runtime = application.bot_data[RUNTIME_KEY]
    polling = LeasedPolling(
        runtime.engine,
        clock=runtime.now,
        ttl=timedelta(seconds=runtime.config.scheduler.lease_seconds),
        make_polling=lambda may_start: CommittedPolling(
            application,
            timeout=poll_timeout,
            allowed_updates=ALLOWED_UPDATES,
            may_start=may_start,
            on_token_refused=on_token_refused,
        ),
    )
    application.bot_data[FEED_KEY] = polling
    polling.start()


async def start_webhook_in_loop(application: Application, config: WebhookConfig) -> WebhookServer:  # type: ignore[type-arg]
    """Like :func:`start_polling_in_loop`, but Telegram posts updates to ``config.url``."""
    await _start_application(application)
    server = WebhookServer(application, config, allowed_updates=ALLOWED_UPDATES)
    application.bot_data[FEED_KEY] = server
    await server.start()
    return server


async def _start_application(application: Application) -> None:  # type: ignore[type-arg]
    await application.initialize()
    if application.post_init is not None:
        await application.post_init(application)
    await application.start()


async def stop_serving_in_loop(application: Application) -> None:  # type: ignore[type-arg]
    """The reverse of the start functions, as ``run_polling`` ends: updates being handled are
    finished first."""
    feed: LeasedPolling | WebhookServer | None = application.bot_data.pop(FEED_KEY, None)
    if feed is not None:
        await feed.stop()
    if application.running:
        await application.stop()
    if application.post_stop is not None:
        await application.post_stop(application)
    await application.shutdown()
    if application.post_shutdown is not None:
        await application.post_shutdown(application)
    # A start that failed in getMe left the Application uninitialized, so its shutdown did not
    # reach the bot's connections; closing them twice is harmless.
    await application.bot.shutdown()


# The longest pause between two attempts to start while Telegram cannot be reached.
START_RETRY_MAX_SECONDS = 60.0


async def start_with_retries(
    application: Application,  # type: ignore[type-arg]
    start: Callable[[], Awaitable[object]],
    *,
    config: FigbotConfig,
    stop: asyncio.Event,
) -> bool:
    """Run ``start`` until it succeeds (True) or ``stop`` is set (False).

    While Telegram (or the proxy) cannot be reached, each failed attempt is one log line and
    the next comes after a pause that doubles up to START_RETRY_MAX_SECONDS: a network that
    comes back later needs no restart. A refused token raises :class:`TokenRefused` at once,
    since no retry can fix it.
    """
    pause, attempt = 1.0, 0
    while True:
        attempt += 1
        starting = asyncio.ensure_future(start())
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not starting.done():
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await starting
            return False
        try:
            starting.result()
            return True
        except TelegramError as exc:
            if isinstance(exc, RetryAfter):
                failure: AdminError | None = TelegramUnreachable(
                    f"Telegram asks figbot to wait: {exc.message}"
                )
                wait = exc.retry_after
                pause = max(pause, wait.total_seconds() if isinstance(wait, timedelta) else wait)
            else:
                failure = telegram_failure(exc, config)
            if failure is None:
                raise
            await stop_serving_in_loop(application)
            if isinstance(failure, TokenRefused):
                raise failure from None
        logger.error("%s; trying again in %.0f s (attempt %d)", failure, pause, attempt)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=pause)
            return False
        pause = min(pause * 2, START_RETRY_MAX_SECONDS)


# Allocations between two collections of the youngest generation (Python's default: 700). An
# answer allocates thousands of short-lived objects (PTB, SQLAlchemy). At 700 a burst of 600
# answers ran about 200 young collections, each moving the objects of the updates in hand into
# the older generations, whose collections cost more; at 10,000 it ran 3, and each answer took
# 0.1–0.2 ms less CPU.
YOUNG_COLLECTION_THRESHOLD = 10_000


def settle_heap() -> None:
    """Collect once, then keep what start-up built out of every later garbage collection.

    Start-up leaves some 250,000 objects that live as long as the process (PTB, SQLAlchemy,
    pandas, the catalog). Without this, each full collection walks them all again: in a burst
    of answers the collector took 0.7 ms of each answer's CPU, in stalls of a tenth of a second
    (``benchmarks/answer_throughput.py``). Objects freed later are still freed as before.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, older, oldest)


def run_until_signalled(
    application: Application,  # type: ignore[type-arg]
    *,
    config: FigbotConfig,
    webhook: WebhookConfig | None = None,
) -> None:
    """``figbot run``: serve until SIGINT or SIGTERM, then stop gracefully. Long polling,
    or the webhook server when ``webhook`` is given. Start-up is tried again while Telegram
    cannot be reached (:func:`start_with_retries`). A token Telegram refuses later on (revoked
    while figbot runs) stops the process too, raising :class:`TokenRefused`: a service that
    kept running without polling would answer nobody, and say so only once in its log."""
    refused: list[InvalidToken] = []
    stop = asyncio.Event()

    def token_refused(exc: InvalidToken) -> None:
        refused.append(exc)
        stop.set()

    async def start() -> None:
        if webhook is None:
            await start_polling_in_loop(
                application,
                poll_timeout=config.telegram.poll_timeout,
                on_token_refused=token_refused,
            )
        else:
            await start_webhook_in_loop(application, webhook)

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            if await start_with_retries(application, start, config=config, stop=stop):
                settle_heap()
                await stop.wait()
            logger.info("figbot stopping")
        finally:
            await stop_serving_in_loop(application)
        if refused and isinstance(failure := telegram_failure(refused[0], config), TokenRefused):
            raise failure from None

    asyncio.run(serve())
