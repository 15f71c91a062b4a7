"""Database tables (SQLAlchemy 2.0 typed ORM). Same schema on SQLite and PostgreSQL.

Units are in column names (``_m`` metres, ``_s`` seconds). Times are UTC.
Patients are pseudonymous: a clinic-chosen code, never a name.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: DateTime(timezone=True), dict[str, Any]: JSON}


class Clinic(Base):
    __tablename__ = "clinics"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


ADMIN, THERAPIST = "admin", "therapist"
ACCOUNT_ROLES = (ADMIN, THERAPIST)  # Therapist.role: an admin also manages the clinic's accounts and stations


class Therapist(Base):
    __tablename__ = "therapists"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"))
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    display_name: Mapped[str] = mapped_column(String(120), default="")
    active: Mapped[bool] = mapped_column(default=True)
    role: Mapped[str] = mapped_column(String(16), default=THERAPIST, server_default=THERAPIST)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    clinic: Mapped[Clinic] = relationship()


class TherapistSession(Base):
    """A login: its token (stored hashed) lets the panel reconnect until it expires or is revoked."""

    __tablename__ = "therapist_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    therapist_id: Mapped[int] = mapped_column(ForeignKey("therapists.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    # why: logout, password_changed, password_reset, deactivated (told to its open connections)
    revoked_reason: Mapped[str | None] = mapped_column(String(32), default=None)


class Patient(Base):
    __tablename__ = "patients"
    __table_args__ = (UniqueConstraint("clinic_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    affected_side: Mapped[str] = mapped_column(String(1))
    leg_length_m: Mapped[float] = mapped_column(Float)
    step_reach_m: Mapped[float | None] = mapped_column(Float, default=None)
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Station(Base):
    __tablename__ = "stations"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


DEVICE, HEADSET = "device", "headset"
STATION_ROLES = (DEVICE, HEADSET)


class StationCredential(Base):
    """A station's token for one role (stored hashed): a headset's token cannot say hello as the
    station's device, whose frames become trials, nor the other way round. Revoked: deleted."""

    __tablename__ = "station_credentials"
    __table_args__ = (UniqueConstraint("station_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class HeadsetPairing(Base):
    """A headset paired with a station by a short-lived code the panel showed, so nobody types a
    token in VR (``server/pairing.py``). While the code waits, ``code_hash`` holds its hash (unique:
    a code names its station); once used it is cleared, and the pairing holds the credentials it
    issued: a headset token, and a device token when the headset also streams its poses as the
    station's tracker. They are distinct from the station's own (``StationCredential``), so
    un-pairing (``revoked_at``) ends exactly these and nothing else."""

    __tablename__ = "headset_pairings"

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id"), index=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("therapists.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    tracker: Mapped[bool] = mapped_column(default=False)
    code_hash: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    code_expires_at: Mapped[datetime] = mapped_column()
    label: Mapped[str] = mapped_column(String(64), default="")
    paired_at: Mapped[datetime | None] = mapped_column(default=None)
    headset_token_hash: Mapped[str | None] = mapped_column(String(128), unique=True, default=None)
    device_token_hash: Mapped[str | None] = mapped_column(String(128), unique=True, default=None)
    last_seen_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


LIVE, RECORDING = "live", "recording"
SESSION_SOURCES = (LIVE, RECORDING)  # GameSession.source


class GameSession(Base):
    __tablename__ = "game_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id"))
    therapist_id: Mapped[int] = mapped_column(ForeignKey("therapists.id"))
    game: Mapped[str] = mapped_column(String(32))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    end_reason: Mapped[str | None] = mapped_column(String(64), default=None)
    # The server process that ran the game, so a restarting process closes only its own sessions.
    host_node: Mapped[str] = mapped_column(String(64), default="local", server_default="local")
    # Where the input came from: ``live`` (a patient on the station) or ``recording`` (a replay
    # tool streaming a file), so a replayed recording is never read as a patient's session.
    source: Mapped[str] = mapped_column(String(16), default=LIVE, server_default=LIVE)


