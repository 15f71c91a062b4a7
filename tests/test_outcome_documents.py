"""The progress report and the FHIR export built from plain data (no server, no database): which
rows they take and leave out, stable resource ids, Modified Ashworth grades as codes, interrupted
sessions noted, and a PDF that starts as one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fhir.resources.R4B.bundle import Bundle

from scoring.outcomes.fhir import ITEM_SYSTEM, bundle
from scoring.outcomes.progress import build_report
from scoring.outcomes.records import PatientOutcomes
from scoring.outcomes.report_pdf import render

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def outcomes(**change: Any) -> PatientOutcomes:
    iso = lambda days: (T0 + timedelta(days=days)).isoformat()  # noqa: E731
    sessions = [
        {"session_id": 1, "game": "assessment", "started_at": iso(0), "ended_at": iso(0.01), "end_reason": "completed",
         "source": "live", "station": "st-1"},
        {"session_id": 2, "game": "stepping", "started_at": iso(3), "ended_at": None, "end_reason": None,
         "source": "live", "station": "st-1"},
        {"session_id": 3, "game": "stepping", "started_at": iso(4), "ended_at": iso(4.01), "end_reason": "completed",
         "source": "recording", "station": "st-2"},
        {"session_id": 4, "game": "assessment", "started_at": iso(20), "ended_at": iso(20.01),
         "end_reason": "completed", "source": "live", "station": "st-1"},
    ]
    metric = lambda sid, name, value, side="", interrupted=False: {  # noqa: E731
        "session_id": sid, "family": "assessment" if sid in (1, 4) else "gait", "metric": name, "side": side,
        "direction": "", "value": value, "sd": None, "n": None, "task": "", "interrupted": interrupted,
        "started_at": sessions[sid - 1]["started_at"]}
    data = dict(
        clinic="Clinic A",
        patient={"id": 5, "code": "P-5", "affected_side": "R", "leg_length_m": 0.9, "step_reach_m": None,
                 "notes": "", "birth_year": 1961, "sex": "M"},
        period=(None, None),
        scales=[{"scale_result_id": 9, "patient_id": 5, "therapist_id": 1, "scale": "mas", "assessed_at": iso(1),
                 "items": {"R.ankle_plantarflexors": "1+"}, "total": 1.5, "parts": {"R": 1.5}, "note": "",
                 "created_at": iso(1), "therapist": "T"}],
        sessions=sessions,
        trials=[{"session_id": 2, "trial_index": 0, "outcome": "hit", "shown_at_s": 0.0, "ended_at_s": 3.0,
                 "movement_time_s": 1.0},
                {"session_id": 3, "trial_index": 0, "outcome": "hit", "shown_at_s": 0.0, "ended_at_s": 3.0,
                 "movement_time_s": 1.0}],
        metrics=[metric(1, "tug_s", 16.0), metric(4, "tug_s", 15.0), metric(2, "step_length_m", 0.3, "L", True),
                 metric(3, "step_length_m", 0.5, "L")],
        plan=None)
    data.update(change)
    return PatientOutcomes(**data)  # type: ignore[arg-type]


def test_fhir_bundle_leaves_out_recordings_and_notes_interrupted_sessions() -> None:
    data = outcomes()
    first = bundle(data, T0 + timedelta(days=30))
    Bundle.model_validate(first)
    resources = [e["resource"] for e in first["entry"]]
    devices = [r for r in resources if r["resourceType"] == "Device"]
    assert [d["identifier"][0]["value"] for d in devices] == ["st-1"]  # st-2 only replayed a recording
    observations = [r for r in resources if r["resourceType"] == "Observation"]
    steps = [o for o in observations if o["code"]["coding"][0]["code"] == "step_length_m"]
    assert len(steps) == 1 and steps[0]["component"][0]["valueQuantity"]["value"] == 0.3
    assert "cut short" in steps[0]["note"][0]["text"]
    assert "effectiveDateTime" in steps[0]  # a session still open has no end
    mas = next(o for o in observations if o["code"]["coding"][0]["code"] == "mas_max")
    grade = mas["component"][0]["valueCodeableConcept"]["coding"][0]
    assert (grade["system"], grade["code"]) == (f"{ITEM_SYSTEM}:mas-grade", "1+")
    assert mas["valueQuantity"] == {"value": 1.5, "unit": "grade", "system": "http://unitsofmeasure.org",
                                    "code": "{score}"}
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    assert (patient["gender"], patient["birthDate"]) == ("male", "1961")
    # the same rows give the same resource ids on a later export
    again = bundle(data, T0 + timedelta(days=31))
    assert [e["fullUrl"] for e in again["entry"]] == [e["fullUrl"] for e in first["entry"]]
    # one session's bundle: its observations only, no scales
    one = bundle(outcomes(scales=[], sessions=data.sessions[:1], metrics=data.metrics[:1], trials=[]),
                 T0, session_id=1)
    assert [r["resourceType"] for r in (e["resource"] for e in one["entry"])] == ["Patient", "Device", "Observation"]


def test_report_compares_first_and_latest_and_renders_a_pdf() -> None:
    report = build_report(outcomes(), T0 + timedelta(days=30))
    rows = {r.measure.id: r for r in report.measures}
    tug = rows["tug"].comparison
    assert (tug.baseline, tug.latest, tug.verdict) == (16.0, 15.0, "within_mdc")  # 1 s < MDC 2.9 s
    assert tug.norm is not None and tug.norm.value == 8.1 and report.age == 65
    assert rows["mas_max"].comparison.verdict == "single"
    assert [d.session_id for d in report.sessions] == [2]  # assessments and recordings are not training
    pdf = render(report)
    assert pdf.startswith(b"%PDF") and len(pdf) > 5_000
