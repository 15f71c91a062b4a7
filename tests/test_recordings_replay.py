"""A walk exported as OpenSim TRC and as Qualisys TSV, replayed through the server as a live
tracker: the gait metrics stored when the session ends equal the offline analysis of the file
(the readers give the C3D reader's shape, so the replay and the analysis take them unchanged)."""

from __future__ import annotations

from pathlib import Path

import pytest

from clients.replay_c3d import replay_c3d
from scoring.gait import analyze_gait
from scoring.recordings.marker_text import read_markers
from tests.conftest import RunningServer
from tests.fixtures.recordings.make_fixtures import WALK
from tests.test_replay_e2e import start, stored

FIXTURES = Path(__file__).parent / "fixtures" / "recordings"


@pytest.mark.parametrize("name", ["walk_opensim.trc", "walk_qualisys.tsv"])
async def test_a_text_marker_file_replayed_gives_the_offline_gait_metrics(running: RunningServer, name: str) -> None:
    recording = read_markers(FIXTURES / name)
    therapist, session_id = await start(running, "stepping", {"trials": 0})
    report = await replay_c3d(running.url, "station-1", running.creds.station_token, recording, speed=4.0)
    assert report.errors == 0 and report.frames_sent == recording.trajectories.frames
    await therapist.call({"type": "stop_game", "station": "station-1"})

    gait = stored(running, session_id, "gait")
    offline = analyze_gait(recording.trajectories).as_json()
    assert gait[("heel_strikes", "")].value == len(offline["heel_strikes"]) == WALK.strikes
    for metric in ("step_length_m", "step_time_s"):
        assert gait[(metric, "")].value == pytest.approx(offline[metric]["mean"], abs=1e-4), metric
    assert gait[("step_length_m", "")].value == pytest.approx(WALK.step_length_m, rel=0.01)
    assert gait[("cadence_steps_per_min", "")].value == pytest.approx(60 / WALK.step_time_s, rel=0.01)
    await therapist.close()
