"""Device adapters and their parsers, on synthetic tracker and mat data.

The tracker scenes are built in the patient frame and written out in a lab frame of any units, up
axis and facing, so every check reads the same whatever the lab: a foot 0.3 m in front of the
patient must read y = 0.3.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import msgpack
import numpy as np
import pytest

from games.events import BalanceEvent, FootEvent, Side
from scoring.trajectories import TrajectoryRecorder
from server.adapters import MatAdapter, TrackerAdapter
from server.adapters.frames import AXES_3D, UNIT_SCALE_M, MatSetup, TrackerSetup
from server.codec import ProtocolError, decode
from server.device_messages import (
    parse_cop,
    parse_markers,
    parse_mat_setup,
    parse_pressure,
    parse_tracker_setup,
)
from server.fields import Fields
from server.messages import open_envelope

RATE_HZ = 100.0
FOOT_LEN_M = 0.24  # heel-to-toe marker distance
MARKER_H_M = {"heel": 0.04, "toe": 0.025, "ankle": 0.09}
STANCE = {"L": (-0.1, 0.0, 0.0), "R": (0.1, 0.0, 0.0)}

# -- a synthetic lab -------------------------------------------------------------------------------


@dataclass
class Lab:
    units: str
    up: str
    forward: tuple[float, float, float]  # lab unit vector the patient faces
    origin_m: tuple[float, float, float]  # the patient-frame origin (on the floor), lab metres

    def to_lab(self, p: tuple[float, float, float]) -> list[float]:
        u = np.array(AXES_3D[self.up])
        f = np.array(self.forward)
        r = np.cross(f, u)
        lab_m = np.array(self.origin_m) + p[0] * r + p[1] * f + p[2] * u
        return (lab_m / UNIT_SCALE_M[self.units]).tolist()


def _deg(angle: float, a: tuple[float, float, float], b: tuple[float, float, float]) -> tuple[float, float, float]:
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    return c * a[0] + s * b[0], c * a[1] + s * b[1], c * a[2] + s * b[2]


LABS = {
    "mm_zup_facing_-x": Lab("mm", "+z", (-1.0, 0.0, 0.0), (1.2, -0.35, 0.0)),
    "m_zup_facing_+y": Lab("m", "+z", (0.0, 1.0, 0.0), (0.0, 0.0, 0.02)),
    "cm_yup_facing_30deg": Lab("cm", "+y", _deg(30, (1.0, 0.0, 0.0), (0.0, 0.0, -1.0)), (0.4, 0.0, -0.8)),
    "m_yup_facing_-z": Lab("m", "+y", (0.0, 0.0, -1.0), (-2.0, 0.01, 1.5)),
}


def foot_markers(x: float, y: float, z: float, lateral: float) -> dict[str, tuple[float, float, float]]:
    """Marker positions (patient frame) of a foot whose reference point is (x, y), lifted by z."""
    return {
        "heel": (x, y - FOOT_LEN_M / 2, MARKER_H_M["heel"] + z),
        "toe": (x, y + FOOT_LEN_M / 2, MARKER_H_M["toe"] + z),
        "ankle": (x + 0.03 * lateral, y - 0.07, MARKER_H_M["ankle"] + z),
    }


GAP_ENCODINGS = {
    "null": None,
    "nan": [math.nan, math.nan, math.nan],
    "c3d": [0.0, 0.0, 0.0, -1.0],
}


def marker_message(lab: Lab, t: float, seq: int, feet: dict[str, tuple[float, float, float]],
                   *, gaps: dict[tuple[str, str], str] | None = None,
                   shift: dict[tuple[str, str], tuple[float, float, float]] | None = None,
                   pelvis: tuple[float, float, float] | None = None, noise_m: float = 0.0,
                   rng: np.random.Generator | None = None) -> dict:
    """A ``markers`` message: ``gaps`` drops markers (null / nan / c3d / absent), ``shift`` moves
    markers (patient frame, metres) to simulate jumps."""
    gaps, shift = gaps or {}, shift or {}
    msg: dict = {"type": "markers", "v": 1, "t_s": t, "seq": seq}
    for side, (x, y, z) in feet.items():
        lateral = -1.0 if side == "L" else 1.0
        out = {}
        for name, p in foot_markers(x, y, z, lateral).items():
            how = gaps.get((side, name))
            if how == "absent":
                continue
            if how is not None:
                out[name] = GAP_ENCODINGS[how]
                continue
            d = shift.get((side, name), (0.0, 0.0, 0.0))
            p = (p[0] + d[0], p[1] + d[1], p[2] + d[2])
            if noise_m and rng is not None:
                p = (p[0] + rng.normal(0.0, noise_m), p[1] + rng.normal(0.0, noise_m), p[2] + rng.normal(0.0, noise_m))
            out[name] = lab.to_lab(p)
        msg[side] = out
    if pelvis is not None:
        msg["pelvis"] = lab.to_lab(pelvis)
    return msg


def feed(adapter: TrackerAdapter, msg: dict):
    return adapter.on_markers(parse_markers(Fields(msg, "markers"), adapter.setup))


def stand(adapter: TrackerAdapter, lab: Lab, seconds: float, t0: float = 0.0, seq0: int = 0, *,
          feet: dict | None = None, noise_m: float = 0.0005, **kw) -> tuple[list, float, int]:
    rng = np.random.default_rng(1)
    outs = []
    n = round(seconds * RATE_HZ)
    for i in range(n):
        t = t0 + i / RATE_HZ
        msg = marker_message(lab, t, seq0 + i, feet or STANCE, noise_m=noise_m, rng=rng, **kw)
        outs.append(feed(adapter, msg))
    return outs, t0 + n / RATE_HZ, seq0 + n


def calibrated(lab: Lab) -> tuple[TrackerAdapter, float, int]:
    adapter = TrackerAdapter(TrackerSetup(lab.units, lab.up, "calibrate"))
    _outs, t, seq = stand(adapter, lab, 2.2)
    assert adapter.calibrated
    return adapter, t, seq


def foot_events(out, side: str) -> list[FootEvent]:
    return [e for e in out.events if isinstance(e, FootEvent) and e.side.value == side]


def kinds(outs) -> list[str]:
    return [n.kind for o in outs for n in o.notices]


# -- tracker: calibration and the patient frame ----------------------------------------------------


@pytest.mark.parametrize("name", LABS)
def test_calibration_recovers_the_patient_frame(name: str) -> None:
    lab = LABS[name]
    adapter = TrackerAdapter(TrackerSetup(lab.units, lab.up, "calibrate"))
    outs, _t, _seq = stand(adapter, lab, 2.2)
    done = [i for i, o in enumerate(outs) if any(n.kind == "calibrated" for n in o.notices)]
    assert len(done) == 1 and 195 <= done[0] <= 205  # 2 s of quiet standing at 100 Hz
    assert not any(o.events for o in outs[: done[0]])  # no foot events before calibration
    assert kinds(outs[: done[0]]).count("calibrating") == 4  # 0, 25, 50, 75 %
    detail = next(n for n in outs[done[0]].notices if n.kind == "calibrated").detail
    assert np.allclose(detail["forward"], lab.forward, atol=0.01)
    assert detail["foot_length_m"]["L"] == pytest.approx(FOOT_LEN_M, abs=0.003)
    assert detail["foot_length_m"]["R"] == pytest.approx(FOOT_LEN_M, abs=0.003)
    assert detail["stance_width_m"] == pytest.approx(0.2, abs=0.003)
    # origin: midway between the feet, at the lowest standing marker (the toe, 25 mm up)
    expected = lab.to_lab((0.0, 0.0, MARKER_H_M["toe"]))
    assert np.allclose(detail["origin"], expected, atol=0.003 / UNIT_SCALE_M[lab.units])
    # standing: both feet at their home spots, planted
    for side, (x, y, _) in STANCE.items():
        event = foot_events(outs[-1], side)[0]
        assert (event.x_m, event.y_m, event.z_m) == pytest.approx((x, y, 0.0), abs=0.003)
        assert event.contact is None and event.force_n is None


@pytest.mark.parametrize("name", LABS)
def test_positions_in_the_patient_frame_whatever_the_lab(name: str) -> None:
    lab = LABS[name]
    adapter, t, seq = calibrated(lab)
    # the left foot steps 0.3 m forward and 5 cm up over half a second, smoothly
    for i in range(1, 51):
        s = i / 50
        out = feed(adapter, marker_message(lab, t, seq, {"L": (-0.1, 0.3 * s, 0.05 * s), "R": STANCE["R"]}))
        t, seq = t + 1 / RATE_HZ, seq + 1
    left, right = foot_events(out, "L")[0], foot_events(out, "R")[0]
    assert (left.x_m, left.y_m, left.z_m) == pytest.approx((-0.1, 0.3, 0.05), abs=0.002)
    assert (right.x_m, right.y_m, right.z_m) == pytest.approx((0.1, 0.0, 0.0), abs=0.002)
    assert left.device_time_s == pytest.approx(t - 1 / RATE_HZ) == out.t_s and left.seq == seq - 1
    # heel-off: the toe still planted keeps z at 0
    heel_up = marker_message(lab, t, seq, STANCE, shift={("R", "heel"): (0.0, 0.0, 0.04)})
    assert foot_events(feed(adapter, heel_up), "R")[0].z_m == pytest.approx(0.0, abs=0.002)


def test_explicit_mode_needs_no_calibration() -> None:
    lab = LABS["mm_zup_facing_-x"]
    setup = TrackerSetup("mm", "+z", "explicit", forward="-x", origin=(1200.0, -350.0, 0.0))
    adapter = TrackerAdapter(setup)
    out = feed(adapter, marker_message(lab, 0.0, 0, STANCE))
    assert {e.side.value for e in out.events} == {"L", "R"}
    left = foot_events(out, "L")[0]
    assert (left.x_m, left.y_m, left.z_m) == pytest.approx((-0.1, 0.0, 0.0), abs=1e-6)
    t = 0.0
    for i in range(1, 31):  # right foot lifts 8 cm, smoothly
        t = i / RATE_HZ
        out = feed(adapter, marker_message(lab, t, i, {"L": STANCE["L"], "R": (0.1, 0.0, 0.08 * i / 30)}))
    assert foot_events(out, "R")[0].z_m == pytest.approx(0.08, abs=1e-6)
    assert foot_events(out, "L")[0].z_m == pytest.approx(0.0, abs=1e-6)


def test_markers_swapped_fail_calibration() -> None:
    lab = LABS["m_zup_facing_+y"]
    adapter = TrackerAdapter(TrackerSetup("m", "+z", "calibrate"))
    outs, _, _ = stand(adapter, lab, 2.2, feet={"L": (0.1, 0.0, 0.0), "R": (-0.1, 0.0, 0.0)})
    got = kinds(outs)
    assert "markers_swapped" in got and "calibration_failed" in got and "calibrated" not in got
    assert not adapter.calibrated and not any(o.events for o in outs) and all(o.markers is None for o in outs)


def test_calibration_waits_for_stillness() -> None:
    lab = LABS["m_zup_facing_+y"]
    adapter = TrackerAdapter(TrackerSetup("m", "+z", "calibrate", calibrate_s=1.0))
    _outs, t, seq = stand(adapter, lab, 0.8)
    outs2, t, seq = stand(adapter, lab, 0.5, t, seq, feet={"L": (-0.1, 0.05, 0.0), "R": STANCE["R"]})
    assert not adapter.calibrated  # the left foot moved 5 cm: the window started over
    assert outs2[0].notices and outs2[0].notices[0].detail["share"] == 0.0
    stand(adapter, lab, 0.6, t, seq, feet={"L": (-0.1, 0.05, 0.0), "R": STANCE["R"]})
    assert adapter.calibrated


# -- tracker: gaps and jumps -----------------------------------------------------------------------


def walk(adapter: TrackerAdapter, lab: Lab, t: float, seq: int, frames: int, speed_m_s: float,
         gaps_at: dict[int, dict] | None = None, shift_at: dict[int, dict] | None = None):
    """The left foot slides forward; returns the L events (truth, event or None) per frame."""
    rows = []
    for i in range(frames):
        y = speed_m_s * i / RATE_HZ
        feet = {"L": (-0.1, y, 0.0), "R": STANCE["R"]}
        msg = marker_message(lab, t, seq, feet, gaps=(gaps_at or {}).get(i), shift=(shift_at or {}).get(i),
                             pelvis=(0.0, 0.05, 0.95))
        out = feed(adapter, msg)
        events = foot_events(out, "L")
        rows.append(((-0.1, y), events[0] if events else None, out))
        t, seq = t + 1 / RATE_HZ, seq + 1
    return rows, t, seq


def test_short_gaps_are_bridged_without_jumps() -> None:
    lab = LABS["mm_zup_facing_-x"]
    adapter, t, seq = calibrated(lab)
    gaps_at = {}
    for i in range(20, 30):
        gaps_at[i] = {("L", "toe"): "nan"}
    for i in range(40, 50):
        gaps_at[i] = {("L", "heel"): "c3d"}
    for i in range(60, 75):
        gaps_at[i] = {("L", "heel"): "null", ("L", "toe"): "absent"}  # the ankle alone
    rows, t, seq = walk(adapter, lab, t, seq, 560, 0.3, gaps_at)
    assert all(event is not None for _, event, _ in rows)
    for (x, y), event, _ in rows:
        assert (event.x_m, event.y_m) == pytest.approx((x, y), abs=0.002)
        assert event.z_m == pytest.approx(0.0, abs=0.003)
    steps = np.diff([event.y_m for _, event, _ in rows])
    assert np.all(np.abs(steps - 0.3 / RATE_HZ) < 0.002)
    assert rows[25][2].markers[("L", "toe")] is None and rows[25][2].markers[("L", "heel")] is not None
    report = [n for _, _, out in rows for n in out.notices if n.kind == "gaps_bridged"]
    assert len(report) == 1 and report[0].detail["gaps"] == {"L.toe": 2, "L.heel": 2}
    assert report[0].detail["longest_gap_s"] == pytest.approx(0.16, abs=0.011)


def test_long_gap_is_reported_and_gives_no_events() -> None:
    lab = LABS["cm_yup_facing_30deg"]
    adapter, t, seq = calibrated(lab)
    everything = {("L", m): "absent" for m in MARKER_H_M}
    rows, t, seq = walk(adapter, lab, t, seq, 100, 0.2, dict.fromkeys(range(20, 70), everything))
    assert all(event is None for _, event, _ in rows[20:70])
    assert all(event is not None for _, event, _ in rows[:20] + rows[70:])
    notices = [(i, n) for i, (_, _, out) in enumerate(rows) for n in out.notices]
    lost = [(i, n) for i, n in notices if n.kind == "tracking_lost"]
    restored = [(i, n) for i, n in notices if n.kind == "tracking_restored"]
    assert [i for i, _ in lost] == [45] and lost[0][1].detail["side"] == "L"  # first frame > 0.25 s
    assert [i for i, _ in restored] == [70] and restored[0][1].detail["gap_s"] == pytest.approx(0.51, abs=0.001)
    (x, y), event, _ = rows[70]
    assert (event.x_m, event.y_m) == pytest.approx((x, y), abs=0.002)


def test_implausible_jumps_never_become_events() -> None:
    lab = LABS["m_yup_facing_-z"]
    adapter, t, seq = calibrated(lab)
    whole_foot = {("L", m): (0.0, 0.6, 0.0) for m in MARKER_H_M}
    shift_at = {10: whole_foot}  # one frame: the whole foot 0.6 m ahead
    # the heel ghosts 0.8 m aside for 0.6 s: past max_gap_s it must still agree with the toe and ankle
    shift_at.update({i: {("L", "heel"): (0.8, 0.0, 0.0)} for i in range(30, 90)})
    shift_at.update(dict.fromkeys(range(100, 120), whole_foot))  # 0.2 s: the whole foot ghosts
    rows, t, seq = walk(adapter, lab, t, seq, 140, 0.2, shift_at=shift_at)
    for i, ((x, y), event, _) in enumerate(rows):
        if i == 10 or 100 <= i < 120:
            assert event is None
        else:
            assert event is not None and (event.x_m, event.y_m) == pytest.approx((x, y), abs=0.003)
    assert rows[35][2].markers[("L", "heel")] is None and rows[85][2].markers[("L", "heel")] is None
    assert rows[95][2].markers[("L", "heel")] is not None
    assert not any(n.kind == "tracking_lost" for _, _, out in rows for n in out.notices)


def test_pelvis_gives_a_com_proxy_and_markers_feed_the_recorder() -> None:
    lab = LABS["mm_zup_facing_-x"]
    adapter, t, seq = calibrated(lab)
    out = feed(adapter, marker_message(lab, t, seq, STANCE, pelvis=(0.02, 0.05, 0.95),
                                       gaps={("R", "ankle"): "null"}))
    balance = [e for e in out.events if isinstance(e, BalanceEvent)]
    assert len(balance) == 1 and balance[0].source == "com_proxy"
    assert (balance[0].x_m, balance[0].y_m) == pytest.approx((0.02, 0.05), abs=1e-3)
    assert balance[0].force_n is None and balance[0].left_share is None
    assert set(out.markers) == {(s, m) for s in "LR" for m in MARKER_H_M} | {("C", "pelvis")}
    assert out.markers[("R", "ankle")] is None
    heel = out.markers[("L", "heel")]  # z from the floor estimate (the toe marker's height)
    assert heel == pytest.approx((-0.1, -FOOT_LEN_M / 2, MARKER_H_M["heel"] - MARKER_H_M["toe"]), abs=0.002)
    recorder = TrajectoryRecorder()
    recorder.append(t, out.markers)
    assert np.isnan(recorder.build().positions_m[("R", "ankle")]).all()


# -- mat -------------------------------------------------------------------------------------------

ROWS, COLS, CELL_M = 64, 48, 0.01


def print_foot(grid: np.ndarray, centre_m: tuple[float, float], kpa: float, along: str = "y",
               split: bool = False) -> None:
    """Ink an elliptical foot (9 x 24 cm) on a mat grid; ``split`` leaves the midfoot off the mat."""
    ys, xs = (np.mgrid[0:ROWS, 0:COLS] + 0.5) * CELL_M
    u, v = (xs - centre_m[0], ys - centre_m[1]) if along == "y" else (ys - centre_m[1], xs - centre_m[0])
    inside = (u / 0.045) ** 2 + (v / 0.12) ** 2 <= 1.0
    if split:
        inside &= np.abs(v) > 0.02
    grid[inside] = kpa


def cop_of(grid: np.ndarray) -> tuple[float, float, float]:
    ys, xs = (np.mgrid[0:ROWS, 0:COLS] + 0.5) * CELL_M
    s = grid.sum()
    return float((grid * xs).sum() / s), float((grid * ys).sum() / s), float(s * CELL_M * CELL_M * 1000)


def grid_setup(**kw) -> MatSetup:
    return MatSetup("grid", kw.pop("forward", "+y"), kw.pop("mode", "calibrate"), rows=ROWS, cols=COLS,
                    cell_m=(CELL_M, CELL_M), **kw)


def pressure(adapter: MatAdapter, grid: np.ndarray, t: float, seq: int, flat: bool = False):
    kpa = grid.ravel().tolist() if flat else grid.tolist()
    msg = {"type": "pressure", "v": 1, "t_s": t, "seq": seq, "kpa": kpa}
    return adapter.on_pressure(parse_pressure(Fields(msg, "pressure"), adapter.setup))


def two_feet(left_kpa: float = 40.0, right_kpa: float = 60.0, split_left: bool = False) -> tuple[np.ndarray, ...]:
    left, right = np.zeros((ROWS, COLS)), np.zeros((ROWS, COLS))
    print_foot(left, (0.14, 0.32), left_kpa, split=split_left)
    print_foot(right, (0.34, 0.32), right_kpa)
    return left, right


def test_mat_calibration_feet_forces_and_share() -> None:
    adapter = MatAdapter(grid_setup())
    left, right = two_feet(split_left=True)
    outs = [pressure(adapter, left + right, i / RATE_HZ, i) for i in range(220)]
    done = [i for i, o in enumerate(outs) if any(n.kind == "calibrated" for n in o.notices)]
    assert len(done) == 1 and not any(o.events for o in outs[: done[0]])
    assert adapter.origin_m == pytest.approx((0.24, 0.32), abs=CELL_M)
    out = outs[-1]
    (_, _, lf), (_, _, rf) = cop_of(left), cop_of(right)
    feet = {e.side: e for e in out.events if isinstance(e, FootEvent)}
    assert (feet[Side.LEFT].x_m, feet[Side.LEFT].y_m) == pytest.approx((-0.1, 0.0), abs=CELL_M)
    assert (feet[Side.RIGHT].x_m, feet[Side.RIGHT].y_m) == pytest.approx((0.1, 0.0), abs=CELL_M)
    assert feet[Side.LEFT].force_n == pytest.approx(lf) and feet[Side.RIGHT].force_n == pytest.approx(rf)
    assert feet[Side.LEFT].contact and feet[Side.RIGHT].contact and feet[Side.LEFT].z_m == 0.0
    balance = next(e for e in out.events if isinstance(e, BalanceEvent))
    assert balance.source == "cop" and balance.force_n == pytest.approx(lf + rf)
    assert balance.left_share == pytest.approx(lf / (lf + rf))
    cx, cy, _ = cop_of(left + right)
    assert (balance.x_m, balance.y_m) == pytest.approx((cx - 0.24, cy - 0.32), abs=1e-3)


def test_mat_one_foot_lifted() -> None:
    adapter = MatAdapter(grid_setup(mode="explicit", origin_m=(0.24, 0.32)))
    left, right = two_feet()
    pressure(adapter, left + right, 0.0, 0)
    out = pressure(adapter, right, 0.01, 1, flat=True)
    feet = {e.side: e for e in out.events if isinstance(e, FootEvent)}
    assert not feet[Side.LEFT].contact and feet[Side.LEFT].force_n == 0.0
    assert (feet[Side.LEFT].x_m, feet[Side.LEFT].y_m) == pytest.approx((-0.1, 0.0), abs=CELL_M)
    assert feet[Side.RIGHT].contact and feet[Side.RIGHT].x_m == pytest.approx(0.1, abs=CELL_M)
    balance = next(e for e in out.events if isinstance(e, BalanceEvent))
    assert balance.left_share == 0.0
    out = pressure(adapter, left, 0.02, 2)  # the right foot up, the left down: still told apart
    feet = {e.side: e for e in out.events if isinstance(e, FootEvent)}
    assert feet[Side.LEFT].contact and not feet[Side.RIGHT].contact


def test_mat_facing_minus_x() -> None:
    """Patient facing the mat's -x: the mat's +y is the patient's right."""
    adapter = MatAdapter(grid_setup(forward="-x", mode="explicit", origin_m=(0.24, 0.32)))
    grid = np.zeros((ROWS, COLS))
    print_foot(grid, (0.14, 0.22), 50.0, along="x")  # 10 cm ahead (-x), 10 cm to the left (-y)
    print_foot(grid, (0.24, 0.42), 50.0, along="x")
    feet = {e.side: e for e in pressure(adapter, grid, 0.0, 0).events if isinstance(e, FootEvent)}
    assert (feet[Side.LEFT].x_m, feet[Side.LEFT].y_m) == pytest.approx((-0.1, 0.1), abs=CELL_M)
    assert (feet[Side.RIGHT].x_m, feet[Side.RIGHT].y_m) == pytest.approx((0.1, 0.0), abs=CELL_M)


