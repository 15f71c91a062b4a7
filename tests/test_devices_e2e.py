"""Every game through every kind of device, end to end over real sockets.

A scripted player sees the targets on a headset connection and answers them through a device
connection that speaks like real hardware: tracker markers in lab axes and millimetres (calibrated
by standing still), a pressure grid, or a force plate's centre of pressure. The server's adapters
must turn each into the events the games need, and the trials must be stored with their measures.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from clients.link import Link
from clients.sim_devices import LabFrame
from clients.sim_player import play
from server.storage.models import DifficultyChangeRow, SessionMetric, Trial
from tests.conftest import RunningServer

pytestmark = pytest.mark.db

SETTINGS = {
    "stepping": {"trials": 2, "dwell_s": 0.2, "inter_trial_s": 0.2, "directions": ["anterior"], "seed": 1},
    "reaching": {"trials": 2, "inter_trial_s": 0.2, "directions": ["anterior", "medial"], "order": "cycle",
                 "seed": 1},
    "weight_shift": {"trials": 2, "inter_trial_s": 0.2, "directions": ["forward", "backward"],
                     "order": "cycle", "seed": 1},
}
# Easy, fixed difficulty: this test is about the devices, not the staircase.
DIFFICULTY = {
    "stepping": {"step_distance_frac": {"value": 0.5}, "target_radius_m": {"value": 0.1},
                 "time_window_s": {"value": 6.0}},
    "reaching": {"reach_frac_ll": {"value": 0.4}, "target_radius_m": {"value": 0.1},
                 "time_window_s": {"value": 8.0}},
    "weight_shift": {"target_share_los": {"value": 0.5}, "target_radius_m": {"value": 0.03},
                     "hold_s": {"value": 0.5}, "time_window_s": {"value": 8.0}},
}


async def start(running: RunningServer, game: str) -> tuple[Link, int]:
    therapist = await Link.therapist(running.url, running.creds.username, running.creds.password)
    patient = await therapist.call({"type": "create_patient", "code": f"DEV-{game}", "affected_side": "L",
                                    "leg_length_m": 0.9, "step_reach_m": 0.5})
    started = await therapist.call({
        "type": "start_game", "station": "station-1", "patient_id": patient["patient"]["id"], "game": game,
        "settings": SETTINGS[game], "difficulty": {"bounds": DIFFICULTY[game]},
    })
    return therapist, started["session_id"]


@pytest.mark.parametrize(("game", "device"), [
    ("stepping", "tracker"), ("stepping", "grid"),
    ("reaching", "tracker"), ("reaching", "grid"),
    ("weight_shift", "tracker"), ("weight_shift", "grid"), ("weight_shift", "cop"),
])
async def test_every_game_through_every_device(running: RunningServer, game: str, device: str) -> None:
    therapist, session_id = await start(running, game)
    lab = LabFrame(units="mm", up="y", yaw_deg=120.0, origin_m=(1.5, 0.0, -2.0))
    report = await play(running.url, "station-1", running.tokens, game, device,
                        trials=2, lab=lab, timeout_s=60)
    assert report.errors == []
    assert report.outcomes == ["hit", "hit"], (report.outcomes, report.faults)
    if device == "tracker":
        assert any(n["kind"] == "calibrated" for n in report.notices)

    while (event := await therapist.recv(30))["type"] != "game_stopped":
        pass
    assert event["reason"] == "completed" and event["trials"] == 2
    with running.store.store.engine.connect() as db:
        trials = db.execute(select(Trial).where(Trial.session_id == session_id)
                            .order_by(Trial.trial_index)).all()
        metrics = db.execute(select(SessionMetric).where(SessionMetric.session_id == session_id)).all()
    assert [t.outcome for t in trials[:2]] == ["hit", "hit"]
    if game == "reaching":
        assert all(t.measures["reach_pct_ll"] == pytest.approx(100 * t.measures["reach_m"] / 0.9)
                   for t in trials[:2])
        assert {m.metric for m in metrics} >= {"max_reach_m", "max_reach_pct_ll"}
    if game == "weight_shift":
        assert all(0.0 < t.measures["path_efficiency"] <= 1.0 for t in trials[:2])
    await therapist.close()


async def test_frames_before_a_setup_and_bad_frames_get_clear_errors(running: RunningServer) -> None:
    device = await Link.station(running.url, "device", "station-1", running.creds.station_token)
    reply = await device.request({"type": "markers", "t_s": 0.0, "seq": 0, "L": {"heel": [0, 0, 0]}})
    assert reply["code"] == "no_setup" and "tracker_setup" in reply["message"]
    assert (await device.call({"type": "mat_setup", "kind": "grid", "rows": 4, "cols": 4,
                               "cell_m": [0.02, 0.02], "forward": "+y", "mode": "calibrate"}))["type"] == "ok"
    reply = await device.request({"type": "pressure", "t_s": 0.0, "seq": 0, "kpa": [[0.0] * 4] * 3})
    assert reply["type"] == "error" and reply["code"] == "bad_field"
    reply = await device.request({"type": "cop", "t_s": 0.0, "seq": 1, "cop": [0, 0], "force_n": 10})
    assert reply["type"] == "error" and "grid" in reply["message"]
    assert (await device.call({"type": "ping"}))["type"] == "pong"  # still connected
    await device.close()
    await asyncio.sleep(0)


async def test_reaching_difficulty_is_set_for_every_direction_and_stored_per_direction(
    running: RunningServer,
) -> None:
    therapist, session_id = await start(running, "reaching")
    revision = (await therapist.current_config("station-1"))["revision"]
    reply = await therapist.call({"type": "set_difficulty", "station": "station-1", "revision": revision,
                                  "bounds": {"reach_frac_ll": {"low": 0.5, "high": 0.7}}})
    assert set(reply["per_direction"]) == {"anterior", "medial"}
    assert all(0.5 <= d["values"]["reach_frac_ll"] <= 0.7 for d in reply["per_direction"].values())
    bad = await therapist.request({"type": "set_difficulty", "station": "station-1", "revision": reply["revision"],
                                   "bounds": {"step_distance_frac": {"low": 0.5}}})
    assert bad["code"] == "unknown_field"  # a stepping parameter is not a reaching one
    await therapist.call({"type": "stop_game", "station": "station-1"})
    with running.store.store.engine.connect() as db:
        names = set(db.scalars(select(DifficultyChangeRow.parameter)
                               .where(DifficultyChangeRow.session_id == session_id)))
    assert {"anterior:reach_frac_ll", "medial:reach_frac_ll", "medial:time_window_s"} <= names
    await therapist.close()
