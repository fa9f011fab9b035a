"""Admin operations shared by the CLI, the demo and tests: invites, opening rounds, sending."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import select
from telegram import Bot
from telegram.error import BadRequest, InvalidToken, NetworkError, TelegramError
from telegram.ext import AIORateLimiter, ExtBot
from telegram.helpers import create_deep_linked_url

from bot.config import TOKEN_ENV, FigbotConfig
from bot.transport import AiohttpRequest
from bot.views import RENDERERS, correction_notice, render_prompt
from domain.numbers import MAX_COUNT, RefusalReason
from domain.periods import Period
from models.crud import get_form, get_office, get_unit
from models.db import write_session
from models.tables import Office, Role
from models.types import utcnow
from scheduler.outbox import SENDERS, FlushResult, flush_outbox, requeue_interrupted
from services.corrections import (
    Correction,
    CorrectionRefusal,
    CorrectionRefused,
    correct_value,
    notify_correction,
)
from services.lease import new_holder_id, release, try_acquire
from services.onboarding import create_invite
from services.rounds import OpenedRound, RoundLocked, open_round
from services.summary import round_workbook

logger = logging.getLogger(__name__)


class AdminError(Exception):
    """A command-line request that cannot be done; the message says why."""

    exit_code = 2


class TelegramUnreachable(AdminError):
    """The Bot API (or the proxy on the way) could not be reached: worth trying again."""

    exit_code = 1


class TokenRefused(AdminError):
    """The Bot API refused the token: trying again cannot help, the config must change."""


def telegram_failure(exc: TelegramError, config: FigbotConfig) -> AdminError | None:
    """The one line an admin reads for a failed Bot API call; None for other errors.

    Never the exception's own text for a refused token: python-telegram-bot puts the token
    in it.
    """
    where = f"the Telegram Bot API at {config.telegram.api_host}"
    if config.telegram.proxy_host:
        where += f" (through the proxy {config.telegram.proxy_host})"
    if isinstance(exc, InvalidToken):
        said = exc.__cause__ if isinstance(exc.__cause__, InvalidToken) else exc
        answer = said.message if said is not exc else "refused"
        return TokenRefused(
            f"{where} refused the bot token ({answer}); check telegram.token or {TOKEN_ENV} "
            "(and telegram.base_url)"
        )
    if isinstance(exc, NetworkError) and not isinstance(exc, BadRequest):
        return TelegramUnreachable(f"cannot reach {where}: {exc.message}")
    return None


def telegram_request(
    config: FigbotConfig, *, connections: int = 1, pool_timeout: float | None = 1.0
) -> AiohttpRequest:
    """figbot's Bot API transport with the config's proxy: every process talks to Telegram
    through one of these."""
    return AiohttpRequest(
        connections=connections,
        pool_timeout=pool_timeout,
        proxy=config.telegram.proxy.get_secret_value(),
    )


@dataclass(frozen=True)
class InviteLink:
    url: str
    code: str
    role: Role
    target_name: str
    expires_at: datetime


def make_bot(config: FigbotConfig) -> Bot:
    return Bot(
        config.telegram.token.get_secret_value(),
        base_url=config.telegram.base_url,
        base_file_url=config.telegram.base_file_url,
        request=telegram_request(config),
        get_updates_request=telegram_request(config),
    )


@contextlib.contextmanager
def reaching_telegram(config: FigbotConfig) -> Iterator[None]:
    """Bot API failures an admin can act on become one line (an :class:`AdminError`)."""
    try:
        yield
    except TelegramError as exc:
        if (failure := telegram_failure(exc, config)) is None:
            raise
        raise failure from None


async def bot_username(config: FigbotConfig) -> str:
    if config.telegram.bot_username:
        return config.telegram.bot_username.lstrip("@")
    with reaching_telegram(config):
        async with make_bot(config) as bot:
            return bot.username


def new_invite(
    engine: Engine,
    config: FigbotConfig,
    *,
    username: str,
    role: Role,
    unit_code: str | None,
    office_code: str | None,
    now: datetime,
) -> InviteLink:
    with write_session(engine) as session:
        unit = get_unit(session, code=unit_code) if unit_code else None
        if unit_code and (unit is None or not unit.active):
            raise AdminError(f"unknown unit {unit_code!r} (see [[offices.units]] in the config)")
        office = get_office(session, code=office_code) if office_code else None
        if office_code and (office is None or not office.active):
            raise AdminError(f"unknown office {office_code!r} (see [[offices]] in the config)")
        if unit is not None:
            if office is not None and unit.office_id != office.id:
                raise AdminError(f"unit {unit_code!r} does not belong to office {office_code!r}")
            office = session.get(Office, unit.office_id)
        if role is Role.REPORTER and unit is None:
            raise AdminError("a reporter invite needs --unit")
        if office is None:
            raise AdminError("a coordinator invite needs --office")
        if role is not Role.REPORTER:
            unit = None
        invite, code = create_invite(
            session,
            role=role,
            office=office,
            unit=unit,
            now=now,
            ttl=timedelta(days=config.bot.invite_ttl_days),
        )
        target = unit.name if unit else office.name
        return InviteLink(
            url=create_deep_linked_url(username, code),
            code=code,
            role=role,
            target_name=target,
            expires_at=invite.expires_at,
        )


def open_rounds(
    engine: Engine,
    config: FigbotConfig,
    *,
    form_key: str,
    period_text: str,
    office_code: str | None,
    now: datetime,
    locked: bool = False,
) -> list[tuple[str, OpenedRound]]:
    """Open the round of ``form_key`` for ``period_text`` in one office or all; queue prompts.

    A round past its lock time is refused (nothing changes, in any office) unless ``locked``
    asks to open it locked, prompting nobody (see ``services.rounds.open_round``)."""
    period = Period.parse(period_text)
    opened = []
    with write_session(engine) as session:
        form = get_form(session, key=form_key)
        if form is None or not form.active:
            raise AdminError(f"unknown form {form_key!r} (see [[forms]] in the config)")
        schedule = config.form(form_key).as_schedule()
        offices = list(session.exec(select(Office).where(Office.active == True)).all())  # noqa: E712
        if office_code is not None:
            offices = [o for o in offices if o.code == office_code]
            if not offices:
                raise AdminError(f"unknown office {office_code!r}")
        for office in offices:
            try:
                result = open_round(
                    session,
                    form=form,
                    office=office,
                    period=period,
                    schedule=schedule,
                    now=now,
                    render_prompt=render_prompt,
                    locked=locked,
                )
            except RoundLocked as exc:
                raise AdminError(_past_lock_message(exc)) from None
            opened.append((office.name, result))
    return opened


def _past_lock_message(exc: RoundLocked) -> str:
    zone = exc.office.timezone
    at = f"{exc.lock_at.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M} ({zone})"
    name = f"round {exc.form.key} {exc.period.code} of {exc.office.name}"
    reopen = f"a coordinator reopens single units in the chat: /reopen <unit> {exc.period.code}"
    if exc.exists:
        return (
            f"{name} is locked since {at}: nobody was prompted. To take a unit's figures now, "
            f"{reopen}"
        )
    return (
        f"{name} would have locked at {at}, which has passed: it was not opened and nobody was "
        f"prompted. To take late figures, add --locked (opens it locked, prompting nobody); "
        f"then {reopen}"
    )


@asynccontextmanager
async def scheduler_lease(
    engine: Engine, config: FigbotConfig, *, clock: Callable[[], datetime] = utcnow
) -> AsyncIterator[str | None]:
    """Hold the scheduler lease while a command sends the outbox itself; yields None when
    held, else the running figbot that holds it (and sends, so the command must not).

    Without it a ``figbot run`` starting while ``figbot open-round`` sends could send the same
    prompts: only the lease holder sends, whichever process it is.
    """
    holder = f"cli:{new_holder_id()}"
    ttl = timedelta(seconds=config.scheduler.lease_seconds)
    with write_session(engine) as session:
        held, current = try_acquire(session, holder=holder, now=clock(), ttl=ttl)
        if held:
            requeue_interrupted(session)
    if not held:
        yield current
        return

    async def renew() -> None:
        while True:
            await asyncio.sleep(ttl.total_seconds() / 3)
            with write_session(engine) as session:
                try_acquire(session, holder=holder, now=clock(), ttl=ttl)

    renewing = asyncio.create_task(renew())
    try:
        yield None
    finally:
        renewing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewing
        with write_session(engine) as session:
            release(session, holder=holder)


async def deliver(config: FigbotConfig, engine: Engine) -> FlushResult:
    """Send what is queued in the outbox now, at Telegram's pace (what fails stays queued)."""
    bot = ExtBot(
        config.telegram.token.get_secret_value(),
        base_url=config.telegram.base_url,
        base_file_url=config.telegram.base_file_url,
        # One connection per sender of the outbox, waited for as long as a send may take.
        request=telegram_request(config, connections=SENDERS, pool_timeout=30.0),
        get_updates_request=telegram_request(config),
        rate_limiter=AIORateLimiter(
            overall_max_rate=config.telegram.max_messages_per_second,
            overall_time_period=1,
            max_retries=0,
        ),
    )

    def attachments(key: str) -> tuple[str, bytes]:
        return round_workbook(engine, config=config, round_id=int(key.partition(":")[2]))

    async with bot:
        return await flush_outbox(bot, engine, renderers=RENDERERS, attachments=attachments)


