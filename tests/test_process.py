"""The server as a real process: the `make run` path, and surviving `kill -9` mid-session."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import create_engine, select

from clients.link import Link, StationTokens
from clients.replay_c3d import replay_c3d
from clients.replay_force_plate import replay_force_plate
from clients.sim_patient import Ability
from clients.sim_tracker import run_sim_tracker
from scoring.balance import sway_metrics
from scoring.gait import analyze_gait
from scoring.input_chunks import DTYPE, MARKERS, MAX_CHUNK_SAMPLES, SWAY_COLUMNS
from scoring.recordings.c3d import read_c3d
from scoring.recordings.force_plate_csv import read_force_plate_csv
from scoring.session_metrics import gait_metrics
from scoring.trajectories import MarkerTrajectories
from server.storage.database import normalise_url
from server.storage.models import GameSession, SessionInputChunk, SessionMetric, Trial
from server.storage.store import Store
from tests.conftest import seed_assessment
from tests.synthetic_plate import quiet_csv
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
    tokens = StationTokens(server.credential(r"device token  : (\S+)"), server.credential(r"headset token : (\S+)"))
    therapist = await Link.therapist(server.url, "demo", password)
    patient_id = (await therapist.call({"type": "list_patients"}))["patients"][0]["id"]
    started = await therapist.call({
        "type": "start_game", "station": "station-1", "patient_id": patient_id, "game": "stepping",
        "settings": {"dwell_s": 0.2, "inter_trial_s": 0.2, "seed": 1},
    })
    tracker = asyncio.create_task(run_sim_tracker(
        server.url, "station-1", tokens, Ability(hold_s=0.4), trials=100, seed=5, timeout_s=60,
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


@dataclass
class Interrupted:
    """A session a killed server left behind, as a restarted one stored it."""

    chunks: list[Any]  # SessionInputChunk rows as they were at the kill
    metrics: dict[tuple[str, str, str], Any]  # (family, metric, side) -> SessionMetric row
    reported: list[int]  # trial indexes the therapist was told of before the kill
    stored_trials: list[int]
    measures: list[dict[str, Any]]  # each stored trial's measures, in trial order
    end_reason: str | None

    def samples(self, kind: str) -> int:
        return sum(c.samples for c in self.chunks if c.kind == kind)


async def play_kill_and_restart(database_url: str, game: str, settings: dict[str, object],
                                device: Callable[[str, str], Coroutine[Any, Any, object]], play_s: float,
                                min_trials: int = 2) -> Interrupted:
    """Start ``game``, let ``device(url, token)`` play it for ``play_s`` (and until ``min_trials``
    trials were reported), kill the server with SIGKILL, start a new one on the same database and
    wait for the session's metrics."""
    server = await start_server(database_url, "--migrate", "--demo")
    therapist = await Link.therapist(server.url, "demo", server.credential(r"therapist login : demo / (\S+)"))
    patient_id = (await therapist.call({"type": "list_patients"}))["patients"][0]["id"]
    session_id = (await therapist.call({"type": "start_game", "station": "station-1", "patient_id": patient_id,
                                        "game": game, "settings": settings}))["session_id"]
    playing = asyncio.create_task(device(server.url, server.credential(r"device token  : (\S+)")))
    reported: list[int] = []
    kill_at = time.perf_counter() + play_s
    while time.perf_counter() < kill_at or len(reported) < min_trials:
        assert time.perf_counter() < kill_at + 20, f"trials reported: {reported}"
        with contextlib.suppress(TimeoutError):
            msg = await therapist.recv(max(0.1, kill_at - time.perf_counter()))
            if msg["type"] == "trial":
                reported.append(msg["trial"]["index"])
    server.proc.send_signal(signal.SIGKILL)
    await server.proc.wait()
    playing.cancel()
    await asyncio.gather(playing, return_exceptions=True)

    engine = create_engine(normalise_url(database_url))
    with engine.connect() as conn:
        chunks = list(conn.execute(select(SessionInputChunk).where(SessionInputChunk.session_id == session_id)
                                   .order_by(SessionInputChunk.seq)).all())
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
        trials = conn.execute(select(Trial.trial_index, Trial.measures).where(Trial.session_id == session_id)
                              .order_by(Trial.trial_index)).all()
    restarted.proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(restarted.proc.wait(), 15) == 0
    engine.dispose()
    return Interrupted(chunks, {(m.family, m.metric, m.side): m for m in metrics}, reported,
                       [t.trial_index for t in trials], [t.measures for t in trials], session.end_reason)


