"""Lab Streaming Layer end to end: real outlets and inlets in separate processes on loopback.

A motion-capture outlet (its own process: a simulated patient who watches the game as the headset
does and steps to each target, markers LHEE_x ... RANK_z in millimetres) feeds the LSL bridge (its
own process, ``python -m clients.lsl_bridge --join``), which feeds the server as the station's
tracker; the server publishes the game's events on its LSL marker stream (``--lsl-markers``),
recorded by an inlet in a third process. The stepping trials the server scores and stores must
line up with the markers: same count, order and outcomes, the markers' game clock equal to the
stored times, and their LSL time stamps as far apart as the stored times say.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from clients.link import Link
from server.config import Settings
from server.storage.models import SessionMetric, Trial
from tests.conftest import RunningServer, serving

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parent.parent


def spawn(module: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", module, *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


async def ready(proc: subprocess.Popen[str], timeout_s: float = 30.0) -> None:
    """Until the process prints ``ready`` (its outlet or inlet is open)."""
    assert proc.stdout is not None
    line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), timeout_s)
    assert line.strip() == "ready", (line, proc.stderr.read() if proc.poll() is not None and proc.stderr else "")


def finish(proc: subprocess.Popen[str], timeout_s: float = 30.0, sig: int | None = None) -> tuple[int, str, str]:
    if sig is not None and proc.poll() is None:
        proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return proc.returncode, out, err


async def game_stopped(therapist: Link, timeout_s: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while (message := await therapist.recv(max(0.1, deadline - loop.time())))["type"] != "game_stopped":
        pass
    return message


async def start(running: RunningServer, code: str, game: str, settings: dict[str, Any]) -> tuple[Link, int]:
    therapist = await Link.therapist(running.url, running.creds.username, running.creds.password)
    patient = await therapist.call({"type": "create_patient", "code": code, "affected_side": "L",
                                    "leg_length_m": 0.9, "step_reach_m": 0.5})
    started = await therapist.call({"type": "start_game", "station": "station-1", "game": game,
                                    "patient_id": patient["patient"]["id"], "settings": settings})
    return therapist, started["session_id"]


def bridge_args(running: RunningServer, stream: str, *extra: str) -> list[str]:
    return ["--url", running.url, "--token", running.creds.station_token, "--headset-token",
            running.creds.headset_token, "--join", "--stream-name", stream, "--resolve-timeout-s", "20", *extra]


async def test_stepping_over_lsl_is_scored_and_the_marker_stream_lines_up_with_the_stored_trials(
    database_url: str, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    events_name, mocap_name = f"StrideVR-events-{tag}", f"TestMocap-{tag}"
    settings = Settings(host="127.0.0.1", port=0, database_url=database_url, lsl_markers=events_name)
    async with serving(settings) as running:
        recorder = spawn("tests.lsl_processes", "record", events_name, str(tmp_path / "markers.json"))
        await ready(recorder)
        therapist, session_id = await start(running, "LSL-STEP", "stepping", {
            "trials": 5, "inter_trial_s": 0.5, "dwell_s": 0.3, "directions": ["anterior", "lateral"], "seed": 4})
        tracker = spawn("tests.lsl_processes", "tracker", mocap_name, running.url, "station-1",
                        running.creds.headset_token, str(tmp_path / "stamps.json"))
        await ready(tracker)
        bridge = spawn("clients.lsl_bridge", *bridge_args(running, mocap_name, "--kind", "markers", "--up", "+z"))
        try:
            stopped = await game_stopped(therapist, 150.0)
        finally:
            # (in threads: the server runs on this test's event loop and must keep answering)
            code, out, err = await asyncio.to_thread(finish, bridge, 30.0, signal.SIGTERM)
            await asyncio.to_thread(finish, tracker)
            await asyncio.to_thread(finish, recorder)
        await therapist.close()
        assert stopped["reason"] == "completed" and stopped["trials"] == 5
        assert code == 0, (out, err)
        assert "forwarded" in out and "server errors: 0" in out, out
        assert "L.heel=LHEE" in out and "R.ankle=RANK" in out  # the labels it read from the metadata
        with running.store.store.engine.connect() as db:
            trials = db.execute(select(Trial).where(Trial.session_id == session_id)
                                .order_by(Trial.trial_index)).all()

    stamps = np.array(json.loads((tmp_path / "stamps.json").read_text()))
    markers = [(t, m) for t, m in json.loads((tmp_path / "markers.json").read_text())
               if m["session_id"] == session_id]
    events = [m["event"] for _, m in markers]
    assert events[0] == "session_start" and events[-1] == "session_stop"
    assert markers[-1][1]["trials"] == 5 and markers[-1][1]["reason"] == "completed"
    stamps_of = [t for t, _ in markers]
    assert stamps_of == sorted(stamps_of)  # pushed in the order they happened, stamped in that order
    shown = [(t, m) for t, m in markers if m["event"] == "target_shown"]
    ended = [(t, m) for t, m in markers if m["event"] == "trial_outcome"]
    # counts and order: one target and one outcome per stored trial, the outcome after its target
    # and before the next target, with the stored trial's index, foot and outcome
    assert len(trials) == len(shown) == len(ended) == 5
    for k, trial in enumerate(trials):
        (t_shown, target), (t_ended, outcome) = shown[k], ended[k]
        assert target["trial"] == outcome["trial"]
        assert target["foot"] == trial.foot and outcome["outcome"] == trial.outcome
        assert t_shown < t_ended < (shown[k + 1][0] if k + 1 < len(shown) else np.inf)
        # the markers carry the game's clock, on which the trials are stored: equal
        assert target["game_t_s"] == pytest.approx(trial.shown_at_s, abs=1e-6)
        assert outcome["game_t_s"] == pytest.approx(trial.ended_at_s, abs=1e-6)
        # and their LSL stamps are the same instants: apart by what the stored times say, within
        # 1 ms (both come from the instant the game used; only the clock offset, measured to
        # microseconds, and LSL's clock correction on one host, ~2e-5 s, lie between)
        assert t_ended - t_shown == pytest.approx(trial.ended_at_s - trial.shown_at_s, abs=0.001)
    assert sum(trial.outcome == "hit" for trial in trials) >= 3  # the simulated patient steps well
    # foot landings: each carries the LSL time of the tracker sample that showed it (passed through
    # the bridge as t_s), and its marker comes after that capture by the pipeline's latency
    landed = [(t, m) for t, m in markers if m["event"] == "foot_landed"]
    assert len(landed) >= 5
    latencies = []
    for t, m in landed:
        nearest = stamps[np.argmin(np.abs(stamps - m["device_t_s"]))]
        assert m["device_t_s"] == pytest.approx(nearest, abs=0.001)  # a real sample's time stamp
        latencies.append(t - m["device_t_s"])
    # capture -> LSL -> bridge -> websocket -> server: positive, and well under a quarter second on
    # loopback even on a loaded machine (the bridge polls LSL at most 50 ms apart)
    assert 0 < min(latencies) and max(latencies) < 0.25, latencies
    print(f"LSL capture to marker: median {np.median(latencies) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms")
    hits = [trial for trial in trials if trial.outcome == "hit"]
    for trial in hits:  # the stepping foot landed inside its trial's window
        k = trials.index(trial)
        assert any(shown[k][0] < t <= ended[k][0] and m["side"] == trial.foot for t, m in landed)


async def test_a_walk_streamed_over_lsl_keeps_its_timing_in_the_stored_gait(database_url: str, tmp_path: Path) -> None:
    """The synthetic walk (8 strikes, 0.5 m steps, 0.6 s apart, stamped at capture as a camera system
    does) streamed in real time through the bridge into a stepping game: walking straight on past
    the target is scored (a miss, or a timeout), and the gait stored when the session ends has the
    walk's cadence, which only the passed-through LSL time stamps can give (the server's own clock
    would add the outlet's and the transport's delays)."""
    tag = uuid.uuid4().hex[:8]
    async with serving(Settings(host="127.0.0.1", port=0, database_url=database_url)) as running:
        therapist, session_id = await start(running, "LSL-WALK", "stepping", {"trials": 0, "home_radius_m": 0.5})
        walker = spawn("tests.lsl_processes", "walk", f"TestWalk-{tag}", str(tmp_path / "walk.json"))
        await ready(walker)
        bridge = spawn("clients.lsl_bridge", *bridge_args(running, f"TestWalk-{tag}", "--kind", "markers",
                                                          "--silence-s", "0.8"))
        walked, _, walk_err = await asyncio.to_thread(finish, walker, 60.0)
        code, out, err = await asyncio.to_thread(finish, bridge, 30.0)
        assert walked == 0, walk_err
        assert code == 3 and "sent nothing" in err  # it stops once the walk's stream goes quiet
        assert "server errors: 0" in out, out
        await therapist.call({"type": "stop_game", "station": "station-1"})
        await therapist.close()
        with running.store.store.engine.connect() as db:
            rows = db.execute(select(SessionMetric).where(SessionMetric.session_id == session_id,
                                                          SessionMetric.family == "gait", SessionMetric.side == ""))
            gait = {m.metric: m for m in rows.all()}
            trials = db.execute(select(Trial.outcome).where(Trial.session_id == session_id)).scalars().all()
    assert trials and set(trials) <= {"miss", "timeout"}, trials
    assert gait["cadence_steps_per_min"].value == pytest.approx(100.0, rel=0.02)
    assert gait["step_length_m"].value == pytest.approx(0.5, rel=0.02)
    assert gait["heel_strikes"].value >= 6


async def test_a_force_plate_stream_feeds_the_weight_shift_game_as_a_force_plate(running: RunningServer) -> None:
    """Forces and moments over LSL: the bridge computes the centre of pressure, the server's COP
    adapter calibrates on it (origin = where the patient stands on the plate) and the station
    knows it for a force plate."""
    name = f"TestPlate-{uuid.uuid4().hex[:8]}"
    therapist, _ = await start(running, "LSL-PLATE", "weight_shift", {"trials": 0})
    outlet = spawn("tests.lsl_processes", "plate", name, "0.03", "-0.02")
    try:
        await ready(outlet)
        bridge = spawn("clients.lsl_bridge", *bridge_args(running, name, "--kind", "force_plate", "--seconds", "4"))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30.0
        while (message := await therapist.recv(max(0.1, deadline - loop.time())))["type"] != "device_status" \
                or message["kind"] != "calibrated":
            pass
        code, out, err = await asyncio.to_thread(finish, bridge, 30.0)
    finally:
        await asyncio.to_thread(finish, outlet, 5.0, signal.SIGTERM)
    assert message["detail"]["origin_m"] == pytest.approx([0.03, -0.02], abs=1e-4)
    assert code == 0 and "force plate" in out, err
    [station] = (await therapist.call({"type": "list_stations"}))["stations"]
    assert station["session_id"] is not None
    await therapist.close()


@pytest.mark.parametrize(("labels", "unit", "words"), [
    (["Fp1", "Fp2", "Cz"], "microvolts", "no marker coordinate channels"),
    (["Knee_x", "Knee_y", "Knee_z"], "mm", "none of the stream's markers is a foot landmark"),
    (["LHEE_x", "LHEE_y", "LHEE_z"], None, "names no unit"),
])
async def test_a_stream_whose_channels_are_not_markers_is_refused_with_exit_status_4(
    running: RunningServer, labels: list[str], unit: str | None, words: str
) -> None:
    name = f"TestOdd-{uuid.uuid4().hex[:8]}"
    outlet = spawn("tests.lsl_processes", "channels", name, *labels, *(["--unit", unit] if unit else []))
    try:
        await ready(outlet)
        bridge = spawn("clients.lsl_bridge", *bridge_args(running, name, "--kind", "markers"))
        code, _, err = await asyncio.to_thread(finish, bridge, 60.0)
    finally:
        finish(outlet, timeout_s=5.0, sig=signal.SIGTERM)
    assert code == 4 and words in err, err


async def test_a_stream_that_is_not_there_is_exit_status_3_naming_it(running: RunningServer) -> None:
    bridge = spawn("clients.lsl_bridge", "--url", running.url, "--token", running.creds.station_token,
                   "--therapist", running.creds.username, "--password", running.creds.password, "--patient", "X",
                   "--stream-type", f"Nothing-{uuid.uuid4().hex[:8]}", "--kind", "force_plate",
                   "--resolve-timeout-s", "1")
    code, _, err = await asyncio.to_thread(finish, bridge, 60.0)
    assert code == 3 and "no LSL stream with type 'Nothing-" in err, err
