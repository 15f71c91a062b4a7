"""Command line for the clinic's records: a patient's export and erasure, database backup and restore.

Exit codes: 0 done, 1 not found or failed, 2 refused (no confirmation, data in the way).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from server.storage.backup import BackupError, NotEmpty, backup, restore
from server.storage.records import PatientRecord
from server.storage.store import Store, StoreError

COMMANDS = frozenset({"export-patient", "erase-patient", "backup", "restore"})


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    export = sub.add_parser("export-patient", help="print everything stored about a patient as JSON")
    export.add_argument("code", help="the patient's code")
    export.add_argument("--clinic", required=True, help="the clinic's name")
    export.add_argument("--out", type=Path, default=None, help="write to this file instead of stdout")
    erase = sub.add_parser("erase-patient", help="delete everything stored about a patient (audit kept, "
                                                 "pseudonymised)")
    erase.add_argument("code", help="the patient's code")
    erase.add_argument("--clinic", required=True, help="the clinic's name")
    erase.add_argument("--yes", action="store_true", help="do not ask to type the code to confirm")
    for name, text in (("backup", "copy the whole database to FILE"),
                       ("restore", "replace the database with a backup FILE (stop the server first)")):
        p = sub.add_parser(name, help=text)
        p.add_argument("file", type=Path)
        p.add_argument("--force", action="store_true",
                       help="replace an existing file" if name == "backup" else "overwrite a database holding data")


def run(command: str, args: argparse.Namespace, database_url: str) -> int:
    try:
        if command == "backup":
            backup(database_url, args.file, args.force)
            print(f"backup written to {args.file}")
            return 0
        if command == "restore":
            restore(database_url, args.file, args.force)
            print(f"restored from {args.file}; run `python -m server migrate` if it came from an older version")
            return 0
    except NotEmpty as exc:
        return _fail(str(exc), 2)
    except BackupError as exc:
        return _fail(str(exc), 1)
    store = Store(database_url)
    try:
        patient = _find_patient(store, args.clinic, args.code)
        if patient is None:
            return _fail(f"no patient {args.code!r} in clinic {args.clinic!r}", 1)
        if command == "export-patient":
            return _export(store, patient, args.out)
        return _erase(store, patient, args.yes)
    finally:
        store.close()


def _find_patient(store: Store, clinic: str, code: str) -> PatientRecord | None:
    clinic_id = store.find_clinic(clinic)
    return None if clinic_id is None else store.find_patient_by_code(clinic_id, code)


def _export(store: Store, patient: PatientRecord, out: Path | None) -> int:
    export = store.export_patient(patient.clinic_id, patient.id, None)
    assert export is not None  # found just above
    text = json.dumps(export.as_json(), indent=2, ensure_ascii=False)
    if out is None:
        print(text)
    else:
        out.write_text(text + "\n", encoding="utf-8")
        print(f"{export.row_count()} rows and {len(export.audit)} audit entries written to {out}", file=sys.stderr)
    return 0


def _erase(store: Store, patient: PatientRecord, yes: bool) -> int:
    if not yes:
        print(f"This deletes every record of patient {patient.code} for good. Type the code to confirm: ",
              end="", file=sys.stderr, flush=True)
        typed = sys.stdin.readline().strip() if sys.stdin is not None else ""
        if typed != patient.code:
            return _fail("not confirmed: nothing erased (type the code, or pass --yes)", 2)
    try:
        erasure = store.erase_patient(patient.clinic_id, patient.id, None)
    except StoreError as exc:
        return _fail(str(exc), 1)
    assert erasure is not None
    print(f"patient {patient.code} erased: {sum(erasure.deleted.values())} rows deleted; "
          f"{erasure.audit_pseudonymised} audit entries kept as {erasure.pseudonym}")
    return 0


def _fail(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code
