"""Engine, sessions and schema upgrades.

SQLite is the embedded default: WAL so readers do not block the writer, a busy timeout so a
concurrent writer waits instead of failing, and ``BEGIN IMMEDIATE`` for write sessions so a
read-then-write transaction cannot hit "database is locked" when it upgrades its lock.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_IMMEDIATE = "figbot_immediate"
_SINGLE = "figbot_single_statement"


def make_engine(url: str, *, enforce_foreign_keys: bool = True, **kwargs: Any) -> Engine:
    """Create the engine with figbot's connection settings for the URL's dialect.

    Migrations turn ``enforce_foreign_keys`` off on SQLite: Alembic's batch mode rebuilds a
    table by dropping it, which SQLite refuses while other tables reference it.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, **kwargs)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute(f"PRAGMA foreign_keys={'ON' if enforce_foreign_keys else 'OFF'}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        options = connection.get_execution_options()
        if options.get(_SINGLE, False):
            return  # no BEGIN: SQLite runs a lone statement as a transaction of its own
        connection.exec_driver_sql("BEGIN IMMEDIATE" if options.get(_IMMEDIATE, False) else "BEGIN")

    return engine


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    """A session for reading; nothing it does is committed."""
    with Session(engine, expire_on_commit=False) as session:
        yield session


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """A short write transaction, committed on success and rolled back on any error.

    On SQLite it starts with BEGIN IMMEDIATE so the transaction holds the write lock from its
    first read; on PostgreSQL row locks (``with_for_update``) do that job.
    """
    with Session(engine, expire_on_commit=False) as session:
        session.connection(execution_options={_IMMEDIATE: True})
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def single_statement(engine: Engine) -> Iterator[Connection]:
    """A connection for one statement that needs no transaction around it (a lone read, or a
    write that reads nothing first), committed on success.

    The statement is its own transaction, without BEGIN … COMMIT around it: on SQLite the
    "reply sent" mark after every answer went from 0.17 to 0.11 ms; on PostgreSQL (autocommit)
    it saves two round trips. Running more than one statement on it would give up their
    atomicity: use :func:`write_session` for that.
    """
    options: dict[str, Any] = {_SINGLE: True}
    if engine.dialect.name != "sqlite":
        options["isolation_level"] = "AUTOCOMMIT"
    with engine.connect().execution_options(**options) as connection:
        yield connection
        connection.commit()


@contextmanager
def single_read_session(engine: Engine) -> Iterator[Session]:
    """A session for one read statement on :func:`single_statement`'s connection: the access
    gate's contact read on every update. On PostgreSQL it is one round trip instead of three
    (BEGIN, the read, ROLLBACK); with the "reply sent" mark on :func:`single_statement` too,
    ``benchmarks/answer_throughput.py`` on PostgreSQL went from about 150 to 175 answers/s."""
    with (
        single_statement(engine) as connection,
        Session(bind=connection, expire_on_commit=False) as session,
    ):
        yield session


def hold_lock(session: Session, name: str) -> None:
    """Serialize write transactions that share ``name`` across processes, until commit.

    On PostgreSQL a transaction-level advisory lock: webhook replicas handling two updates of
    one user, or two contacts of one unit submitting at once, take turns instead of both
    reading the old state. On SQLite there is nothing to do: ``BEGIN IMMEDIATE`` already lets
    one writer in at a time.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    key = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)
    session.connection().execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def alembic_config(url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


class SchemaError(Exception):
    """The database's schema cannot be used by this figbot; the message says why."""


def unknown_revisions(url: str) -> list[str]:
    """The database's schema revisions this figbot's migrations do not know: a newer release
    upgraded it."""
    cfg = alembic_config(url)
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            heads = MigrationContext.configure(connection).get_current_heads()
    finally:
        engine.dispose()
    script = ScriptDirectory.from_config(cfg)
    unknown = []
    for head in heads:
        try:
            script.get_revision(head)
        except CommandError:
            unknown.append(head)
    return unknown


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database schema up to ``revision`` with Alembic; a schema newer than this
    figbot knows is refused (:class:`SchemaError`) and left as it is."""
    if unknown := unknown_revisions(url):
        raise SchemaError(
            f"the database's schema is at revision {', '.join(unknown)}, which this figbot "
            "does not know: a newer figbot release upgraded it; run that release (or newer)"
        )
    logger.info("upgrading database schema to %s", revision)
    command.upgrade(alembic_config(url), revision)
