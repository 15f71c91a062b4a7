"""The simulators and replay tools as a user runs them: real processes against a real server.

They never pick a patient (told neither a patient nor ``--join``, they refuse with exit status 2);
a replay stops the session it started when the recording ends, unless ``--leave-running``;
``--join`` plays a game another client started; the player plays the treadmill and the whole
assessment protocol until the session ends by itself.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from clients.link import Link
from server.storage.models import GameSession, SessionMetric, Trial
from tests.conftest import RunningServer
from tests.synthetic_walk import WalkSpec, walk, write_c3d

pytestmark = pytest.mark.db

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ("clients.replay_c3d", "clients.replay_force_plate", "clients.sim_tracker", "clients.sim_player")


@dataclass
class Done:
    rc: int
    out: str
    err: str


async def tool(module: str, *args: str, timeout_s: float = 120.0) -> Done:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", module, *args, cwd=ROOT,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    assert proc.returncode is not None
    return Done(proc.returncode, out.decode(), err.decode())


def station_args(running: RunningServer) -> list[str]:
    return ["--url", running.url, "--token", running.creds.station_token,
            "--headset-token", running.creds.headset_token]


def login_args(running: RunningServer) -> list[str]:
    return ["--therapist", running.creds.username, "--password", running.creds.password]


def running_session(running: RunningServer) -> int | None:
    """The session station-1 plays now, if any."""
    station = running.server.stations.get("station-1")
    return None if station is None or station.play is None else station.play.session_id


def session_row(running: RunningServer, session_id: int) -> Any:
    with running.store.store.engine.connect() as db:
        return db.execute(select(GameSession).where(GameSession.id == session_id)).one()


async def ended_row(running: RunningServer, session_id: int, timeout_s: float = 10.0) -> Any:
    """The session's row once it is closed: a game that ended by itself stores its last trial and
    closes its row just after the tool sees it finish."""
    for _ in range(int(timeout_s / 0.1)):
        row = session_row(running, session_id)
        if row.ended_at is not None:
            return row
        await asyncio.sleep(0.1)
    return session_row(running, session_id)


def stored(running: RunningServer, model: type[Any], session_id: int) -> list[Any]:
    with running.store.store.engine.connect() as db:
        return list(db.execute(select(model).where(model.session_id == session_id)).all())


async def new_patient(running: RunningServer, code: str) -> tuple[Link, int]:
    therapist = await Link.therapist(running.url, running.creds.username, running.creds.password)
    reply = await therapist.call({"type": "create_patient", "code": code, "affected_side": "L",
                                  "leg_length_m": 0.9, "step_reach_m": 0.5})
    return therapist, reply["patient"]["id"]


def one_line_error(done: Done, *words: str) -> None:
    lines = done.err.strip().splitlines()
    assert done.rc == 2 and len(lines) == 1 and lines[0].startswith("error: "), done
    assert all(w in lines[0] for w in words), lines[0]


def recording(module: str, tmp_path: Path) -> list[str]:
    """The file a replay tool needs (none for a simulator)."""
    if module == "clients.replay_c3d":
        return [str(write_c3d(tmp_path / "walk.c3d", walk(WalkSpec(strikes=4))))]
    if module == "clients.replay_force_plate":
        return [str(quiet_csv(tmp_path / "quiet.csv")), "--rate-hz", "100"]
    return []


@pytest.mark.parametrize("module", TOOLS)
async def test_every_tool_refuses_to_pick_a_patient(running: RunningServer, tmp_path: Path, module: str) -> None:
    base = [*recording(module, tmp_path), *station_args(running)]
    one_line_error(await tool(module, *base, *login_args(running)), "--patient")  # a login, no patient
    one_line_error(await tool(module, *base), "--patient", "--join")  # told nothing
    one_line_error(await tool(module, *base, "--join"), "nothing is running on station-1")
    assert running_session(running) is None  # nothing was started


async def test_a_patient_the_clinic_does_not_have_is_refused(running: RunningServer) -> None:
    done = await tool("clients.sim_tracker", *station_args(running), *login_args(running), "--patient", "NOPE-9")
    one_line_error(done, "no patient 'NOPE-9'")
    assert running_session(running) is None


def quiet_csv(path: Path, seconds: float = 6.0, rate: float = 100.0) -> Path:
    t = np.arange(0, seconds, 1 / rate)
    ap, ml = 0.8 * np.sin(2 * np.pi * 0.3 * t), 0.5 * np.sin(2 * np.pi * 0.2 * t + 1.0)  # cm
    path.write_text("\n".join(["sample,Fz,COPx,COPy"] + [f"{i},650,{x:.5f},{y:.5f}" for i, (x, y) in
                                                        enumerate(zip(ml, ap, strict=True))]) + "\n")
    return path


@pytest.mark.parametrize("leave_running", [False, True])
async def test_a_replay_stops_the_session_it_started_unless_told_to_leave_it(
    running: RunningServer, tmp_path: Path, leave_running: bool
) -> None:
    therapist, _ = await new_patient(running, "REPLAY-1")
    csv = quiet_csv(tmp_path / "quiet.csv")
    done = await tool("clients.replay_force_plate", str(csv), *station_args(running), *login_args(running),
                      "--patient", "REPLAY-1", "--cop-units", "cm", "--rate-hz", "100", "--speed", "0",
                      *(["--leave-running"] if leave_running else []))
    assert done.rc == 0 and done.err == "", done  # no progress bar: stderr is not a terminal
    session_id = int(done.out.split("weight_shift session ")[1].split()[0])
    row = session_row(running, session_id)
    if leave_running:
        assert f"session {session_id} left running" in done.out
        assert running_session(running) == session_id and row.ended_at is None
        await therapist.call({"type": "stop_game", "station": "station-1"})
    else:
        assert f"stopped session {session_id}: 0 trials stored" in done.out
        assert running_session(running) is None
        assert row.ended_at is not None and row.end_reason == "stopped_by_therapist"
    assert row.source == "recording"  # a replayed file, never mistaken for a live patient
    await therapist.close()


async def test_join_plays_a_game_another_client_started(running: RunningServer) -> None:
    therapist, patient_id = await new_patient(running, "JOIN-1")
    started = await therapist.call({
        "type": "start_game", "station": "station-1", "patient_id": patient_id, "game": "reaching",
        "settings": {"trials": 2, "inter_trial_s": 0.2, "directions": ["anterior", "medial"], "order": "cycle"},
        "difficulty": {"bounds": {"reach_frac_ll": {"value": 0.4}, "target_radius_m": {"value": 0.1},
                                  "time_window_s": {"value": 8.0}}}})
    # A stepping-only simulator will not play it, and says what runs.
    one_line_error(await tool("clients.sim_tracker", *station_args(running), "--join"), "runs reaching")
    done = await tool("clients.sim_player", *station_args(running), "--join", "--device", "grid")
    assert done.rc == 0, done
    assert f"joined reaching session {started['session_id']}" in done.out and "the game ended" in done.out
    assert (await ended_row(running, started["session_id"])).end_reason == "completed"
    trials = stored(running, Trial, started["session_id"])
    assert [t.outcome for t in trials] == ["hit", "hit"]
    await therapist.close()


async def test_the_player_walks_the_treadmill(running: RunningServer) -> None:
    therapist, _ = await new_patient(running, "TREAD-SIM")
    done = await tool("clients.sim_player", *station_args(running), *login_args(running), "--patient", "TREAD-SIM",
                      "--game", "treadmill", "--trials", "6")
    assert done.rc == 0, done
    session_id = int(done.out.split("treadmill session ")[1].split()[0])
    assert (await ended_row(running, session_id)).end_reason == "completed"
    trials = stored(running, Trial, session_id)
    assert len(trials) >= 6 and sum(t.outcome == "hit" for t in trials) >= 3, [t.outcome for t in trials]
    treadmill = {(m.metric, m.side) for m in stored(running, SessionMetric, session_id) if m.family == "treadmill"}
    assert ("step_length_m", "L") in treadmill and ("step_length_m", "R") in treadmill
    await therapist.close()


async def test_the_player_goes_through_the_whole_assessment(running: RunningServer) -> None:
    """Every stage, as short as the settings allow, started from another client and joined."""
    therapist, patient_id = await new_patient(running, "ASSESS-SIM")
    started = await therapist.call({
        "type": "start_game", "station": "station-1", "patient_id": patient_id, "game": "assessment",
        "settings": {"quiet_s": 10, "lean_directions": ["forward"], "lean_s": 5, "reach_directions": ["anterior"],
                     "walk_steps": 4, "timed_targets": 2, "ready_s": 0.5}})
    session_id = started["session_id"]
    done = await tool("clients.sim_player", *station_args(running), "--join", "--rate-hz", "50", timeout_s=180)
    assert done.rc == 0, done
    assert ("stages: quiet_eyes_open quiet_eyes_closed limits_of_stability reach walk timed_stepping"
            in done.out), done.out
    while (event := await therapist.recv(30))["type"] != "game_stopped":
        pass
    assert event["reason"] == "completed"
    row = session_row(running, session_id)
    assert row.end_reason == "completed" and row.ended_at is not None
    metrics = {(m.metric, m.side, m.direction): m.value for m in stored(running, SessionMetric, session_id)
               if m.family == "assessment"}
    names = {name for name, _, _ in metrics}
    assert {"sway_velocity_eo_m_s", "sway_velocity_ec_m_s", "los_forward_m", "reach_pct_ll", "step_length_m",
            "timed_stepping_s"} <= names, names
    # The simulated patient's known abilities come back (clients.sim_assessment).
    assert metrics[("los_forward_m", "", "cop")] == pytest.approx(0.12, abs=0.01)
    assert metrics[("step_length_m", "R", "")] == pytest.approx(0.45, abs=0.02)
    await therapist.close()


async def test_the_player_does_the_standard_measures_through_a_tracker(running: RunningServer) -> None:
    """With ``--device tracker`` the assessment's patient is tracked, feet and pelvis, and does the
    standard measures' stages with the known timing of clients.sim_measures."""
    from clients.sim_measures import ChairAbility, FeetScript, tug_script

    therapist, patient_id = await new_patient(running, "MEASURES-SIM")
    started = await therapist.call({
        "type": "start_game", "station": "station-1", "patient_id": patient_id, "game": "assessment",
        "settings": {"stages": ["timed_up_and_go", "four_square_step"], "ready_s": 0.5}})
    done = await tool("clients.sim_player", *station_args(running), "--join", "--device", "tracker",
                      "--rate-hz", "50", timeout_s=120)
    assert done.rc == 0, done
    assert "stages: timed_up_and_go four_square_step" in done.out, done.out
    while (await therapist.recv(30))["type"] != "game_stopped":
        pass
    metrics = {m.metric: m.value for m in stored(running, SessionMetric, started["session_id"])
               if m.family == "assessment"}
    assert metrics["tug_s"] == pytest.approx(tug_script(ChairAbility()).duration_s, abs=0.2)
    landings = FeetScript().landings()
    first_in_two = next(t for t, _, square in landings if square == 2)
    assert metrics["fsst_s"] == pytest.approx(landings[-1][0] - first_in_two, abs=0.2)
    assert metrics["fsst_errors"] == 0
    await therapist.close()