def check_interrupted(done: Interrupted, families: set[str]) -> None:
    """Ended as a restart ends it, every reported trial stored once and none missing in between,
    bounded chunks, every metric marked interrupted."""
    assert done.end_reason == "server_restart"
    assert done.stored_trials[: len(done.reported)] == done.reported
    assert done.stored_trials == list(range(len(done.stored_trials)))
    assert max(c.samples for c in done.chunks) <= MAX_CHUNK_SAMPLES
    assert all(m.interrupted for m in done.metrics.values())
    assert families <= {family for family, _, _ in done.metrics}


async def test_kill_9_mid_walk_keeps_the_gait_of_the_part_that_was_stored(database_url: str, tmp_path: Path) -> None:
    """A tracker walks (a C3D replayed live) while a treadmill game runs; the server is killed; a new
    process on the same database stores the session's gait metrics, marked interrupted, equal to
    the offline analysis of the part of the walk its input chunks held."""
    truth = walk(WalkSpec(step_length_m=0.5, step_width_m=0.15, step_time_s=0.6, strikes=40, rate_hz=100.0))
    recording = read_c3d(write_c3d(tmp_path / "walk.c3d", truth, up="y", units="mm", convention="pig"))
    done = await play_kill_and_restart(
        database_url, "treadmill", {"belt_speed_m_s": 1.0},  # a target passes every half second
        lambda url, token: replay_c3d(url, "station-1", token, recording, speed=1.0),
        play_s=13.0)  # about 20 of the walk's 40 steps
    check_interrupted(done, {"gait", "treadmill"})
    frames = done.samples(MARKERS)
    # what reached the database: the walk's first frames, none missing, at most a few seconds short
    assert 9.0 * 100 <= frames < len(truth.times_s)
    assert [c.t_last_s for c in done.chunks if c.kind == MARKERS][-1] == pytest.approx(
        recording.trajectories.times_s[frames - 1])

    whole = recording.trajectories
    part = MarkerTrajectories(whole.times_s[:frames], {k: p[:frames] for k, p in whole.positions_m.items()},
                              whole.up_axis)
    offline = {(m.metric, m.side): m for m in gait_metrics(analyze_gait(part).as_json())}
    gait = {(metric, side): m for (family, metric, side), m in done.metrics.items() if family == "gait"}
    assert set(gait) == set(offline)
    assert gait[("heel_strikes", "")].value >= 12  # well into the walk, short of its 40 steps
    for key, expected in offline.items():
        assert gait[key].value == pytest.approx(expected.value, abs=1e-4), key
        assert gait[key].n == expected.n, key
    assert gait[("step_length_m", "")].value == pytest.approx(0.5, rel=0.01)


