"""The store: every database read and write StrideVR makes, as small synchronous transactions.

The server never calls these on its event loop; it goes through :class:`AsyncStore`, which runs
them one at a time on a dedicated thread. One writer thread keeps SQLite happy, keeps writes in
the order they were made, and means the game loop never waits on the database.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from functools import partial
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import case, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from games.base import Outcome, TrialResult
from games.events import Side
from games.modes import training_modes
from scoring.difficulty import DifficultyChange
from scoring.input_chunks import InputChunk, PendingChunk
from scoring.metric import MetricValue
from scoring.trials import RomSample
from server.storage import patient_data
from server.storage.database import make_engine, rows_changed
from server.storage.gathered import Gathered
from server.storage.models import (
    DEVICE,
    THERAPIST,
    AuditEntry,
    Clinic,
    DifficultyChangeRow,
    GameSession,
    Patient,
    Plan,
    RomSampleRow,
    SessionInputChunk,
    SessionMetric,
    Station,
    StationCredential,
    Therapist,
    TherapistSession,
    Trial,
    utcnow,
)
from server.storage.pairings import PairingQueries
from server.storage.patient_data import Erasure, PatientExport
from server.storage.records import (
    NO_PLAN,
    AssessmentRecord,
    AuditRecord,
    MetricRecord,
    NoPlan,
    PatientRecord,
    PlanRecord,
    ProgressPoint,
    SessionRecord,
    SessionSummary,
    StationRecord,
    StoredSession,
    TherapistRecord,
    TrialRow,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
P = ParamSpec("P")

# how long a session's recorded input waits for other sessions' to share their transaction (it is
# written every two seconds anyway: see scoring.input_chunks)
INPUT_LINGER_S = 0.25
# under load, trials are committed at most this often, each commit holding all that finished
# meanwhile (a server with a trial every few seconds commits each at once)
TRIAL_COMMIT_INTERVAL_S = 0.25


@dataclass(frozen=True, slots=True)
class TrialWrite:
    """One finished trial and what it produced, as handed to the writer."""

    session_id: int
    patient_id: int
    result: TrialResult
    samples: Sequence[RomSample]
    changes: Sequence[DifficultyChange]
    mode: str = ""  # the session's training modes (see models.Trial.mode)


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """An admin's audit search: every filter optional; ``before_id`` pages back from the last id seen."""

    therapist_id: int | None = None
    subject: str | None = None  # "patient:12", "therapist:3", "station:station-1"
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_id: int | None = None
    limit: int = 100


class StoreError(Exception):
    """A request the database refused for a reason the user can fix (duplicate code, ...)."""


