"""A patient's outcomes as a FHIR R4 Bundle (``collection``): the Patient (identified by the
clinic's pseudonymous code only: no name; birth year and sex where recorded), a Device per station
that measured, and an Observation per scale result, per stored session metric and per training
session's dose.

Codes: LOINC where a code exists for the measure (``Measure.loinc``), else StrideVR's own code
system (:data:`MEASURE_SYSTEM` for catalogue measures, :data:`METRIC_SYSTEM` for session metrics).
Units: UCUM. Sides and directions are components. Sessions replayed from recordings are left out:
they are not observations of the patient. Every resource is checked with ``fhir.resources`` (R4B
models, which share R4's Patient, Device, Observation and Bundle) before the bundle is returned.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle

from scoring.outcomes.dose import session_doses
from scoring.outcomes.measures import BY_STORED_METRIC, MEASURES, Measure
from scoring.outcomes.records import PatientOutcomes
from scoring.outcomes.scales import MAS_GRADES, SCALES
from scoring.outcomes.units import label, ucum

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"
MEASURE_SYSTEM = "urn:stridevr:fhir:outcome-measure"
METRIC_SYSTEM = "urn:stridevr:fhir:session-metric"
ITEM_SYSTEM = "urn:stridevr:fhir:scale-item"
DOSE_SYSTEM = "urn:stridevr:fhir:training-dose"
_NAMESPACE = uuid.UUID("6f1c7a52-3d0e-4d52-9a5f-8c4f2b7e1d10")  # stable ids: the same row, the same uuid
_SIDES = {"L": "left", "R": "right"}


def _urn(*parts: object) -> str:
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, '/'.join(map(str, parts)))}"


def _quantity(value: float, code: str, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": code}


def _category(code: str) -> list[dict[str, Any]]:
    return [{"coding": [{"system": CATEGORY_SYSTEM, "code": code}]}]


def measure_code(measure: Measure) -> dict[str, Any]:
    coding = [{"system": LOINC, "code": measure.loinc, "display": measure.name}] if measure.loinc else []
    coding.append({"system": MEASURE_SYSTEM, "code": measure.id, "display": measure.name})
    return {"coding": coding, "text": measure.name}


def _item_value(value: Any) -> dict[str, Any]:
    if isinstance(value, str):  # a Modified Ashworth grade such as "1+": the grade as entered
        return {"valueCodeableConcept": {"coding": [{"system": f"{ITEM_SYSTEM}:mas-grade", "code": value}],
                                         "text": f"grade {value} (counted {MAS_GRADES[value]:g})"}}
    return {"valueQuantity": _quantity(float(value), "{score}", "score")}


def bundle(data: PatientOutcomes, generated_at: datetime, session_id: int | None = None) -> dict[str, Any]:
    """The Bundle as JSON-ready data, validated; ``session_id``: only that session's observations."""
    clinic_key = data.clinic
    p = data.patient
    patient_url = _urn(clinic_key, "patient", p["id"])
    patient: dict[str, Any] = {
        "resourceType": "Patient", "id": patient_url.rpartition(":")[2],
        "identifier": [{"system": f"urn:stridevr:clinic:{_slug(clinic_key)}:patient-code", "value": p["code"]}],
        "active": True,
    }
    if p.get("sex") in ("F", "M"):
        patient["gender"] = "female" if p["sex"] == "F" else "male"
    if p.get("birth_year"):
        patient["birthDate"] = f"{int(p['birth_year']):04d}"
    entries: list[dict[str, Any]] = [{"fullUrl": patient_url, "resource": patient}]
    subject = {"reference": patient_url, "display": f"patient {p['code']}"}

    devices: dict[str, str] = {}
    for station in sorted({s["station"] for s in data.sessions if s["source"] == "live"}):
        url = _urn(clinic_key, "station", station)
        devices[station] = url
        entries.append({"fullUrl": url, "resource": {
            "resourceType": "Device", "id": url.rpartition(":")[2], "status": "active",
            "identifier": [{"system": f"urn:stridevr:clinic:{_slug(clinic_key)}:station", "value": station}],
            "deviceName": [{"name": f"StrideVR station {station}", "type": "user-friendly-name"}],
            "type": {"text": "StrideVR rehabilitation station (motion tracker, pressure mat or force plate)"}}})

    for r in data.scales if session_id is None else []:
        entries.append(_scale_entry(r, subject, clinic_key))
    sessions = {s["session_id"]: s for s in data.sessions if s["source"] == "live"}
    entries += _metric_entries(data.metrics, sessions, devices, subject, clinic_key)
    for dose in session_doses(sessions.values(), data.trials, data.plan):
        s = sessions[dose.session_id]
        components = [_component(DOSE_SYSTEM, "active_time", "active time in trials", _quantity(
            round(dose.active_s, 1), "s", "s")),
            _component(DOSE_SYSTEM, "trials", "trials", _quantity(dose.trials, "1", "trials")),
            _component(DOSE_SYSTEM, "repetitions", "repetitions", _quantity(dose.repetitions, "1", "repetitions"))]
        if dose.adherence is not None:
            components.append(_component(DOSE_SYSTEM, "adherence", "trials done ÷ trials planned",
                                         _quantity(round(100 * dose.adherence, 1), "%", "%")))
        url = _urn(clinic_key, "dose", dose.session_id)
        entries.append({"fullUrl": url, "resource": {
            "resourceType": "Observation", "id": url.rpartition(":")[2], "status": "final",
            "category": _category("therapy"),
            "code": {"coding": [{"system": DOSE_SYSTEM, "code": "session_dose", "display": "training dose"}],
                     "text": f"training dose, {dose.game}"},
            "subject": subject, **_effective(s), "device": {"reference": devices[s["station"]]},
            "component": components}})
    result = {"resourceType": "Bundle", "id": _urn(clinic_key, "bundle", p["id"], session_id,
                                                    generated_at.isoformat()).rpartition(":")[2],
              "type": "collection", "timestamp": generated_at.isoformat(), "entry": entries}
    Bundle.model_validate(result)  # raises on anything R4 does not allow
    return result


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-") or "clinic"


