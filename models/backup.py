"""Backups of a live SQLite database, and restoring one into an empty database of any kind.

``backup_sqlite`` uses SQLite's online-backup API: a consistent copy while the bot keeps
running (readers and the writer are not stopped; WAL content is included). For PostgreSQL use
``pg_dump`` (docs/deploy.md).

``restore`` takes such a file (also one made by an older release: it is upgraded first, on a
copy) and copies every row into an empty database — SQLite or PostgreSQL — through the models'
own column types, so times stay UTC and figures stay exact. That is also the way from the
embedded SQLite to PostgreSQL when an office outgrows it.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, func, insert, inspect, select, text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

import models.tables  # noqa: F401  (registers the tables)
from models.db import make_engine, unknown_revisions, upgrade

logger = logging.getLogger(__name__)

CHUNK = 1000


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why."""


@dataclass(frozen=True)
class TableCounts:
    rows: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def _sqlite_path(url: str) -> Path:
    parsed = make_url(url)
    if (
        parsed.get_backend_name() != "sqlite"
        or not parsed.database
        or parsed.database == ":memory:"
    ):
        raise BackupError(
            "figbot backup copies a SQLite database file; for PostgreSQL use pg_dump "
            "(see docs/deploy.md)"
        )
    return Path(parsed.database)


def table_counts(engine: Engine) -> TableCounts:
    present = set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        return TableCounts(
            {
                table.name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
                for table in SQLModel.metadata.sorted_tables
                if table.name in present
            }
        )


def backup_sqlite(url: str, out: Path) -> TableCounts:
    """Copy the live database at ``url`` to ``out`` (written whole or not at all)."""
    source_path = _sqlite_path(url)
    if not source_path.exists():
        raise BackupError(f"database.url: no database file at {source_path}")
    out = out.resolve()
    if out.exists():
        raise BackupError(f"{out} exists; choose a new file name")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    _create_private(partial)
    source = sqlite3.connect(source_path, timeout=30)
    target = sqlite3.connect(partial)
    try:
        source.backup(target)
        (verdict,) = target.execute("PRAGMA integrity_check").fetchone()
        if verdict != "ok":
            raise BackupError(f"the copy failed its integrity check: {verdict}")
    finally:
        target.close()
        source.close()
    partial.replace(out)
    engine = make_engine(f"sqlite:///{out}")
    try:
        return table_counts(engine)
    finally:
        engine.dispose()


def _create_private(path: Path) -> None:
    """An empty file only its owner may read, for SQLite to write the copy into: the backup
    holds every figure and contact, and is private from its first byte whatever the umask
    (SQLite gives its journal the database file's mode too). A partial file left by a backup
    that was cut short is replaced; O_EXCL then keeps a file made meanwhile by someone else
    from being written through."""
    path.unlink(missing_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        raise BackupError(f"{path} appeared while the backup began; try again") from None


def restore(backup: Path, url: str) -> TableCounts:
    """Copy every row of ``backup`` into the empty database at ``url``."""
    if not backup.is_file():
        raise BackupError(f"no backup file at {backup}")
    with tempfile.TemporaryDirectory(prefix="figbot-restore-") as workdir:
        copy = Path(workdir) / "backup.db"
        shutil.copy(backup, copy)
        check = sqlite3.connect(copy)
        try:
            versioned = check.execute(
                "SELECT name FROM sqlite_master WHERE name = 'alembic_version'"
            ).fetchone()
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{backup} is not a SQLite database: {exc}") from None
        finally:
            check.close()
        if versioned is None:
            raise BackupError(f"{backup} is not a figbot database (no schema version)")
        source_url = f"sqlite:///{copy}"
        if unknown := unknown_revisions(source_url):
            raise BackupError(
                f"{backup} was made by a newer figbot (schema revision {', '.join(unknown)}, "
                "unknown to this one); restore it with that release or a newer one"
            )
        upgrade(source_url)  # a backup from an older release: bring the copy up to date
        upgrade(url)
        source = make_engine(source_url)
        target = make_engine(url)
        try:
            already = table_counts(target)
            if already.total:
                busy = ", ".join(f"{t} ({n})" for t, n in already.rows.items() if n)
                raise BackupError(f"the target database is not empty: {busy}")
            _copy_rows(source, target)
            expected, restored = table_counts(source), table_counts(target)
            if expected != restored:
                raise BackupError(f"row counts differ after restoring: {restored} ≠ {expected}")
            return restored
        finally:
            source.dispose()
            target.dispose()


def _copy_rows(source: Engine, target: Engine) -> None:
    with source.connect() as reader, target.begin() as writer:
        for table in SQLModel.metadata.sorted_tables:  # parents before children
            result = reader.execute(select(table))
            while rows := result.mappings().fetchmany(CHUNK):
                writer.execute(insert(table), [dict(row) for row in rows])
            logger.info("restored table %s", table.name)
        if target.dialect.name == "postgresql":
            _reset_sequences(writer)


def _reset_sequences(writer: object) -> None:
    """Rows came with their ids: move each id sequence past them."""
    for table in SQLModel.metadata.sorted_tables:
        column = table.columns.get("id")
        if column is None or not column.autoincrement:
            continue
        writer.execute(  # type: ignore[attr-defined]
            text(
                f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', 'id'), "
                f'COALESCE((SELECT MAX(id) FROM "{table.name}"), 0) + 1, false)'
            )
        )
