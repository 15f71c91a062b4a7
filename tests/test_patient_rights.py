"""A patient's export and erasure, and database backup and restore, against a real database.

The tables that hold a patient are found here from the ORM metadata, independently of the code
under test (upwards from each table instead of downwards from ``patients``), and one row is seeded
in every one of them, so a table added to the schema later is covered without touching this file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import JSON, Connection, Integer, Table, insert, inspect, select

from clients.link import Link, ServerError
from games.base import Outcome
from scoring.difficulty import DifficultyChange
from scoring.metric import MetricValue
from scoring.trials import RomSample
from server import auth
from server.storage.database import make_engine, migrate
from server.storage.models import AuditEntry, Base
from server.storage.patient_data import patient_tables
from server.storage.store import Store, StoreError, TrialWrite
from tests.conftest import PG_ENV, RunningServer, _reset_postgres
from tests.test_storage import make_result

pytestmark = pytest.mark.db
ROOT = Path(__file__).resolve().parents[1]
CLINIC = "Rights Clinic"


def holds_patient(table: Table, path: frozenset[str] = frozenset()) -> bool:
    """Whether a table has a patient column, directly or through foreign keys (sessions, trials)."""
    if table.name == "patients":
        return True
    return any(fk.column.table.name not in path | {table.name}
               and holds_patient(fk.column.table, path | {table.name}) for fk in table.foreign_keys)


HELD = [t for t in Base.metadata.sorted_tables if holds_patient(t)]


def sample_value(table: Table, column: Any, tag: str) -> Any:
    if isinstance(column.type, JSON):
        return {"seeded_in": table.name, "tag": tag}
    kind = column.type.python_type
    if kind is bool:
        return True
    if kind is int:
        return 3
    if kind is float:
        return 0.25
    if kind is datetime:
        return datetime.now(UTC)
    if kind is str:
        return tag[: getattr(column.type, "length", None) or len(tag)]
    if kind is bytes:
        return tag.encode()
    raise AssertionError(f"no sample value for {table.name}.{column.name} ({column.type})")


def seed_row(conn: Connection, table: Table, parents: dict[str, dict[str, Any]], tag: str) -> dict[str, Any]:
    """One row in ``table``, linked to the rows in ``parents`` (tables holding the patient) or to
    any existing row (clinic, therapist, station)."""
    values: dict[str, Any] = {}
    for column in table.columns:
        if column.primary_key and isinstance(column.type, Integer) and not column.foreign_keys:
            continue  # an id the database assigns (a key that is also a link, patient_details', is given)
        if column.foreign_keys:
            fk = next(iter(column.foreign_keys))
            parent = parents.get(fk.column.table.name)
            values[column.name] = (parent[fk.column.name] if parent is not None
                                   else conn.scalar(select(fk.column).limit(1)))
        else:
            values[column.name] = sample_value(table, column, tag)
    key = conn.execute(insert(table).values(values).returning(*table.primary_key.columns)).one()
    where = [c == v for c, v in zip(table.primary_key.columns, key, strict=True)]
    return dict(conn.execute(select(table).where(*where)).mappings().one())


def seed_everywhere(store: Store, patient_id: int, tag: str) -> dict[str, set[tuple[Any, ...]]]:
    """A row in every table holding the patient; returns each table's primary keys seeded."""
    seeded: dict[str, set[tuple[Any, ...]]] = {}
    with store.engine.begin() as conn:
        patients = Base.metadata.tables["patients"]
        parents = {"patients": dict(conn.execute(select(patients).where(patients.c.id == patient_id))
                                    .mappings().one())}
        seeded["patients"] = {(patient_id,)}
        for table in HELD:
            if table.name == "patients":
                continue
            parents[table.name] = row = seed_row(conn, table, parents, tag)
            seeded[table.name] = {tuple(row[c.name] for c in table.primary_key.columns)}
    return seeded


def keys(store: Store, table: Table) -> set[tuple[Any, ...]]:
    with store.engine.connect() as conn:
        return {tuple(r) for r in conn.execute(select(*table.primary_key.columns))}


def exported_keys(rows: list[dict[str, Any]], table: Table) -> set[tuple[Any, ...]]:
    return {tuple(r[c.name] for c in table.primary_key.columns) for r in rows}


