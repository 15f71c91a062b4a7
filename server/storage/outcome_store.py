"""The store's part for outcome measures: scale results, the patient details norms need, and the
one read that gathers everything a progress report or FHIR export shows for a patient and period.

Kept beside :class:`server.storage.store.Store` (whose engine it shares) rather than inside it, so
that the outcome features stay in one place. Like the store, every call is a small synchronous
transaction, run by the server on the store's worker thread; every call is scoped to a clinic and
audited where it reads or changes a patient's record.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from scoring.outcomes.records import PatientOutcomes
from scoring.outcomes.scales import SCALES
from server.storage.models import (
    AuditEntry,
    Clinic,
    GameSession,
    Patient,
    PatientDetails,
    Plan,
    ScaleResult,
    SessionMetric,
    Station,
    Therapist,
    Trial,
    utcnow,
)
from server.storage.store import Store, StoreError


class OutcomeStore:
    def __init__(self, store: Store) -> None:
        self._sessions = sessionmaker(store.engine, expire_on_commit=False)

    def save_scale(self, clinic_id: int, therapist_id: int, patient_id: int, scale: str,
                   items: dict[str, Any], assessed_at: datetime, note: str) -> dict[str, Any] | None:
        """Score and store one scale (None: not this clinic's patient). Raises ScaleError for
        answers the scale cannot score, StoreError for an unknown scale."""
        if scale not in SCALES:
            raise StoreError(f"no scale '{scale}' (known: {', '.join(SCALES)})")
        score = SCALES[scale].score(items)
        with self._sessions.begin() as s:
            if _clinic_patient(s, clinic_id, patient_id) is None:
                return None
            row = ScaleResult(patient_id=patient_id, therapist_id=therapist_id, scale=scale,
                              assessed_at=assessed_at, items=score.items, total=score.total, parts=score.parts,
                              note=note, created_at=utcnow())
            s.add(row)
            s.flush()
            s.add(AuditEntry(clinic_id=clinic_id, therapist_id=therapist_id, action="save_scale",
                             subject=f"patient:{patient_id}",
                             detail={"scale": scale, "scale_result_id": row.id, "total": score.total}))
            return _scale(row)

    def scale_results(self, clinic_id: int, patient_id: int, therapist_id: int | None) -> list[dict[str, Any]] | None:
        """A patient's scale results, oldest assessment first (None: not this clinic's), audited."""
        with self._sessions.begin() as s:
            if _clinic_patient(s, clinic_id, patient_id) is None:
                return None
            rows = [_scale(r) for r in s.scalars(select(ScaleResult).where(ScaleResult.patient_id == patient_id)
                                                 .order_by(ScaleResult.assessed_at, ScaleResult.id))]
            s.add(AuditEntry(clinic_id=clinic_id, therapist_id=therapist_id, action="list_scales",
                             subject=f"patient:{patient_id}", detail={"rows": len(rows)}))
            return rows

    def set_details(self, clinic_id: int, therapist_id: int, patient_id: int, birth_year: int | None,
                    sex: str | None) -> dict[str, Any] | None:
        with self._sessions.begin() as s:
            if _clinic_patient(s, clinic_id, patient_id) is None:
                return None
            row = s.get(PatientDetails, patient_id) or PatientDetails(patient_id=patient_id)
            row.birth_year, row.sex, row.updated_at = birth_year, sex, utcnow()
            s.add(row)
            s.add(AuditEntry(clinic_id=clinic_id, therapist_id=therapist_id, action="set_patient_details",
                             subject=f"patient:{patient_id}", detail={"fields": ["birth_year", "sex"]}))
            return {"patient_id": patient_id, "birth_year": birth_year, "sex": sex}

    def details(self, clinic_id: int, patient_id: int) -> dict[str, Any] | None:
        with self._sessions() as s:
            if _clinic_patient(s, clinic_id, patient_id) is None:
                return None
            row = s.get(PatientDetails, patient_id)
            return {"patient_id": patient_id, "birth_year": row.birth_year if row else None,
                    "sex": row.sex if row else None}

    def find_patient(self, code: str, clinic: str | None) -> tuple[int, int] | None:
        """(clinic id, patient id) of the patient with this code, in the named clinic or, with no
        clinic named, in the one clinic that has such a code. StoreError when that is ambiguous."""
        with self._sessions() as s:
            q = select(Patient.clinic_id, Patient.id).join(Clinic, Clinic.id == Patient.clinic_id).where(
                Patient.code == code)
            if clinic is not None:
                q = q.where(Clinic.name == clinic)
            rows = s.execute(q).all()
            if len(rows) > 1:
                raise StoreError(f"patient code {code!r} exists in {len(rows)} clinics: name one with --clinic")
            return None if not rows else (rows[0][0], rows[0][1])

    def outcomes(self, clinic_id: int, patient_id: int, therapist_id: int | None, action: str,
                 since: datetime | None = None, until: datetime | None = None,
                 session_id: int | None = None) -> PatientOutcomes | None:
        """What a report (``action`` ``progress_report``) or a FHIR export (``fhir_export``) shows,
        read in one transaction and audited (None: not this clinic's patient, or not its session)."""
        with self._sessions.begin() as s:
            p = _clinic_patient(s, clinic_id, patient_id)
            if p is None:
                return None
            clinic = s.get(Clinic, clinic_id)
            details = s.get(PatientDetails, patient_id)
            sq = select(GameSession, Station.name).join(Station, Station.id == GameSession.station_id).where(
                GameSession.patient_id == patient_id)
            if session_id is not None:
                sq = sq.where(GameSession.id == session_id)
            if since is not None:
                sq = sq.where(GameSession.started_at >= since)
            if until is not None:
                sq = sq.where(GameSession.started_at < until)
            found = s.execute(sq.order_by(GameSession.started_at, GameSession.id)).all()
            if session_id is not None and not found:
                return None
            sessions: list[dict[str, Any]] = [{"session_id": g.id, "game": g.game, "started_at": _iso(g.started_at),
                         "ended_at": _iso(g.ended_at) if g.ended_at else None, "end_reason": g.end_reason,
                         "source": g.source, "station": station} for g, station in found]
            ids = [row["session_id"] for row in sessions]
            trials = [{"session_id": t.session_id, "trial_index": t.trial_index, "outcome": t.outcome,
                       "shown_at_s": t.shown_at_s, "ended_at_s": t.ended_at_s, "movement_time_s": t.movement_time_s}
                      for t in s.scalars(select(Trial).where(Trial.session_id.in_(ids))
                                         .order_by(Trial.session_id, Trial.trial_index))] if ids else []
            started = {row["session_id"]: row["started_at"] for row in sessions}
            metrics = [{"session_id": m.session_id, "family": m.family, "metric": m.metric, "side": m.side,
                        "direction": m.direction, "value": m.value, "sd": m.sd, "n": m.n, "task": m.task,
                        "interrupted": m.interrupted, "started_at": started[m.session_id]}
                       for m in s.scalars(select(SessionMetric).where(SessionMetric.session_id.in_(ids))
                                          .order_by(SessionMetric.session_id, SessionMetric.id))] if ids else []
            scales: list[dict[str, Any]] = []
            if session_id is None:
                q = select(ScaleResult).where(ScaleResult.patient_id == patient_id)
                if until is not None:
                    q = q.where(ScaleResult.assessed_at < until)
                scales = [_scale(r) for r in s.scalars(q.order_by(ScaleResult.assessed_at, ScaleResult.id))]
            plan = s.scalars(select(Plan).where(Plan.patient_id == patient_id)
                             .order_by(Plan.created_at.desc(), Plan.id.desc()).limit(1)).first()
            names = s.execute(select(Therapist.id, Therapist.display_name).where(Therapist.clinic_id == clinic_id))
            therapists: dict[int, str] = {tid: name for tid, name in names}  # noqa: C416 (rows, not pairs, to mypy)
            for row in scales:
                row["therapist"] = therapists.get(row["therapist_id"], "")
            s.add(AuditEntry(clinic_id=clinic_id, therapist_id=therapist_id, action=action,
                             subject=f"patient:{patient_id}",
                             detail={"since": _iso(since) if since else None, "until": _iso(until) if until else None,
                                     "session_id": session_id, "sessions": len(sessions), "scales": len(scales)}))
            patient = {"id": p.id, "code": p.code, "affected_side": p.affected_side, "leg_length_m": p.leg_length_m,
                       "step_reach_m": p.step_reach_m, "notes": p.notes,
                       "birth_year": details.birth_year if details else None, "sex": details.sex if details else None}
            return PatientOutcomes(
                clinic.name if clinic else "", patient, (since, until), scales, sessions, trials, metrics,
                None if plan is None else {"plan_id": plan.id, "created_at": _iso(plan.created_at), "games": plan.games,
                                           "note": plan.note},
                {g.id: station for g, station in found})


def _clinic_patient(s: Session, clinic_id: int, patient_id: int) -> Patient | None:
    p = s.get(Patient, patient_id)
    return None if p is None or p.clinic_id != clinic_id else p


def _iso(value: datetime) -> str:
    return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).isoformat()


def _scale(r: ScaleResult) -> dict[str, Any]:
    return {"scale_result_id": r.id, "patient_id": r.patient_id, "therapist_id": r.therapist_id, "scale": r.scale,
            "assessed_at": _iso(r.assessed_at), "items": r.items, "total": r.total, "parts": r.parts,
            "note": r.note, "created_at": _iso(r.created_at)}


