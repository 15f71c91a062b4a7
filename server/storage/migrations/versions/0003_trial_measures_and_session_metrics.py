"""trial measures and session metrics

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 15:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("trials", schema=None) as batch_op:
        batch_op.add_column(sa.Column("measures", sa.JSON(), server_default="{}", nullable=False))
    op.create_table(
        "session_metrics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("family", sa.String(length=16), nullable=False),
        sa.Column("metric", sa.String(length=48), nullable=False),
        sa.Column("side", sa.String(length=1), nullable=False),
        sa.Column("direction", sa.String(length=32), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("sd", sa.Float(), nullable=True),
        sa.Column("n", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"]),
        sa.ForeignKeyConstraint(["session_id"], ["game_sessions.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("session_id", "family", "metric", "side", "direction"),
    )
    with op.batch_alter_table("session_metrics", schema=None) as batch_op:
        batch_op.create_index("ix_session_metrics_patient_metric", ["patient_id", "metric"], unique=False)
        batch_op.create_index(batch_op.f("ix_session_metrics_session_id"), ["session_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("session_metrics", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_session_metrics_session_id"))
        batch_op.drop_index("ix_session_metrics_patient_metric")
    op.drop_table("session_metrics")
    with op.batch_alter_table("trials", schema=None) as batch_op:
        batch_op.drop_column("measures")