@pytest.fixture
def clinic(store: Store) -> dict[str, int]:
    clinic_id = store.ensure_clinic(CLINIC)
    therapist_id = store.create_therapist(clinic_id, "rights-t", auth.hash_password("correct horse battery"))
    station_id = store.upsert_station(clinic_id, "rights-st", auth.hash_token("tok"))
    return {"clinic": clinic_id, "therapist": therapist_id, "station": station_id}


def play_a_session(store: Store, clinic: dict[str, int], patient_id: int) -> int:
    """What the server stores for a session: trials, ROM samples, changes, metrics, a plan, audit."""
    c, t = clinic["clinic"], clinic["therapist"]
    session_id = store.start_session(patient_id, clinic["station"], t, c, "stepping", {"settings": {}},
                                     [DifficultyChange("target_radius_m", None, 0.1, "initial")])
    store.record_trials([TrialWrite(session_id, patient_id, make_result(i, Outcome.HIT if i else Outcome.MISS),
                                    [RomSample("L", "anterior", "step_reach_m", 0.3 + i / 100)],
                                    [DifficultyChange("target_radius_m", 0.1, 0.09, "staircase")])
                         for i in range(3)])
    store.record_difficulty_changes(session_id, [DifficultyChange("time_window_s", 3.0, 2.5, "therapist")],
                                    c, t, {"station": "rights-st", "changed": 1})
    store.record_session_metrics(session_id, patient_id, "rom", [MetricValue("rom", "step_reach_m", 0.31, "L")])
    store.save_plan(c, t, patient_id, {"stepping": {"settings": {}}}, session_id, "plan note")
    store.update_patient(c, t, patient_id, {"notes": "lives alone, daughter visits"})
    store.end_session(session_id, "completed")
    return session_id


def test_every_table_holding_a_patient_is_exported_and_erased(store: Store, clinic: dict[str, int]) -> None:
    assert [t.name for t in patient_tables()] == [t.name for t in HELD]
    assert {"patients", "game_sessions", "trials", "rom_samples", "difficulty_changes", "session_metrics",
            "plans"} <= {t.name for t in HELD}
    c, t = clinic["clinic"], clinic["therapist"]
    target = store.create_patient(c, t, "P-ERASE", "L", 0.9, 0.3, "first visit").id
    bystander = store.create_patient(c, t, "P-KEEP", "R", 0.8, None, "").id
    session_id = play_a_session(store, clinic, target)
    seed_everywhere(store, target, "P-ERASE")
    kept = seed_everywhere(store, bystander, "P-KEEP")
    theirs = {table.name: keys(store, table) - kept[table.name] for table in HELD}
    assert all(theirs.values()), f"a table holds no row of the patient: {theirs}"

    export = store.export_patient(c, target, t)
    assert export is not None and export.patient_code == "P-ERASE" and export.clinic == CLINIC
    assert set(export.tables) == {table.name for table in HELD}
    for table in HELD:
        assert exported_keys(export.tables[table.name], table) == theirs[table.name], table.name
    json.loads(json.dumps(export.as_json()))  # plain JSON throughout (datetimes as ISO strings)
    about = {(e["action"], e["subject"]) for e in export.audit}
    assert {("create_patient", f"patient:{target}"), ("update_patient", f"patient:{target}"),
            ("save_plan", f"patient:{target}"), ("start_game", f"session:{session_id}"),
            ("set_difficulty", f"session:{session_id}")} <= about
    assert all(e["subject"] != f"patient:{bystander}" for e in export.audit)
    audit_ids = {e["id"] for e in export.audit}

    erasure = store.erase_patient(c, target, t)
    assert erasure is not None
    for table in HELD:
        assert keys(store, table) == kept[table.name], f"{table.name} still holds the erased patient"
        assert erasure.deleted[table.name] == len(theirs[table.name])
    with store.engine.connect() as conn:
        entries = {e.id: e for e in conn.execute(select(AuditEntry))}
    assert audit_ids <= set(entries), "audit entries about the patient were deleted"
    for entry_id in audit_ids:
        entry = entries[entry_id]
        assert entry.subject in (f"patient:{erasure.pseudonym}", f"session:{erasure.pseudonym}")
        text = json.dumps(entry.detail)
        assert "P-ERASE" not in text and "daughter" not in text
        assert entry.detail.get("patient_id", erasure.pseudonym) == erasure.pseudonym
    [erased] = [e for e in entries.values() if e.action == "erase_patient"]
    assert erased.subject == f"patient:{erasure.pseudonym}" and erased.therapist_id == t
    assert erased.detail["deleted"] == erasure.deleted and erased.detail["audit_entries_pseudonymised"] >= 6
    assert store.get_patient(c, target) is None
    still = store.export_patient(c, bystander, t)
    assert still is not None and all(
        exported_keys(still.tables[table.name], table) == kept[table.name] for table in HELD)


