"""How stored records appear in messages: the fields of each, in the wire's units and formats.

The store hands out typed records (``server.storage.records``); this is the one place that turns
them into message fields (times as ISO 8601 with their UTC offset, a success rate from counts, no
password hash ever), so the database and the protocol can change apart (``docs/protocol.md``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from server.storage.pairings import PairingRecord
from server.storage.records import (
    AssessmentRecord,
    AuditRecord,
    MetricRecord,
    PatientRecord,
    PlanRecord,
    ProgressPoint,
    SessionSummary,
    TherapistRecord,
    TrialRow,
)


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def account_fields(t: TherapistRecord) -> dict[str, Any]:
    """What an admin's account list shows (never the password hash)."""
    return {"id": t.id, "username": t.username, "display_name": t.display_name, "role": t.role, "active": t.active}


def patient_fields(p: PatientRecord) -> dict[str, Any]:
    return {"id": p.id, "code": p.code, "affected_side": p.affected_side, "leg_length_m": p.leg_length_m,
            "step_reach_m": p.step_reach_m, "notes": p.notes}


def metric_fields(m: MetricRecord) -> dict[str, Any]:
    return {"session_id": m.session_id, "family": m.family, "metric": m.metric, "side": m.side,
            "direction": m.direction, "value": m.value, "sd": m.sd, "n": m.n, "task": m.task,
            "interrupted": m.interrupted}


def progress_fields(p: ProgressPoint) -> dict[str, Any]:
    return {**metric_fields(p.metric), "game": p.game, "session_started_at": _time(p.session_started_at),
            "source": p.source}


def assessment_fields(a: AssessmentRecord) -> dict[str, Any]:
    return {"session_id": a.session_id, "started_at": _time(a.started_at), "source": a.source,
            "metrics": [metric_fields(m) for m in a.metrics]}


def plan_fields(p: PlanRecord) -> dict[str, Any]:
    return {"plan_id": p.id, "patient_id": p.patient_id, "therapist_id": p.therapist_id,
            "created_at": _time(p.created_at), "source_session_id": p.source_session_id, "games": p.games,
            "note": p.note}


def session_fields(s: SessionSummary) -> dict[str, Any]:
    return {"session_id": s.session_id, "game": s.game, "started_at": _time(s.started_at),
            "ended_at": _time(s.ended_at), "end_reason": s.end_reason, "source": s.source, "trials": s.trials,
            "hits": s.hits, "success_rate": s.hits / s.trials if s.trials else None, "mode": s.mode}


def trial_fields(t: TrialRow) -> dict[str, Any]:
    return {"game": t.game, "source": t.source, "recorded_at": _time(t.recorded_at), **t.columns}


def audit_fields(a: AuditRecord) -> dict[str, Any]:
    return {"id": a.id, "at": _time(a.at), "therapist_id": a.therapist_id, "username": a.username,
            "action": a.action, "subject": a.subject, "detail": a.detail}


def pairing_fields(p: PairingRecord, connected: list[str]) -> dict[str, Any]:
    """A paired headset as the panel lists it; ``connected``: the roles it is connected in here."""
    return {"pairing_id": p.id, "label": p.label, "tracker": p.tracker, "created_at": _time(p.created_at),
            "paired_at": _time(p.paired_at), "last_seen_at": _time(p.last_seen_at), "connected": sorted(connected)}
