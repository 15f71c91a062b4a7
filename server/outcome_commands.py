"""Therapist commands for outcome measures: the scale catalogue, entering a scale, a patient's
details for norms, their scale results beside the measures, the PDF progress report and the FHIR
export. Scoped to the therapist's clinic like every therapist command, and audited by the store in
the transaction that reads or writes.

The PDF and the FHIR bundle are built on a thread of their own, neither on the event loop nor on the
store's worker thread: a report draws charts and lays out pages, which takes a second or two, and
trials of running games must not wait behind it. The PDF stack (matplotlib, reportlab) and
fhir.resources are imported on first use, so a server that never writes one never loads them.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from scoring.outcomes.dose import session_doses, week_doses
from scoring.outcomes.measures import MEASURES, Norm
from scoring.outcomes.progress import build_report
from scoring.outcomes.records import PatientOutcomes
from scoring.outcomes.scales import SCALES, ScaleError
from server.codec import ProtocolError, envelope
from server.command_host import CommandHost
from server.messages import COMMON, Envelope, parse_patient_id
from server.outcome_messages import (
    PeriodRequest,
    parse_patient_details,
    parse_period_request,
    parse_save_scale,
)
from server.storage.outcome_store import OutcomeStore
from server.storage.records import TherapistRecord
from server.storage.store import StoreError

T = TypeVar("T")
Command = Callable[[Envelope], Coroutine[Any, Any, dict[str, Any]]]


def measure_rows(data: PatientOutcomes, now: datetime, server: CommandHost) -> list[dict[str, Any]]:
    """Each standard measure's baseline, latest, change, verdict and norm, as the report has them."""
    report = build_report(data, now, server.smallest_change)
    return [{"measure": r.measure.id, "name": r.measure.name, "unit": r.measure.unit, "digits": r.measure.digits,
             "baseline": r.comparison.baseline, "baseline_at": r.baseline_at.isoformat(),
             "latest": r.comparison.latest, "latest_at": r.latest_at.isoformat(), "change": r.comparison.change,
             "mdc": r.measure.mdc.value, "mcid": r.measure.mcid.value, "verdict": r.comparison.verdict,
             "verdict_text": r.comparison.text, "kind": r.measure.kind,
             "norm": None if r.comparison.norm is None else r.comparison.norm.value,
             "norm_group": None if r.comparison.norm is None else _group(r.comparison.norm),
             "points": [{"at": p.at.isoformat(), "value": p.value} for p in r.points]}
            for r in report.measures]


def _group(norm: Norm) -> str:
    """Whom a norm describes: "70-79 y, men"."""
    return f"{norm.age_low}-{norm.age_high} y" + {"F": ", women", "M": ", men", "": ""}[norm.sex]


# One report or export at a time: they are rare, and each takes a second or two of CPU.
_DOCUMENTS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stridevr-documents")


async def _off_loop(fn: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(_DOCUMENTS, partial(fn, *args))


def report_pdf(data: PatientOutcomes, now: datetime, server: CommandHost) -> bytes:
    from scoring.outcomes.report_pdf import render  # the PDF stack loads on the first report only

    return render(build_report(data, now, server.smallest_change))


def file_stem(code: str, request: PeriodRequest) -> str:
    since = request.since.date().isoformat() if request.since else "start"
    to = (request.until - timedelta(days=1)).date().isoformat() if request.until else "now"
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in code)
    return f"stridevr_{safe}_{since}_{to}"


def fhir_bundle(data: PatientOutcomes, now: datetime, session_id: int | None) -> dict[str, Any]:
    from scoring.outcomes.fhir import bundle  # fhir.resources loads on the first export only

    return bundle(data, now, session_id)