def test_cop_stream_units_and_calibration() -> None:
    setup = parse_mat_setup(Fields({"type": "mat_setup", "v": 1, "kind": "cop", "units": "cm", "forward": "+y",
                                    "mode": "explicit", "origin_m": [0.2, 0.1]}, "mat_setup"))
    adapter = MatAdapter(setup)
    msg = {"type": "cop", "v": 1, "t_s": 1.0, "seq": 1, "cop": [25.0, 13.0], "force_n": 700.0}
    out = adapter.on_cop(parse_cop(Fields(msg, "cop"), setup))
    (event,) = out.events
    assert isinstance(event, BalanceEvent)
    assert (event.x_m, event.y_m, event.force_n, event.source) == pytest.approx((0.05, 0.03, 700.0, "cop"))
    unloaded = {**msg, "cop": None, "force_n": 3.0}
    assert adapter.on_cop(parse_cop(Fields(unloaded, "cop"), setup)).events == []

    adapter = MatAdapter(MatSetup("cop", "+y", "calibrate", units="mm"))
    rng = np.random.default_rng(2)
    for i in range(210):
        msg = {"type": "cop", "v": 1, "t_s": i / RATE_HZ, "seq": i, "force_n": 650.0,
               "cop": [300.0 + rng.normal(0, 3), 150.0 + rng.normal(0, 3)]}
        out = adapter.on_cop(parse_cop(Fields(msg, "cop"), adapter.setup))
    assert adapter.origin_m == pytest.approx((0.3, 0.15), abs=0.002)
    assert len(out.events) == 1