def test_erasure_waits_for_an_open_session_and_stays_in_the_clinic(store: Store, clinic: dict[str, int]) -> None:
    c, t = clinic["clinic"], clinic["therapist"]
    patient = store.create_patient(c, t, "P-OPEN", "L", 0.9, None, "").id
    session_id = store.start_session(patient, clinic["station"], t, c, "stepping", {}, [])
    with pytest.raises(StoreError, match="still open"):
        store.erase_patient(c, patient, t)
    other = store.ensure_clinic("Other Clinic")
    assert store.erase_patient(other, patient, None) is None
    assert store.export_patient(other, patient, None) is None
    assert store.get_session(session_id) is not None and store.get_patient(c, patient) is not None


def cli(url: str, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "server", "--database-url", url, "--log-level", "WARNING", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, env=env,
                          input=stdin, stdin=subprocess.DEVNULL if stdin is None else None)


def test_export_and_erase_from_the_command_line(database_url: str, store: Store, clinic: dict[str, int],
                                                tmp_path: Path) -> None:
    c, t = clinic["clinic"], clinic["therapist"]
    patient = store.create_patient(c, t, "P-CLI", "R", 0.88, None, "").id
    play_a_session(store, clinic, patient)
    store.engine.dispose()

    shown = cli(database_url, "export-patient", "--clinic", CLINIC, "P-CLI")
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["patient_code"] == "P-CLI" and set(data["tables"]) == {table.name for table in HELD}
    assert data["tables"]["patients"][0]["leg_length_m"] == 0.88  # units stay in the field names
    assert len(data["tables"]["trials"]) == 3 and data["tables"]["rom_samples"][0]["value_m"] == 0.3
    out = tmp_path / "p.json"
    written = cli(database_url, "export-patient", "--clinic", CLINIC, "P-CLI", "--out", str(out))
    assert written.returncode == 0 and json.loads(out.read_text())["tables"] == data["tables"]
    missing = cli(database_url, "export-patient", "--clinic", CLINIC, "P-NOBODY")
    assert missing.returncode == 1 and "no patient 'P-NOBODY'" in missing.stderr

    for stdin in (None, "P-WRONG\n"):  # no stdin, or the wrong code typed: refused, nothing erased
        refused = cli(database_url, "erase-patient", "--clinic", CLINIC, "P-CLI", stdin=stdin)
        assert refused.returncode == 2 and "not confirmed" in refused.stderr
        assert store.get_patient(c, patient) is not None
    done = cli(database_url, "erase-patient", "--clinic", CLINIC, "P-CLI", stdin="P-CLI\n")
    assert done.returncode == 0, done.stderr
    assert store.get_patient(c, patient) is None
    other = store.create_patient(c, t, "P-CLI2", "L", 0.9, None, "").id
    assert cli(database_url, "erase-patient", "--clinic", CLINIC, "P-CLI2", "--yes").returncode == 0
    assert store.get_patient(c, other) is None
    with store.engine.connect() as conn:
        actions = [(e.action, e.therapist_id) for e in conn.execute(select(AuditEntry).order_by(AuditEntry.id))]
    assert actions.count(("export_patient", None)) == 2 and actions.count(("erase_patient", None)) == 2


