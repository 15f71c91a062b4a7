"""Balance boards: four load cells -> tare, calibration, window averaging, COP, body weight.

Readings are generated from a known centre of pressure (``tests/synthetic_board.py``: the bilinear
split whose moments put the COP exactly there), at the uneven times of a Bluetooth board, with the
board's own dead load on the cells. The live adapter (``server/adapters/board.py``) and the offline
reader (``scoring/recordings/balance_board_csv.py``) must each recover the COP and the body weight,
and give the same resampled samples for the same readings.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from clients.link import Link
from clients.replay_balance_board import board_setup, replay_balance_board
from scoring.balance import sway_metrics
from scoring.errors import RecordingError
from scoring.recordings.balance_board_csv import (
    analyze_board,
    board_samples,
    read_balance_board_csv,
    window_average,
)
from server.adapters.board import BoardAdapter, BoardSetup, LoadCellFrame
from server.board_messages import parse_board_setup, parse_load_cells
from server.codec import ProtocolError
from server.fields import Fields
from server.storage.models import SessionMetric, Trial
from tests.conftest import RunningServer
from tests.synthetic_board import cells_for, sway_recording, uneven_times, write_board_csv


def feed(adapter: BoardAdapter, times: np.ndarray, cells: np.ndarray) -> tuple[list[Any], list[Any]]:
    events, notices = [], []
    for i, (t, row) in enumerate(zip(times, cells, strict=True)):
        out = adapter.on_load_cells(LoadCellFrame(float(t), i, tuple(float(v) for v in row)))  # type: ignore[arg-type]
        events += out.events
        notices += out.notices
    return events, notices


def test_known_centres_of_pressure_come_back_from_the_four_cells() -> None:
    """Every reading as it comes (no resampling, no tare): the COP and the left share are exact,
    corners and edges included, with the default 433 x 238 mm geometry and a settable one."""
    points = np.array([[0.0, 0.0], [0.1, 0.05], [-0.2, -0.1], [0.2165, 0.119], [-0.05, 0.11], [0.12, -0.03]])
    for width, length in ((0.433, 0.238), (0.5, 0.3)):
        setup = BoardSetup("n", "explicit", tare_s=0.0, rate_hz=0.0, width_m=width, length_m=length)
        cells = cells_for(points, 650.0, width, length)
        events, _ = feed(BoardAdapter(setup), np.arange(len(points)) * 0.01, cells)
        assert np.array([(e.x_m, e.y_m) for e in events]) == pytest.approx(points, abs=1e-12)
        assert [e.force_n for e in events] == pytest.approx([650.0] * len(points))
        a = points[:, 0] / (width / 2)
        assert [e.left_share for e in events] == pytest.approx((1 - a) / 2)
        assert {e.source for e in events} == {"cop"}


def test_raw_counts_through_each_cells_calibration_read_as_newtons() -> None:
    """Units ``raw`` with a Wii-style calibration per cell (counts at 0, 17 and 34 kg, each cell its
    own, not quite linear): the same COP as the loads themselves."""
    kg = 9.80665
    calibration = []
    for zero, per_kg_low, per_kg_high in ((4000, 98.0, 101.0), (3500, 95.0, 97.0), (4200, 102.0, 99.0),
                                          (3900, 100.0, 100.0)):
        calibration.append(((zero, 0.0), (zero + 17 * per_kg_low, 17 * kg), (zero + 17 * per_kg_low + 17 * per_kg_high,
                                                                             34 * kg)))
    setup = BoardSetup("raw", "explicit", calibration=tuple(calibration), tare_s=0.0, rate_hz=0.0)
    points = np.array([[0.05, 0.02], [-0.1, 0.06], [0.0, -0.08]])
    loads = cells_for(points, 700.0)  # 175 N = 17.8 kg per cell at the centre: both segments are used

    def counts(cell: int, newtons: float) -> float:
        (r0, _), (r1, n1), (r2, n2) = calibration[cell]
        return r0 + newtons * (r1 - r0) / n1 if newtons <= n1 else r1 + (newtons - n1) * (r2 - r1) / (n2 - n1)

    raw = np.array([[counts(c, row[c]) for c in range(4)] for row in loads])
    events, _ = feed(BoardAdapter(setup), np.arange(3) * 0.01, raw)
    assert np.array([(e.x_m, e.y_m) for e in events]) == pytest.approx(points, abs=1e-9)
    assert [e.force_n for e in events] == pytest.approx([700.0] * 3)


def test_tare_body_weight_and_origin_from_uneven_readings() -> None:
    """The empty board's dead load is tared away, the body weight is measured while the patient
    stands, and the origin is their mean COP; in kg units, with sensor noise, at uneven times."""
    rec = sway_recording(noise_n=0.5, radius_m=0.004, period_s=6.0)
    setup = BoardSetup("kg", "calibrate", tare_s=1.0, calibrate_s=2.0, rate_hz=50.0)
    events, notices = feed(BoardAdapter(setup), rec.times_s, rec.cells_n / 9.80665)
    [calibrated] = [n for n in notices if n.kind == "calibrated"]
    assert calibrated.detail["body_weight_n"] == pytest.approx(700.0, rel=0.002)
    assert calibrated.detail["tare_n"] == pytest.approx(list(rec.dead_load_n), abs=0.3)
    # the origin is the mean COP of the 2 s stand: within the 4 mm circle around the offset
    assert calibrated.detail["origin_m"] == pytest.approx([0.01, -0.015], abs=0.0045)
    origin = np.array(calibrated.detail["origin_m"])
    t = np.array([e.device_time_s for e in events])
    measured = np.array([(e.x_m, e.y_m) for e in events]) + origin
    truth = np.column_stack([np.interp(t, rec.times_s, rec.cop_m[:, k]) for k in range(2)])
    assert np.abs(measured - truth).max() < 0.001  # 0.5 N noise on 175 N cells: well under a millimetre
    assert all(e.force_n == pytest.approx(700.0, abs=5.0) for e in events)


def test_someone_on_the_board_during_the_tare_is_not_tared_away() -> None:
    setup = BoardSetup("n", "calibrate", tare_s=1.0)
    times = np.arange(0, 3.0, 0.01)
    cells = cells_for(np.zeros((len(times), 2)), 600.0)
    events, notices = feed(BoardAdapter(setup), times, cells)
    assert not events
    assert notices and all(n.kind == "calibrating" and "step off" in n.message for n in notices)


def test_uneven_sampling_is_resampled_by_window_averaging_live_and_offline_alike() -> None:
    """Readings at Bluetooth-like intervals (2.5 to 22.5 ms): one sample per 20 ms window at the
    window's centre, each the mean of the readings in it (never an interpolated value), no sample
    for a window without a reading; the live adapter and the offline reader agree to 1e-9."""
    rec = sway_recording(empty_s=1.0, stand_s=6.0, radius_m=0.03, period_s=3.0)
    setup = BoardSetup("n", "explicit", tare_s=1.0, rate_hz=50.0)
    events, _ = feed(BoardAdapter(setup), rec.times_s, rec.cells_n)
    live_t = np.array([e.device_time_s for e in events])
    live = np.array([(e.y_m, e.x_m) for e in events])  # AP, ML, as offline

    t, cells = window_average(rec.times_s, rec.cells_n, 50.0)
    assert np.allclose((t - 0.01) / 0.02, np.round((t - 0.01) / 0.02))  # window centres on the 20 ms grid
    windows = np.floor(rec.times_s / 0.02)
    assert len(t) == len(np.unique(windows))  # empty windows give nothing
    k = 17
    inside = windows == np.floor(t[k] / 0.02)
    assert cells[k] == pytest.approx(rec.cells_n[inside].mean(axis=0))

    from scoring.recordings.balance_board_csv import BalanceBoardRecording

    offline = board_samples(BalanceBoardRecording(rec.times_s, rec.cells_n, 80.0, {}, "n"), tare_s=1.0,
                            rate_hz=50.0)
    keep = np.isfinite(offline.cop_m).all(axis=1)
    # the live adapter sends a window once the next one starts: all but the last
    assert live_t == pytest.approx(offline.times_s[keep][:len(live_t)], abs=1e-9)
    assert len(live_t) == keep.sum() - 1
    assert live == pytest.approx(offline.cop_m[keep][:len(live_t)], abs=1e-9)
    # and the windows follow the true circle at their centres, within what the COP travels in half a
    # window (the readings in a window need not be centred in it): 2π 3 cm / 3 s x 10 ms = 0.63 mm
    truth = np.column_stack([np.interp(live_t, rec.times_s, rec.cop_m[:, k]) for k in (1, 0)])
    assert np.abs(live - truth).max() < 2 * np.pi * 0.03 / 3.0 * 0.01


def test_the_csv_reader_finds_the_cells_units_and_times_and_measures_the_stand(tmp_path: Path) -> None:
    """A semicolon export with decimal commas, kg in brackets, times in ms and a metadata line:
    the body weight, the weight bearing (left share of body weight) and the sway of a circle."""
    rec = sway_recording(radius_m=0.02, period_s=4.0, offset_m=(-0.03, 0.0), stand_s=12.0)
    path = write_board_csv(tmp_path / "board.csv", rec)
    recording = read_balance_board_csv(path)
    assert recording.units == "kg" and recording.columns["front_left"] == "TopLeft (kg)"
    assert recording.columns["time"] == "Time (ms)"
    assert recording.times_s == pytest.approx(rec.times_s, abs=1e-6)
    result = analyze_board(recording, tare_s=1.0, rate_hz=50.0)
    assert result["body_weight_n"] == pytest.approx(700.0, rel=1e-4)
    assert result["tare_n"] == pytest.approx(list(rec.dead_load_n), abs=1e-3)
    # COP 3 cm left of centre: the left cells carry (1 + 0.03 / 0.2165) / 2 of the weight
    assert result["left_share_pct_bw"] == pytest.approx(100 * (1 + 0.03 / 0.2165) / 2, abs=0.05)
    # three turns of a 2 cm circle: path 3 x 2πr, RMS r/√2 on each axis
    assert result["path_length_m"] == pytest.approx(3 * 2 * np.pi * 0.02, rel=0.01)
    assert result["rms_ml_m"] == pytest.approx(0.02 / np.sqrt(2), rel=0.01)
    assert result["load_sd_pct_bw"] < 0.01


def test_the_csv_reader_refuses_files_it_cannot_read_naming_the_line(tmp_path: Path) -> None:
    rec = sway_recording(stand_s=2.0)
    three = write_board_csv(tmp_path / "three.csv", rec, names=("TopLeft", "TopRight", "BottomLeft", "Other"))
    with pytest.raises(RecordingError, match=r"line 2: no column for the back_right cell"):
        read_balance_board_csv(three)
    standing = write_board_csv(tmp_path / "standing.csv", sway_recording(empty_s=0.0, stand_s=3.0))
    with pytest.raises(RecordingError, match="someone is on the board"):
        analyze_board(read_balance_board_csv(standing), tare_s=1.0)
    assert analyze_board(read_balance_board_csv(standing), tare_s=0.0)["body_weight_n"] > 700.0  # dead load kept


def test_the_analysis_command_reads_a_board_file(tmp_path: Path) -> None:
    path = write_board_csv(tmp_path / "board.csv", sway_recording(stand_s=5.0), delimiter=",",
                           decimal_comma=False, time_ms=False, units="N", names=("FL", "FR", "BL", "BR"))
    done = subprocess.run([sys.executable, "-m", "scoring.analyze", "board", str(path), "--json"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["kind"] == "board" and result["body_weight_n"] == pytest.approx(700.0, rel=1e-3)
    assert result["recording"]["units"] == "n"


@pytest.mark.parametrize(("message", "code", "words"), [
    ({"units": "raw", "mode": "calibrate"}, "missing_field", "units 'raw' need it"),
    ({"units": "raw", "mode": "calibrate", "calibration": [[[0, 0], [1, 1]]] * 3}, "bad_field", "4 lists"),
    ({"units": "raw", "mode": "calibrate", "calibration": [[[0, 0], [0, 1]]] * 4}, "bad_field", "do not increase"),
    ({"units": "n", "mode": "calibrate", "calibration": [[[0, 0], [1, 1]]] * 4}, "bad_field", "'raw' only"),
    ({"units": "n", "mode": "calibrate", "tare_s": 0.1}, "bad_field", "tare_s"),
    ({"units": "n", "mode": "calibrate", "origin_m": [0, 0]}, "bad_field", "explicit"),
    ({"units": "n", "mode": "explicit", "width_m": 5}, "bad_field", "width_m"),
    ({"units": "lb", "mode": "explicit"}, "bad_field", "units"),
])
def test_bad_setups_are_refused_with_the_reason(message: dict[str, Any], code: str, words: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_board_setup(Fields({"type": "board_setup", "v": 1, **message}, "board_setup"))
    assert caught.value.code == code and words in str(caught.value)


def test_readings_need_a_setup_and_four_finite_cells() -> None:
    frame = {"type": "load_cells", "v": 1, "t_s": 1.0, "seq": 1, "cells": [1.0, 2.0, 3.0, 4.0]}
    with pytest.raises(ProtocolError) as caught:
        parse_load_cells(Fields(frame, "load_cells"), None)
    assert caught.value.code == "no_setup"
    setup = parse_board_setup(Fields({"type": "board_setup", "v": 1, "units": "kg", "mode": "explicit"}, "x"))
    assert parse_load_cells(Fields(frame, "load_cells"), setup).cells == (1.0, 2.0, 3.0, 4.0)
    for cells in ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0, float("nan")], [1.0, 2.0, 3.0, 900.0], [-60.0, 0, 0, 0]):
        with pytest.raises(ProtocolError) as caught:
            parse_load_cells(Fields({**frame, "cells": cells}, "load_cells"), setup)
        assert caught.value.code == "bad_field"


def test_uneven_times_are_uneven() -> None:
    """The generator's own check: intervals spread from 0.2 to 1.8 times the mean."""
    dt = np.diff(uneven_times(10.0))
    assert dt.min() < 0.4 / 80 and dt.max() > 1.6 / 80


