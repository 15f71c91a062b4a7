"""Plain records the store hands out: ORM objects never cross the storage thread.

They hold what is stored, typed; how a record appears in a message is the protocol layer's
business (``server/record_fields.py``), so the database and the wire can change apart.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from games.base import TrialResult
from scoring.input_chunks import InputChunk
from scoring.trials import RomSample


@dataclass(frozen=True, slots=True)
class TherapistRecord:
    id: int
    clinic_id: int
    username: str
    display_name: str
    password_hash: str
    active: bool
    role: str  # models.ADMIN or models.THERAPIST


@dataclass(frozen=True, slots=True)
class StationRecord:
    id: int
    clinic_id: int
    name: str


@dataclass(frozen=True, slots=True)
class PatientRecord:
    id: int
    clinic_id: int
    code: str
    affected_side: str
    leg_length_m: float
    step_reach_m: float | None
    notes: str


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: int
    patient_id: int
    station_id: int
    game: str
    started_at: datetime
    ended_at: datetime | None
    end_reason: str | None


@dataclass(frozen=True, slots=True)
class StoredSession:
    """What the database holds of a session its server did not end: enough to compute its
    metrics as the end of the session would have (``server.recovery``)."""

    id: int
    patient_id: int
    game: str
    settings: dict[str, Any]  # the game's start settings, as stored with the session
    affected_side: str
    leg_length_m: float
    results: list[TrialResult]
    rom: list[RomSample]
    chunks: list[InputChunk]


@dataclass(frozen=True, slots=True)
class MetricRecord:
    """One stored session metric (``session_metrics``); the names as in :class:`scoring.metric.MetricValue`."""

    session_id: int
    family: str
    metric: str
    side: str
    direction: str
    value: float
    sd: float | None
    n: int | None
    task: str
    interrupted: bool


@dataclass(frozen=True, slots=True)
class ProgressPoint:
    """A stored metric with the session it came from, for progress over sessions."""

    metric: MetricRecord
    game: str
    session_started_at: datetime
    source: str


@dataclass(frozen=True, slots=True)
class AssessmentRecord:
    """One assessment session with its stored metrics."""

    session_id: int
    source: str
    started_at: datetime
    metrics: list[MetricRecord]


@dataclass(frozen=True, slots=True)
class PlanRecord:
    id: int
    patient_id: int
    therapist_id: int | None
    created_at: datetime
    source_session_id: int | None
    games: dict[str, Any]  # {game: {"settings": {...}, "difficulty": {...}}}, as start_game takes them
    note: str


class NoPlan(enum.Enum):
    """A patient none of whose plans was ever saved (distinct from no such patient: None)."""

    NO_PLAN = "no plan"


NO_PLAN = NoPlan.NO_PLAN


@dataclass(frozen=True, slots=True)
class SessionSummary:
    """A patient's session with its trial and hit counts and training modes."""

    session_id: int
    game: str
    started_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    source: str
    trials: int
    hits: int
    mode: str  # the training modes joined with "+", "" for none


@dataclass(frozen=True, slots=True)
class TrialRow:
    """A stored trial for export: its session's game and source, and the trial table's columns
    (outcome, side, direction, measures...) as stored, under their column names."""

    game: str
    source: str
    recorded_at: datetime
    columns: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    at: datetime
    therapist_id: int | None
    username: str | None
    action: str
    subject: str
    detail: dict[str, Any]
