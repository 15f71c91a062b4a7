"""Command line for outcome documents: a patient's PDF progress report and FHIR export.

``python -m server report CODE --from 2026-11-01 --to 2026-11-30 --out report.pdf``
``python -m server fhir CODE [--session N] --out bundle.json``

Exit codes: 0 written, 1 not found or failed, 2 a bad argument. Both are audited, by no therapist
(the clinic's operator), like the records commands.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from scoring.outcomes.progress import build_report
from server.codec import ProtocolError
from server.outcome_messages import period
from server.storage.outcome_store import OutcomeStore
from server.storage.store import Store, StoreError

COMMANDS = frozenset({"report", "fhir"})


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text!r}") from None


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    for name, text in (("report", "write a patient's PDF progress report for a period"),
                       ("fhir", "write a patient's outcomes (or one session's) as a FHIR R4 Bundle (JSON)")):
        p = sub.add_parser(name, help=text)
        p.add_argument("code", help="the patient's code")
        p.add_argument("--clinic", default=None, help="the clinic's name (needed when two clinics use the code)")
        p.add_argument("--from", dest="since", type=_day, default=None, help="first day (YYYY-MM-DD)")
        p.add_argument("--to", dest="to", type=_day, default=None, help="last day, inclusive (YYYY-MM-DD)")
        p.add_argument("--out", type=Path, required=True, help="the file to write")
        if name == "fhir":
            p.add_argument("--session", type=int, default=None, help="only this session's observations")


def run(command: str, args: argparse.Namespace, database_url: str) -> int:
    try:
        since, until = period(args.since, args.to)
    except ProtocolError as exc:
        return _fail(exc.message, 2)
    store = Store(database_url)
    try:
        outcomes = OutcomeStore(store)
        try:
            found = outcomes.find_patient(args.code, args.clinic)
        except StoreError as exc:
            return _fail(str(exc), 1)
        if found is None:
            where = f" in clinic {args.clinic!r}" if args.clinic else ""
            return _fail(f"no patient {args.code!r}{where}", 1)
        clinic_id, patient_id = found
        session = getattr(args, "session", None)
        data = outcomes.outcomes(clinic_id, patient_id, None, "progress_report" if command == "report" else
                                 "fhir_export", since, until, session)
        if data is None:
            return _fail(f"patient {args.code!r} has no session {session}", 1)
        now = datetime.now(UTC)
        # imported here: the PDF and FHIR stacks take seconds to load, which no other command should pay
        from scoring.outcomes.fhir import bundle
        from scoring.outcomes.report_pdf import render

        if command == "report":
            args.out.write_bytes(render(build_report(data, now)))
        else:
            args.out.write_text(json.dumps(bundle(data, now, session), indent=2, ensure_ascii=False) + "\n",
                                encoding="utf-8")
        print(f"{command} for patient {args.code} written to {args.out}", file=sys.stderr)
        return 0
    finally:
        store.close()


def _fail(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code
