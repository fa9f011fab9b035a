"""Shared fixtures: a migrated database (SQLite file, or PostgreSQL when
``FIGBOT_TEST_DATABASE_URL`` is set), the example config pointed at it, and a clock."""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import settings
from pydantic import SecretStr
from sqlalchemy import Engine, text
from sqlmodel import Session, SQLModel

from bot.config import FigbotConfig, load_config
from bot.fakeapi import LocalBotApiServer
from models.db import make_engine, upgrade, write_session
from services.catalog import sync_config

if TYPE_CHECKING:
    from tests.flow import Harness

logger = logging.getLogger(__name__)

# CI explores the same examples every run (a property that fails there fails again, with the
# same example, until fixed); a developer's run explores new ones each time.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_CONFIG = ROOT / "config.example.toml"
TEST_TOKEN = "123456:local-test-token"
POSTGRES_URL = os.environ.get("FIGBOT_TEST_DATABASE_URL")


class Clock:
    """A clock tests move by hand; nothing in the test's process waits for wall-clock time.

    What runs on its own reads it running (:meth:`running`): the figbot processes a test starts
    and the local Bot API server dating users' messages. From the moment the clock was made or
    set, that reading goes on at the real pace, moved by every ``advance``. All of them share
    one offset from the real time, so a process started after a kill tells the same time as the
    one it replaces (and as the messages it is sent).
    """

    def __init__(self, start: datetime) -> None:
        self.set(start)

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **kwargs: float) -> None:
        self.current += timedelta(**kwargs)

    def set(self, moment: datetime) -> None:
        self.current = moment
        self._real_at_set = datetime.now(UTC)

    @property
    def offset(self) -> timedelta:
        """What a running reading adds to the real time."""
        return self.current - self._real_at_set

    def running(self) -> datetime:
        return datetime.now(UTC) + self.offset


@pytest.fixture(autouse=True)
def _root_logger_as_found() -> Iterator[None]:
    """A test that runs ``figbot`` in-process (``bot.cli.main``) has it configure logging for
    the process: a root handler on the test's captured stderr, which pytest closes after the
    test, and a root level. Left in place, every later test's warnings went to that closed
    stream ("--- Logging error ---" in their captured output)."""
    root = logging.getLogger()
    handlers, level = set(root.handlers), root.level
    yield
    for handler in set(root.handlers) - handlers:
        if type(handler) is logging.StreamHandler:  # logging.basicConfig's, not pytest's own
            root.removeHandler(handler)
    root.setLevel(level)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if isinstance(item, pytest.Function) and inspect.iscoroutinefunction(item.obj):
            limit = _time_limit(item)
            if limit > 0:  # 0: no limit, as pytest-timeout reads it
                item.obj = _within_time_limit(item.obj, 0.9 * limit)


def _time_limit(item: pytest.Item) -> float:
    """The test's limit as pytest-timeout reads it: its mark, else --timeout, else the ini."""
    marker = item.get_closest_marker("timeout")
    if marker is not None:
        return float(marker.args[0] if marker.args else marker.kwargs["timeout"])
    option = item.config.getoption("timeout", None)
    return float(option if option is not None else item.config.getini("timeout"))


def _within_time_limit(
    test: Callable[..., Awaitable[None]], seconds: float
) -> Callable[..., Awaitable[None]]:
    """An async test that runs past its limit is cancelled inside its event loop, so its own
    ``finally`` blocks stop what it started, and it fails naming the limit.

    pytest-timeout stays the backstop (for a test that blocks the loop), but its signal lands
    wherever the loop happens to be: the test's cleanup never runs, and the run ends in a heap
    of unclosed-transport warnings that hide which test hung.
    """

    @functools.wraps(test)
    async def limited(**kwargs: Any) -> None:
        limit = asyncio.timeout(seconds)
        try:
            async with limit:
                await test(**kwargs)
        except TimeoutError:
            if not limit.expired():
                raise  # a timeout of the test's own
            pytest.fail(
                f"still running after {seconds:g} s, its time limit; the traceback shows where"
            )

    return limited


@pytest.fixture(autouse=True)
def _no_process_left_behind() -> Iterator[None]:
    """A figbot process a failed or timed-out test started does not outlive it (it would hold
    the database, the port and the CPU of every later test)."""
    yield
    from tests.processes import kill_leftovers

    if killed := kill_leftovers():
        logger.warning("killed %d figbot process(es) left running", killed)


@pytest.fixture
def clock() -> Clock:
    # 28 Nov 2026 10:00 in Shanghai: November's round (deadline 3 Dec 18:00) is open.
    return Clock(datetime(2026, 11, 28, 2, 0, tzinfo=UTC))


@pytest.fixture
def figbot(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> Callable[[list[str]], int]:
    """``figbot <args>`` run in this process (``bot.cli.main``) on the test's clock."""
    import models.types
    from bot.cli import main

    def run(argv: list[str]) -> int:
        monkeypatch.setattr(models.types, "_shift", clock.offset)
        return main(argv)

    return run


@pytest.fixture(scope="session")
def _migrated_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Migrate once per session: a template SQLite file, or the PostgreSQL test database."""
    if POSTGRES_URL:
        engine = make_engine(POSTGRES_URL)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        upgrade(POSTGRES_URL)
        return POSTGRES_URL
    path = tmp_path_factory.mktemp("template") / "template.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return str(path)


@pytest.fixture
def db_url(_migrated_template: str, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated, empty database for one test."""
    if POSTGRES_URL:
        engine = make_engine(POSTGRES_URL)
        tables = [t.name for t in SQLModel.metadata.sorted_tables]
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        engine.dispose()
        yield POSTGRES_URL
        return
    path = tmp_path / "figbot.db"
    shutil.copy(_migrated_template, path)
    yield f"sqlite:///{path}"


@pytest.fixture
def config(db_url: str) -> FigbotConfig:
    base = load_config(EXAMPLE_CONFIG, environ={})
    return base.model_copy(
        update={
            "telegram": base.telegram.model_copy(update={"token": SecretStr(TEST_TOKEN)}),
            "database": base.database.model_copy(update={"url": db_url}),
        }
    )


@pytest.fixture
def engine(config: FigbotConfig) -> Iterator[Engine]:
    engine = make_engine(config.database.url)
    with write_session(engine) as session:
        sync_config(session, config=config)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture
async def server(clock: Clock) -> AsyncIterator[LocalBotApiServer]:
    """The local Bot API server, dating users' messages by the test's clock (read running, as
    the processes a test starts read it)."""
    dates = lambda: clock.running().timestamp()  # noqa: E731
    async with LocalBotApiServer(token=TEST_TOKEN, dates=dates) as server:
        yield server


@pytest.fixture
async def harness(
    server: LocalBotApiServer, config: FigbotConfig, clock: Clock
) -> AsyncIterator[Harness]:
    from tests.flow import running_harness

    async with running_harness(server, config, clock) as harness:
        yield harness
