"""session metric task and game session source

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 06:40:00

Every stored session metric names the task that produced it; sessions say whether their input was
live or a replayed recording. Existing metrics are labelled from their session: the game and its
trials' training modes, and for an assessment the stage each metric is computed from (the metric
names below are the ones ``scoring.assessment`` stores; a copy, since a migration must not change
when the code does).
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

QUIET_EO, QUIET_EC = "quiet_eyes_open", "quiet_eyes_closed"
ASSESSMENT_STAGE_OF = {
    "sway_velocity_eo_m_s": QUIET_EO, "sway_area_eo_m2": QUIET_EO, "quiet_centre_x_m": QUIET_EO,
    "quiet_centre_y_m": QUIET_EO, "sway_velocity_ec_m_s": QUIET_EC, "sway_area_ec_m2": QUIET_EC,
    "romberg_ratio": f"{QUIET_EO}+{QUIET_EC}",
    "los_forward_m": "limits_of_stability", "los_backward_m": "limits_of_stability",
    "los_side_m": "limits_of_stability", "symmetry_los_side": "limits_of_stability",
    "reach_pct_ll": "reach", "reach_composite_pct_ll": "reach", "symmetry_reach": "reach",
    "step_length_m": "walk", "step_time_s": "walk", "foot_lift_m": "walk", "cadence_steps_per_min": "walk",
    "symmetry_step_length": "walk", "symmetry_step_time": "walk", "symmetry_foot_lift": "walk",
    "reaction_time_s": "timed_stepping", "timed_stepping_s": "timed_stepping",
}


def upgrade() -> None:
    with op.batch_alter_table("session_metrics", schema=None) as batch_op:
        batch_op.add_column(sa.Column("task", sa.String(length=64), server_default="", nullable=False))
    with op.batch_alter_table("game_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source", sa.String(length=16), server_default="live", nullable=False))
    _backfill_tasks()


def _backfill_tasks() -> None:
    conn = op.get_bind()
    metrics = sa.table("session_metrics", sa.column("id", sa.Integer), sa.column("session_id", sa.Integer),
                       sa.column("family", sa.String), sa.column("metric", sa.String),
                       sa.column("task", sa.String))
    sessions = sa.table("game_sessions", sa.column("id", sa.Integer), sa.column("game", sa.String))
    trials = sa.table("trials", sa.column("session_id", sa.Integer), sa.column("mode", sa.String))
    modes = dict(conn.execute(sa.select(trials.c.session_id, sa.func.max(trials.c.mode))
                              .group_by(trials.c.session_id)).all())
    games = dict(conn.execute(sa.select(sessions.c.id, sessions.c.game)
                              .where(sessions.c.id.in_(sa.select(metrics.c.session_id)))).all())
    tasks: dict[str, list[int]] = {}
    for row_id, session_id, family, metric in conn.execute(
            sa.select(metrics.c.id, metrics.c.session_id, metrics.c.family, metrics.c.metric)).all():
        game = games.get(session_id, "")
        part = ASSESSMENT_STAGE_OF.get(metric, "") if family == "assessment" else modes.get(session_id) or ""
        task = f"{game}:{part}" if part else game
        tasks.setdefault(task, []).append(row_id)
    for task, ids in tasks.items():
        conn.execute(sa.update(metrics).where(metrics.c.id.in_(ids)).values(task=task))


def downgrade() -> None:
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+): a batch would copy game_sessions, which
    # SQLite, with foreign keys on, refuses to drop while other tables refer to it.
    op.drop_column("game_sessions", "source")
    op.drop_column("session_metrics", "task")