def contents(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every StrideVR table, in primary key order."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            present = set(inspect(conn).get_table_names())
            return {table.name: [tuple(r) for r in conn.execute(
                select(table).order_by(*table.primary_key.columns))]
                for table in Base.metadata.sorted_tables if table.name in present}
    finally:
        engine.dispose()


def test_backup_and_restore_round_trip(database_url: str, store: Store, clinic: dict[str, int],
                                       tmp_path: Path) -> None:
    if os.environ.get(PG_ENV) and not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        why = "the PostgreSQL client tools (pg_dump, pg_restore) are not on PATH"
        if os.environ.get("CI"):
            pytest.fail(f"backup tests cannot run in CI: {why}", pytrace=False)
        pytest.skip(why)
    c, t = clinic["clinic"], clinic["therapist"]
    patient = store.create_patient(c, t, "P-BACK", "L", 0.9, None, "").id
    play_a_session(store, clinic, patient)
    store.engine.dispose()
    before = contents(database_url)
    assert before["trials"] and before["plans"]
    file = tmp_path / "clinic.backup"

    made = cli(database_url, "backup", str(file))
    assert made.returncode == 0 and file.stat().st_size > 0, made.stderr
    again = cli(database_url, "backup", str(file))
    assert again.returncode == 1 and "--force" in again.stderr
    assert cli(database_url, "erase-patient", "--clinic", CLINIC, "P-BACK", "--yes").returncode == 0
    store.create_patient(c, t, "P-NEW", "R", 0.8, None, "")
    store.engine.dispose()
    changed = contents(database_url)
    assert changed != before and not changed["trials"]

    refused = cli(database_url, "restore", str(file))
    assert refused.returncode == 2 and "--force" in refused.stderr
    assert contents(database_url) == changed
    junk = tmp_path / "junk.backup"
    junk.write_bytes(b"not a backup at all\n" * 100)
    bad = cli(database_url, "restore", "--force", str(junk))
    assert bad.returncode == 1 and bad.stderr.startswith("error:")
    assert contents(database_url) == changed
    restored = cli(database_url, "restore", "--force", str(file))
    assert restored.returncode == 0, restored.stderr
    assert contents(database_url) == before
    assert store.get_patient(c, patient) is not None

    # into a new, empty (migrated) database: no --force needed
    if os.environ.get(PG_ENV):
        _reset_postgres(database_url)
        fresh = database_url
    else:
        fresh = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    migrate(fresh)
    into_new = cli(fresh, "restore", str(file))
    assert into_new.returncode == 0, into_new.stderr
    assert contents(fresh) == before


def test_backup_without_pg_dump_says_how_to_do_it_by_hand(database_url: str, tmp_path: Path) -> None:
    if not os.environ.get(PG_ENV):
        pytest.skip("PostgreSQL only: SQLite backs up through its own API")
    empty = tmp_path / "bin"
    empty.mkdir()
    done = cli(database_url, "backup", str(tmp_path / "x.backup"), env={**os.environ, "PATH": str(empty)})
    assert done.returncode == 1
    assert "pg_dump is not on PATH" in done.stderr and "pg_dump --format=custom" in done.stderr
    assert not (tmp_path / "x.backup").exists()


async def test_a_therapist_exports_a_patient_over_the_protocol(running: RunningServer) -> None:
    therapist = await Link.therapist(running.url, running.creds.username, running.creds.password)
    pid = (await therapist.call({"type": "create_patient", "code": "WIRE-1", "affected_side": "R",
                                 "leg_length_m": 0.92}))["patient"]["id"]
    started = await therapist.call({"type": "start_game", "station": "station-1", "patient_id": pid,
                                    "game": "stepping", "settings": {"trials": 5}})
    await therapist.call({"type": "stop_game", "station": "station-1"})
    reply = await therapist.call({"type": "export_patient", "patient_id": pid})
    assert reply["type"] == "patient_export" and reply["patient_code"] == "WIRE-1"
    assert set(reply["tables"]) == {table.name for table in HELD}
    assert [p["leg_length_m"] for p in reply["tables"]["patients"]] == [0.92]
    assert [s["id"] for s in reply["tables"]["game_sessions"]] == [started["session_id"]]
    assert {("start_game", f"session:{started['session_id']}"), ("stop_game", f"session:{started['session_id']}"),
            ("create_patient", f"patient:{pid}")} <= {(e["action"], e["subject"]) for e in reply["audit"]}
    for request, code in (({"patient_id": pid + 1000}, "not_found"), ({"patient_id": "one"}, "bad_field"),
                          ({"patient_id": pid, "extra": 1}, "unknown_field")):
        with pytest.raises(ServerError) as err:
            await therapist.call({"type": "export_patient", **request})
        assert err.value.code == code
    await therapist.close()
    store, _, record = running.demo_records()
    with store.engine.connect() as conn:
        audited = conn.execute(select(AuditEntry).where(AuditEntry.action == "export_patient")).one()
    assert audited.subject == f"patient:{pid}" and audited.therapist_id == record.id