def test_pressure_frame_cost() -> None:
    """Parse + adapter for a 64 x 64 frame with two feet; prints the cost (no timed assert)."""
    global ROWS, COLS
    rows, cols = ROWS, COLS
    ROWS, COLS = 64, 64
    try:
        grid = np.zeros((ROWS, COLS))
        print_foot(grid, (0.2, 0.32), 45.0, split=True)
        print_foot(grid, (0.42, 0.32), 55.0)
        grid[grid > 0] += np.random.default_rng(3).uniform(0, 20, int((grid > 0).sum()))
        adapter = MatAdapter(grid_setup(mode="explicit", origin_m=(0.31, 0.32)))
        msg = {"type": "pressure", "v": 1, "t_s": 0.0, "seq": 0, "kpa": grid.tolist()}
        n = 200
        start = time.perf_counter()
        for _ in range(n):
            out = adapter.on_pressure(parse_pressure(Fields(msg, "pressure"), adapter.setup))
        per_frame_ms = (time.perf_counter() - start) / n * 1000
        assert len([e for e in out.events if isinstance(e, FootEvent) and e.contact]) == 2
        print(f"\n64x64 pressure frame: parse + adapter {per_frame_ms:.3f} ms")
    finally:
        ROWS, COLS = rows, cols


# -- parsers ---------------------------------------------------------------------------------------