class Store(PairingQueries):
    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    # -- clinics, people, stations --------------------------------------------------------------

    def ensure_clinic(self, name: str) -> int:
        with self._sessions.begin() as s:
            clinic = s.scalar(select(Clinic).where(Clinic.name == name))
            if clinic is None:
                clinic = Clinic(name=name)
                s.add(clinic)
                s.flush()
            return clinic.id

    def create_therapist(
        self, clinic_id: int, username: str, password_hash: str, display_name: str = "",
        role: str = THERAPIST, by_id: int | None = None,
    ) -> int:
        """A new account, audited as made by the admin ``by_id`` (None: the command line)."""
        try:
            with self._sessions.begin() as s:
                row = Therapist(clinic_id=clinic_id, username=username, password_hash=password_hash,
                                display_name=display_name, role=role)
                s.add(row)
                s.flush()
                _audit(s, clinic_id, by_id, "create_account", f"therapist:{row.id}",
                       {"username": username, "role": role})
                return row.id
        except IntegrityError as exc:
            raise StoreError(f"an account named {username!r} already exists") from exc

    def set_password_hash(self, username: str, password_hash: str) -> bool:
        """A new password from the command line; every session token of the account stops working."""
        with self._sessions.begin() as s:
            t = s.scalar(select(Therapist).where(Therapist.username == username))
            if t is None:
                return False
            t.password_hash = password_hash
            revoked = _revoke_sessions(s, t.id, "password_changed")
            _audit(s, t.clinic_id, None, "set_password", f"therapist:{t.id}", {"sessions_revoked": revoked})
            return True

    def reset_password(self, clinic_id: int, therapist_id: int, password_hash: str,
                       by_id: int) -> TherapistRecord | None:
        """An admin's reset: the new password, and every session token of the account revoked."""
        with self._sessions.begin() as s:
            t = _clinic_account(s, clinic_id, therapist_id)
            if t is None:
                return None
            t.password_hash = password_hash
            revoked = _revoke_sessions(s, t.id, "password_reset")
            _audit(s, clinic_id, by_id, "reset_password", f"therapist:{t.id}", {"sessions_revoked": revoked})
            return _therapist(t)

    def set_account_active(self, clinic_id: int, therapist_id: int, active: bool,
                           by_id: int | None) -> TherapistRecord | None:
        """Deactivate (its session tokens revoked; it cannot log in) or reactivate an account."""
        with self._sessions.begin() as s:
            t = _clinic_account(s, clinic_id, therapist_id)
            if t is None:
                return None
            t.active = active
            revoked = 0 if active else _revoke_sessions(s, t.id, "deactivated")
            _audit(s, clinic_id, by_id, "reactivate_account" if active else "deactivate_account",
                   f"therapist:{t.id}", {"sessions_revoked": revoked})
            return _therapist(t)

    def list_accounts(self, clinic_id: int) -> list[TherapistRecord]:
        with self._sessions() as s:
            rows = s.scalars(select(Therapist).where(Therapist.clinic_id == clinic_id).order_by(Therapist.username))
            return [_therapist(t) for t in rows]

    def find_therapist(self, username: str) -> TherapistRecord | None:
        with self._sessions() as s:
            t = s.scalar(select(Therapist).where(Therapist.username == username))
            return None if t is None else _therapist(t)

    def upsert_station(self, clinic_id: int, name: str, token_hash: str, role: str = DEVICE) -> int:
        """Create the station if missing, and set (or replace) its credential for ``role``."""
        with self._sessions.begin() as s:
            station = s.scalar(select(Station).where(Station.name == name))
            if station is None:
                station = Station(clinic_id=clinic_id, name=name)
                s.add(station)
                s.flush()
            elif station.clinic_id != clinic_id:
                raise StoreError(f"station {name!r} belongs to another clinic")
            replaced = _set_credential(s, station.id, role, token_hash)
            _audit(s, clinic_id, None, "rotate_station_token", f"station:{name}", {"role": role, "replaced": replaced})
            return station.id

    def create_station(self, clinic_id: int, name: str, token_hashes: dict[str, str], by_id: int) -> StationRecord:
        """A new station of this clinic with a credential for each role given; audited."""
        try:
            with self._sessions.begin() as s:
                station = Station(clinic_id=clinic_id, name=name)
                s.add(station)
                s.flush()
                for role, token_hash in token_hashes.items():
                    _set_credential(s, station.id, role, token_hash)
                _audit(s, clinic_id, by_id, "create_station", f"station:{name}", {"roles": sorted(token_hashes)})
                return _station(station)
        except IntegrityError as exc:
            raise StoreError(f"a station named {name!r} already exists") from exc

    def set_station_credential(self, clinic_id: int, name: str, role: str, token_hash: str,
                               by_id: int) -> StationRecord | None:
        """Issue or rotate this clinic's station's credential for ``role`` (the old one stops working)."""
        with self._sessions.begin() as s:
            station = s.scalar(select(Station).where(Station.name == name, Station.clinic_id == clinic_id))
            if station is None:
                return None
            replaced = _set_credential(s, station.id, role, token_hash)
            _audit(s, clinic_id, by_id, "rotate_station_token", f"station:{name}",
                   {"role": role, "replaced": replaced})
            return _station(station)

    def revoke_station_credential(self, clinic_id: int, name: str, role: str, by_id: int) -> bool | None:
        """Delete the station's credential for ``role``: None, no such station in this clinic;
        False, it had none."""
        with self._sessions.begin() as s:
            station = s.scalar(select(Station).where(Station.name == name, Station.clinic_id == clinic_id))
            if station is None:
                return None
            done = s.execute(delete(StationCredential).where(StationCredential.station_id == station.id,
                                                             StationCredential.role == role))
            _audit(s, clinic_id, by_id, "revoke_station_token", f"station:{name}",
                   {"role": role, "revoked": bool(rows_changed(done))})
            return bool(rows_changed(done))

    def station_credential(self, name: str, role: str) -> tuple[StationRecord, str] | None:
        """The station and the hash of its token for ``role``, if it has one."""
        with self._sessions() as s:
            row = s.execute(select(Station, StationCredential.token_hash)
                            .join(StationCredential, StationCredential.station_id == Station.id)
                            .where(Station.name == name, StationCredential.role == role)).first()
            return None if row is None else (_station(row[0]), row[1])

    def station_credentials(self, clinic_id: int) -> list[tuple[StationRecord, dict[str, datetime]]]:
        """Every station of the clinic, with the roles it has a credential for and when each was issued."""
        with self._sessions() as s:
            rows = s.execute(select(Station, StationCredential.role, StationCredential.created_at)
                             .outerjoin(StationCredential, StationCredential.station_id == Station.id)
                             .where(Station.clinic_id == clinic_id).order_by(Station.name)).all()
            out: dict[int, tuple[StationRecord, dict[str, datetime]]] = {}
            for station, role, created_at in rows:
                entry = out.setdefault(station.id, (_station(station), {}))
                if role is not None:
                    entry[1][role] = _aware(created_at)
            return list(out.values())

    def revoked_credentials(self, session_hashes: Collection[str],
                            station_hashes: Collection[str]) -> tuple[dict[str, str], set[str]]:
        """Of the credentials open connections use: the session tokens no longer good, with why,
        and the station token hashes that no longer exist (rotated or revoked)."""
        revoked: dict[str, str] = {}
        with self._sessions() as s:
            if session_hashes:
                now = utcnow()
                rows = s.execute(select(TherapistSession.token_hash, TherapistSession.revoked_at,
                                        TherapistSession.revoked_reason, TherapistSession.expires_at,
                                        Therapist.active)
                                 .join(Therapist, Therapist.id == TherapistSession.therapist_id)
                                 .where(TherapistSession.token_hash.in_(session_hashes))).all()
                found = set()
                for token_hash, revoked_at, reason, expires_at, active in rows:
                    found.add(token_hash)
                    if revoked_at is not None:
                        revoked[token_hash] = reason or "revoked"
                    elif not active:
                        revoked[token_hash] = "deactivated"
                    elif _aware(expires_at) <= now:
                        revoked[token_hash] = "expired"
                revoked.update({h: "revoked" for h in session_hashes if h not in found})
            gone = set(station_hashes)
            if gone:
                gone -= set(s.scalars(select(StationCredential.token_hash)
                                      .where(StationCredential.token_hash.in_(gone))))
        return revoked, gone

    def find_station(self, name: str) -> StationRecord | None:
        with self._sessions() as s:
            st = s.scalar(select(Station).where(Station.name == name))
            return None if st is None else _station(st)

    def find_clinic(self, name: str) -> int | None:
        with self._sessions() as s:
            return s.scalar(select(Clinic.id).where(Clinic.name == name))

    def list_stations(self, clinic_id: int) -> list[StationRecord]:
        with self._sessions() as s:
            rows = s.scalars(select(Station).where(Station.clinic_id == clinic_id).order_by(Station.name))
            return [_station(st) for st in rows]

    # -- patients -------------------------------------------------------------------------------

    def create_patient(
        self,
        clinic_id: int,
        therapist_id: int,
        code: str,
        affected_side: str,
        leg_length_m: float,
        step_reach_m: float | None,
        notes: str,
    ) -> PatientRecord:
        try:
            with self._sessions.begin() as s:
                p = Patient(
                    clinic_id=clinic_id,
                    code=code,
                    affected_side=affected_side,
                    leg_length_m=leg_length_m,
                    step_reach_m=step_reach_m,
                    notes=notes,
                )
                s.add(p)
                s.flush()
                _audit(s, clinic_id, therapist_id, "create_patient", f"patient:{p.id}", {"code": code})
                return _patient(p)
        except IntegrityError as exc:
            raise StoreError(f"a patient with code {code!r} already exists in this clinic") from exc

    def update_patient(
        self, clinic_id: int, therapist_id: int, patient_id: int, changes: dict[str, Any]
    ) -> PatientRecord | None:
        """Change a patient's record (not the code: it is how the clinic finds its files)."""
        allowed = {"affected_side", "leg_length_m", "step_reach_m", "notes"}
        if not set(changes) <= allowed:
            raise StoreError(f"cannot change {', '.join(sorted(set(changes) - allowed))}")
        with self._sessions.begin() as s:
            p = _clinic_patient(s, clinic_id, patient_id)
            if p is None:
                return None
            before = {k: getattr(p, k) for k in changes}
            for key, value in changes.items():
                setattr(p, key, value)
            _audit(s, clinic_id, therapist_id, "update_patient", f"patient:{p.id}",
                   {"before": before, "after": changes})
            return _patient(p)

    def list_patients(self, clinic_id: int) -> list[PatientRecord]:
        with self._sessions() as s:
            rows = s.scalars(select(Patient).where(Patient.clinic_id == clinic_id).order_by(Patient.code))
            return [_patient(p) for p in rows]

    def get_patient(self, clinic_id: int, patient_id: int) -> PatientRecord | None:
        """A patient of this clinic only: other clinics' patients do not exist for the caller."""
        with self._sessions() as s:
            p = _clinic_patient(s, clinic_id, patient_id)
            return None if p is None else _patient(p)

    def find_patient_by_code(self, clinic_id: int, code: str) -> PatientRecord | None:
        with self._sessions() as s:
            p = s.scalar(select(Patient).where(Patient.clinic_id == clinic_id, Patient.code == code))
            return None if p is None else _patient(p)

    def export_patient(self, clinic_id: int, patient_id: int, therapist_id: int | None) -> PatientExport | None:
        """Everything stored about one patient of this clinic, audited (None: not this clinic's).
        ``therapist_id`` is None when the clinic's operator runs it from the command line."""
        with self._sessions.begin() as s:
            p = _clinic_patient(s, clinic_id, patient_id)
            if p is None:
                return None
            clinic = s.get(Clinic, clinic_id)
            assert clinic is not None
            export = patient_data.export_patient(s, p, clinic.name)
            _audit(s, clinic_id, therapist_id, "export_patient", f"patient:{patient_id}",
                   {"rows": export.row_count(), "audit_entries": len(export.audit)})
            return export

    def erase_patient(self, clinic_id: int, patient_id: int, therapist_id: int | None) -> Erasure | None:
        """Delete every row that holds the patient, in one transaction, keeping the audit entries
        about them with a pseudonym in place of the patient; the erasure is audited under that
        pseudonym. Refused while one of their sessions is still open (its trials would be lost on
        the way in). None: not this clinic's patient."""
        with self._sessions.begin() as s:
            p = _clinic_patient(s, clinic_id, patient_id)
            if p is None:
                return None
            running = s.scalar(select(GameSession.id).where(GameSession.patient_id == patient_id,
                                                            GameSession.ended_at.is_(None)).limit(1))
            if running is not None:
                raise StoreError(f"session {running} of this patient is still open: stop the game first "
                                 "(a session left open by a crash is closed when the server next starts)")
            erasure = patient_data.erase_patient(s, p)
            _audit(s, clinic_id, therapist_id, "erase_patient", f"patient:{erasure.pseudonym}",
                   {"deleted": erasure.deleted, "audit_entries_pseudonymised": erasure.audit_pseudonymised})
            return erasure

    # -- sessions, trials, difficulty -----------------------------------------------------------

    def start_session(
        self,
        patient_id: int,
        station_id: int,
        therapist_id: int,
        clinic_id: int,
        game: str,
        settings: dict[str, Any],
        initial: Sequence[DifficultyChange],
        host_node: str = "local",
        source: str = "live",
    ) -> int:
        """A new session; ``source``: ``live`` or ``recording`` (a replay tool's input)."""
        with self._sessions.begin() as s:
            gs = GameSession(
                patient_id=patient_id,
                station_id=station_id,
                therapist_id=therapist_id,
                game=game,
                settings=settings,
                host_node=host_node,
                source=source,
            )
            s.add(gs)
            s.flush()
            _add_changes(s, gs.id, initial, None)
            _audit(s, clinic_id, therapist_id, "start_game", f"session:{gs.id}",
                   {"game": game, "patient_id": patient_id, "station_id": station_id, "source": source})
            return gs.id

    def record_trials(self, writes: Sequence[TrialWrite]) -> list[int]:
        """Store finished trials with their ROM samples and difficulty changes in one transaction.

        Bulk inserts keep the writer thread's share of the GIL small under load. Idempotent: a
        (session, trial index) stored before keeps its row, and its existing id is returned.
        """
        try:
            with self._sessions.begin() as s:
                return _insert_trials(s, writes)
        except IntegrityError:
            if len(writes) > 1:  # find which one was there already: one transaction each
                return [self.record_trials([w])[0] for w in writes]
            w = writes[0]
            with self._sessions() as s:
                existing = s.scalar(select(Trial.id).where(
                    Trial.session_id == w.session_id, Trial.trial_index == w.result.index))
            if existing is None:
                raise
            return [existing]

    def record_difficulty_changes(
        self,
        session_id: int,
        changes: Sequence[DifficultyChange],
        clinic_id: int,
        therapist_id: int,
        detail: dict[str, Any],
    ) -> None:
        """A therapist's live change: the parameter changes and the audit entry, together."""
        with self._sessions.begin() as s:
            _add_changes(s, session_id, changes, None)
            _audit(s, clinic_id, therapist_id, "set_difficulty", f"session:{session_id}", detail)

    def record_game_changes(
        self, session_id: int, changes: Sequence[DifficultyChange], after_trial: int | None
    ) -> None:
        """Setting changes the game made itself (a neglect cue raising the affected-side share)."""
        with self._sessions.begin() as s:
            _add_changes(s, session_id, changes, after_trial)

    def record_session_metrics(
        self, session_id: int, patient_id: int, family: str, metrics: Sequence[MetricValue]
    ) -> int:
        """Store one family of a session's summary metrics, replacing any stored before (so a
        retried or repeated analysis never leaves two values for one metric)."""
        with self._sessions.begin() as s:
            s.execute(delete(SessionMetric).where(SessionMetric.session_id == session_id,
                                                  SessionMetric.family == family))
            return _insert_metrics(s, session_id, patient_id, [m for m in metrics if m.family == family])

    def record_input_chunks(self, session_id: int, pending: Sequence[InputChunk | PendingChunk]) -> None:
        """A running session's recorded input (``scoring.input_chunks``); idempotent per sequence
        number, so a write retried after an outage never stores a chunk twice. Chunks still to be
        packed are packed here, on the writer thread, never on the game loop."""
        self.record_input_batches([(session_id, pending)])

    def record_input_batches(self, batches: Sequence[tuple[int, Sequence[InputChunk | PendingChunk]]]) -> None:
        """Several sessions' recorded input (:meth:`record_input_chunks`) in one transaction."""
        with self._sessions.begin() as s:
            rows = []
            for session_id, pending in batches:
                chunks = [c.pack() if isinstance(c, PendingChunk) else c for c in pending]
                have = set(s.scalars(select(SessionInputChunk.seq).where(
                    SessionInputChunk.session_id == session_id,
                    SessionInputChunk.seq.in_([c.seq for c in chunks]))))
                rows += [{"session_id": session_id, "seq": c.seq, "kind": c.kind, "samples": c.samples,
                          "t_first_s": c.t_first_s, "t_last_s": c.t_last_s, "columns": list(c.columns),
                          "data": c.data, "recorded_at": utcnow()} for c in chunks if c.seq not in have]
            if rows:
                s.execute(insert(SessionInputChunk), rows)

    def input_chunks(self, session_id: int) -> list[InputChunk]:
        with self._sessions() as s:
            rows = s.scalars(select(SessionInputChunk).where(SessionInputChunk.session_id == session_id)
                             .order_by(SessionInputChunk.seq))
            return [InputChunk(c.seq, c.kind, c.samples, c.t_first_s, c.t_last_s, tuple(c.columns), bytes(c.data))
                    for c in rows]

    def stored_session(self, session_id: int) -> StoredSession | None:
        """Everything stored of a session that its metrics need: trials, ROM samples, input chunks."""
        with self._sessions() as s:
            gs = s.get(GameSession, session_id)
            if gs is None:
                return None
            patient = s.get(Patient, gs.patient_id)
            assert patient is not None
            trials = s.scalars(select(Trial).where(Trial.session_id == session_id).order_by(Trial.trial_index))
            rom = s.scalars(select(RomSampleRow).where(RomSampleRow.session_id == session_id)
                            .order_by(RomSampleRow.id))
            return StoredSession(
                gs.id, gs.patient_id, gs.game, (gs.settings or {}).get("settings", {}), patient.affected_side,
                patient.leg_length_m, [_trial_result(t) for t in trials],
                [RomSample(r.side, r.direction, r.metric, r.value_m) for r in rom], self.input_chunks(session_id))

    def record_recovered_metrics(
        self, session_id: int, patient_id: int, families: dict[str, list[MetricValue]]
    ) -> int:
        """The metrics of a session its server did not end (computed from what was stored), marked
        ``interrupted``, replacing any stored before; its input chunks go in the same transaction."""
        with self._sessions.begin() as s:
            s.execute(delete(SessionMetric).where(SessionMetric.session_id == session_id))
            stored = _insert_metrics(s, session_id, patient_id,
                                     [m for family, ms in families.items() for m in ms if m.family == family],
                                     interrupted=True)
            s.execute(delete(SessionInputChunk).where(SessionInputChunk.session_id == session_id))
            return stored

    def sessions_awaiting_metrics(self) -> dict[int, str]:
        """Sessions ended while input chunks are still stored (their recovery did not finish), with
        the node that hosted each."""
        with self._sessions() as s:
            rows = s.execute(select(GameSession.id, GameSession.host_node).where(
                GameSession.ended_at.is_not(None),
                GameSession.id.in_(select(SessionInputChunk.session_id).distinct())))
            return {row.id: row.host_node for row in rows}

    def session_metrics(self, session_id: int) -> list[MetricRecord]:
        with self._sessions() as s:
            rows = s.scalars(select(SessionMetric).where(SessionMetric.session_id == session_id)
                             .order_by(SessionMetric.family, SessionMetric.metric, SessionMetric.side,
                                       SessionMetric.direction))
            return [_metric(m) for m in rows]

    def patient_progress(
        self, clinic_id: int, patient_id: int, metrics: Sequence[str] | None = None
    ) -> list[ProgressPoint] | None:
        """Every stored session metric of one patient of this clinic, oldest first, with its
        session's game, start and source (None: no such patient in this clinic)."""
        with self._sessions() as s:
            p = _clinic_patient(s, clinic_id, patient_id)
            if p is None:
                return None
            query = (select(SessionMetric, GameSession.game, GameSession.started_at, GameSession.source)
                     .join(GameSession, GameSession.id == SessionMetric.session_id)
                     .where(SessionMetric.patient_id == patient_id)
                     .order_by(GameSession.started_at, SessionMetric.id))
            if metrics:
                query = query.where(SessionMetric.metric.in_(metrics))
            return [ProgressPoint(_metric(m), game, _aware(started), source)
                    for m, game, started, source in s.execute(query)]

    def assessments(self, clinic_id: int, patient_id: int) -> list[AssessmentRecord] | None:
        """A patient's assessments with their stored metrics, oldest first: the first is the
        baseline (None: not this clinic's patient). Assessments that stored no metric (stopped
        before any stage finished) are left out."""
        with self._sessions() as s:
            if _clinic_patient(s, clinic_id, patient_id) is None:
                return None
            rows = s.execute(select(SessionMetric, GameSession.started_at, GameSession.source)
                             .join(GameSession, GameSession.id == SessionMetric.session_id)
                             .where(SessionMetric.patient_id == patient_id, SessionMetric.family == "assessment",
                                    GameSession.game == "assessment")
                             .order_by(GameSession.started_at, GameSession.id, SessionMetric.id))
            out: dict[int, AssessmentRecord] = {}
            for m, started, source in rows:
                entry = out.setdefault(m.session_id, AssessmentRecord(m.session_id, source, _aware(started), []))
                entry.metrics.append(_metric(m))
            return list(out.values())

    def save_plan(self, clinic_id: int, therapist_id: int, patient_id: int, games: dict[str, Any],
                  source_session_id: int | None, note: str) -> PlanRecord | None:
        """Store a new current plan for the patient (None: not this clinic's patient)."""
        with self._sessions.begin() as s:
            if _clinic_patient(s, clinic_id, patient_id) is None:
                return None
            if source_session_id is not None:
                source = s.get(GameSession, source_session_id)
                if source is None or source.patient_id != patient_id:
                    raise StoreError(f"session {source_session_id} is not one of this patient's")
            plan = Plan(patient_id=patient_id, therapist_id=therapist_id, games=games,
                        source_session_id=source_session_id, note=note, created_at=utcnow())
            s.add(plan)
            s.flush()
            _audit(s, clinic_id, therapist_id, "save_plan", f"patient:{patient_id}",
                   {"plan_id": plan.id, "games": sorted(games)})
            return _plan(plan)

    def current_plan(self, clinic_id: int, patient_id: int) -> PlanRecord | NoPlan | None:
        """The newest plan, :data:`NO_PLAN` when none was ever saved (None: not this clinic's patient)."""
        with self._sessions() as s:
            if _clinic_patient(s, clinic_id, patient_id) is None:
                return None
            plan = s.scalars(select(Plan).where(Plan.patient_id == patient_id)
                             .order_by(Plan.created_at.desc(), Plan.id.desc()).limit(1)).first()
            return NO_PLAN if plan is None else _plan(plan)

    def patient_sessions(self, clinic_id: int, patient_id: int) -> list[SessionSummary] | None:
        """A patient's sessions, oldest first, with trial and hit counts (None: not this clinic's)."""
        with self._sessions() as s:
            p = _clinic_patient(s, clinic_id, patient_id)
            if p is None:
                return None
            hits = func.sum(case((Trial.outcome == "hit", 1), else_=0))
            rows = s.execute(
                select(GameSession, func.count(Trial.id), hits)
                .outerjoin(Trial, Trial.session_id == GameSession.id)
                .where(GameSession.patient_id == patient_id)
                .group_by(GameSession.id).order_by(GameSession.started_at, GameSession.id))
            return [SessionSummary(gs.id, gs.game, _aware(gs.started_at),
                                   None if gs.ended_at is None else _aware(gs.ended_at), gs.end_reason, gs.source,
                                   n, int(h or 0),
                                   # from the start settings: a session with no trial yet was still played in them
                                   "+".join(training_modes((gs.settings or {}).get("settings", {}))))
                    for gs, n, h in rows]

    def patient_trials(self, clinic_id: int, patient_id: int) -> list[TrialRow] | None:
        """Every stored trial of a patient, for export (None: not this clinic's patient)."""
        with self._sessions() as s:
            p = _clinic_patient(s, clinic_id, patient_id)
            if p is None:
                return None
            rows = s.execute(select(Trial, GameSession.game, GameSession.source)
                             .join(GameSession, GameSession.id == Trial.session_id)
                             .where(GameSession.patient_id == patient_id)
                             .order_by(Trial.session_id, Trial.trial_index))
            skip = {"id", "recorded_at"}
            return [TrialRow(game, source, _aware(t.recorded_at),
                             {c.key: getattr(t, c.key) for c in Trial.__table__.columns if c.key not in skip})
                    for t, game, source in rows]

    def end_session(self, session_id: int, reason: str) -> None:
        """A session ended by its server: its metrics are stored, so its input chunks go too."""
        with self._sessions.begin() as s:
            s.execute(
                update(GameSession)
                .where(GameSession.id == session_id, GameSession.ended_at.is_(None))
                .values(ended_at=utcnow(), end_reason=reason)
            )
            s.execute(delete(SessionInputChunk).where(SessionInputChunk.session_id == session_id))

    def open_sessions(self) -> dict[int, str]:
        """Sessions not ended yet, with the server process (node) hosting each."""
        with self._sessions() as s:
            rows = s.execute(select(GameSession.id, GameSession.host_node).where(GameSession.ended_at.is_(None)))
            return {row.id: row.host_node for row in rows}

    def end_sessions(self, session_ids: Sequence[int], reason: str) -> list[int]:
        """End sessions whose host is gone (it restarted, or died): at most their last trial is lost.
        Returns the sessions this call ended (not one already ended, by another node say): the
        caller then computes their metrics from their input chunks."""
        if not session_ids:
            return []
        with self._sessions.begin() as s:
            done = s.scalars(
                update(GameSession)
                .where(GameSession.id.in_(session_ids), GameSession.ended_at.is_(None))
                .values(ended_at=utcnow(), end_reason=reason)
                .returning(GameSession.id)
            )
            return sorted(done)

    # -- therapist logins -----------------------------------------------------------------------

    def create_login(self, therapist_id: int, token_hash: str, expires_at: datetime) -> None:
        with self._sessions.begin() as s:
            s.add(TherapistSession(therapist_id=therapist_id, token_hash=token_hash, expires_at=expires_at))

    def find_login(self, token_hash: str) -> tuple[TherapistRecord, datetime] | None:
        """The therapist behind a session token, if it is neither expired nor revoked."""
        with self._sessions() as s:
            row = s.scalar(select(TherapistSession).where(TherapistSession.token_hash == token_hash))
            if row is None or row.revoked_at is not None:
                return None
            expires_at = _aware(row.expires_at)
            if expires_at <= utcnow():
                return None
            t = s.get(Therapist, row.therapist_id)
            if t is None or not t.active:
                return None
            return _therapist(t), expires_at

    def revoke_login(self, token_hash: str, reason: str = "logout") -> None:
        with self._sessions.begin() as s:
            s.execute(update(TherapistSession).where(TherapistSession.token_hash == token_hash,
                                                     TherapistSession.revoked_at.is_(None))
                      .values(revoked_at=utcnow(), revoked_reason=reason))

    def get_session(self, session_id: int) -> SessionRecord | None:
        with self._sessions() as s:
            gs = s.get(GameSession, session_id)
            if gs is None:
                return None
            return SessionRecord(
                gs.id, gs.patient_id, gs.station_id, gs.game, gs.started_at, gs.ended_at, gs.end_reason
            )

    def audit(
        self, clinic_id: int | None, therapist_id: int | None, action: str, subject: str,
        detail: dict[str, Any],
    ) -> None:
        with self._sessions.begin() as s:
            _audit(s, clinic_id, therapist_id, action, subject, detail)

    def audit_entries(self, clinic_id: int, query: AuditQuery) -> list[AuditRecord]:
        """The clinic's audit entries matching ``query``, newest first, one page."""
        q = (select(AuditEntry, Therapist.username)
             .outerjoin(Therapist, Therapist.id == AuditEntry.therapist_id)
             .where(AuditEntry.clinic_id == clinic_id))
        if query.therapist_id is not None:
            q = q.where(AuditEntry.therapist_id == query.therapist_id)
        if query.subject is not None:
            q = q.where(AuditEntry.subject == query.subject)
        if query.action is not None:
            q = q.where(AuditEntry.action == query.action)
        if query.since is not None:
            q = q.where(AuditEntry.at >= query.since)
        if query.until is not None:
            q = q.where(AuditEntry.at < query.until)
        if query.before_id is not None:
            q = q.where(AuditEntry.id < query.before_id)
        with self._sessions() as s:
            rows = s.execute(q.order_by(AuditEntry.id.desc()).limit(query.limit)).all()
            return [AuditRecord(a.id, _aware(a.at), a.therapist_id, username, a.action, a.subject, a.detail)
                    for a, username in rows]


