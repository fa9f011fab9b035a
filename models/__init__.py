"""Persistence: SQLModel tables, the engine and sessions, keyword-only CRUD, Alembic migrations."""
