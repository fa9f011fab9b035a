"""Benchmark: answers through figbot's full stack next to a bare echo bot, same server, same run.

figbot: local Bot API server → PTB → figbot's polling → access gate → parse/validate → commit
(SQLite, or PostgreSQL with ``--database-url``; update marked processed, reply kept) → reply,
with its heap settled after start-up as ``figbot run`` does (``bot.app.settle_heap``). The
echo bot: PTB's own polling and a handler that only replies with the text, with Python's
default garbage collection. Both get a burst of answers (the rate) and then a stream paced at
100 answers/s (the reply latency, p50/p95).

    python benchmarks/answer_throughput.py              # 200 reporters × 5 answers, 3 runs
    python benchmarks/answer_throughput.py --reporters 50 --runs 1
    python benchmarks/answer_throughput.py --frame-only  # figbot minus the answer's handling
    python benchmarks/answer_throughput.py --database-url postgresql+psycopg://postgres@127.0.0.1/test

``--frame-only`` puts a handler in front of figbot's answer handling that only replies with
the text, through figbot's own sending: what is left is figbot's frame (its polling, lanes,
access gate with the contact's read, rate limiter, transport). The difference to a full run is
what answering costs (parse, validate, the write transaction, the kept reply, the "sent" mark).

Targets: figbot ≥ 50 % of the echo rate; p95 reply latency under 50 ms at 100 answers/s.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlmodel import Session, update  # noqa: E402
from telegram import Update  # noqa: E402
from telegram.ext import (  # noqa: E402
    Application,
    ApplicationBuilder,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.app import (  # noqa: E402
    build_application,
    settle_heap,
    start_polling_in_loop,
    stop_serving_in_loop,
)
from bot.config import FigbotConfig, load_config  # noqa: E402
from bot.fakeapi import LocalBotApiServer  # noqa: E402
from bot.views import Outgoing  # noqa: E402
from handlers.common import Context, send  # noqa: E402
from models.tables import OutboxMessage, OutboxStatus  # noqa: E402
from services.catalog import prepare_database  # noqa: E402
from tests.conftest import TEST_TOKEN, Clock  # noqa: E402
from tests.store_helpers import bind, open_  # noqa: E402
from tests.test_crash import _answers, _crash_config  # noqa: E402

FIRST_USER = 200_000
ANSWERS = 5
PACED_RATE = 100.0


async def _replied(server: LocalBotApiServer, user: int, since: int) -> float:
    await server.wait_for_message(user, since=since, timeout=60)
    return time.perf_counter()


@dataclass
class Measured:
    rate: float  # answers/s in the burst
    cpu_ms: float  # CPU per answer in the burst: the bot, the local server and the load generator
    latencies: list[float]  # ms from sending an answer of the paced stream to its reply
    offered: float  # answers/s the paced stream was really sent at

    def p(self, q: int) -> float:
        return statistics.quantiles(self.latencies, n=100)[q - 1]


async def measure(
    server: LocalBotApiServer, users: list[int], answer: Callable[[int, int], str]
) -> Measured:
    """A burst (rate in answers/s), then a stream at 100/s (latencies in ms, and the rate the
    stream was really sent at)."""
    counts = {u: server.message_count(u) for u in users}
    started, cpu_started = time.perf_counter(), time.process_time()
    for step in range(ANSWERS - 2):  # the burst: all answers of all users at once, in order
        for user in users:
            await server.send_text(user, answer(user, step))
    for user in users:
        await server.wait_for_message_count(user, ANSWERS - 2, timeout=120, since=counts[user])
    burst = len(users) * (ANSWERS - 2)
    rate = burst / (time.perf_counter() - started)
    cpu_ms = (time.process_time() - cpu_started) / burst * 1000

    latencies: list[float] = []
    waits: list[Awaitable[None]] = []
    # The paced stream keeps to its own timetable: a bot slower than 100/s falls behind and its
    # latency shows it (sleeping a fixed pause after each send would slow the stream instead).
    paced_from = time.perf_counter()
    sent_so_far = 0
    for step in (ANSWERS - 2, ANSWERS - 1):
        for user in users:
            due = paced_from + sent_so_far / PACED_RATE
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            since = server.message_count(user)
            sent = time.perf_counter()
            await server.send_text(user, answer(user, step))
            sent_so_far += 1

            async def record(user: int = user, since: int = since, sent: float = sent) -> None:
                latencies.append((await _replied(server, user, since) - sent) * 1000)

            waits.append(asyncio.ensure_future(record()))
    offered = sent_so_far / (time.perf_counter() - paced_from)
    await asyncio.gather(*waits)
    return Measured(rate, cpu_ms, latencies, offered)


async def echo(server: LocalBotApiServer, users: list[int]) -> Measured:
    async def reply(update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.message.text is not None
        await update.message.reply_text(update.message.text)

    app: Application = ApplicationBuilder().token(TEST_TOKEN).base_url(server.base_url).build()  # type: ignore[type-arg]
    app.add_handler(MessageHandler(filters.TEXT, reply))
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=1)
    try:
        return await measure(server, users, lambda user, step: f"{step + 1}")
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()


@contextmanager
def database_for_run(url: str | None) -> Iterator[str | None]:
    """Given a PostgreSQL URL, that database with a schema of the run's own, dropped after it
    (nothing else there is touched); without one, None: a fresh SQLite file."""
    if url is None:
        yield None
        return
    schema = f"figbot_benchmark_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield scoped.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def reporters_database(
    users: list[int], base_url: str, url: str | None = None
) -> tuple[FigbotConfig, Engine, Clock]:
    """A fresh database (SQLite unless ``url`` is given) with one unit per reporter, each
    bound, and the month's round open with its prompts marked sent (the answers are what is
    measured, not the prompts)."""
    workdir = Path(tempfile.mkdtemp(prefix="figbot-benchmark-"))
    url = url or f"sqlite:///{workdir / 'b.db'}"
    config_path = _crash_config(workdir, url, base_url, reporters=len(users))
    config = load_config(config_path, environ={"FIGBOT_TELEGRAM_TOKEN": TEST_TOKEN})
    engine = prepare_database(config)
    clock = Clock(datetime.now(UTC))
    with Session(engine, expire_on_commit=False) as session:
        for n, user in enumerate(users):
            bind(session, user_id=user, name=f"填报员{n}", unit=f"c{n:03d}", now=clock())
        open_(session, clock().strftime("%Y-%m"), now=clock())
        session.exec(update(OutboxMessage).values(status=OutboxStatus.SENT))  # type: ignore[call-overload]
        session.commit()
    return config, engine, clock


async def frame_only_reply(update: Update, context: Context) -> None:
    """In place of the answer's handling (``--frame-only``): the text back, as figbot sends."""
    assert update.message is not None and update.message.text is not None
    await send(update, context, Outgoing(update.message.text))