def fields(**data) -> Fields:
    return Fields({"v": 1, **data}, str(data.get("type", "message")))


def test_tracker_setup_parses() -> None:
    setup = parse_tracker_setup(fields(type="tracker_setup", units="mm", up="+z", mode="calibrate"))
    assert setup == TrackerSetup("mm", "+z", "calibrate", calibrate_s=2.0, max_gap_s=0.25)
    setup = parse_tracker_setup(fields(type="tracker_setup", units="m", up="+y", mode="explicit", forward="-z",
                                       origin=[1, 0, 2], max_gap_s=0.5))
    assert setup.forward == "-z" and setup.origin == (1.0, 0.0, 2.0) and setup.max_gap_s == 0.5


@pytest.mark.parametrize(("data", "code", "words"), [
    ({"units": "in", "up": "+z", "mode": "calibrate"}, "bad_field", "one of cm, m, mm"),
    ({"up": "+z", "mode": "calibrate"}, "missing_field", "'units'"),
    ({"units": "mm", "up": "+z", "mode": "explicit"}, "missing_field", "'forward'"),
    ({"units": "mm", "up": "+z", "mode": "explicit", "forward": "-z"}, "bad_field", "perpendicular"),
    ({"units": "mm", "up": "+z", "mode": "calibrate", "forward": "+x"}, "bad_field", "mode 'explicit' only"),
    ({"units": "mm", "up": "+z", "mode": "calibrate", "calibrate_s": 30}, "bad_field", "0.5 to 10.0 s"),
    ({"units": "mm", "up": "+z", "mode": "calibrate", "upp": "+z"}, "unknown_field", "upp"),
    ({"units": "m", "up": "+z", "mode": "explicit", "forward": "+x", "origin": [0, 1e3, 0]}, "bad_field", "m"),
])
def test_tracker_setup_refuses(data: dict, code: str, words: str) -> None:
    with pytest.raises(ProtocolError) as err:
        parse_tracker_setup(fields(type="tracker_setup", **data))
    assert err.value.code == code and words in err.value.message