_CORRECTION_REFUSALS = {
    CorrectionRefusal.UNKNOWN_UNIT: "unknown unit {detail!r} (a code or name of the office)",
    CorrectionRefusal.UNKNOWN_INDICATOR: "no open or locked round asks for {detail!r}",
    CorrectionRefusal.NO_ROUND: "no round found {detail}",
    CorrectionRefusal.BAD_VALUE: "{detail!r} is not a whole count",
    CorrectionRefusal.OUT_OF_BOUNDS: "the value is out of the indicator's bounds ({detail})",
    CorrectionRefusal.NO_REASON: "a reason is required (--reason)",
    CorrectionRefusal.UNCHANGED: "the value is already {detail}; nothing changed",
}
_BAD_VALUES = {
    RefusalReason.TOO_LARGE: f"{{detail!r}} is more than figbot takes ({MAX_COUNT:,})",
    RefusalReason.RANGE: "{detail!r} is a range, not one count: give the exact figure",
    RefusalReason.APPROXIMATE: "{detail!r} is an estimate, not a count: give the exact figure",
    RefusalReason.LOOKALIKE: (
        "{detail!r} holds characters that only look like digits (², ①, ½): "
        "type the count in plain digits"
    ),
}


def set_value(
    engine: Engine,
    *,
    office_code: str | None,
    unit: str,
    indicator: str,
    value: str,
    reason: str,
    actor: str,
    now: datetime,
    period: str | None = None,
    form_key: str | None = None,
) -> Correction:
    """``figbot set-value``: one audited correction; the unit's reporters are told."""
    with write_session(engine) as session:
        offices = list(session.exec(select(Office).where(Office.active == True)).all())  # noqa: E712
        if office_code is not None:
            offices = [o for o in offices if o.code == office_code]
        if not offices:
            raise AdminError(f"unknown office {office_code!r}")
        try:
            correction = correct_value(
                session,
                office_id=offices[0].id or 0,
                unit_text=unit,
                indicator_text=indicator,
                value_text=value,
                reason=reason,
                actor=actor,
                contact_id=None,
                via="cli",
                now=now,
                period=period,
                form_key=form_key,
            )
        except CorrectionRefused as refused:
            message = _CORRECTION_REFUSALS[refused.reason]
            if refused.reason is CorrectionRefusal.BAD_VALUE:
                message = _BAD_VALUES.get(refused.refusal or RefusalReason.NOT_A_NUMBER, message)
            raise AdminError(message.format(detail=refused.detail)) from None
        notify_correction(session, correction=correction, now=now, render=correction_notice)
        return correction
