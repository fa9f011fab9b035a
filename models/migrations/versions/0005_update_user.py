"""processed updates remember their user

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28

When Telegram delivers an update again after a crash, its kept replies are sent only if the
user has sent nothing since: a question repeated after the user has moved on would be answered
against the wrong question. Rows made before this revision have no user and behave as before.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("processed_update", schema=None) as batch_op:
        batch_op.add_column(sa.Column("user_id", sa.BigInteger(), nullable=True))
        batch_op.create_index(
            "ix_processed_update_user_id_update_id", ["user_id", "update_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("processed_update", schema=None) as batch_op:
        batch_op.drop_index("ix_processed_update_user_id_update_id")
        batch_op.drop_column("user_id")