MM = TrackerSetup("mm", "+z", "calibrate")


def test_markers_parse_with_gaps() -> None:
    frame = parse_markers(fields(type="markers", t_s=1.5, seq=3,
                                 L={"heel": [1.0, 2, 3], "toe": [1.0, 2.0, math.nan], "ankle": None},
                                 R={"heel": [0, 0, 0, -1], "toe": [5.0, 6.0, 7.0, 0.4]},
                                 pelvis=[10.0, 20.0, 900.0]), MM)
    assert frame.feet["L"] == {"heel": (1.0, 2.0, 3.0), "toe": None, "ankle": None}
    assert frame.feet["R"] == {"heel": None, "toe": (5.0, 6.0, 7.0)}
    assert frame.pelvis == (10.0, 20.0, 900.0) and (frame.t_s, frame.seq) == (1.5, 3)
    assert parse_markers(fields(type="markers", t_s=0, seq=0), MM).feet == {}


def test_markers_nan_over_msgpack_is_a_gap() -> None:
    msg = {"type": "markers", "v": 1, "t_s": 1.0, "seq": 1, "L": {"heel": [1.0, math.nan, 3.0]}}
    data, _ = decode(msgpack.packb(msg))
    assert parse_markers(open_envelope(data).fields, MM).feet["L"]["heel"] is None
    with pytest.raises(ProtocolError) as err:  # JSON has no NaN: JSON clients send null
        decode('{"type": "markers", "v": 1, "t_s": 1, "seq": 1, "L": {"heel": [1, NaN, 3]}}')
    assert err.value.code == "malformed"


