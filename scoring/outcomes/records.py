"""What the outcome documents are made from: one patient's stored outcomes over a period, read by
the server's store in one transaction and handed to the report and the FHIR export as plain data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class PatientOutcomes:
    """Everything a report or export shows of one patient over a period (None bounds: open).
    Rows are plain dicts, times ISO 8601 UTC, oldest first."""

    clinic: str
    patient: dict[str, Any]  # id, code, affected_side, leg_length_m, step_reach_m, notes, birth_year, sex
    period: tuple[datetime | None, datetime | None]
    scales: list[dict[str, Any]]  # every scale result up to the period's end (baseline may precede it)
    sessions: list[dict[str, Any]]  # sessions started within the period
    trials: list[dict[str, Any]]  # the trials of those sessions (timing fields only)
    metrics: list[dict[str, Any]]  # session metrics of those sessions
    plan: dict[str, Any] | None
    devices: dict[int, str] = field(default_factory=dict)  # session id -> station name
