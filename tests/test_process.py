"""The server as a real process: the `make run` path, and surviving `kill -9` mid-session."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from clients.link import Link
from clients.replay_c3d import replay_c3d
from clients.sim_patient import Ability
from clients.sim_tracker import run_sim_tracker
from scoring.gait import analyze_gait
from scoring.input_chunks import MARKERS
from scoring.recordings.c3d import read_c3d
from scoring.session_metrics import gait_metrics
from scoring.storage.database import normalise_url
from scoring.storage.models import GameSession, SessionInputChunk, SessionMetric, Trial
from scoring.storage.store import Store
from scoring.trajectories import MarkerTrajectories
from tests.conftest import seed_assessment
from tests.synthetic_walk import WalkSpec, walk, write_c3d

pytestmark = pytest.mark.db
ROOT = Path(__file__).resolve().parents[1]


class ServerProcess:
    def __init__(self, proc: asyncio.subprocess.Process, output: list[str], port: int) -> None:
        self.proc, self.output, self.port = proc, output, port

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def credential(self, pattern: str) -> str:
        for line in self.output:
            if m := re.search(pattern, line):
                return m.group(1)
        raise AssertionError(f"{pattern!r} not printed:\n" + "".join(self.output))


async def start_server(database_url: str, *extra: str, options: tuple[str, ...] = ()) -> ServerProcess:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server", "--port", "0", "--database-url", database_url,
        "--log-level", "WARNING", *options, "serve", *extra,
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    output: list[str] = []
    while True:
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        if not line:
            raise AssertionError("server exited:\n" + "".join(output))
        output.append(line)
        if m := re.search(r"listening on ws://[\d.]+:(\d+)", line):
            return ServerProcess(proc, output, int(m.group(1)))


async def test_kill_9_mid_session_loses_at_most_the_trial_in_progress(database_url: str) -> None:
    server = await start_server(database_url, "--migrate", "--demo")
    password = server.credential(r"therapist login : demo / (\S+)")
    token = server.credential(r"token: (\S+)")
    therapist = await Link.therapist(server.url, "demo", password)
    patient_id = (await therapist.call({"type": "list_patients"}))["patients"][0]["id"]
    started = await therapist.call({
        "type": "start_game", "station": "station-1", "patient_id": patient_id, "game": "stepping",
        "settings": {"dwell_s": 0.2, "inter_trial_s": 0.2, "seed": 1},
    })
    tracker = asyncio.create_task(run_sim_tracker(
        server.url, "station-1", token, Ability(hold_s=0.4), trials=100, seed=5, timeout_s=60,
    ))
    reported: list[int] = []
    while len(reported) < 3:
        msg = await therapist.recv(30)
        if msg["type"] == "trial":
            reported.append(msg["trial"]["index"])
    server.proc.send_signal(signal.SIGKILL)
    await server.proc.wait()
    tracker.cancel()
    await asyncio.gather(tracker, return_exceptions=True)

    engine = create_engine(normalise_url(database_url))
    with engine.connect() as conn:
        stored = conn.scalars(
            select(Trial.trial_index).where(Trial.session_id == started["session_id"]).order_by(Trial.trial_index)
        ).all()
    # every trial the therapist was told about is there, once; nothing else is missing in between
    assert stored[: len(reported)] == reported == [0, 1, 2]
    assert stored == list(range(len(stored))) and len(stored) <= len(reported) + 1

    restarted = await start_server(database_url)
    with engine.connect() as conn:
        session = conn.execute(select(GameSession).where(GameSession.id == started["session_id"])).one()
    assert session.end_reason == "server_restart"
    restarted.proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(restarted.proc.wait(), 15) == 0
    engine.dispose()


async def test_kill_9_mid_walk_keeps_the_gait_of_the_part_that_was_stored(database_url: str, tmp_path: Path) -> None:
    """A tracker walks (a C3D replayed live) while a treadmill game runs; the server is killed; a new
    process on the same database stores the session's gait metrics, marked interrupted, equal to
    the offline analysis of the part of the walk its input chunks held."""
    truth = walk(WalkSpec(step_length_m=0.5, step_width_m=0.15, step_time_s=0.6, strikes=40, rate_hz=100.0))
    recording = read_c3d(write_c3d(tmp_path / "walk.c3d", truth, up="y", units="mm", convention="pig"))
    server = await start_server(database_url, "--migrate", "--demo")
    therapist = await Link.therapist(server.url, "demo", server.credential(r"therapist login : demo / (\S+)"))
    patient_id = (await therapist.call({"type": "list_patients"}))["patients"][0]["id"]
    started = await therapist.call({
        "type": "start_game", "station": "station-1", "patient_id": patient_id, "game": "treadmill",
        "settings": {"belt_speed_m_s": 1.0},  # a target passes every half second
    })
    session_id = started["session_id"]
    replay = asyncio.create_task(replay_c3d(server.url, "station-1", server.credential(r"token: (\S+)"),
                                            recording, speed=1.0))
    reported: list[int] = []
    walking_until = time.perf_counter() + 13.0  # about 20 of the walk's 40 steps, then the kill
    while time.perf_counter() < walking_until or len(reported) < 2:
        assert time.perf_counter() < walking_until + 20, f"trials reported: {reported}"
        try:
            msg = await therapist.recv(max(0.1, walking_until - time.perf_counter()))
        except TimeoutError:
            continue
        if msg["type"] == "trial":
            reported.append(msg["trial"]["index"])
    server.proc.send_signal(signal.SIGKILL)
    await server.proc.wait()
    replay.cancel()
    await asyncio.gather(replay, return_exceptions=True)

    engine = create_engine(normalise_url(database_url))
    with engine.connect() as conn:
        chunks = conn.execute(select(SessionInputChunk).where(SessionInputChunk.session_id == session_id)
                              .order_by(SessionInputChunk.seq)).all()
    frames = sum(c.samples for c in chunks if c.kind == MARKERS)
    # what reached the database: the walk's first frames, none missing, at most a few seconds short
    assert 9.0 * 100 <= frames <= len(truth.times_s)
    assert max(c.samples for c in chunks) <= 1024
    assert [c.t_last_s for c in chunks if c.kind == MARKERS][-1] == pytest.approx(recording.trajectories.times_s[frames - 1])
    assert {c.kind for c in chunks} >= {MARKERS}

    restarted = await start_server(database_url)
    deadline = time.perf_counter() + 60
    while True:  # the metrics are computed in the background once the server listens
        with engine.connect() as conn:
            metrics = conn.execute(select(SessionMetric).where(SessionMetric.session_id == session_id)).all()
            left = conn.scalar(select(SessionInputChunk.id).where(SessionInputChunk.session_id == session_id))
        if metrics and left is None:
            break
        assert time.perf_counter() < deadline, "no metrics for the interrupted session"
        await asyncio.sleep(0.2)
    with engine.connect() as conn:
        session = conn.execute(select(GameSession).where(GameSession.id == session_id)).one()
        stored_trials = conn.scalars(select(Trial.trial_index).where(Trial.session_id == session_id)
                                     .order_by(Trial.trial_index)).all()
    assert session.end_reason == "server_restart" and session.ended_at is not None
    assert stored_trials[: len(reported)] == reported and stored_trials == list(range(len(stored_trials)))
    assert all(m.interrupted for m in metrics)
    families = {m.family for m in metrics}
    assert {"gait", "treadmill"} <= families

    part = recording.trajectories
    part = MarkerTrajectories(part.times_s[:frames], {k: p[:frames] for k, p in part.positions_m.items()},
                              part.up_axis)
    offline = {(m.metric, m.side): m for m in gait_metrics(analyze_gait(part).as_json())}
    gait = {(m.metric, m.side): m for m in metrics if m.family == "gait"}
    assert set(gait) == set(offline)
    assert gait[("heel_strikes", "")].value >= 12  # well into the walk, short of its 40 steps
    for key, expected in offline.items():
        assert gait[key].value == pytest.approx(expected.value, abs=1e-4), key
        assert gait[key].n == expected.n, key
    assert gait[("step_length_m", "")].value == pytest.approx(0.5, rel=0.01)

    restarted.proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(restarted.proc.wait(), 15) == 0
    engine.dispose()


async def test_a_clinics_own_smallest_changes_judge_its_reports_and_a_bad_table_stops_the_server(
    database_url: str, tmp_path: Path,
) -> None:
    """`--smallest-change FILE`: the report uses the clinic's threshold and names its source; a
    table the server cannot use stops it before it starts, saying which entry is wrong."""
    bad = tmp_path / "bad.toml"
    bad.write_text('[reach_pct]\nabsolute = 5.0\nsource = "ours"\n')
    refused = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server", "--database-url", database_url, "--smallest-change", str(bad), "serve",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, stderr = await asyncio.wait_for(refused.communicate(), 30)
    assert refused.returncode == 2
    assert "no assessment metric 'reach_pct'" in stderr.decode() and "reach_pct_ll" in stderr.decode()

    table = tmp_path / "smallest_change.toml"
    table.write_text('[reach_composite_pct_ll]\nabsolute = 10.0\nsource = "our test-retest, 2026"\n')
    server = await start_server(database_url, "--migrate", "--demo", options=("--smallest-change", str(table)))
    try:
        therapist = await Link.therapist(server.url, "demo", server.credential(r"therapist login : demo / (\S+)"))
        patient_id = (await therapist.call({"type": "list_patients"}))["patients"][0]["id"]
        store = Store(database_url)
        for composite, anterior in ((60.0, 60.0), (68.0, 68.0)):  # +8 % LL each
            seed_assessment(store, "demo", "station-1", patient_id, {
                ("reach_composite_pct_ll", "L", ""): composite, ("reach_pct_ll", "L", "anterior"): anterior})
        store.close()
        rows = {r["metric"]: r for r in (await therapist.call(
            {"type": "assessment_report", "patient_id": patient_id}))["rows"]}
        # the clinic's 10 % LL: +8 is not worth noting; the default 8 % LL per direction: it is
        assert rows["reach_composite_pct_ll"]["smallest_change"] == 10.0
        assert rows["reach_composite_pct_ll"]["verdict"] == "no notable change"
        assert rows["reach_composite_pct_ll"]["basis"] == "set by the clinic: our test-retest, 2026"
        assert rows["reach_pct_ll"]["verdict"] == "improved"
        assert rows["reach_pct_ll"]["basis"].startswith("conservative default, not from a study")
        await therapist.close()
    finally:
        server.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(server.proc.wait(), 15) == 0
