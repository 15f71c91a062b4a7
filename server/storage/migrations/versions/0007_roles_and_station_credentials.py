"""account roles, revocation reasons and per-role station credentials

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 09:00:00

Every existing account becomes a ``therapist`` (a clinic ``admin`` is made with the CLI). A
session token says why it was revoked. A station's single token becomes its ``device`` credential
(so it keeps working for the station's tracker or mat); a ``headset`` credential is issued with
``python -m server station-token STATION --role headset``.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("therapists", schema=None) as batch_op:
        batch_op.add_column(sa.Column("role", sa.String(length=16), server_default="therapist", nullable=False))
    with op.batch_alter_table("therapist_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revoked_reason", sa.String(length=32), nullable=True))
    op.create_table(
        "station_credentials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("station_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["station_id"], ["stations.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("station_id", "role"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("station_credentials", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_station_credentials_station_id"), ["station_id"], unique=False)
    conn = op.get_bind()
    stations = sa.table("stations", sa.column("id", sa.Integer), sa.column("token_hash", sa.String),
                        sa.column("created_at", sa.DateTime(timezone=True)))
    credentials = sa.table("station_credentials", sa.column("station_id", sa.Integer),
                           sa.column("role", sa.String), sa.column("token_hash", sa.String),
                           sa.column("created_at", sa.DateTime(timezone=True)))
    rows = [{"station_id": sid, "role": "device", "token_hash": token_hash, "created_at": created}
            for sid, token_hash, created in conn.execute(
                sa.select(stations.c.id, stations.c.token_hash, stations.c.created_at)).all()]
    if rows:
        conn.execute(sa.insert(credentials), rows)
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+): a batch would copy stations, which other
    # tables refer to (see 0006).
    op.drop_column("stations", "token_hash")


def downgrade() -> None:
    op.add_column("stations", sa.Column("token_hash", sa.String(length=128), server_default="", nullable=False))
    conn = op.get_bind()
    stations = sa.table("stations", sa.column("id", sa.Integer), sa.column("token_hash", sa.String))
    credentials = sa.table("station_credentials", sa.column("station_id", sa.Integer),
                           sa.column("role", sa.String), sa.column("token_hash", sa.String))
    for sid, token_hash in conn.execute(sa.select(credentials.c.station_id, credentials.c.token_hash)
                                        .where(credentials.c.role == "device")).all():
        conn.execute(sa.update(stations).where(stations.c.id == sid).values(token_hash=token_hash))
    op.drop_table("station_credentials")
    op.drop_column("therapist_sessions", "revoked_reason")
    op.drop_column("therapists", "role")