class OutcomeCommands:
    def __init__(self, server: CommandHost, therapist: TherapistRecord) -> None:
        self.server = server
        self.therapist = therapist
        self.store = server.store
        self.outcomes = OutcomeStore(server.store.store)

    def commands(self) -> dict[str, Command]:
        return {
            "outcome_catalogue": self.outcome_catalogue,
            "save_scale": self.save_scale,
            "list_scales": self.list_scales,
            "set_patient_details": self.set_patient_details,
            "progress_report": self.progress_report,
            "fhir_export": self.fhir_export,
        }

    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        """Run an :class:`OutcomeStore` call on the store's worker thread (the one thread that
        touches the database), as every store call is."""
        return await self.store.call(fn, *args)

    def _not_found(self, patient_id: int) -> ProtocolError:
        return ProtocolError("not_found", f"no patient {patient_id} in your clinic")

    async def outcome_catalogue(self, message: Envelope) -> dict[str, Any]:
        message.fields.only(COMMON)
        return envelope("outcome_catalogue", scales=[s.describe() for s in SCALES.values()],
                        measures=[m.describe() for m in MEASURES.values()])

    async def save_scale(self, message: Envelope) -> dict[str, Any]:
        entry = parse_save_scale(message.fields, datetime.now(UTC))
        t = self.therapist
        try:
            result = await self._db(self.outcomes.save_scale, t.clinic_id, t.id, entry.patient_id,
                                           entry.scale, entry.items, entry.assessed_at, entry.note)
        except (ScaleError, StoreError) as exc:
            raise ProtocolError("bad_field", str(exc)) from None
        if result is None:
            raise self._not_found(entry.patient_id)
        return envelope("scale_result", patient_id=entry.patient_id, result=result)

    async def list_scales(self, message: Envelope) -> dict[str, Any]:
        """The patient's scale results, their details, each standard measure (scales and
        instrumented alike) as baseline against latest with its verdict, and the training dose by week."""
        patient_id = parse_patient_id(message.fields)
        t = self.therapist
        data = await self._db(self.outcomes.outcomes, t.clinic_id, patient_id, t.id, "list_scales")
        if data is None:
            raise self._not_found(patient_id)
        now = datetime.now(UTC)
        rows = measure_rows(data, now, self.server)  # a few comparisons: no thread needed
        weeks = week_doses(session_doses(data.sessions, data.trials, data.plan))
        dose = [{"week": w.week, "sessions": w.sessions, "active_s": w.active_s, "trials": w.trials,
                 "repetitions": w.repetitions, "adherence": w.adherence} for w in weeks]
        return envelope("scale_results", patient_id=patient_id, results=data.scales, measures=rows, dose=dose,
                        details={"birth_year": data.patient["birth_year"], "sex": data.patient["sex"]})

    async def set_patient_details(self, message: Envelope) -> dict[str, Any]:
        change = parse_patient_details(message.fields, datetime.now(UTC))
        t = self.therapist
        details = await self._db(self.outcomes.set_details, t.clinic_id, t.id, change.patient_id,
                                        change.birth_year, change.sex)
        if details is None:
            raise self._not_found(change.patient_id)
        return envelope("patient_details", **details)

    async def progress_report(self, message: Envelope) -> dict[str, Any]:
        """The PDF progress report for a period, base64 in ``pdf_base64`` (a JSON connection
        carries no bytes)."""
        request = parse_period_request(message.fields)
        t = self.therapist
        data = await self._db(self.outcomes.outcomes, t.clinic_id, request.patient_id, t.id,
                                     "progress_report", request.since, request.until)
        if data is None:
            raise self._not_found(request.patient_id)
        pdf = await _off_loop(report_pdf, data, datetime.now(UTC), self.server)
        return envelope("progress_report", patient_id=request.patient_id,
                        filename=f"{file_stem(data.patient['code'], request)}_report.pdf",
                        pdf_base64=base64.b64encode(pdf).decode("ascii"))

    async def fhir_export(self, message: Envelope) -> dict[str, Any]:
        """A FHIR R4 Bundle of the patient (or of one of their sessions) for a period."""
        request = parse_period_request(message.fields, with_session=True)
        t = self.therapist
        data = await self._db(self.outcomes.outcomes, t.clinic_id, request.patient_id, t.id,
                                     "fhir_export", request.since, request.until, request.session_id)
        if data is None:
            raise ProtocolError("not_found", f"no patient {request.patient_id} in your clinic"
                                + (f" with session {request.session_id}" if request.session_id else ""))
        result = await _off_loop(fhir_bundle, data, datetime.now(UTC), request.session_id)
        suffix = f"_session{request.session_id}" if request.session_id else ""
        return envelope("fhir_bundle", patient_id=request.patient_id, session_id=request.session_id,
                        filename=f"{file_stem(data.patient['code'], request)}{suffix}_fhir.json", bundle=result)