# -- through a live server ------------------------------------------------------------------------


async def test_a_board_recording_replayed_into_a_quiet_stand_stores_the_offline_sway(
    running: RunningServer, tmp_path: Path
) -> None:
    """The board CSV replayed at its own pace (uneven readings, dead load, kg) into the assessment's
    eyes-open stand: the server tares, weighs, resamples and stores the stand's sway, which equals
    the offline analysis of the same window of the same file."""
    rec = sway_recording(empty_s=1.5, stand_s=15.0, radius_m=0.01, period_s=5.0, noise_n=0.3)
    path = write_board_csv(tmp_path / "board.csv", rec)
    recording = read_balance_board_csv(path)
    therapist = await Link.therapist(running.url, running.creds.username, running.creds.password)
    patient = await therapist.call({"type": "create_patient", "code": "BOARD-1", "affected_side": "L",
                                    "leg_length_m": 0.9})
    started = await therapist.call({"type": "start_game", "station": "station-1", "game": "assessment",
                                    "patient_id": patient["patient"]["id"], "source": "recording",
                                    "settings": {"stages": ["quiet_eyes_open"], "quiet_s": 10, "ready_s": 0.3}})
    report = await replay_balance_board(running.url, "station-1", running.creds.station_token, recording,
                                        board_setup(tare_s=1.0, rate_hz=50.0))
    assert report.errors == 0
    [calibrated] = [n for n in report.notices or [] if n["kind"] == "calibrated"]
    assert calibrated["detail"]["body_weight_n"] == pytest.approx(700.0, rel=0.005)
    assert calibrated["detail"]["body_weight_kg"] == pytest.approx(71.38, abs=0.4)
    while (message := await therapist.recv(20))["type"] != "game_stopped":
        pass
    assert message["reason"] == "completed"
    with running.store.store.engine.connect() as db:
        [stand] = db.execute(select(Trial.measures).where(Trial.session_id == started["session_id"])).scalars().all()
        rows = db.execute(select(SessionMetric).where(SessionMetric.session_id == started["session_id"])).all()
    stored = {m.metric: m.value for m in rows}
    assert stand["balance_source"] == "cop"
    offline = board_samples(recording, tare_s=1.0, rate_hz=50.0)
    window = (offline.times_s >= stand["device_t0_s"] - 1e-9) & (offline.times_s <= stand["device_t1_s"] + 1e-9)
    sway = sway_metrics(offline.times_s[window], offline.cop_m[window])
    assert stored["sway_velocity_eo_m_s"] == pytest.approx(sway["mean_velocity_m_s"], rel=1e-3)
    assert stored["sway_area_eo_m2"] == pytest.approx(sway["ellipse95_area_m2"], rel=1e-3)
    await therapist.close()


async def test_a_balance_board_is_its_own_device_kind_and_feeds_balance_only(running: RunningServer) -> None:
    board = await Link.station(running.url, "device", "station-1", running.creds.station_token)
    ok = await board.call({"type": "board_setup", "units": "kg", "mode": "calibrate"})
    assert ok["device"] == "balance board"
    bad = await board.request({"type": "load_cells", "t_s": 1.0, "seq": 1, "cells": [1, 2, 3]})
    assert bad["type"] == "error" and bad["code"] == "bad_field"
    therapist = await Link.therapist(running.url, running.creds.username, running.creds.password)
    [station] = (await therapist.call({"type": "list_stations"}))["stations"]
    assert station["device_kinds"] == ["balance_board"]
    patient = await therapist.call({"type": "create_patient", "code": "BOARD-2", "affected_side": "R",
                                    "leg_length_m": 0.9})
    refused = await therapist.request({"type": "start_game", "station": "station-1", "game": "stepping",
                                       "patient_id": patient["patient"]["id"]})
    assert refused["code"] == "device_mismatch" and "balance board" in refused["message"]
    assert "weight_shift" in refused["message"]
    await board.close()
    await therapist.close()
