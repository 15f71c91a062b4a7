"""Outcome measures end to end over a real server and database: scales entered item by item and
scored by the server, the measures table with MDC/MCID verdicts and norms, the PDF progress report
(read back with ``pdftotext``, its first page rendered with ``pdftoppm``), the FHIR R4 export
(validated with ``fhir.resources`` and checked here against the code systems, UCUM units and
statuses allowed, which that library does not check), the CLI, and erasure of the new tables."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle

from clients.link import Link, ServerError
from games.base import Outcome, TrialResult
from games.events import Side
from scoring.metric import MetricValue
from scoring.outcomes.fhir import CATEGORY_SYSTEM, DOSE_SYSTEM, ITEM_SYSTEM, LOINC, MEASURE_SYSTEM, METRIC_SYSTEM, UCUM
from scoring.outcomes.measures import MEASURES
from server.storage.store import Store, TrialWrite
from tests.conftest import RunningServer

pytestmark = pytest.mark.db

CODE = "OUT-7"
# What an Observation may carry here: R4's status and category value sets, the LOINC codes of the
# catalogue, and the UCUM units StrideVR writes.
STATUSES = {"registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error", "unknown"}
CATEGORIES = {"social-history", "vital-signs", "imaging", "laboratory", "procedure", "survey", "exam", "therapy",
              "activity"}
LOINC_CODES = {m.loinc for m in MEASURES.values() if m.loinc}
UCUM_UNITS = {"{score}", "%", "s", "m", "m/s", "m2", "/min", "1", "deg"}
OWN_SYSTEMS = {MEASURE_SYSTEM, METRIC_SYSTEM, ITEM_SYSTEM, DOSE_SYSTEM}


def tool(name: str) -> str:
    """A poppler tool's path; skipped locally without poppler-utils, a failure in CI."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is missing (apt-get install poppler-utils)", pytrace=False)
        pytest.skip(f"{name} is missing (apt-get install poppler-utils)")
    return path


def pdf_text(pdf: Path) -> str:
    return subprocess.run([tool("pdftotext"), "-layout", str(pdf), "-"], check=True, capture_output=True,
                          text=True).stdout


def bbs(value: int, **override: int) -> dict[str, int]:
    return {f"b{n}": value for n in range(1, 15)} | override


def seed_training(store: Store, running: RunningServer, patient_id: int) -> tuple[int, int]:
    """An assessment with a Timed Up and Go and gait speed, a later one, and a stepping session of
    12 trials (4 s each, 9 with a movement) under a plan of 16 trials per session."""
    _, station, therapist = running.demo_records()
    first = running.seed_assessment(patient_id, {("tug_s", "", ""): 24.0, ("gait_speed_comfortable_m_s", "", ""): 0.42,
                                                 ("reach_pct_ll", "L", "anterior"): 40.0})
    later = running.seed_assessment(patient_id, {("tug_s", "", ""): 19.8, ("gait_speed_comfortable_m_s", "", ""): 0.61,
                                                 ("reach_pct_ll", "L", "anterior"): 55.0})
    store.save_plan(therapist.clinic_id, therapist.id, patient_id,
                    {"stepping": {"settings": {"trials": 16}, "difficulty": {}}}, later, "three times a week")
    session = store.start_session(patient_id, station.id, therapist.id, therapist.clinic_id, "stepping", {}, [])
    writes = [TrialWrite(session, patient_id, TrialResult(
        index=i, foot=Side.LEFT, direction="anterior", direction_deg=0.0, target_x_m=-0.1, target_y_m=0.3,
        target_distance_m=0.3, target_radius_m=0.1, outcome=Outcome.HIT if i < 9 else Outcome.TIMEOUT,
        shown_at_s=10.0 * i, ended_at_s=10.0 * i + 4.0, reaction_time_s=0.4,
        movement_time_s=0.6 if i < 9 else None, placement_error_m=0.02, landing_x_m=-0.09, landing_y_m=0.31,
        foot_lift_m=0.06, difficulty={}), [], []) for i in range(12)]
    store.record_trials(writes)
    store.record_session_metrics(session, patient_id, "gait",
                                 [MetricValue("gait", "step_length_m", 0.31, "L"),
                                  MetricValue("gait", "step_length_m", 0.42, "R"),
                                  MetricValue("gait", "cadence_steps_per_min", 72.0)])
    store.end_session(session, "completed")
    return first, session