@pytest.mark.parametrize(("data", "code", "words"), [
    ({"L": {"heel": [1, 2, math.inf]}}, "bad_field", "finite"),
    ({"L": {"heel": [0, 0, 2e5]}}, "bad_field", "within +/-100000 mm"),
    ({"L": {"heel": [1, 2]}}, "bad_field", "3 numbers (mm)"),
    ({"L": {"heel": [1, "2", 3]}}, "bad_field", "3 numbers"),
    ({"L": {"heel": [1, True, 3]}}, "bad_field", "3 numbers"),
    ({"L": {"knee": [1, 2, 3]}}, "unknown_field", "knee"),
    ({"L": [1, 2, 3]}, "bad_field", "an object"),
    ({"pelvis": "here"}, "bad_field", "'pelvis'"),
    ({"t_s": math.nan}, "bad_field", "'t_s'"),
    ({"head": [1, 2, 3]}, "unknown_field", "head"),
])
def test_markers_refuse(data: dict, code: str, words: str) -> None:
    with pytest.raises(ProtocolError) as err:
        parse_markers(fields(**{"type": "markers", "t_s": 1.0, "seq": 1, **data}), MM)
    assert err.value.code == code and words in err.value.message


def test_data_before_setup_is_refused() -> None:
    with pytest.raises(ProtocolError) as err:
        parse_markers(fields(type="markers", t_s=1.0, seq=1), None)
    assert err.value.code == "no_setup" and "tracker_setup" in err.value.message
    with pytest.raises(ProtocolError) as err:
        parse_pressure(fields(type="pressure", t_s=1.0, seq=1, kpa=[0.0]), MatSetup("cop", "+y", "calibrate"))
    assert err.value.code == "no_setup" and "kind 'grid'" in err.value.message


