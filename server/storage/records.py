"""Plain records the store hands out: ORM objects never cross the storage thread."""

from __future__ import annotations

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

    def public(self) -> dict[str, object]:
        """What an admin's account list shows (never the password hash)."""
        return {"id": self.id, "username": self.username, "display_name": self.display_name,
                "role": self.role, "active": self.active}


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

    def public(self) -> dict[str, object]:
        return {
            "id": self.id,
            "code": self.code,
            "affected_side": self.affected_side,
            "leg_length_m": self.leg_length_m,
            "step_reach_m": self.step_reach_m,
            "notes": self.notes,
        }


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