def _on_store_thread(
    method: Callable[Concatenate[Store, P], T],
) -> Callable[Concatenate[AsyncStore, P], Coroutine[Any, Any, T]]:
    """``Store.method`` as a coroutine method of :class:`AsyncStore`, run on the store's thread:
    the same parameters and result, checked by mypy at every call site."""

    async def run(self: AsyncStore, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self._run(partial(method, self.store, *args, **kwargs))

    run.__name__ = run.__qualname__ = method.__name__
    run.__doc__ = method.__doc__
    return run


class AsyncStore:
    """:class:`Store`'s operations as coroutines, run one at a time on a worker thread so the
    event loop never blocks on SQL. Each is the :class:`Store` method of the same name."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stridevr-db")
        # trials gathered while a commit is in flight or too recent: no delay when the server is quiet
        self._trials: Gathered[TrialWrite, int] = Gathered(self.record_trials, interval_s=TRIAL_COMMIT_INTERVAL_S)
        # recorded input (every session, every two seconds) lingers a little for company
        self._input: Gathered[tuple[int, Sequence[InputChunk | PendingChunk]], None] = Gathered(
            self._record_input_batches, linger_s=INPUT_LINGER_S)

    async def record_trial(self, write: TrialWrite) -> int:
        """Store one trial; returns its id once committed.

        Trials that finish while a commit is in flight, or within ``TRIAL_COMMIT_INTERVAL_S`` of
        the last one's start, are gathered into the next commit, so under load the writer makes a
        few large transactions instead of many small ones, with no added delay when the server is
        quiet.
        """
        return await self._trials.submit(write)

    async def record_input_chunks(self, session_id: int, chunks: Sequence[InputChunk | PendingChunk]) -> None:
        """A running session's recorded input (:meth:`Store.record_input_chunks`), committed with
        the other sessions' within ``INPUT_LINGER_S``."""
        await self._input.submit((session_id, chunks))

    async def _record_input_batches(
        self, batches: list[tuple[int, Sequence[InputChunk | PendingChunk]]]
    ) -> list[None]:
        await self._run(partial(self.store.record_input_batches, batches))
        return [None] * len(batches)

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Another storage module's operation (e.g. :class:`~server.storage.outcome_store.OutcomeStore`)
        on the store's one thread, typed as ``fn`` is."""
        return await self._run(partial(fn, *args, **kwargs))

    def close(self) -> None:
        """Finish queued writes, then close the engine."""
        self._executor.shutdown(wait=True)
        self.store.close()

    # accounts, stations, logins
    create_therapist = _on_store_thread(Store.create_therapist)
    reset_password = _on_store_thread(Store.reset_password)
    set_account_active = _on_store_thread(Store.set_account_active)
    list_accounts = _on_store_thread(Store.list_accounts)
    find_therapist = _on_store_thread(Store.find_therapist)
    create_station = _on_store_thread(Store.create_station)
    set_station_credential = _on_store_thread(Store.set_station_credential)
    revoke_station_credential = _on_store_thread(Store.revoke_station_credential)
    station_credential = _on_store_thread(Store.station_credential)
    station_credentials = _on_store_thread(Store.station_credentials)
    revoked_credentials = _on_store_thread(Store.revoked_credentials)
    find_station = _on_store_thread(Store.find_station)
    list_stations = _on_store_thread(Store.list_stations)
    create_login = _on_store_thread(Store.create_login)
    find_login = _on_store_thread(Store.find_login)
    revoke_login = _on_store_thread(Store.revoke_login)
    audit = _on_store_thread(Store.audit)
    audit_entries = _on_store_thread(Store.audit_entries)
    # patients and their records
    create_patient = _on_store_thread(Store.create_patient)
    update_patient = _on_store_thread(Store.update_patient)
    list_patients = _on_store_thread(Store.list_patients)
    get_patient = _on_store_thread(Store.get_patient)
    export_patient = _on_store_thread(Store.export_patient)
    patient_sessions = _on_store_thread(Store.patient_sessions)
    patient_trials = _on_store_thread(Store.patient_trials)
    patient_progress = _on_store_thread(Store.patient_progress)
    assessments = _on_store_thread(Store.assessments)
    save_plan = _on_store_thread(Store.save_plan)
    current_plan = _on_store_thread(Store.current_plan)
    # sessions
    start_session = _on_store_thread(Store.start_session)
    record_trials = _on_store_thread(Store.record_trials)
    record_difficulty_changes = _on_store_thread(Store.record_difficulty_changes)
    record_game_changes = _on_store_thread(Store.record_game_changes)
    record_session_metrics = _on_store_thread(Store.record_session_metrics)
    end_session = _on_store_thread(Store.end_session)
    open_sessions = _on_store_thread(Store.open_sessions)
    end_sessions = _on_store_thread(Store.end_sessions)
    sessions_awaiting_metrics = _on_store_thread(Store.sessions_awaiting_metrics)
    stored_session = _on_store_thread(Store.stored_session)
    record_recovered_metrics = _on_store_thread(Store.record_recovered_metrics)
    # headset pairings (server/storage/pairings.py)
    issue_pairing_code = _on_store_thread(Store.issue_pairing_code)
    redeem_pairing_code = _on_store_thread(Store.redeem_pairing_code)
    unpair_headset = _on_store_thread(Store.unpair_headset)
    station_pairings = _on_store_thread(Store.station_pairings)
    pairing_credential = _on_store_thread(Store.pairing_credential)
    revoked_pairings = _on_store_thread(Store.revoked_pairings)


def _add_changes(
    s: Session, session_id: int, changes: Sequence[DifficultyChange], after_trial: int | None
) -> None:
    if changes:
        s.execute(insert(DifficultyChangeRow), _change_rows(session_id, changes, after_trial, utcnow()))


def _change_rows(
    session_id: int, changes: Sequence[DifficultyChange], after_trial: int | None, at: datetime
) -> list[dict[str, Any]]:
    return [
        {"session_id": session_id, "changed_at": at, "after_trial_index": after_trial, **asdict(c)}
        for c in changes
    ]


def _insert_trials(s: Session, writes: Sequence[TrialWrite]) -> list[int]:
    now = utcnow()
    rows = []
    for w in writes:
        record = w.result.as_record()
        rows.append({"session_id": w.session_id, "trial_index": record.pop("index"), "recorded_at": now,
                     "mode": w.mode, **record})
    ids = list(s.scalars(insert(Trial).returning(Trial.id, sort_by_parameter_order=True), rows))
    samples = [
        {"patient_id": w.patient_id, "session_id": w.session_id, "trial_id": trial_id,
         "recorded_at": now, **asdict(sample)}
        for w, trial_id in zip(writes, ids, strict=True)
        for sample in w.samples
    ]
    if samples:
        s.execute(insert(RomSampleRow), samples)
    changes = [row for w in writes for row in _change_rows(w.session_id, w.changes, w.result.index, now)]
    if changes:
        s.execute(insert(DifficultyChangeRow), changes)
    return ids


def _insert_metrics(
    s: Session, session_id: int, patient_id: int, metrics: Sequence[MetricValue], interrupted: bool = False
) -> int:
    rows = [{"session_id": session_id, "patient_id": patient_id, "recorded_at": utcnow(),
             "interrupted": interrupted, **asdict(m)} for m in metrics]
    if rows:
        s.execute(insert(SessionMetric), rows)
    return len(rows)


def _trial_result(t: Trial) -> TrialResult:
    """A stored trial as the game reported it (the inverse of ``TrialResult.as_record``)."""
    names = [f.name for f in fields(TrialResult) if f.name not in ("index", "foot", "outcome")]
    return TrialResult(index=t.trial_index, foot=Side(t.foot), outcome=Outcome(t.outcome),
                       **{name: getattr(t, name) for name in names})


def _audit(
    s: Session, clinic_id: int | None, therapist_id: int | None, action: str, subject: str,
    detail: dict[str, Any],
) -> None:
    s.add(AuditEntry(clinic_id=clinic_id, therapist_id=therapist_id, action=action,
                     subject=subject, detail=detail))


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything StrideVR stores is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _metric(m: SessionMetric) -> MetricRecord:
    return MetricRecord(m.session_id, m.family, m.metric, m.side, m.direction, m.value, m.sd, m.n, m.task,
                        m.interrupted)


def _plan(p: Plan) -> PlanRecord:
    return PlanRecord(p.id, p.patient_id, p.therapist_id, _aware(p.created_at), p.source_session_id, p.games,
                      p.note)


def _clinic_patient(s: Session, clinic_id: int, patient_id: int) -> Patient | None:
    """A patient of this clinic only: other clinics' patients do not exist for the caller."""
    p = s.get(Patient, patient_id)
    return None if p is None or p.clinic_id != clinic_id else p


def _station(st: Station) -> StationRecord:
    return StationRecord(st.id, st.clinic_id, st.name)


def _therapist(t: Therapist) -> TherapistRecord:
    return TherapistRecord(t.id, t.clinic_id, t.username, t.display_name, t.password_hash, t.active, t.role)


def _clinic_account(s: Session, clinic_id: int, therapist_id: int) -> Therapist | None:
    t = s.get(Therapist, therapist_id)
    return None if t is None or t.clinic_id != clinic_id else t


def _revoke_sessions(s: Session, therapist_id: int, reason: str) -> int:
    """Revoke every live session token of an account; how many were."""
    done = s.execute(update(TherapistSession)
                     .where(TherapistSession.therapist_id == therapist_id, TherapistSession.revoked_at.is_(None))
                     .values(revoked_at=utcnow(), revoked_reason=reason))
    return rows_changed(done)


def _set_credential(s: Session, station_id: int, role: str, token_hash: str) -> bool:
    """Set the station's token for ``role``; True if it replaced one."""
    row = s.scalar(select(StationCredential).where(StationCredential.station_id == station_id,
                                                   StationCredential.role == role))
    if row is None:
        s.add(StationCredential(station_id=station_id, role=role, token_hash=token_hash))
        return False
    row.token_hash, row.created_at = token_hash, utcnow()
    return True


def _patient(p: Patient) -> PatientRecord:
    return PatientRecord(
        p.id, p.clinic_id, p.code, p.affected_side, p.leg_length_m, p.step_reach_m, p.notes
    )
