"""The store against a real database (SQLite here, PostgreSQL in CI via STRIDEVR_TEST_DATABASE_URL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

from games.base import Outcome, TrialResult
from games.events import Side
from scoring.difficulty import DifficultyChange
from scoring.metric import MetricValue
from scoring.trials import RomSample
from server import auth
from server.storage.database import alembic_config, migrate
from server.storage.models import Base, DifficultyChangeRow, GameSession, RomSampleRow, Therapist, Trial
from server.storage.store import Store, StoreError, TrialWrite

pytestmark = pytest.mark.db


def make_result(index: int, outcome: Outcome = Outcome.HIT) -> TrialResult:
    return TrialResult(
        index=index, foot=Side.LEFT, direction="anterior", direction_deg=0.0, target_x_m=-0.1,
        target_y_m=0.3, target_distance_m=0.3, target_radius_m=0.1, outcome=outcome, shown_at_s=1.0,
        ended_at_s=2.5, reaction_time_s=0.4, movement_time_s=0.6, placement_error_m=0.02,
        landing_x_m=-0.09, landing_y_m=0.31, foot_lift_m=0.06,
        difficulty={"step_distance_frac": 0.5, "target_radius_m": 0.1, "time_window_s": 3.0},
    )


@pytest.fixture
def clinic(store: Store) -> dict[str, int]:
    clinic_id = store.ensure_clinic("Test Clinic")
    therapist_id = store.create_therapist(clinic_id, "t1", auth.hash_password("correct horse battery"))
    station_id = store.upsert_station(clinic_id, "st-1", auth.hash_token("tok"))
    patient = store.create_patient(clinic_id, therapist_id, "P-001", "L", 0.9, None, "")
    session_id = store.start_session(patient.id, station_id, therapist_id, clinic_id, "stepping", {}, [
        DifficultyChange("target_radius_m", None, 0.1, "initial")
    ])
    return {"clinic": clinic_id, "therapist": therapist_id, "station": station_id,
            "patient": patient.id, "session": session_id}


def test_migrations_match_the_models(database_url: str, store: Store) -> None:
    migrate(database_url)  # a second run is a no-op
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_migration_labels_stored_metrics_with_their_task_and_sessions_as_live(
    database_url: str, store: Store, clinic: dict[str, int]
) -> None:
    """Metrics stored before tasks existed get their session's game and trials' modes, and an
    assessment's the stage each is computed from; sessions before sources were live. The
    migration also goes down and up again."""
    stepping, patient = clinic["session"], clinic["patient"]
    store.record_trials([TrialWrite(stepping, patient, make_result(0), [], [], mode="mirror")])
    store.record_session_metrics(stepping, patient, "rom", [MetricValue("rom", "mean_foot_lift_m", 0.05, "L")])
    store.record_session_metrics(stepping, patient, "balance", [MetricValue("balance", "path_length_m", 0.3)])
    assessment = store.start_session(patient, clinic["station"], clinic["therapist"], clinic["clinic"], "assessment",
                                     {}, [])
    store.record_session_metrics(assessment, patient, "assessment", [
        MetricValue("assessment", "sway_velocity_ec_m_s", 0.02, direction="cop"),
        MetricValue("assessment", "romberg_ratio", 1.8, direction="cop"),
        MetricValue("assessment", "reach_pct_ll", 60.0, "L", "anterior")])
    store.close()
    command.downgrade(alembic_config(database_url), "0005")
    migrate(database_url)

    again = Store(database_url)
    try:
        tasks = {(m.session_id, m.metric): m.task
                 for session in (stepping, assessment) for m in again.session_metrics(session)}
        sessions = again.patient_sessions(clinic["clinic"], patient)
    finally:
        again.close()
    assert tasks == {
        (stepping, "mean_foot_lift_m"): "stepping:mirror", (stepping, "path_length_m"): "stepping:mirror",
        (assessment, "sway_velocity_ec_m_s"): "assessment:quiet_eyes_closed",
        (assessment, "romberg_ratio"): "assessment:quiet_eyes_open+quiet_eyes_closed",
        (assessment, "reach_pct_ll"): "assessment:reach"}
    assert sessions is not None and [s.source for s in sessions] == ["live", "live"]


def test_trial_is_stored_once_with_samples_and_changes(store: Store, clinic: dict[str, int]) -> None:
    result = make_result(0)
    samples = [RomSample("L", "anterior", "step_reach_m", 0.31), RomSample("L", "vertical", "foot_lift_m", 0.06)]
    changes = [DifficultyChange("target_radius_m", 0.1, 0.095, "staircase: success -> harder")]
    write = TrialWrite(clinic["session"], clinic["patient"], result, samples, changes)
    [first] = store.record_trials([write])
    # a retried batch holding the same trial and a new one: no duplicate, the new one stored
    again, second = store.record_trials([write, TrialWrite(clinic["session"], clinic["patient"],
                                                           make_result(1), [], [])])
    assert first == again and second != first
    with store.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Trial)) == 2
        assert conn.scalar(select(func.count()).select_from(RomSampleRow)) == 2
        reasons = conn.scalars(select(DifficultyChangeRow.reason).order_by(DifficultyChangeRow.id)).all()
        assert reasons == ["initial", "staircase: success -> harder"]
        row = conn.execute(select(Trial).where(Trial.trial_index == 0)).one()
        assert row.outcome == "hit" and row.placement_error_m == pytest.approx(0.02)
        assert row.difficulty["time_window_s"] == 3.0


def test_patients_are_scoped_to_their_clinic(store: Store, clinic: dict[str, int]) -> None:
    other = store.ensure_clinic("Other Clinic")
    assert store.get_patient(clinic["clinic"], clinic["patient"]) is not None
    assert store.get_patient(other, clinic["patient"]) is None
    assert store.list_patients(other) == []
    with pytest.raises(StoreError, match="already exists"):
        store.create_patient(clinic["clinic"], clinic["therapist"], "P-001", "R", 0.8, None, "")
    # the same code in another clinic is a different patient
    store.create_patient(other, clinic["therapist"], "P-001", "R", 0.8, None, "")


def test_open_sessions_know_their_host_and_can_be_ended(store: Store, clinic: dict[str, int]) -> None:
    assert store.open_sessions() == {clinic["session"]: "local"}
    assert store.end_sessions([clinic["session"]], "server_restart") == [clinic["session"]]
    assert store.end_sessions([clinic["session"]], "server_restart") == []  # already ended: untouched
    assert store.open_sessions() == {}
    with store.engine.connect() as conn:
        assert conn.scalar(select(GameSession.end_reason)) == "server_restart"


def test_login_tokens_expire_and_can_be_revoked(store: Store, clinic: dict[str, int]) -> None:
    now = datetime.now(UTC)
    store.create_login(clinic["therapist"], auth.hash_token("live"), now + timedelta(hours=1))
    store.create_login(clinic["therapist"], auth.hash_token("old"), now - timedelta(seconds=1))
    found = store.find_login(auth.hash_token("live"))
    assert found is not None and found[0].username == "t1"
    assert found[1] == pytest.approx(now + timedelta(hours=1), abs=timedelta(seconds=1))
    assert store.find_login(auth.hash_token("old")) is None
    assert store.find_login(auth.hash_token("never issued")) is None
    store.revoke_login(auth.hash_token("live"))
    assert store.find_login(auth.hash_token("live")) is None


def test_passwords_and_tokens_are_never_stored_plain(store: Store, clinic: dict[str, int]) -> None:
    with store.engine.connect() as conn:
        stored = conn.scalar(select(Therapist.password_hash))
    assert stored is not None
    assert "correct horse" not in stored and stored.startswith("scrypt$")
    assert auth.verify_password("correct horse battery", stored)
    assert not auth.verify_password("wrong horse battery", stored)
    credential = store.station_credential("st-1", "device")
    assert credential is not None and credential[1] == auth.hash_token("tok") != "tok"