async def figbot(
    server: LocalBotApiServer,
    users: list[int],
    *,
    frame_only: bool = False,
    database_url: str | None = None,
) -> Measured:
    with database_for_run(database_url) as url:
        return await _figbot(server, users, url, frame_only=frame_only)


async def _figbot(
    server: LocalBotApiServer, users: list[int], url: str | None, *, frame_only: bool
) -> Measured:
    config, engine, _ = reporters_database(users, server.base_url, url)
    engine.dispose()
    app = build_application(config)
    if frame_only:  # first in the feature group, after the access gate
        app.handlers[0].insert(0, MessageHandler(filters.TEXT & ~filters.COMMAND, frame_only_reply))
    await start_polling_in_loop(app)
    default_thresholds = gc.get_threshold()
    settle_heap()  # as `figbot run` does once it serves
    try:
        for user in users:  # each reporter opens the questions first (not measured)
            since = server.message_count(user)
            await server.send_text(user, "/report")
            await server.wait_for_message(user, since=since, timeout=60)
        return await measure(server, users, lambda user, step: str(_answers(user)[step]))
    finally:
        await stop_serving_in_loop(app)
        # The next run's echo bot gets Python's defaults, as a bare PTB bot has them.
        gc.unfreeze()
        gc.set_threshold(*default_thresholds)


async def one_run(
    reporters: int, *, frame_only: bool, database_url: str | None
) -> tuple[Measured, Measured]:
    """Echo, then figbot, on one fresh local server."""
    async with LocalBotApiServer(token=TEST_TOKEN) as server:
        echo_users = [FIRST_USER + n for n in range(reporters)]
        figbot_users = [FIRST_USER + 10_000 + n for n in range(reporters)]
        for user in echo_users + figbot_users:
            server.add_user(user, f"U{user}")
        return (
            await echo(server, echo_users),
            await figbot(server, figbot_users, frame_only=frame_only, database_url=database_url),
        )


async def main(
    reporters: int, runs: int, *, frame_only: bool, database_url: str | None = None
) -> int:
    name = "figbot's frame" if frame_only else "figbot"
    database = make_url(database_url).get_backend_name() if database_url else "sqlite"
    print(
        f"{reporters} reporters; burst of {reporters * (ANSWERS - 2)} answers, "
        f"then {reporters * 2} paced at {PACED_RATE:.0f}/s; {runs} run(s); figbot on {database}"
        + ("; --frame-only: a reply in place of the answer's handling" if frame_only else "")
    )
    ratios: list[float] = []
    worst_p95 = 0.0
    for run in range(1, runs + 1):
        echo_run, figbot_run = await one_run(
            reporters, frame_only=frame_only, database_url=database_url
        )
        ratios.append(figbot_run.rate / echo_run.rate)
        worst_p95 = max(worst_p95, figbot_run.p(95))
        print(
            f"  run {run}: echo bot {echo_run.rate:6.1f} answers/s, {echo_run.cpu_ms:.2f} ms CPU "
            f"each (reply p50 {echo_run.p(50):4.1f} ms, p95 {echo_run.p(95):4.1f} ms); {name} "
            f"{figbot_run.rate:6.1f} answers/s, {figbot_run.cpu_ms:.2f} ms CPU each (reply p50 "
            f"{figbot_run.p(50):4.1f} ms, p95 {figbot_run.p(95):4.1f} ms at "
            f"{figbot_run.offered:.0f}/s); {name} / echo = {ratios[-1]:.0%}"
        )
    ratio = statistics.median(ratios)
    if frame_only:
        print(f"  {name} / echo, median of {runs}: {ratio:.0%} (a diagnosis: no target)")
        return 0
    print(
        f"  figbot / echo, median of {runs}: {ratio:.0%} (target ≥ 50 %); "
        f"figbot's worst p95 {worst_p95:.1f} ms (target < 50 ms)"
    )
    ok = ratio >= 0.5 and worst_p95 < 50
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reporters", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3, help="the figures move between runs")
    parser.add_argument(
        "--frame-only",
        action="store_true",
        help="figbot with a plain reply in place of the answer's handling (a diagnosis)",
    )
    parser.add_argument(
        "--database-url",
        help="run figbot on this PostgreSQL database, in a schema of its own dropped afterwards "
        "(default: a fresh SQLite file)",
    )
    args = parser.parse_args()
    if args.database_url and make_url(args.database_url).get_backend_name() != "postgresql":
        parser.error("--database-url takes a PostgreSQL URL (SQLite is the default)")
    raise SystemExit(
        asyncio.run(
            main(
                args.reporters,
                args.runs,
                frame_only=args.frame_only,
                database_url=args.database_url,
            )
        )
    )
