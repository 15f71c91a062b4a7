"""Recordings replayed through the server: the stored session metrics must match offline analysis.

A synthetic walk of known step length, width and cadence is written to a C3D file (Y-up,
millimetres, walking at 30° to the lab axes, with marker gaps); the replay tool streams it to a
live server as a tracker; the gait metrics the server stores when the session ends must equal
what ``python -m scoring.analyze gait`` finds in the same file, and both must recover the truth.
Likewise a force-plate CSV (COP in cm) through the weight-shift game and the sway metrics.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from clients.link import Link
from clients.replay_c3d import replay_c3d
from clients.replay_force_plate import replay_force_plate
from scoring.recordings.c3d import read_c3d
from scoring.recordings.force_plate_csv import read_force_plate_csv
from scoring.storage.models import SessionMetric
from tests.conftest import RunningServer
from tests.synthetic_walk import WalkSpec, walk, write_c3d

pytestmark = pytest.mark.db


async def start(running: RunningServer, game: str, settings: dict[str, object]) -> tuple[Link, int]:
    therapist = await Link.therapist(running.url, running.creds.username, running.creds.password)
    patient = await therapist.call({"type": "create_patient", "code": f"REPLAY-{game}", "affected_side": "L",
                                    "leg_length_m": 0.9})
    started = await therapist.call({"type": "start_game", "station": "station-1", "game": game,
                                    "patient_id": patient["patient"]["id"], "settings": settings})
    return therapist, started["session_id"]


def stored(running: RunningServer, session_id: int, family: str) -> dict[tuple[str, str], SessionMetric]:
    with running.store.store.engine.connect() as db:
        rows = db.execute(select(SessionMetric).where(SessionMetric.session_id == session_id,
                                                      SessionMetric.family == family)).all()
    return {(m.metric, m.side): m for m in rows}


def offline(kind: str, path: Path, *options: str) -> dict[str, object]:
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


async def test_a_force_plate_csv_replayed_gives_the_offline_sway_metrics(
    running: RunningServer, tmp_path: Path
) -> None:
    rate = 100.0
    t = np.arange(0, 12.0, 1 / rate)
    rng = np.random.default_rng(3)
    ap = 0.8 * np.sin(2 * np.pi * 0.3 * t) + np.cumsum(rng.normal(0, 0.02, t.size))  # cm
    ml = 0.5 * np.sin(2 * np.pi * 0.2 * t + 1.0) + np.cumsum(rng.normal(0, 0.02, t.size))
    rows = ["sample,Fz,COPx,COPy"] + [f"{i},{650 + 5 * np.sin(i / 50):.3f},{x:.5f},{y:.5f}"
                                      for i, (x, y) in enumerate(zip(ml, ap, strict=True))]
    path = tmp_path / "quiet.csv"
    path.write_text("\n".join(rows) + "\n")
    recording = read_force_plate_csv(path, rate_hz=rate, cop_units="cm")
    therapist, session_id = await start(running, "weight_shift", {"trials": 0})

    report = await replay_force_plate(running.url, "station-1", running.creds.station_token, recording, speed=4.0)
    assert report.errors == 0
    await therapist.call({"type": "stop_game", "station": "station-1"})

    balance = stored(running, session_id, "balance")
    analysis = offline("balance", path, "--rate-hz", "100", "--cop-units", "cm")
    for name in ("path_length_m", "mean_velocity_m_s", "range_ap_m", "range_ml_m", "rms_ap_m", "rms_ml_m",
                 "ellipse95_area_m2", "duration_s"):
        assert balance[(name, "")].value == pytest.approx(analysis[name], rel=1e-3), name
    await therapist.close()
