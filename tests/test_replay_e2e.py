"""Recordings replayed through the server: the stored session metrics must match offline analysis.

A synthetic walk of known step length, width and cadence is written to a C3D file (Y-up,
millimetres, walking at 30° to the lab axes, with marker gaps); the replay tool streams it to a
live server as a tracker; the gait metrics the server stores when the session ends must equal
what ``python -m scoring.analyze gait`` finds in the same file, and both must recover the truth.
Likewise a force-plate CSV (COP in cm) through the assessment's quiet stand: the stand's sway is
the sway of that window of the file. Sessions a replay tool starts are stored as recordings; a
training game (weight shift) replayed from the same file stores no sway at all.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from clients.link import Link
from clients.replay_c3d import replay_c3d
from clients.replay_force_plate import main as replay_force_plate_main
from clients.replay_force_plate import replay_force_plate
from scoring.balance import sway_metrics
from scoring.recordings.c3d import read_c3d
from scoring.recordings.force_plate_csv import read_force_plate_csv
from server.storage.models import SessionMetric, Trial
from tests.conftest import RunningServer
from tests.synthetic_plate import quiet_csv
from tests.synthetic_walk import WalkSpec, walk, write_c3d

pytestmark = pytest.mark.db


async def start(running: RunningServer, game: str, settings: dict[str, object]) -> tuple[Link, int]:
    therapist = await Link.therapist(running.url, running.creds.username, running.creds.password)
    patient = await therapist.call({"type": "create_patient", "code": f"REPLAY-{game}", "affected_side": "L",
                                    "leg_length_m": 0.9})
    started = await therapist.call({"type": "start_game", "station": "station-1", "game": game,
                                    "patient_id": patient["patient"]["id"], "settings": settings,
                                    "source": "recording"})
    assert started["source"] == "recording"
    return therapist, started["session_id"]


def stored(running: RunningServer, session_id: int, family: str) -> dict[tuple[str, str], Any]:
    with running.store.store.engine.connect() as db:
        rows = db.execute(select(SessionMetric).where(SessionMetric.session_id == session_id,
                                                      SessionMetric.family == family)).all()
    return {(m.metric, m.side): m for m in rows}  # rows with SessionMetric's columns


def offline(kind: str, path: Path, *options: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "scoring.analyze", kind, str(path), "--json", *options],
                          capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)


async def test_a_c3d_walk_replayed_gives_the_offline_gait_metrics(running: RunningServer, tmp_path: Path) -> None:
    truth = walk(WalkSpec(step_length_m=0.55, step_width_m=0.16, step_time_s=0.6, strikes=8, heading_deg=30.0,
                          rate_hz=100.0, stop=True, pelvis=True))
    path = write_c3d(tmp_path / "walk.c3d", truth, up="y", units="mm", convention="pig", first_frame=17,
                     gaps=(("L", "toe", 150, 4), ("R", "ankle", 200, 60)))
    therapist, session_id = await start(running, "stepping", {"trials": 0})

    report = await replay_c3d(running.url, "station-1", running.creds.station_token, read_c3d(path), speed=5.0)
    assert report.errors == 0 and report.frames_sent == len(truth.times_s)
    await therapist.call({"type": "stop_game", "station": "station-1"})

    gait = stored(running, session_id, "gait")
    analysis = offline("gait", path)
    strikes = analysis["heel_strikes"]
    assert gait[("heel_strikes", "")].value == len(strikes) == len(truth.heel_strikes["L"]) + len(
        truth.heel_strikes["R"])
    for name in ("step_length_m", "step_width_m", "step_time_s"):
        assert gait[(name, "")].value == pytest.approx(analysis[name]["mean"], abs=1e-4), name
        assert gait[(name, "")].n == analysis[name]["n"]
    assert gait[("cadence_steps_per_min", "")].value == pytest.approx(analysis["cadence_steps_per_min"], rel=1e-3)
    for side in "LR":
        assert gait[("heel_lift_m", side)].value == pytest.approx(analysis["heel_lift_m"][side], abs=1e-3)
    # ... and both recover the truth (the stopping step, < 0.1 m, is left out of the means)
    assert gait[("step_length_m", "")].value == pytest.approx(0.55, rel=0.01)
    assert gait[("step_width_m", "")].value == pytest.approx(0.16, abs=0.005)
    assert gait[("cadence_steps_per_min", "")].value == pytest.approx(100.0, rel=0.01)
    await therapist.close()


async def test_a_quiet_stand_replayed_from_a_force_plate_csv_gives_the_sway_of_its_window(
    running: RunningServer, tmp_path: Path
) -> None:
    """The assessment's eyes-open stand on a replayed plate (at the file's own pace: the stand is
    timed by the game's clock): its stored sway is what offline analysis finds in the same window
    of the file, labelled with the stage, in a session stored as a recording."""
    path = quiet_csv(tmp_path / "quiet.csv", seconds=12.5)
    recording = read_force_plate_csv(path, rate_hz=100.0, cop_units="cm")
    therapist, session_id = await start(running, "assessment", {"stages": ["quiet_eyes_open"], "quiet_s": 10,
                                                                 "ready_s": 0.3})

    report = await replay_force_plate(running.url, "station-1", running.creds.station_token, recording, speed=1.0)
    assert report.errors == 0
    while (message := await therapist.recv(10))["type"] != "game_stopped":  # the stand ended: completed
        pass
    assert message["reason"] == "completed"

    with running.store.store.engine.connect() as db:
        [stand] = db.execute(select(Trial.measures).where(Trial.session_id == session_id)).scalars().all()
    assert stand["stage"] == "quiet_eyes_open" and stand["balance_source"] == "cop"
    window = (recording.times_s >= stand["device_t0_s"] - 1e-9) & (recording.times_s <= stand["device_t1_s"] + 1e-9)
    assert 9.0 <= stand["device_t1_s"] - stand["device_t0_s"] <= 10.5
    offline_window = sway_metrics(recording.times_s[window], recording.cop_m[window])
    stored_sway = stored(running, session_id, "assessment")
    assert stored_sway[("sway_velocity_eo_m_s", "")].value == pytest.approx(offline_window["mean_velocity_m_s"],
                                                                             rel=1e-3)
    assert stored_sway[("sway_area_eo_m2", "")].value == pytest.approx(offline_window["ellipse95_area_m2"], rel=1e-3)
    assert {m.task for m in stored_sway.values()} == {"assessment:quiet_eyes_open"}
    assert stored(running, session_id, "balance") == {}

    [patient_id] = [p["id"] for p in (await therapist.call({"type": "list_patients"}))["patients"]
                    if p["code"] == "REPLAY-assessment"]
    [listed] = (await therapist.call({"type": "list_sessions", "patient_id": patient_id}))["sessions"]
    assert listed["session_id"] == session_id and listed["source"] == "recording"
    progress = (await therapist.call({"type": "progress", "patient_id": patient_id}))["metrics"]
    assert progress and {(m["task"], m["source"]) for m in progress} == {("assessment:quiet_eyes_open", "recording")}
    export = await therapist.call({"type": "export", "patient_id": patient_id})
    assert [t["source"] for t in export["trials"]] == ["recording"]
    assert {m["source"] for m in export["metrics"]} == {"recording"}
    await therapist.close()


async def test_the_replay_tool_starts_a_recording_session_and_weight_shift_stores_no_sway(
    running: RunningServer, tmp_path: Path
) -> None:
    """``python -m clients.replay_force_plate --therapist`` starts its session as a recording. The
    weight-shift game leans to targets on purpose: 12 s of its centre of pressure is no sway
    measure, so none is stored."""
    path = quiet_csv(tmp_path / "quiet.csv", seconds=12.0)
    therapist = await Link.therapist(running.url, running.creds.username, running.creds.password)
    patient = (await therapist.call({"type": "create_patient", "code": "REPLAY-TOOL", "affected_side": "L",
                                     "leg_length_m": 0.9}))["patient"]
    argv = [str(path), "--url", running.url, "--token", running.creds.station_token, "--therapist",
            running.creds.username, "--password", running.creds.password, "--patient", "REPLAY-TOOL",
            "--game", "weight_shift", "--rate-hz", "100", "--cop-units", "cm", "--speed", "4"]
    assert await asyncio.to_thread(replay_force_plate_main, argv) == 0
    [listed] = (await therapist.call({"type": "list_sessions", "patient_id": patient["id"]}))["sessions"]
    assert listed["game"] == "weight_shift" and listed["source"] == "recording"
    stations = (await therapist.call({"type": "list_stations"}))["stations"]
    if any(s.get("session_id") == listed["session_id"] for s in stations):  # a tool may leave it running
        await therapist.call({"type": "stop_game", "station": "station-1"})
    assert stored(running, listed["session_id"], "balance") == {}
    with running.store.store.engine.connect() as db:
        tasks = set(db.execute(select(SessionMetric.task).where(SessionMetric.session_id == listed["session_id"]))
                    .scalars())
    assert tasks <= {"weight_shift"}
    await therapist.close()
