"""Benchmark: open a round for N reporters and send every prompt through the outbox.

Runs figbot's real sender (the outbox flush with PTB's AIORateLimiter, as in production)
against the local Bot API server with Telegram-like flood control (30 messages/s overall,
1 message/s per chat), and prints: messages delivered, wall time, achieved rate as a fraction
of the limit, 429s received, duplicates and lost prompts.

    python benchmarks/send_round.py                 # 5,000 reporters (about 3 minutes)
    python benchmarks/send_round.py --reporters 600 # a quick look

Target: >= 95 % of the limit, 0 duplicates, 0 lost.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pydantic import SecretStr  # noqa: E402
from sqlmodel import select  # noqa: E402
from telegram.ext import AIORateLimiter, ExtBot  # noqa: E402

from bot.config import load_config  # noqa: E402
from bot.fakeapi import LocalBotApiServer  # noqa: E402
from bot.views import RENDERERS, render_prompt  # noqa: E402
from domain.periods import Period, PeriodKind  # noqa: E402
from models.crud import get_form, get_office  # noqa: E402
from models.db import make_engine, read_session, upgrade, write_session  # noqa: E402
from models.tables import Contact, OutboxMessage, OutboxStatus, Role, Unit  # noqa: E402
from models.types import utcnow  # noqa: E402
from scheduler.outbox import flush_outbox  # noqa: E402
from services.catalog import sync_config  # noqa: E402
from services.rounds import open_round  # noqa: E402

TOKEN = "123456:benchmark-token"
LIMIT = 30.0


async def run(reporters: int) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="figbot-bench-"))
    url = f"sqlite:///{workdir / 'bench.db'}"
    base = load_config(ROOT / "config.example.toml", environ={})
    config = base.model_copy(
        update={
            "telegram": base.telegram.model_copy(update={"token": SecretStr(TOKEN)}),
            "database": base.database.model_copy(update={"url": url}),
        }
    )
    upgrade(url)
    engine = make_engine(url)
    async with LocalBotApiServer(token=TOKEN) as server:
        server.set_rate_limit(overall_per_second=LIMIT, per_chat_per_second=1)
        with write_session(engine) as session:
            sync_config(session, config=config)
            units = session.exec(select(Unit)).all()
            office = get_office(session, code="jinhu")
            assert office is not None and office.id is not None
            for i in range(reporters):
                chat_id = 100_000 + i
                server.add_user(chat_id, f"worker{i}")
                unit = units[i % len(units)]
                session.add(
                    Contact(
                        telegram_user_id=chat_id,
                        chat_id=chat_id,
                        display_name=f"worker{i}",
                        role=Role.REPORTER,
                        office_id=office.id,
                        unit_id=unit.id,
                    )
                )
        with write_session(engine) as session:
            form = get_form(session, key="monthly")
            office = get_office(session, code="jinhu")
            assert form is not None and office is not None
            opened = open_round(
                session,
                form=form,
                office=office,
                # The month of today: a period past its lock time would prompt nobody.
                period=Period.containing(
                    PeriodKind.MONTH, utcnow().astimezone(ZoneInfo(office.timezone)).date()
                ),
                schedule=config.form("monthly").as_schedule(),
                now=utcnow(),
                render_prompt=render_prompt,
            )
        print(f"queued {opened.prompts_queued} prompts for {reporters} reporters")

        bot = ExtBot(
            TOKEN,
            base_url=server.base_url,
            base_file_url=server.base_file_url,
            rate_limiter=AIORateLimiter(max_retries=0),
        )
        started = time.monotonic()
        async with bot:
            while True:
                await flush_outbox(bot, engine, renderers=RENDERERS)
                with read_session(engine) as session:
                    left = session.exec(
                        select(OutboxMessage.not_before).where(
                            OutboxMessage.status == OutboxStatus.QUEUED
                        )
                    ).all()
                if not left:
                    break
                waits = [(nb - utcnow()).total_seconds() for nb in left if nb is not None]
                await asyncio.sleep(max(0.0, min(waits, default=0.0)))
        wall = time.monotonic() - started

        per_chat = Counter(
            message.chat_id
            for chat in range(100_000, 100_000 + reporters)
            for message in server.messages(chat)
        )
        delivered = sum(per_chat.values())
        duplicates = sum(count - 1 for count in per_chat.values() if count > 1)
        lost = reporters - len(per_chat)
        rate = delivered / wall if wall else 0.0
        print(f"messages delivered : {delivered}")
        print(f"wall time          : {wall:.1f} s")
        share = rate / LIMIT
        print(f"achieved rate      : {rate:.2f} msg/s = {share:.1%} of the {LIMIT:.0f}/s limit")
        print(f"429s received      : {server.stats.rate_limited}")
        print(f"duplicates         : {duplicates}")
        print(f"lost               : {lost}")
    engine.dispose()
    ok = duplicates == 0 and lost == 0 and rate >= 0.95 * LIMIT
    print("target met" if ok else "TARGET MISSED (>= 95 % of the limit, 0 duplicates, 0 lost)")
    return 0 if ok else 1


def main() -> int:
    logging.basicConfig(level=logging.ERROR)  # flood-control retries are counted, not logged
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reporters", type=int, default=5000)
    return asyncio.run(run(parser.parse_args().reporters))


if __name__ == "__main__":
    raise SystemExit(main())
