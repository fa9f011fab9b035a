"""indicator rules, explanations, pending confirmations, invite attempts

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28

Indicators keep their aliases, bounds and outlier policy; forms their cross-indicator rules;
a value the explanation given for it; the conversation what waits for confirmation. Values
become exact decimals so an indicator may take amounts (12.5万元) as well as counts. Failed
invite redemptions are recorded so guessing codes can be limited per user. An update's replies
are kept with its processed mark, so a crash between commit and sending cannot lose them. The
outbox counts sends whose delivery is ambiguous (timed out, or cut by a crash).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

import models.types

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Figures become exact decimals (amounts such as 12.5万元), counts stay whole numbers.
QUANTITY = sa.Numeric(20, 4, asdecimal=False)


def upgrade() -> None:
    op.create_table(
        "invite_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("telegram_user_id", sa.BigInteger(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("invite_attempt", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_invite_attempt_telegram_user_id"), ["telegram_user_id"], unique=False
        )
    with op.batch_alter_table("indicator", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("rules", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
    with op.batch_alter_table("form", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("rules", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
    with op.batch_alter_table("value", schema=None) as batch_op:
        batch_op.add_column(sa.Column("note", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.alter_column(
            "value", existing_type=sa.BigInteger(), type_=QUANTITY, existing_nullable=False
        )
    with op.batch_alter_table("value_revision", schema=None) as batch_op:
        for column, nullable in (("old_value", True), ("new_value", False)):
            batch_op.alter_column(
                column, existing_type=sa.BigInteger(), type_=QUANTITY, existing_nullable=nullable
            )
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("ambiguous", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("processed_update", schema=None) as batch_op:
        batch_op.add_column(sa.Column("replies", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("replied_at", models.types.UTCDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("conversation_state", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("notes", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
        batch_op.add_column(sa.Column("pending", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("invite_attempt", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invite_attempt_telegram_user_id"))
    op.drop_table("invite_attempt")
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_column("ambiguous")
    with op.batch_alter_table("processed_update", schema=None) as batch_op:
        batch_op.drop_column("replied_at")
        batch_op.drop_column("replies")
    with op.batch_alter_table("conversation_state", schema=None) as batch_op:
        batch_op.drop_column("pending")
        batch_op.drop_column("notes")
    with op.batch_alter_table("value_revision", schema=None) as batch_op:
        for column, nullable in (("old_value", True), ("new_value", False)):
            batch_op.alter_column(
                column, existing_type=QUANTITY, type_=sa.BigInteger(), existing_nullable=nullable
            )
    with op.batch_alter_table("value", schema=None) as batch_op:
        batch_op.alter_column(
            "value", existing_type=QUANTITY, type_=sa.BigInteger(), existing_nullable=False
        )
        batch_op.drop_column("note")
    with op.batch_alter_table("form", schema=None) as batch_op:
        batch_op.drop_column("rules")
    with op.batch_alter_table("indicator", schema=None) as batch_op:
        batch_op.drop_column("rules")