class Trial(Base):
    __tablename__ = "trials"
    # One row per (session, trial index): a retried write can never store a trial twice.
    __table_args__ = (UniqueConstraint("session_id", "trial_index"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("game_sessions.id"), index=True)
    trial_index: Mapped[int] = mapped_column(Integer)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    foot: Mapped[str] = mapped_column(String(1))
    direction: Mapped[str] = mapped_column(String(32))
    direction_deg: Mapped[float] = mapped_column(Float)
    target_x_m: Mapped[float] = mapped_column(Float)
    target_y_m: Mapped[float] = mapped_column(Float)
    target_distance_m: Mapped[float] = mapped_column(Float)
    target_radius_m: Mapped[float] = mapped_column(Float)
    outcome: Mapped[str] = mapped_column(String(16))
    shown_at_s: Mapped[float] = mapped_column(Float)
    ended_at_s: Mapped[float] = mapped_column(Float)
    reaction_time_s: Mapped[float | None] = mapped_column(Float)
    movement_time_s: Mapped[float | None] = mapped_column(Float)
    placement_error_m: Mapped[float | None] = mapped_column(Float)
    landing_x_m: Mapped[float | None] = mapped_column(Float)
    landing_y_m: Mapped[float | None] = mapped_column(Float)
    foot_lift_m: Mapped[float | None] = mapped_column(Float)
    difficulty: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Game-specific measures, units in the keys (reach_m, reach_pct_ll, time_to_target_s, fault...).
    measures: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    # The session's training modes, "+"-joined ("mirror", "neglect_cueing", "proprioception"); ""
    # for plain play. Mirror trials are scored on the mirrored foot, so they must be told apart.
    mode: Mapped[str] = mapped_column(String(64), default="", server_default="")


class DifficultyChangeRow(Base):
    __tablename__ = "difficulty_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("game_sessions.id"), index=True)
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    after_trial_index: Mapped[int | None] = mapped_column(Integer)
    parameter: Mapped[str] = mapped_column(String(64))
    old_value: Mapped[float | None] = mapped_column(Float)
    new_value: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(String(200))


class RomSampleRow(Base):
    __tablename__ = "rom_samples"
    __table_args__ = (Index("ix_rom_patient_metric", "patient_id", "metric"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    session_id: Mapped[int] = mapped_column(ForeignKey("game_sessions.id"), index=True)
    trial_id: Mapped[int | None] = mapped_column(ForeignKey("trials.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    side: Mapped[str] = mapped_column(String(1))
    direction: Mapped[str] = mapped_column(String(32))
    metric: Mapped[str] = mapped_column(String(32))
    value_m: Mapped[float] = mapped_column(Float)


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    clinic_id: Mapped[int | None] = mapped_column(ForeignKey("clinics.id"))
    therapist_id: Mapped[int | None] = mapped_column(ForeignKey("therapists.id"))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(120), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class SessionMetric(Base):
    """One summary number of one session, for progress plots over weeks.

    ``family`` is ``gait`` (from the tracker's foot markers), ``rom`` (range of motion from the
    trials), ``assessment`` or a training mode's or game's own family (``balance``: whole-session
    centre-of-pressure sway, which older sessions of any game stored and new ones no longer do).
    ``metric`` carries its unit in its name (``step_length_m``, ``cadence_steps_per_min``,
    ``sway_area_eo_m2``). ``side`` is ``L``, ``R`` or ``""`` for both; ``direction`` is a reach
    direction, a balance source or ``""``. ``sd`` and ``n`` say how much the mean rests on, where
    the metric is a mean. ``task`` names the task that produced it: the game, and its assessment
    stage or training modes (``assessment:quiet_eyes_closed``, ``stepping:mirror``, ``weight_shift``).
    ``interrupted`` is true for the metrics of a session whose server died: computed on restart from
    the part of the session that was stored (:class:`SessionInputChunk`), not from all of it.
    """

    __tablename__ = "session_metrics"
    __table_args__ = (
        UniqueConstraint("session_id", "family", "metric", "side", "direction"),
        Index("ix_session_metrics_patient_metric", "patient_id", "metric"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("game_sessions.id"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    family: Mapped[str] = mapped_column(String(16))
    metric: Mapped[str] = mapped_column(String(48))
    side: Mapped[str] = mapped_column(String(1), default="")
    direction: Mapped[str] = mapped_column(String(32), default="")
    value: Mapped[float] = mapped_column(Float)
    sd: Mapped[float | None] = mapped_column(Float, default=None)
    n: Mapped[int | None] = mapped_column(Integer, default=None)
    task: Mapped[str] = mapped_column(String(64), default="", server_default="")
    interrupted: Mapped[bool] = mapped_column(default=False, server_default=false())


class SessionInputChunk(Base):
    """A running session's recorded input (tracker markers, balance points, game events), a few
    seconds per row, so a restarted server can compute the metrics of a session its crash cut short
    (``scoring.input_chunks`` packs and reads ``data``). Deleted when the session's metrics are
    stored: the table holds only sessions that are running or waiting for that.

    ``kind`` is ``markers``, ``events`` or a balance source (``cop``, ``com_proxy``); ``seq`` orders a
    session's chunks; ``samples`` rows span device times ``t_first_s``..``t_last_s`` (seconds; null
    for events); ``columns`` names the float64 columns of ``data`` with their units (``t_s``,
    ``L.heel.x_m``, ``ap_m``...).
    """

    __tablename__ = "session_input_chunks"
    __table_args__ = (UniqueConstraint("session_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("game_sessions.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    samples: Mapped[int] = mapped_column(Integer)
    t_first_s: Mapped[float | None] = mapped_column(Float)
    t_last_s: Mapped[float | None] = mapped_column(Float)
    columns: Mapped[list[str]] = mapped_column(JSON)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class Plan(Base):
    """A patient's training plan: per game, the ``start_game`` settings and starting difficulty the
    therapist accepted (often edited from a suggestion made from an assessment). The newest row is
    the current plan; older rows stay as the plan's history."""

    __tablename__ = "plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    therapist_id: Mapped[int] = mapped_column(ForeignKey("therapists.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The assessment session the suggestion came from, if any.
    source_session_id: Mapped[int | None] = mapped_column(ForeignKey("game_sessions.id"), default=None)
    games: Mapped[dict[str, Any]] = mapped_column(default=dict)
    note: Mapped[str] = mapped_column(Text, default="")


class ScaleResult(Base):
    """A therapist-entered scale (Berg, Fugl-Meyer, FAC, Modified Ashworth, sensation, neglect
    tests...; ``scoring.outcomes.scales``): the answers item by item as entered, and the total and
    part totals the scale's scoring rule computed from them. ``assessed_at`` is when the patient was
    tested (the therapist's date), ``created_at`` when it was stored."""

    __tablename__ = "scale_results"
    __table_args__ = (Index("ix_scale_results_patient_scale", "patient_id", "scale"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    therapist_id: Mapped[int] = mapped_column(ForeignKey("therapists.id"))
    scale: Mapped[str] = mapped_column(String(32))
    assessed_at: Mapped[datetime] = mapped_column()
    items: Mapped[dict[str, Any]] = mapped_column(default=dict)
    total: Mapped[float | None] = mapped_column(Float, default=None)
    parts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PatientDetails(Base):
    """What normative values need of a patient, kept apart from the pseudonymous record: birth year
    (never the date) and sex (``F``/``M``), both optional."""

    __tablename__ = "patient_details"

    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), primary_key=True)
    birth_year: Mapped[int | None] = mapped_column(Integer, default=None)
    sex: Mapped[str | None] = mapped_column(String(1), default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