GRID = MatSetup("grid", "+y", "calibrate", rows=2, cols=3, cell_m=(0.01, 0.01))


def test_pressure_parses_rows_or_flat() -> None:
    rows = parse_pressure(fields(type="pressure", t_s=1.0, seq=1, kpa=[[0, 1, 2], [3, 4.5, 5]]), GRID)
    flat = parse_pressure(fields(type="pressure", t_s=1.0, seq=1, kpa=[0, 1, 2, 3, 4.5, 5]), GRID)
    assert rows.kpa.shape == (2, 3) and np.array_equal(rows.kpa, flat.kpa) and rows.kpa[1, 1] == 4.5


def test_small_negative_pressures_read_as_zero() -> None:
    frame = parse_pressure(fields(type="pressure", t_s=1.0, seq=1, kpa=[[0, -1.5, 2], [3, 4, -20]]), GRID)
    assert frame.kpa.min() == 0.0 and frame.kpa[0, 2] == 2.0


@pytest.mark.parametrize(("kpa", "words"), [
    ([[0, 1, 2]], "2 lists of 3 numbers (kPa)"),
    ([[0, 1, 2], [3, 4]], "got 2 rows of 3"),
    ([0, 1, 2, 3, 4], "got 5 values"),
    ([[0, 1, 2], [3, 4, math.nan]], "finite, -20 to 2000 kPa, got nan"),
    ([[0, 1, 2], [3, 4, -21]], "got -21"),
    ([[0, 1, 2], [3, 4, 5000]], "got 5000"),
    ([[0, 1, 2], [3, 4, "5"]], "got str"),
    ([[0, True, 2], [3, 4, 5]], "got bool"),
    ([[0, None, 2], [3, 4, 5]], "got NoneType"),
    ("0,1,2", "2 lists of 3"),
])
def test_pressure_refuses(kpa: object, words: str) -> None:
    with pytest.raises(ProtocolError) as err:
        parse_pressure(fields(type="pressure", t_s=1.0, seq=1, kpa=kpa), GRID)
    assert err.value.code == "bad_field" and words in err.value.message


