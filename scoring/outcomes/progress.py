"""What a progress report says, computed from a patient's stored outcomes: each standard measure's
baseline against its latest value with the MDC/MCID verdict and the norm for the patient's age and
sex, each measure's values by date for trend charts, StrideVR's own assessment metrics against
their baseline, and the training dose. The PDF (:mod:`scoring.outcomes.report_pdf`) only lays this
out, so what it prints is tested here as data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from scoring.assessment import compare as compare_assessment
from scoring.outcomes.dose import SessionDose, WeekDose, session_doses, week_doses
from scoring.outcomes.measures import BY_STORED_METRIC, MEASURES, Measure
from scoring.outcomes.records import PatientOutcomes
from scoring.outcomes.scales import SCALES
from scoring.outcomes.verdict import Comparison, compare
from scoring.smallest_change import SMALLEST_CHANGE, SmallestChange


@dataclass(frozen=True, slots=True)
class Point:
    at: datetime
    value: float
    label: str = ""  # "" for the measure's one value; a side ("L", "R") for per-side parts


@dataclass(frozen=True, slots=True)
class MeasureRow:
    measure: Measure
    baseline_at: datetime
    latest_at: datetime
    comparison: Comparison
    points: tuple[Point, ...]


@dataclass(frozen=True, slots=True)
class ProgressReport:
    clinic: str
    patient: dict[str, Any]
    age: int | None
    since: date | None
    until: date | None  # the period's last day
    generated_at: datetime
    measures: list[MeasureRow]
    assessment_rows: list[dict[str, Any]]
    assessment_dates: tuple[str | None, str | None]
    sessions: list[SessionDose]
    weeks: list[WeekDose]
    plan: dict[str, Any] | None
    notes: list[tuple[str, str]] = field(default_factory=list)  # (when / whose, text)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def build_report(data: PatientOutcomes, generated_at: datetime,
                 rules: Mapping[str, SmallestChange] = SMALLEST_CHANGE) -> ProgressReport:
    since, until = data.period
    end = until or generated_at
    birth_year = data.patient.get("birth_year")
    age = end.year - int(birth_year) if birth_year else None
    sex = data.patient.get("sex")

    series: dict[str, list[Point]] = {}
    for r in data.scales:
        if r["total"] is not None and r["scale"] in SCALES:
            series.setdefault(SCALES[r["scale"]].measure, []).append(Point(_at(r["assessed_at"]), float(r["total"])))
    for m in data.metrics:
        measure = BY_STORED_METRIC.get(m["metric"])
        if measure is not None and not m["side"]:
            series.setdefault(measure.id, []).append(Point(_at(m["started_at"]), float(m["value"])))
    rows = []
    for measure_id, points in series.items():
        measure = MEASURES[measure_id]
        points.sort(key=lambda p: p.at)
        first, last = points[0], points[-1]
        rows.append(MeasureRow(measure, first.at, last.at,
                               compare(measure, first.value, last.value, measure.norm_for(age, sex),
                                       single=len(points) == 1),
                               tuple(points)))
    order = list(MEASURES)
    rows.sort(key=lambda r: order.index(r.measure.id))

    assessments: dict[int, list[dict[str, Any]]] = {}
    for m in data.metrics:
        if m["family"] == "assessment" and m["metric"] not in BY_STORED_METRIC:
            assessments.setdefault(m["session_id"], []).append(m)
    assessment_rows: list[dict[str, Any]] = []
    dates: tuple[str | None, str | None] = (None, None)
    if assessments:
        ids = list(assessments)  # sessions come oldest first
        assessment_rows = compare_assessment(assessments[ids[0]], assessments[ids[-1]], rules)
        dates = (assessments[ids[0]][0]["started_at"], assessments[ids[-1]][0]["started_at"])

    doses = session_doses(data.sessions, data.trials, data.plan)
    notes: list[tuple[str, str]] = []
    if data.patient.get("notes"):
        notes.append(("Patient record", str(data.patient["notes"])))
    for r in data.scales:
        if r.get("note"):
            notes.append((f"{_at(r['assessed_at']).date().isoformat()} {SCALES[r['scale']].name}"
                          f"{', ' + r['therapist'] if r.get('therapist') else ''}", str(r["note"])))
    if data.plan and data.plan.get("note"):
        notes.append((f"Plan of {_at(data.plan['created_at']).date().isoformat()}", str(data.plan["note"])))
    last_day = (until - timedelta(days=1)).date() if until else None  # ``until`` is the day after the last
    return ProgressReport(data.clinic, data.patient, age, since.date() if since else None, last_day, generated_at,
                          rows, assessment_rows, dates, doses, week_doses(doses), data.plan, notes)
