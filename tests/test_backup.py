"""Backups of a live database and restoring them, also from the previous release's schema."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from sqlmodel import Session, SQLModel

from bot.config import FigbotConfig
from models.backup import BackupError, backup_sqlite, restore
from models.db import make_engine, upgrade, write_session
from models.tables import Value, ValueRevision
from services.catalog import sync_config
from services.reporting import Action, FiguresReadBack, answer_text, press
from tests.conftest import Clock
from tests.processes import config_file, run_figbot
from tests.store_helpers import bind, open_, submit

ANSWERS = [12, 5, 4, 2, 40, 3, 7, 300]


def _rows(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    with engine.connect() as conn:
        return {
            table.name: [
                dict(r)
                for r in conn.execute(select(table).order_by(*table.primary_key.columns)).mappings()
            ]
            for table in SQLModel.metadata.sorted_tables
        }


def _live_office(path: Path, config: FigbotConfig, clock: Clock) -> Engine:
    """A SQLite office with submissions, a correction with its reason and a draft in progress."""
    url = f"sqlite:///{path}"
    upgrade(url)
    engine = make_engine(url)
    with Session(engine, expire_on_commit=False) as session:
        sync_config(session, config=config)
        wang = bind(session, user_id=1, name="王芳", unit="jinhai", now=clock())
        chen = bind(session, user_id=3, name="陈敏", unit="dongling", now=clock())
        opened = open_(session, "2026-11", now=clock())
        submit(session, wang, opened.round_id, ANSWERS, clock())
        clock.advance(hours=1)
        (readback,) = answer_text(
            session, contact=wang, text="更正 调解6宗，原因：漏报一宗", now=clock()
        )
        assert isinstance(readback, FiguresReadBack)
        press(
            session,
            contact=wang,
            action=Action.CONFIRM,
            round_id=opened.round_id,
            key=readback.token,
            now=clock(),
        )
        press(session, contact=chen, action=Action.START, round_id=opened.round_id, now=clock())
        answer_text(session, contact=chen, text="7", now=clock())
        session.commit()
    return engine


def test_a_live_database_round_trips_through_backup_and_restore(
    tmp_path: Path, config: FigbotConfig, clock: Clock, db_url: str
) -> None:
    source = _live_office(tmp_path / "live.db", config, clock)
    # A write in progress while the backup runs is not in the copy (it is not committed).
    writer = sqlite3.connect(tmp_path / "live.db", timeout=30)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE value SET value = 999")
    try:
        counts = backup_sqlite(f"sqlite:///{tmp_path / 'live.db'}", tmp_path / "backup.db")
    finally:
        writer.rollback()
        writer.close()
    assert (
        counts.rows["value_revision"] == len(ANSWERS) + 1 and counts.rows["conversation_state"] == 1
    )

    restored = restore(tmp_path / "backup.db", db_url)
    assert restored == counts
    target = make_engine(db_url)
    try:
        assert _rows(target) == _rows(source)  # every row, every column, types included
        with Session(target) as session:
            last = session.scalars(
                select(ValueRevision).order_by(ValueRevision.id.desc())  # type: ignore[union-attr]
            ).first()
        # New rows continue after the restored ids (PostgreSQL sequences are moved on too).
        with write_session(target) as session:
            session.add(ValueRevision(submission_id=1, indicator_key="x", new_value=1, actor="t"))
            session.flush()
        with target.connect() as conn:
            ids = [
                row[0] for row in conn.execute(text("SELECT id FROM value_revision ORDER BY id"))
            ]
        assert ids[-1] == ids[-2] + 1
    finally:
        target.dispose()
        source.dispose()
    assert last is not None
    assert (last.old_value, last.new_value, last.reason) == (5, 6, "漏报一宗")


def test_restoring_into_a_database_with_data_is_refused(
    tmp_path: Path, config: FigbotConfig, clock: Clock
) -> None:
    _live_office(tmp_path / "live.db", config, clock).dispose()
    backup_sqlite(f"sqlite:///{tmp_path / 'live.db'}", tmp_path / "backup.db")
    with pytest.raises(BackupError, match="not empty"):
        restore(tmp_path / "backup.db", f"sqlite:///{tmp_path / 'live.db'}")
    with pytest.raises(BackupError, match="exists"):
        backup_sqlite(f"sqlite:///{tmp_path / 'live.db'}", tmp_path / "backup.db")
    with pytest.raises(BackupError, match="pg_dump"):
        backup_sqlite("postgresql+psycopg://postgres@127.0.0.1:5432/test", tmp_path / "pg.db")
    (tmp_path / "junk.db").write_bytes(b"not a database at all")
    with pytest.raises(BackupError, match="not a SQLite database|not a figbot database"):
        restore(tmp_path / "junk.db", f"sqlite:///{tmp_path / 'other.db'}")


def test_a_backup_is_readable_by_its_owner_only_from_its_first_byte(
    tmp_path: Path, config: FigbotConfig, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _live_office(tmp_path / "live.db", config, clock).dispose()
    modes_when_opened: list[int | None] = []  # the copy's mode when SQLite opens it to write
    real_connect = sqlite3.connect

    def connect(database: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        path = Path(database)
        if path.name.endswith(".partial"):
            modes_when_opened.append(stat.S_IMODE(path.stat().st_mode) if path.exists() else None)
        return real_connect(database, *args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", connect)
    previous = os.umask(0o022)  # what most systems have: files readable by everyone
    try:
        backup_sqlite(f"sqlite:///{tmp_path / 'live.db'}", tmp_path / "backups" / "b.db")
    finally:
        os.umask(previous)
    assert modes_when_opened == [0o600]
    assert stat.S_IMODE((tmp_path / "backups" / "b.db").stat().st_mode) == 0o600


def test_a_backup_of_the_previous_release_restores_and_upgrades(
    tmp_path: Path, db_url: str
) -> None:
    """Release 0003 stored counts as integers; they come back exact, with no note."""
    old = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(old, "0003")
    engine = make_engine(old)
    statements = [
        "INSERT INTO office (code, name, timezone, active, created_at) "
        "VALUES ('jinhu', '金湖', 'Asia/Shanghai', 1, '2026-10-01 00:00:00')",
        "INSERT INTO unit (office_id, code, name, kind, active, created_at) "
        "VALUES (1, 'jinhai', '金海社区', 'community', 1, '2026-10-01 00:00:00')",
        "INSERT INTO form (key, name, period_kind, indicator_keys, active) "
        "VALUES ('monthly', '月报', 'month', '[\"disputes_mediated\"]', 1)",
        "INSERT INTO round (form_id, office_id, period, indicator_keys, opens_at, deadline, "
        "lock_at, status) VALUES (1, 1, '2026-10', '[\"disputes_mediated\"]', "
        "'2026-10-25 01:00:00', '2026-11-03 10:00:00', '2026-11-05 10:00:00', 'locked')",
        "INSERT INTO submission (round_id, unit_id, submitted_at, updated_at, late, version) "
        "VALUES (1, 1, '2026-11-01 01:00:00', '2026-11-01 01:00:00', 0, 2)",
        "INSERT INTO value (submission_id, indicator_key, value, updated_at) "
        "VALUES (1, 'disputes_mediated', 6, '2026-11-01 01:00:00')",
        "INSERT INTO value_revision (submission_id, indicator_key, old_value, new_value, actor, "
        "via, at) VALUES (1, 'disputes_mediated', 5, 6, '王芳', 'chat', '2026-11-01 01:00:00')",
    ]
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))
    engine.dispose()
    restore(tmp_path / "old.db", db_url)
    target = make_engine(db_url)
    try:
        with Session(target) as session:
            value = session.scalars(select(Value)).one()
            revision = session.scalars(select(ValueRevision)).one()
    finally:
        target.dispose()
    assert (value.value, value.note) == (6, None) and isinstance(value.value, int)
    assert (revision.old_value, revision.new_value) == (5, 6)


@pytest.mark.slow
async def test_backup_and_restore_from_the_command_line(
    tmp_path: Path, config: FigbotConfig, clock: Clock, db_url: str
) -> None:
    _live_office(tmp_path / "live.db", config, clock).dispose()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    live = config_file(tmp_path / "a", f"sqlite:///{tmp_path / 'live.db'}")
    code, out, err = await run_figbot(
        "--config", str(live), "backup", "--out", str(tmp_path / "b.db"), clock=clock
    )
    assert code == 0, err
    assert "8 value, 9 value_revision" in out
    code, _, err = await run_figbot(
        "--config", str(live), "backup", "--out", str(tmp_path / "b.db"), clock=clock
    )
    assert code == 2 and "exists; choose a new file name" in err
    fresh = config_file(tmp_path / "b", db_url)
    code, out, err = await run_figbot(
        "--config",
        str(fresh),
        "restore",
        "--from",
        str(tmp_path / "b.db"),
        clock=clock,
    )
    assert code == 0, err
    assert "restored" in out and "2 contact" in out
    code, _, err = await run_figbot(
        "--config",
        str(fresh),
        "restore",
        "--from",
        str(tmp_path / "b.db"),
        clock=clock,
    )
    assert code == 2 and "the target database is not empty" in err


@pytest.mark.slow
async def test_a_backup_made_by_a_newer_figbot_is_refused_and_nothing_changes(
    tmp_path: Path, config: FigbotConfig, clock: Clock, db_url: str
) -> None:
    """A schema revision this release has no migration for: a newer figbot made the file."""
    _live_office(tmp_path / "newer.db", config, clock).dispose()
    with sqlite3.connect(tmp_path / "newer.db") as newer:
        newer.execute("UPDATE alembic_version SET version_num = '0099_from_the_future'")
    newer.close()
    fresh = config_file(tmp_path, db_url)
    before = _all_rows(db_url)
    code, out, err = await run_figbot(
        "--config", str(fresh), "restore", "--from", str(tmp_path / "newer.db"), clock=clock
    )
    assert code == 2 and out == ""
    assert err.endswith(
        f"figbot: {tmp_path / 'newer.db'} was made by a newer figbot (schema revision "
        "0099_from_the_future, unknown to this one); restore it with that release or a newer "
        "one\n"
    )
    assert _all_rows(db_url) == before  # nothing restored, nothing upgraded

    # The same database as the config's own: a command refuses it in one line, unchanged.
    (tmp_path / "b").mkdir()
    newer_config = config_file(tmp_path / "b", f"sqlite:///{tmp_path / 'newer.db'}")
    out_file = tmp_path / "summary.xlsx"
    newer_rows = _all_rows(f"sqlite:///{tmp_path / 'newer.db'}")
    code, out, err = await run_figbot(
        "--config",
        str(newer_config),
        "summary",
        "--period",
        "2026-11",
        "--out",
        str(out_file),
        clock=clock,
    )
    assert code == 2 and not out_file.exists()
    assert err.endswith(
        "figbot: the database's schema is at revision 0099_from_the_future, which this figbot "
        "does not know: a newer figbot release upgraded it; run that release (or newer)\n"
    )
    assert _all_rows(f"sqlite:///{tmp_path / 'newer.db'}") == newer_rows


def _all_rows(url: str) -> dict[str, list[dict[str, Any]]]:
    engine = make_engine(url)
    try:
        return _rows(engine)
    finally:
        engine.dispose()