def test_mat_setup_and_cop_parse() -> None:
    setup = parse_mat_setup(fields(type="mat_setup", kind="grid", forward="-x", mode="calibrate", rows=64, cols=64,
                                   cell_m=[0.008, 0.008], cell_threshold_kpa=2))
    assert setup == MatSetup("grid", "-x", "calibrate", rows=64, cols=64, cell_m=(0.008, 0.008),
                             cell_threshold_kpa=2.0)
    cop_setup = MatSetup("cop", "+y", "calibrate", units="mm")
    frame = parse_cop(fields(type="cop", t_s=1.0, seq=2, cop=[100, -50.5], force_n=612.0), cop_setup)
    assert frame.cop == (100.0, -50.5) and frame.force_n == 612.0
    assert parse_cop(fields(type="cop", t_s=1.0, seq=2, cop=[math.nan, 0.0], force_n=0.0), cop_setup).cop is None


@pytest.mark.parametrize(("data", "code", "words"), [
    ({"kind": "grid", "rows": 100, "cols": 100, "cell_m": [0.01, 0.01]}, "bad_field", "at most 6400 cells"),
    ({"kind": "grid", "rows": 10, "cols": 10}, "missing_field", "'cell_m'"),
    ({"kind": "grid", "rows": 10, "cols": 10, "cell_m": [0.01, 0.5]}, "bad_field", "0.1 m"),
    ({"kind": "grid", "rows": 10, "cols": 10, "cell_m": [0.01, 0.01], "units": "mm"}, "bad_field", "kind 'cop'"),
    ({"kind": "cop", "units": "mm", "rows": 10}, "bad_field", "kind 'grid' only"),
    ({"kind": "cop", "units": "mm", "origin_m": [0, 0]}, "bad_field", "mode 'explicit' only"),
    ({"kind": "cop", "units": "mm", "contact_threshold_n": -1}, "bad_field", "N"),
    ({"kind": "cop"}, "missing_field", "'units'"),
    ({"kind": "cop", "units": "mm", "colour": "red"}, "unknown_field", "colour"),
])
def test_mat_setup_refuses(data: dict, code: str, words: str) -> None:
    with pytest.raises(ProtocolError) as err:
        parse_mat_setup(fields(**{"type": "mat_setup", "forward": "+y", "mode": "calibrate", **data}))
    assert err.value.code == code and words in err.value.message


def test_cop_refuses_infinite_and_far() -> None:
    cop_setup = MatSetup("cop", "+y", "calibrate", units="cm")
    bad = (([math.inf, 0.0], "finite"), ([2000.0, 0.0], "within +/-1000 cm"), ([1.0], "2 numbers (cm)"))
    for cop, words in bad:
        with pytest.raises(ProtocolError) as err:
            parse_cop(fields(type="cop", t_s=1.0, seq=2, cop=cop, force_n=10.0), cop_setup)
        assert err.value.code == "bad_field" and words in err.value.message