async def test_scales_measures_report_and_fhir_over_the_server(running: RunningServer, tmp_path: Path) -> None:
    therapist = await Link.therapist(running.url, running.creds.username, running.creds.password)
    patient_id = (await therapist.call({"type": "create_patient", "code": CODE, "affected_side": "L",
                                        "leg_length_m": 0.85, "notes": "Right MCA stroke, walks with a stick"}))[
        "patient"]["id"]
    catalogue = await therapist.call({"type": "outcome_catalogue"})
    scales = {s["id"]: s for s in catalogue["scales"]}
    assert {"bbs", "fma_le", "fac", "mas", "light_touch", "vibration", "jps", "star_cancellation", "line_bisection",
            "cbs"} <= set(scales)
    assert [i["choices"] for i in scales["bbs"]["items"]] == [[0, 1, 2, 3, 4]] * 14
    assert {m["id"]: m["mdc"] for m in catalogue["measures"]}["bbs"] == 6.0

    await therapist.call({"type": "set_patient_details", "patient_id": patient_id, "birth_year": 1954, "sex": "F"})
    today = datetime.now(UTC).date()
    first_day, later_day = today - timedelta(days=30), today - timedelta(days=2)
    saved = await therapist.call({"type": "save_scale", "patient_id": patient_id, "scale": "bbs",
                                  "items": bbs(2, b1=3), "assessed_at": first_day.isoformat(),
                                  "note": "baseline with a frame"})
    assert saved["result"]["total"] == 29
    later = await therapist.call({"type": "save_scale", "patient_id": patient_id, "scale": "bbs",
                                  "items": {k: v for k, v in bbs(3, b2=4).items() if k != "b3"},
                                  "assessed_at": later_day.isoformat()})
    assert later["result"]["items"]["b3"] == 4 and later["result"]["total"] == 44  # Berg's rule filled item 3
    mas = await therapist.call({"type": "save_scale", "patient_id": patient_id, "scale": "mas",
                                "items": {"L.ankle_plantarflexors": "1+", "L.knee_extensors": "1"},
                                "assessed_at": later_day.isoformat()})
    assert mas["result"]["total"] == 1.5 and mas["result"]["items"]["L.ankle_plantarflexors"] == "1+"

    # answers a scale cannot score, a scale that does not exist, a future date: refused, nothing stored
    for bad, match in (({"scale": "bbs", "items": bbs(2, b5=5)}, "b5"),
                       ({"scale": "fma_le", "items": {"f_time": 2}}, "every item"),
                       ({"scale": "berg", "items": bbs(2)}, "no scale"),
                       ({"scale": "bbs", "items": bbs(2), "assessed_at": (today + timedelta(days=5)).isoformat()},
                        "future")):
        with pytest.raises(ServerError, match=match) as info:
            await therapist.call({"type": "save_scale", "patient_id": patient_id,
                                  "assessed_at": today.isoformat(), **bad})
        assert info.value.code == "bad_field"
    with pytest.raises(ServerError) as info:
        await therapist.call({"type": "list_scales", "patient_id": patient_id + 99})
    assert info.value.code == "not_found"

    store = running.store.store
    first_assessment, stepping = seed_training(store, running, patient_id)

    listed = await therapist.call({"type": "list_scales", "patient_id": patient_id})
    assert [r["total"] for r in listed["results"]] == [29, 44, 1.5]
    assert listed["details"] == {"birth_year": 1954, "sex": "F"}
    rows = {r["measure"]: r for r in listed["measures"]}
    assert (rows["bbs"]["baseline"], rows["bbs"]["latest"], rows["bbs"]["verdict"]) == (29, 44, "improved_mdc")
    assert rows["bbs"]["norm"] == (53 if today.year - 1954 >= 70 else 55)  # Steffen 2002, women
    assert rows["tug"]["verdict"] == "improved_mdc" and rows["tug"]["change"] == pytest.approx(-4.2)
    assert rows["gait_speed_comfortable"]["verdict"] == "improved_mcid"
    assert rows["mas_max"]["verdict"] == "single"
    assert [(w["sessions"], w["active_s"], w["trials"], w["repetitions"], w["adherence"]) for w in listed["dose"]] == [
        (1, 48.0, 12, 9, 0.75)]

    # -- the PDF progress report ------------------------------------------------------------------
    reply = await therapist.call({"type": "progress_report", "patient_id": patient_id,
                                  "from": (today - timedelta(days=60)).isoformat(), "to": today.isoformat()})
    assert reply["filename"].startswith(f"stridevr_{CODE}_") and reply["filename"].endswith("_report.pdf")
    pdf = tmp_path / reply["filename"]
    pdf.write_bytes(base64.b64decode(reply["pdf_base64"]))
    assert pdf.read_bytes().startswith(b"%PDF")
    text = pdf_text(pdf)
    flat = " ".join(text.split())
    for expected in (f"Patient code {CODE}", "Affected side left", "Leg length 85.0 cm", "born 1954", "female",
                     f"Period {(today - timedelta(days=60)).isoformat()} to {today.isoformat()}",
                     "Right MCA stroke, walks with a stick", "baseline with a frame", "three times a week",
                     "Stevenson TJ", "Tilson JK", "Flansbjer UB", "reach (% leg length) left anterior 40 55 +15"):
        assert expected in flat, expected
    # each measure's row: name, baseline, latest, change, MDC / MCID, the verdict's first words, the norm
    norm_band = "70-79 y" if today.year - 1954 >= 70 else "60-69 y"
    for start, cells in (("Berg Balance Scale", ("29", "44", "+15", "6/–", "improved: beyond")),
                         ("10-metre walk", ("0.42", "0.61", "+0.19", "– / 0.16", "improved: reaches")),
                         ("Timed Up and Go (s)", ("24.0", "19.8", "-4.2", "2.9 / –", "improved: beyond")),
                         ("Modified Ashworth", ("1.5", "one result only"))):
        line = next(line for line in text.splitlines() if line.strip().startswith(start))
        assert all(cell in line for cell in cells), (start, line)
        if start != "Modified Ashworth":
            assert norm_band in line, line
    # dose: 12 trials of 4 s, 9 with a movement, 16 planned: 0.8 min, 75 %
    week = "{}-W{:02d}".format(*datetime.now(UTC).isocalendar()[:2])
    assert f"{week} 1 0.8 12 9 75 %" in flat
    assert f"#{stepping} stepping 0.8 12 9 16 75 %" in flat
    shots = Path(os.environ.get("STRIDEVR_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    subprocess.run([tool("pdftoppm"), "-r", "60", "-png", str(pdf), str(shots / "outcomes-report")], check=True)
    assert (shots / "outcomes-report-1.png").stat().st_size > 10_000

    # -- the FHIR export --------------------------------------------------------------------------
    exported = await therapist.call({"type": "fhir_export", "patient_id": patient_id})
    bundle = exported["bundle"]
    Bundle.model_validate(bundle)
    resources = check_fhir(bundle, CODE)
    observations = [r for r in resources if r["resourceType"] == "Observation"]
    by_code = {c["code"]: o for o in observations for c in o["code"]["coding"]}
    assert by_code["89423-8"]["valueQuantity"]["value"] in (24.0, 19.8)  # TUG, by its LOINC code
    assert by_code["83172-7"]["valueQuantity"]["code"] == "m/s"
    berg = [o for o in observations if o["code"]["coding"][0]["code"] == "bbs"]
    assert sorted(o["valueQuantity"]["value"] for o in berg) == [29, 44]
    assert {c["code"]["coding"][0]["code"] for c in berg[0]["component"]} >= {f"bbs.b{n}" for n in range(1, 15)}
    steps = by_code["step_length_m"]
    assert {(c["code"]["coding"][0]["code"], c["valueQuantity"]["value"]) for c in steps["component"]} == {
        ("step_length_m:L:", 0.31), ("step_length_m:R:", 0.42)}
    dose = by_code["session_dose"]
    assert {c["code"]["coding"][0]["code"]: c["valueQuantity"]["value"] for c in dose["component"]} == {
        "active_time": 48.0, "trials": 12, "repetitions": 9, "adherence": 75.0}

    one = await therapist.call({"type": "fhir_export", "patient_id": patient_id, "session_id": first_assessment})
    session_obs = [e["resource"] for e in one["bundle"]["entry"] if e["resource"]["resourceType"] == "Observation"]
    check_fhir(one["bundle"], CODE)
    assert {o["code"]["coding"][-1]["code"] for o in session_obs} == {"tug", "gait_speed_comfortable", "reach_pct_ll"}
    with pytest.raises(ServerError) as info:
        await therapist.call({"type": "fhir_export", "patient_id": patient_id, "session_id": 10**6})
    assert info.value.code == "not_found"

    audit = {e["action"] for e in store.audit_entries(running.demo_records()[2].clinic_id, _query(patient_id))}
    assert {"save_scale", "set_patient_details", "list_scales", "progress_report", "fhir_export"} <= audit
    await therapist.close()


def _query(patient_id: int) -> Any:
    from server.storage.store import AuditQuery
    return AuditQuery(subject=f"patient:{patient_id}", limit=500)


def check_fhir(bundle: dict[str, Any], code: str) -> list[dict[str, Any]]:
    """What fhir.resources does not check: the values allowed for statuses, categories, code systems
    and units; references that resolve within the bundle; a Patient known by its code only."""
    assert bundle["type"] == "collection"
    urls = {e["fullUrl"] for e in bundle["entry"]}
    resources = [e["resource"] for e in bundle["entry"]]
    patients = [r for r in resources if r["resourceType"] == "Patient"]
    assert len(patients) == 1 and [i["value"] for i in patients[0]["identifier"]] == [code]
    assert "name" not in patients[0] and "address" not in patients[0]
    assert {r["resourceType"] for r in resources} <= {"Patient", "Device", "Observation"}

    def quantities(o: dict[str, Any]) -> list[dict[str, Any]]:
        return [q for q in [o.get("valueQuantity"), *(c.get("valueQuantity") for c in o.get("component", []))] if q]

    for o in (r for r in resources if r["resourceType"] == "Observation"):
        assert o["status"] in STATUSES and o["status"] == "final"
        assert {c["code"] for cat in o["category"] for c in cat["coding"]} <= CATEGORIES
        assert all(c["system"] == CATEGORY_SYSTEM for cat in o["category"] for c in cat["coding"])
        for coding in o["code"]["coding"]:
            assert coding["system"] in OWN_SYSTEMS | {LOINC}
            if coding["system"] == LOINC:
                assert coding["code"] in LOINC_CODES
        assert o["subject"]["reference"] in urls and o["subject"]["reference"] == patients[0]["id"].join(
            ("urn:uuid:", ""))
        if "device" in o:
            assert o["device"]["reference"] in urls
        assert "effectiveDateTime" in o or "effectivePeriod" in o
        found = quantities(o)
        assert found or o.get("component")
        for q in found:
            assert q["system"] == UCUM and q["code"] in UCUM_UNITS, q
            assert isinstance(q["value"], int | float)
    return resources


async def test_report_and_fhir_from_the_command_line(running: RunningServer, tmp_path: Path) -> None:
    store, _, therapist = running.demo_records()
    patient = store.create_patient(therapist.clinic_id, therapist.id, "CLI-3", "R", 0.9, None, "")
    seed_training(store, running, patient.id)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    base = [sys.executable, "-m", "server", "--database-url", running.server.settings.database_url]
    pdf, fhir = tmp_path / "report.pdf", tmp_path / "bundle.json"
    today = datetime.now(UTC).date().isoformat()
    done = subprocess.run([*base, "report", "CLI-3", "--from", today, "--to", today, "--out", str(pdf)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    flat = " ".join(pdf_text(pdf).split())
    assert "Patient code CLI-3" in flat and "Timed Up and Go (s) 24.0" in flat and f"{today} to {today}" in flat
    done = subprocess.run([*base, "fhir", "CLI-3", "--out", str(fhir)], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    bundle = json.loads(fhir.read_text())
    Bundle.model_validate(bundle)
    check_fhir(bundle, "CLI-3")
    missing = subprocess.run([*base, "report", "NOBODY", "--out", str(tmp_path / "x.pdf")], capture_output=True,
                             text=True, env=env, timeout=120)
    assert missing.returncode == 1 and "no patient 'NOBODY'" in missing.stderr
    backwards = subprocess.run([*base, "report", "CLI-3", "--from", today, "--to", "2000-01-01", "--out",
                                str(tmp_path / "y.pdf")], capture_output=True, text=True, env=env, timeout=120)
    assert backwards.returncode == 2


async def test_scale_results_are_exported_and_erased_with_the_patient(running: RunningServer) -> None:
    store, _, therapist = running.demo_records()
    patient = store.create_patient(therapist.clinic_id, therapist.id, "ERASE-2", "L", 0.9, None, "")
    link = await Link.therapist(running.url, running.creds.username, running.creds.password)
    await link.call({"type": "save_scale", "patient_id": patient.id, "scale": "fac", "items": {"category": 2},
                     "assessed_at": datetime.now(UTC).date().isoformat()})
    await link.call({"type": "set_patient_details", "patient_id": patient.id, "birth_year": 1960})
    export = store.export_patient(therapist.clinic_id, patient.id, therapist.id)
    assert export is not None
    assert [r["total"] for r in export.tables["scale_results"]] == [2]
    assert export.tables["patient_details"][0]["birth_year"] == 1960
    erasure = store.erase_patient(therapist.clinic_id, patient.id, therapist.id)
    assert erasure is not None and erasure.deleted["scale_results"] == 1 and erasure.deleted["patient_details"] == 1
    await link.close()


async def test_another_clinic_sees_no_outcomes_of_the_patient(running: RunningServer) -> None:
    """Every outcome command is scoped to the therapist's clinic: another clinic's patient is not found."""
    from server import auth

    store, _, therapist = running.demo_records()
    patient = store.create_patient(therapist.clinic_id, therapist.id, "OWN-1", "L", 0.9, None, "")
    other_clinic = store.ensure_clinic("Other Clinic")
    store.create_therapist(other_clinic, "other-t", auth.hash_password("another long password"))
    other = await Link.therapist(running.url, "other-t", "another long password")
    today = datetime.now(UTC).date().isoformat()
    for request in ({"type": "save_scale", "scale": "fac", "items": {"category": 1}, "assessed_at": today},
                    {"type": "list_scales"}, {"type": "set_patient_details", "birth_year": 1950},
                    {"type": "progress_report"}, {"type": "fhir_export"}):
        with pytest.raises(ServerError) as info:
            await other.call({**request, "patient_id": patient.id})
        assert info.value.code == "not_found", request
    export = store.export_patient(therapist.clinic_id, patient.id, therapist.id)
    assert export is not None and export.tables["scale_results"] == [] and export.tables["patient_details"] == []
    await other.close()
