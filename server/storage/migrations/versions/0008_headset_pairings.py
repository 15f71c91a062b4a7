"""headset pairings: short-lived codes and the credentials each pairing issued

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 09:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "headset_pairings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("station_id", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tracker", sa.Boolean(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=True),
        sa.Column("code_expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("paired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("headset_token_hash", sa.String(length=128), nullable=True),
        sa.Column("device_token_hash", sa.String(length=128), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["created_by_id"], ["therapists.id"]),
        sa.ForeignKeyConstraint(["station_id"], ["stations.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code_hash"),
        sa.UniqueConstraint("device_token_hash"),
        sa.UniqueConstraint("headset_token_hash"),
    )
    with op.batch_alter_table("headset_pairings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_headset_pairings_station_id"), ["station_id"], unique=False)


def downgrade() -> None:
    op.drop_table("headset_pairings")
