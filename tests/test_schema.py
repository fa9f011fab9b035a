"""The migrations build exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine
from sqlmodel import SQLModel

import models.tables  # noqa: F401


def test_migrations_match_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == []


def test_a_database_of_the_first_release_upgrades_without_loss(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Rounds made before lock times existed lock at their deadline; rows are kept."""
    import os

    from sqlalchemy import text

    from models.db import make_engine, upgrade

    url = os.environ.get("FIGBOT_TEST_DATABASE_URL") or f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    if url.startswith("postgresql"):
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    try:
        upgrade(url, "0001")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO office (code, name, timezone, active, created_at) "
                    "VALUES ('o', 'O', 'Asia/Shanghai', true, '2026-10-01 00:00:00')"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO form (key, name, period_kind, indicator_keys, "
                    "deadline_days, deadline_time, active) VALUES "
                    "('monthly', 'M', 'month', '[\"a\"]', 3, '18:00', true)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO round (form_id, office_id, period, indicator_keys, "
                    "opens_at, deadline, status) VALUES (1, 1, '2026-10', '[\"a\"]', "
                    "'2026-10-25 01:00:00', '2026-11-03 10:00:00', 'open')"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO outbox_message (dedupe_key, chat_id, text, status, "
                    "attempts, created_at) VALUES ('k', 1, 'hi', 'sent', 1, "
                    "'2026-10-25 01:00:00')"
                )
            )
        upgrade(url)
        with engine.connect() as conn:
            deadline, lock_at = conn.execute(text("SELECT deadline, lock_at FROM round")).one()
            assert lock_at == deadline
            assert conn.execute(text("SELECT kind, text FROM outbox_message")).one() == (
                "message",
                "hi",
            )
            assert conn.execute(text("SELECT count(*) FROM form")).scalar() == 1
    finally:
        if url.startswith("postgresql"):  # leave the shared test database as the suite expects
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
            upgrade(url)
        engine.dispose()