async def test_kill_9_mid_assessment_keeps_the_sway_of_the_quiet_stand_that_was_stored(
    database_url: str, tmp_path: Path
) -> None:
    """The same with a force plate (a CSV replayed live) under the assessment's quiet stands, the
    only place sway is measured: killed during the eyes-closed stand, the server that takes over
    stores the completed eyes-open stand's sway, marked interrupted, equal to the offline analysis
    of that stand's window of the COP the chunks held; the cut-short stand gives nothing."""
    recording = read_force_plate_csv(quiet_csv(tmp_path / "plate.csv", seconds=30.0), rate_hz=100.0, cop_units="cm")
    done = await play_kill_and_restart(
        database_url, "assessment", {"stages": ["quiet_eyes_open", "quiet_eyes_closed"], "quiet_s": 10,
                                     "ready_s": 0.3},
        lambda url, token: replay_force_plate(url, "station-1", token, recording, speed=1.0),
        play_s=15.0, min_trials=1)  # eyes open: about 0.3 to 10.3 s of the file; eyes closed: 10.6 to 20.6 s
    check_interrupted(done, {"assessment"})
    assert done.reported == done.stored_trials == [0]  # the eyes-closed stand never ended
    [stand] = done.measures
    assert stand["stage"] == "quiet_eyes_open" and stand["balance_source"] == "cop"
    t0, t1 = stand["device_t0_s"], stand["device_t1_s"]
    assert 9.0 <= t1 - t0 <= 10.5

    # the COP the chunks held: every sample of the file up to some point past the stand, in order
    cop_chunks = [c for c in done.chunks if c.kind == "cop"]
    assert {tuple(c.columns) for c in cop_chunks} == {SWAY_COLUMNS}  # t_s, ap_m, ml_m
    cop = np.concatenate([np.frombuffer(c.data, dtype=DTYPE).reshape(c.samples, len(SWAY_COLUMNS))
                          for c in cop_chunks])
    held = cop.shape[0]
    assert t1 + 1.0 <= cop[-1, 0] < recording.times_s[-1]  # well into the eyes-closed stand, short of the file
    np.testing.assert_array_equal(cop[:, 0], recording.times_s[:held])
    # the replay sends the COP to the micrometre, relative to where the patient stood at first
    moved = recording.cop_m[:held] - cop[:, 1:]
    np.testing.assert_allclose(moved - moved[0], 0.0, atol=1.01e-6)

    window = (cop[:, 0] >= t0) & (cop[:, 0] <= t1)
    offline = sway_metrics(cop[window, 0], cop[window, 1:])
    stored = {metric: m for (family, metric, _), m in done.metrics.items() if family == "assessment"}
    # the eyes-closed stand, cut short, gives no sway and so no Romberg ratio either
    assert set(stored) == {"sway_velocity_eo_m_s", "sway_area_eo_m2", "quiet_centre_x_m", "quiet_centre_y_m"}
    # the restarted server analysed these very float64 samples (the chunks keep them bit for bit):
    # the only other arithmetic is the time origin it subtracts (the session's first sample, not
    # the window's), which can move a result by a few 1e-16 relative, never 1e-12
    assert stored["sway_velocity_eo_m_s"].value == pytest.approx(offline["mean_velocity_m_s"], rel=1e-12)
    assert stored["sway_area_eo_m2"].value == pytest.approx(offline["ellipse95_area_m2"], rel=1e-12)
    assert stored["quiet_centre_x_m"].value == pytest.approx(cop[window, 2].mean(), rel=1e-12)  # ML, right +
    assert stored["quiet_centre_y_m"].value == pytest.approx(cop[window, 1].mean(), rel=1e-12)  # AP, forward +
    for m in stored.values():
        assert (m.task, m.direction, m.n, m.interrupted) == ("assessment:quiet_eyes_open", "cop", window.sum(), True)
    # and what the file itself says of that window: the replay's micrometre rounding, random from
    # sample to sample, moves the 0.3 mm steps of the path by ~1e-5 relative, the area less
    in_file = (recording.times_s >= t0) & (recording.times_s <= t1)
    file_sway = sway_metrics(recording.times_s[in_file], recording.cop_m[in_file])
    assert stored["sway_velocity_eo_m_s"].value == pytest.approx(file_sway["mean_velocity_m_s"], rel=1e-4)
    assert stored["sway_area_eo_m2"].value == pytest.approx(file_sway["ellipse95_area_m2"], rel=1e-4)


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
