"""session input chunks and interrupted session metrics

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 06:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "session_input_chunks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("t_first_s", sa.Float(), nullable=True),
        sa.Column("t_last_s", sa.Float(), nullable=True),
        sa.Column("columns", sa.JSON(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["game_sessions.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("session_id", "seq"),
    )
    with op.batch_alter_table("session_input_chunks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_session_input_chunks_session_id"), ["session_id"], unique=False)
    with op.batch_alter_table("session_metrics", schema=None) as batch_op:
        batch_op.add_column(sa.Column("interrupted", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("session_metrics", schema=None) as batch_op:
        batch_op.drop_column("interrupted")
    with op.batch_alter_table("session_input_chunks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_session_input_chunks_session_id"))
    op.drop_table("session_input_chunks")