def _component(system: str, code: str, display: str, quantity: dict[str, Any]) -> dict[str, Any]:
    return {"code": {"coding": [{"system": system, "code": code, "display": display}], "text": display},
            "valueQuantity": quantity}


def _effective(session: dict[str, Any]) -> dict[str, Any]:
    if session.get("ended_at"):
        return {"effectivePeriod": {"start": session["started_at"], "end": session["ended_at"]}}
    return {"effectiveDateTime": session["started_at"]}


def _scale_entry(r: dict[str, Any], subject: dict[str, Any], clinic_key: str) -> dict[str, Any]:
    scale = SCALES[r["scale"]]
    measure = MEASURES[scale.measure]
    labels = {i.key: i.label for i in scale.items}
    components = [{"code": {"coding": [{"system": ITEM_SYSTEM, "code": f"{scale.id}.{key}",
                                        "display": labels[key][:120]}], "text": labels[key]}, **_item_value(value)}
                  for key, value in r["items"].items()]
    for part, value in (r.get("parts") or {}).items():
        name = _SIDES.get(part, part.replace("_", " "))
        components.append(_component(MEASURE_SYSTEM, f"{measure.id}.{part}", f"{measure.name}, {name}",
                                     _quantity(float(value), measure.ucum, measure.unit)))
    url = _urn(clinic_key, "scale", r["scale_result_id"])
    resource: dict[str, Any] = {
        "resourceType": "Observation", "id": url.rpartition(":")[2], "status": "final",
        "category": _category("survey"), "code": measure_code(measure), "subject": subject,
        "effectiveDateTime": r["assessed_at"], "issued": r["created_at"],
        "method": {"text": "therapist-entered, scored by StrideVR"}, "component": components}
    if r["total"] is not None:
        resource["valueQuantity"] = _quantity(float(r["total"]), measure.ucum, measure.unit)
    else:
        resource["dataAbsentReason"] = {"text": "too few items tested for a total"}
    if r.get("note"):
        resource["note"] = [{"text": r["note"]}]
    return {"fullUrl": url, "resource": resource}


def _metric_entries(metrics: Iterable[dict[str, Any]], sessions: dict[int, dict[str, Any]], devices: dict[str, str],
                    subject: dict[str, Any], clinic_key: str) -> list[dict[str, Any]]:
    """One Observation per session and metric; its sides and directions as components."""
    grouped: dict[tuple[int, str, str], list[dict[str, Any]]] = {}
    for m in metrics:
        if m["session_id"] in sessions:
            grouped.setdefault((m["session_id"], m["family"], m["metric"]), []).append(m)
    out = []
    for (session_id, family, metric), rows in grouped.items():
        s = sessions[session_id]
        measure = BY_STORED_METRIC.get(metric)
        if measure is not None:
            code, unit = measure.ucum, measure.unit
            concept = measure_code(measure)
        else:
            code, unit = ucum(metric)
            concept = {"coding": [{"system": METRIC_SYSTEM, "code": metric, "display": label(metric)}],
                       "text": f"{label(metric)} ({family})"}
        url = _urn(clinic_key, "metric", session_id, family, metric)
        resource: dict[str, Any] = {
            "resourceType": "Observation", "id": url.rpartition(":")[2], "status": "final",
            "category": _category("exam" if family == "assessment" else "activity"), "code": concept,
            "subject": subject, **_effective(s), "device": {"reference": devices[s["station"]]},
            "method": {"text": f"measured by StrideVR during {rows[0]['task'] or s['game']}"}}
        if len(rows) == 1 and not rows[0]["side"] and not rows[0]["direction"]:
            resource["valueQuantity"] = _quantity(rows[0]["value"], code, unit)
        else:
            resource["component"] = [
                _component(METRIC_SYSTEM, f"{metric}:{m['side']}:{m['direction']}",
                           ", ".join(x for x in (label(metric), _SIDES.get(m["side"], ""), m["direction"]) if x),
                           _quantity(m["value"], code, unit)) for m in rows]
        if any(m["interrupted"] for m in rows):
            resource["note"] = [{"text": "computed from the stored part of a session the server's crash cut short"}]
        out.append({"fullUrl": url, "resource": resource})
    return out
