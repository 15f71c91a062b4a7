"""Everything stored about one patient, found from the schema itself: export and erasure.

The tables that hold a patient are not listed by hand. ``patients`` holds them, and so does any
table with a foreign key into a table that holds them (sessions, then trials, ROM samples, plans,
metrics...), so a table added later is exported and erased with no change here. The audit log
has no foreign key to patients: entries about a patient are found by their subject
(``patient:ID``, or ``session:ID`` of one of their sessions) and are kept on erasure, with the
patient replaced by a pseudonym, because who did what and when must outlive the patient's data.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import ColumnElement, MetaData, Select, String, Table, cast, delete, literal, or_, select
from sqlalchemy.orm import Session

from server.storage.database import rows_changed
from server.storage.models import AuditEntry, Base, GameSession, Patient, utcnow

# Audit detail keys that describe the patient (their code, their record before/after an edit):
# dropped from the entries kept after an erasure.
PATIENT_DETAIL_KEYS = frozenset({"code", "before", "after", "notes"})


@dataclass(frozen=True, slots=True)
class PatientExport:
    """A patient's data, table by table, as the database holds it (units in the column names)."""

    clinic: str
    patient_code: str
    exported_at: datetime
    tables: dict[str, list[dict[str, Any]]]  # table name -> rows, column name -> value
    audit: list[dict[str, Any]]  # audit entries about the patient, oldest first

    def row_count(self) -> int:
        return sum(len(rows) for rows in self.tables.values())

    def as_json(self) -> dict[str, Any]:
        return {"clinic": self.clinic, "patient_code": self.patient_code,
                "exported_at": self.exported_at.isoformat(), "tables": self.tables, "audit": self.audit}


@dataclass(frozen=True, slots=True)
class Erasure:
    """What an erasure removed; ``pseudonym`` replaces the patient in the audit entries kept."""

    pseudonym: str
    deleted: dict[str, int] = field(default_factory=dict)  # table name -> rows deleted
    audit_pseudonymised: int = 0


def patient_tables(metadata: MetaData = Base.metadata) -> list[Table]:
    """The tables that hold a patient's rows, parents before children (``patients`` first)."""
    held: list[Table] = []
    for table in metadata.sorted_tables:  # parents first, so one pass finds every descendant
        if table.name == Patient.__tablename__ or any(fk.column.table in held for fk in table.foreign_keys):
            held.append(table)
    return held


def _conditions(patient_id: int, tables: list[Table]) -> dict[str, ColumnElement[bool]]:
    """Per table, the condition picking the patient's rows: a foreign key into rows already picked.

    Subqueries rather than id lists, so a patient with tens of thousands of trials needs no
    giant ``IN (...)`` list."""
    where: dict[str, ColumnElement[bool]] = {Patient.__tablename__: Patient.id == patient_id}
    for table in tables:
        if table.name in where:
            continue
        links = [fk.parent.in_(select(fk.column).where(where[fk.column.table.name]))
                 for fk in table.foreign_keys if fk.column.table.name in where]
        where[table.name] = or_(*links)  # never empty: that link is why the table holds the patient
    return where


def _audit_about(patient_id: int, clinic_id: int) -> Select[AuditEntry]:
    sessions = select(literal("session:", String) + cast(GameSession.id, String)).where(
        GameSession.patient_id == patient_id)
    return (select(AuditEntry)
            .where(AuditEntry.clinic_id == clinic_id,
                   or_(AuditEntry.subject == f"patient:{patient_id}", AuditEntry.subject.in_(sessions)))
            .order_by(AuditEntry.at, AuditEntry.id))


def export_patient(s: Session, patient: Patient, clinic_name: str) -> PatientExport:
    """Every row that holds the patient, in every such table, and the audit entries about them."""
    tables = patient_tables()
    where = _conditions(patient.id, tables)
    out = {table.name: [_row(table, row) for row in
                        s.execute(select(table).where(where[table.name]).order_by(*table.primary_key.columns))]
           for table in tables}
    audit_table = AuditEntry.__table__
    audit = [{c.name: _plain(getattr(entry, c.key)) for c in audit_table.columns}
             for entry in s.scalars(_audit_about(patient.id, patient.clinic_id))]
    return PatientExport(clinic_name, patient.code, utcnow(), out, audit)


def erase_patient(s: Session, patient: Patient) -> Erasure:
    """Delete every row that holds the patient, children first, and pseudonymise the audit
    entries about them. The caller's transaction makes it all-or-nothing."""
    pseudonym = f"erased-{secrets.token_hex(6)}"
    tables = patient_tables()
    where = _conditions(patient.id, tables)
    entries = list(s.scalars(_audit_about(patient.id, patient.clinic_id)))
    for entry in entries:
        kind = entry.subject.partition(":")[0]  # "patient" or "session"
        entry.subject = f"{kind}:{pseudonym}"
        entry.detail = _scrub(entry.detail, patient.id, patient.code, pseudonym)
    s.flush()
    deleted: dict[str, int] = {}
    for table in reversed(tables):  # children first: no foreign key ever points at a deleted row
        deleted[table.name] = rows_changed(s.execute(delete(table).where(where[table.name])))
    return Erasure(pseudonym, deleted, len(entries))


def _scrub(value: Any, patient_id: int, code: str, pseudonym: str) -> Any:
    """An audit detail with the patient's code and record removed and their id replaced."""
    if isinstance(value, dict):
        return {k: pseudonym if k == "patient_id" and v == patient_id else _scrub(v, patient_id, code, pseudonym)
                for k, v in value.items() if k not in PATIENT_DETAIL_KEYS}
    if isinstance(value, list):
        return [_scrub(v, patient_id, code, pseudonym) for v in value]
    return pseudonym if value == code else value


def _row(table: Table, row: Any) -> dict[str, Any]:
    return {c.name: _plain(row._mapping[c]) for c in table.columns}


def _plain(value: Any) -> Any:
    """JSON-ready: datetimes as ISO 8601 UTC (SQLite hands them back naive, and all are UTC);
    binary columns (a running session's packed input) as base64 text."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime):
        return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value
