"""Gait analysis: synthetic walks of known answers through C3D files of many dialects, real
recordings with annotated events, and the command line's handling of bad files."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scoring.analyze import main
from scoring.errors import AnalysisError, RecordingError
from scoring.gait import GaitSettings, analyze_gait, bridge_gaps
from scoring.recordings.c3d import read_c3d
from scoring.recordings.labels import match_labels, parse_label
from scoring.trajectories import MarkerTrajectories, TrajectoryRecorder
from tests.synthetic_walk import Walk, WalkSpec, walk, write_c3d

ROOT = Path(__file__).resolve().parents[1]
REAL = Path(__file__).parent / "fixtures" / "gait"


def check(w: Walk, report: dict, *, frames: int = 1, width_m: float = 0.003, lift_m: float = 0.003) -> None:
    """The analysis matches the walk's truth: heel strikes within ``frames``, step length and
    cadence within 1 %, width and lifts within a few millimetres, short steps flagged."""
    got = {side: [e["frame"] for e in report["heel_strikes"] if e["side"] == side] for side in ("L", "R")}
    for side in ("L", "R"):
        assert len(got[side]) == len(w.heel_strikes[side]), (side, got, w.heel_strikes)
        assert np.max(np.abs(np.subtract(got[side], w.heel_strikes[side]))) <= frames, (side, got, w.heel_strikes)
    s = w.spec
    assert report["step_length_m"]["mean"] == pytest.approx(s.step_length_m, rel=0.01)
    assert report["step_width_m"]["mean"] == pytest.approx(s.step_width_m, abs=width_m)
    assert report["step_time_s"]["mean"] == pytest.approx(s.step_time_s, rel=0.01)
    assert report["cadence_steps_per_min"] == pytest.approx(60 / s.step_time_s, rel=0.01)
    for side in ("L", "R"):
        assert report["heel_lift_m"][side] == pytest.approx(s.heel_lift_m, abs=lift_m)
        assert report["toe_lift_m"][side] == pytest.approx(s.toe_lift_m, abs=lift_m)
    assert [st["short"] for st in report["steps"]] == [t[4] for t in w.steps]
    assert report["step_length_m"]["n"] == sum(not t[4] for t in w.steps)


def analyse_file(path: Path, *extra: str) -> dict:
    return _run_main(["gait", str(path), "--json", *extra])


def _run_main(argv: list[str]) -> dict:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(argv) == 0
    return json.loads(out.getvalue())


def test_noise_free_walk_gives_exact_events_and_metrics() -> None:
    w = walk(WalkSpec())
    result = analyze_gait(w.trajectories())
    report = result.as_json()
    check(w, report, frames=0, width_m=1e-6, lift_m=1e-4)
    truth_to = {side: w.toe_offs[side] for side in ("L", "R")}
    assert {s: [e.frame for e in result.toe_offs if e.side == s] for s in ("L", "R")} == truth_to
    assert report["speed_m_s"] == pytest.approx(w.spec.step_length_m / w.spec.step_time_s, rel=0.01)
    assert report["step_length_symmetry_l_r"] == pytest.approx(1.0)
    assert report["gaps"] == [] and report["frames"] == len(w.times_s)
    json.dumps(report)  # plain JSON types throughout


@pytest.mark.parametrize(
    ("spec", "file"),
    [
        (WalkSpec(), dict(up="z", units="mm", convention="pig")),
        (WalkSpec(rate_hz=120, heading_deg=180), dict(up="y", units="m", convention="dotted")),
        (WalkSpec(heading_deg=30, pelvis=True), dict(up="z", units="mm", convention="snake", first_frame=37)),
        (WalkSpec(step_length_m=0.3, step_time_s=1.0, heel_lift_m=0.05, toe_lift_m=0.02, rate_hz=120, stop=True,
                  heading_deg=-120), dict(up="y", units="mm", convention="words", prefix="Subject1:")),
        (WalkSpec(step_length_m=0.7, step_time_s=0.54, heel_lift_m=0.25, noise_m=0.0005, seed=4),
         dict(up="z", units="m", convention="suffix")),
    ],
    ids=["z-up-mm-100Hz", "y-up-m-minus-x-120Hz", "30deg-snake-first-frame-pelvis", "slow-stroke-stop-y-up",
         "fast-noisy"],
)
def test_c3d_dialects(tmp_path: Path, spec: WalkSpec, file: dict) -> None:
    w = walk(spec)
    report = analyse_file(write_c3d(tmp_path / "walk.c3d", w, **file))
    check(w, report, width_m=0.003 if spec.noise_m else 0.001)
    assert report["recording"]["up"] == "+" + file["up"]
    assert report["recording"]["first_frame"] == file.get("first_frame", 0)
    assert report["heel_strikes"][0]["t_s"] == pytest.approx(report["heel_strikes"][0]["frame"] / spec.rate_hz)
    assert ("C.pelvis" in report["recording"]["labels_used"]) == spec.pelvis


def test_stop_step_is_flagged_and_left_out() -> None:
    w = walk(WalkSpec(stop=True))
    report = analyze_gait(w.trajectories()).as_json()
    last = report["steps"][-1]
    assert last["short"] and abs(last["length_m"]) < 0.01
    assert report["short_steps"] == 1
    assert report["step_length_m"]["mean"] == pytest.approx(w.spec.step_length_m, rel=1e-6)


def test_gaps_short_bridged_long_reported(tmp_path: Path) -> None:
    w = walk(WalkSpec())
    hs = w.heel_strikes["L"][2]
    gaps = (("L", "heel", hs - 16, 8),  # 80 ms late in the swing: bridged, the swing stays whole
            ("R", "heel", w.heel_strikes["R"][1] - 3, 6),  # across a landing: found inside the bridged run
            ("R", "toe", 300, 30))  # 300 ms: left open and reported
    report = analyse_file(write_c3d(tmp_path / "gaps.c3d", w, gaps=gaps))
    check(w, report, frames=3)
    assert [e["frame"] for e in report["heel_strikes"] if e["side"] == "L"] == w.heel_strikes["L"]
    assert report["gaps"] == [
        {"side": "R", "marker": "toe", "start_s": pytest.approx(3.0), "duration_s": pytest.approx(0.3)}]


def test_long_gap_over_a_landing_loses_that_strike_only(tmp_path: Path) -> None:
    w = walk(WalkSpec(strikes=10))
    lost = w.heel_strikes["R"][2]
    report = analyse_file(write_c3d(tmp_path / "gap.c3d", w, gaps=(("R", "heel", lost - 20, 40),), zero_gaps=True))
    frames = [e["frame"] for e in report["heel_strikes"]]
    assert lost not in frames and len(frames) == 9
    assert report["step_length_m"]["mean"] == pytest.approx(w.spec.step_length_m, rel=0.01)
    assert report["step_length_m"]["n"] == 7  # the two steps around the lost strike are gone
    assert report["speed_m_s"] == pytest.approx(w.spec.step_length_m / w.spec.step_time_s, rel=0.01)
    assert [g["side"] + g["marker"] for g in report["gaps"]] == ["Rheel"]


def test_curved_walk_keeps_length_and_width() -> None:
    """The walk bent onto an arc of 5 m radius: each step's line of progression follows the path,
    so interior steps keep their length and width (the first and last see only one stride)."""
    w = walk(WalkSpec(strikes=12))
    radius_m = 5.0
    bent = {}
    for key, p in w.positions_m.items():
        along, left = p[:, 0] - w.spec.origin_m[0], p[:, 1] - w.spec.origin_m[1]
        angle = along / radius_m
        bent[key] = np.column_stack(
            [(radius_m - left) * np.sin(angle), radius_m - (radius_m - left) * np.cos(angle), p[:, 2]])
    steps = analyze_gait(MarkerTrajectories(w.times_s, bent)).as_json()["steps"][1:-1]
    assert [s["length_m"] for s in steps] == pytest.approx([w.spec.step_length_m] * len(steps), rel=0.01)
    assert [s["width_m"] for s in steps] == pytest.approx([w.spec.step_width_m] * len(steps), abs=0.002)


def test_bridge_gaps_interpolates_linearly() -> None:
    t = np.arange(10) / 100.0
    pos = np.column_stack([t, 2 * t, np.zeros(10)])
    pos[3:5] = np.nan  # 20 ms
    pos[8:] = np.nan  # at the end: nothing to bridge to
    filled, left_open = bridge_gaps(t, pos, 0.1)
    assert np.allclose(filled[:8], np.column_stack([t, 2 * t, np.zeros(10)])[:8])
    assert left_open == [(8, 10)]


def test_empty_duplicate_label_and_residual_gaps(tmp_path: Path) -> None:
    w = walk(WalkSpec())
    report = analyse_file(write_c3d(tmp_path / "dup.c3d", w, empty_duplicate=True, zero_gaps=True,
                                    gaps=(("L", "toe", 100, 5),)))
    check(w, report)


def test_label_conventions() -> None:
    cases = {
        "LHEE": ("L", "heel"), "RHEE": ("R", "heel"), "L.Heel": ("L", "heel"), "r_heel": ("R", "heel"),
        "LeftHeel": ("L", "heel"), "Left_Heel": ("L", "heel"), "L_HEEL": ("L", "heel"), "Heel_R": ("R", "heel"),
        "Subject1:RTOE": ("R", "toe"), "L.Toe": ("L", "toe"), "l_toe": ("L", "toe"), "LMT2": ("L", "toe"),
        "R.MT5": ("R", "toe"), "LANK": ("L", "ankle"), "L.Ankle": ("L", "ankle"), "r_ankle": ("R", "ankle"),
        "RLMAL": ("R", "ankle"), "LASI": ("C", "pelvis"), "SACR": ("C", "pelvis"), "R.PSIS": ("C", "pelvis"),
    }
    for label, key in cases.items():
        parsed = parse_label(label)
        assert parsed is not None and parsed[0] == key, label
    for label in ("HEEL", "LKNE", "C7", "RTHI", "Toe"):
        assert parse_label(label) is None, label
    # the preferred name wins over a stand-in; among duplicates, the one with data
    assert match_labels(["LMT5", "LTOE", "LHEE", "LHEE"], [100, 90, 0, 80]) == {("L", "toe"): [1], ("L", "heel"): [3]}


def test_explicit_mapping_and_unknown_labels(tmp_path: Path) -> None:
    w = walk(WalkSpec())
    path = write_c3d(tmp_path / "custom.c3d", w, convention="custom")
    with pytest.raises(RecordingError, match=r"no foot markers found.*MarkerL1"):
        read_c3d(path)
    maps = [f"--map={side}.{m}=Marker{side}{i}" for side in ("L", "R") for i, m in enumerate(("heel", "toe"), 1)]
    check(w, analyse_file(path, *maps), lift_m=0.003)
    with pytest.raises(RecordingError, match="no marker 'Nope'"):
        read_c3d(path, mapping={"L.heel": "Nope"})


def test_up_override(tmp_path: Path) -> None:
    w = walk(WalkSpec())
    path = write_c3d(tmp_path / "y.c3d", w, up="y")
    assert read_c3d(path, up="+y").trajectories.up_axis == 1
    flipped = read_c3d(path, up="-y")  # wrong on purpose: heights come out negative
    assert np.nanmedian(flipped.trajectories.positions_m[("L", "heel")][:, 1]) < 0
    with pytest.raises(RecordingError, match="bad up axis"):
        read_c3d(path, up="up")


def test_live_recorder_frames_analyse_the_same() -> None:
    w = walk(WalkSpec(rate_hz=120))
    rec = TrajectoryRecorder()
    for i, t in enumerate(w.times_s):
        seen = {k: (None if k == ("R", "ankle") and 200 <= i < 204 else tuple(p[i])) for k, p in w.positions_m.items()}
        rec.append(100.0 + float(t), seen)
    check(w, analyze_gait(rec.build()).as_json())


def test_not_enough_to_analyse() -> None:
    w = walk(WalkSpec())
    no_heels = MarkerTrajectories(w.times_s, {k: v for k, v in w.positions_m.items() if k[1] != "heel"})
    with pytest.raises(AnalysisError, match="no heel markers"):
        analyze_gait(no_heels)
    standing = MarkerTrajectories(w.times_s[:40], {k: v[:40] for k, v in w.positions_m.items()})
    with pytest.raises(AnalysisError, match="heel strike"):
        analyze_gait(standing)


def test_slow_and_normal_speeds_share_thresholds() -> None:
    for spec in (WalkSpec(step_length_m=0.25, step_time_s=0.9, heel_lift_m=0.03, toe_lift_m=0.015, noise_m=0.0003),
                 WalkSpec(step_length_m=0.75, step_time_s=0.5, rate_hz=240, noise_m=0.0003)):
        w = walk(spec)
        check(w, analyze_gait(w.trajectories(), GaitSettings()).as_json())


# --- real recordings (tests/fixtures/gait/README.md) ---------------------------------------------


def _events() -> dict:
    return json.loads((REAL / "events.json").read_text())


def test_real_parkinson_gait_matches_annotated_events() -> None:
    """150 Hz, Y-up laboratory. Annotated heel strikes: the right foot's within 3 frames (20 ms);
    the shuffling left foot lands flat and its heel settles later (within 12 frames, 80 ms)."""
    truth = _events()["parkinson_figshare7734767"]["heel_strikes"]
    report = analyse_file(REAL / "parkinson_figshare7734767.c3d")
    assert report["recording"]["up"] == "+y"
    got = {side: [e["frame"] for e in report["heel_strikes"] if e["side"] == side[0].upper()] for side in truth}
    assert np.abs(np.subtract(got["right"], truth["right"])).max() <= 3
    assert np.abs(np.subtract(got["left"], truth["left"])).max() <= 12
    toe_offs = _events()["parkinson_figshare7734767"]["toe_offs"]
    got_to = {side: [e["frame"] for e in report["toe_offs"] if e["side"] == side[0].upper()] for side in toe_offs}
    for side in toe_offs:  # toe-offs within 4 frames (27 ms), both feet
        assert np.abs(np.subtract(got_to[side], toe_offs[side])).max() <= 4, (side, got_to, toe_offs)
    annotated = np.diff(sorted(truth["left"] + truth["right"])).mean() / 150.0
    assert report["step_time_s"]["mean"] == pytest.approx(annotated, rel=0.04)


def test_real_healthy_gait_matches_consistent_annotations() -> None:
    """Fukuchi et al.: 3 of the annotated heel strikes fit the trial's own kinematics (right 83,
    246; left 163) and the detector finds them within 1 frame; the rest of the annotations (left
    13, 177, 340) contradict each other (177 is 14 frames after 163)."""
    report = analyse_file(REAL / "fukuchi2018_healthy.c3d")
    frames = {e["side"] + str(e["frame"]) for e in report["heel_strikes"]}
    for side, frame in (("R", 83), ("R", 246), ("L", 163)):
        assert any(f"{side}{frame + d}" in frames for d in (-1, 0, 1)), (side, frame, frames)
    assert report["step_length_m"]["mean"] == pytest.approx(0.68, abs=0.02)
    assert 0.2 < report["heel_lift_m"]["L"] < 0.3  # heel lift in healthy gait


def test_real_stroke_gait_is_plausible() -> None:
    """No annotations shipped: alternating strikes, regular steps, plausible values."""
    report = analyse_file(REAL / "vancriekinge2023_stroke.c3d")
    assert report["recording"]["up"] == "+z"
    sides = [e["side"] for e in report["heel_strikes"]]
    assert len(sides) == 6 and all(a != b for a, b in itertools.pairwise(sides))
    assert 0.3 < report["step_length_m"]["mean"] < 0.6 and 0.4 < report["step_time_s"]["mean"] < 0.7
    assert report["step_length_m"]["sd"] < 0.1 * report["step_length_m"]["mean"]


# --- command line: bad files give one line on stderr and exit status 2 ------------------------


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scoring.analyze", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def _one_line_error(proc: subprocess.CompletedProcess[str], match: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and match in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_bad_c3d_files(tmp_path: Path) -> None:
    good = write_c3d(tmp_path / "good.c3d", walk(WalkSpec()))
    truncated = tmp_path / "truncated.c3d"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    not_c3d = tmp_path / "notes.c3d"
    not_c3d.write_text("heel strike at 1.2 s\n")
    no_feet = write_c3d(tmp_path / "nofeet.c3d", walk(WalkSpec()), markers=(), extra_labels=("C7", "LKNE"))
    _one_line_error(_cli("gait", str(truncated), "--json"), "truncated C3D file")
    _one_line_error(_cli("gait", str(not_c3d)), "not a C3D file")
    _one_line_error(_cli("gait", str(no_feet), "--json"), "no foot markers found (labels seen: C7, LKNE)")
    _one_line_error(_cli("gait", str(tmp_path / "missing.c3d")), "no such file")


def test_cli_human_summary_and_progress(tmp_path: Path) -> None:
    path = write_c3d(tmp_path / "walk.c3d", walk(WalkSpec()))
    proc = _cli("gait", str(path))
    assert proc.returncode == 0 and proc.stderr == ""  # no bar: stderr is not a terminal
    assert "step length 0.600" in proc.stdout and "cadence 109.1 steps/min" in proc.stdout
    forced = _cli("gait", str(path), "--json", "--progress")
    assert forced.returncode == 0 and "100%" in forced.stderr and json.loads(forced.stdout)["kind"] == "gait"


def test_synthetic_truth_is_what_it_says() -> None:
    """The generator itself: the heel is at its landing spot from the strike frame on, moving
    just before it, and the toe still at its last stance frame."""
    w = walk(WalkSpec(rate_hz=120, heading_deg=30))
    for side in ("L", "R"):
        heel = w.positions_m[(side, "heel")][:, :2]
        for k in w.heel_strikes[side]:
            assert np.allclose(heel[k], heel[k + 5]) and not np.allclose(heel[k - 1], heel[k])
            assert math.dist(heel[k - 1], heel[k]) * w.spec.rate_hz > 0.2  # arrives with speed
        toe = w.positions_m[(side, "toe")][:, :2]
        for k in w.toe_offs[side]:
            assert np.allclose(toe[k], toe[k - 5]) and not np.allclose(toe[k], toe[k + 1])
