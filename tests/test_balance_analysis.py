"""Sway metrics against analytic values, the force-plate CSV reader's dialects, and the command
line's handling of bad files."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scoring.analyze import main
from scoring.balance import CHI2_95_2DOF, analyze_sway, sway_metrics
from scoring.errors import AnalysisError, RecordingError
from scoring.recordings.force_plate_csv import read_force_plate_csv
from scoring.trajectories import SwayRecorder

ROOT = Path(__file__).resolve().parents[1]


def circle(radius_m: float = 0.01, turns: int = 3, rate_hz: float = 100.0, period_s: float = 2.0
           ) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(int(turns * period_s * rate_hz) + 1) / rate_hz
    phase = 2 * math.pi * t / period_s
    return t, np.column_stack([radius_m * np.cos(phase), radius_m * np.sin(phase)])


def test_circle_has_analytic_path_rms_range() -> None:
    t, cop = circle()
    m = sway_metrics(t, cop)
    assert m["duration_s"] == pytest.approx(6.0)
    assert m["path_length_m"] == pytest.approx(3 * 2 * math.pi * 0.01, rel=1e-3)
    assert m["mean_velocity_m_s"] == pytest.approx(m["path_length_m"] / 6.0)
    assert m["range_ap_m"] == pytest.approx(0.02, rel=1e-6) and m["range_ml_m"] == pytest.approx(0.02, rel=1e-3)
    assert m["rms_ap_m"] == pytest.approx(0.01 / math.sqrt(2), rel=1e-3)
    assert m["rms_ml_m"] == pytest.approx(0.01 / math.sqrt(2), rel=1e-3)
    # covariance r²/2 · I -> area = π · χ² · r²/2
    assert m["ellipse95_area_m2"] == pytest.approx(math.pi * 5.991 * 0.01**2 / 2, rel=2e-3)
    assert m["ellipse95_kind"] == "prediction"


def test_sine_in_one_direction() -> None:
    t = np.arange(1001) / 100.0  # 10 s
    ap = 0.005 * np.sin(2 * math.pi * 0.5 * t)  # 5 full cycles of amplitude 5 mm
    m = sway_metrics(t, np.column_stack([ap, np.zeros_like(ap)]))
    assert m["path_length_m"] == pytest.approx(5 * 4 * 0.005, rel=1e-3)
    assert m["path_length_m"] == pytest.approx(m["mean_velocity_ap_m_s"] * 10.0)
    assert m["mean_velocity_ml_m_s"] == 0.0 and m["range_ml_m"] == 0.0
    assert m["rms_ap_m"] == pytest.approx(0.005 / math.sqrt(2), rel=1e-3)
    assert m["ellipse95_area_m2"] == pytest.approx(0.0, abs=1e-12)  # a line has no area


def test_gaussian_prediction_ellipse_holds_95_percent() -> None:
    rng = np.random.default_rng(7)
    sd_ap, sd_ml, n = 0.008, 0.004, 40_000
    rot = math.radians(30)
    raw = rng.normal(0, 1, (n, 2)) * [sd_ap, sd_ml]
    cop = raw @ np.array([[math.cos(rot), math.sin(rot)], [-math.sin(rot), math.cos(rot)]]) + [0.1, -0.05]
    result = analyze_sway(np.arange(n) / 100.0, cop)
    assert CHI2_95_2DOF == pytest.approx(5.991, abs=1e-3)
    assert result.ellipse95_area_m2 == pytest.approx(math.pi * CHI2_95_2DOF * sd_ap * sd_ml, rel=0.02)
    assert result.ellipse95_angle_deg == pytest.approx(30, abs=1.5)
    # the prediction ellipse holds 95 % of the samples (a confidence ellipse would hold far fewer)
    centred = cop - cop.mean(axis=0)
    inside = np.einsum("ij,jk,ik->i", centred, np.linalg.inv(np.cov(cop, rowvar=False)), centred) <= CHI2_95_2DOF
    assert inside.mean() == pytest.approx(0.95, abs=0.005)
    major, minor = result.ellipse95_semi_axes_m
    assert math.pi * major * minor == pytest.approx(result.ellipse95_area_m2)


def test_nan_samples_are_dropped_and_too_few_refused() -> None:
    t, cop = circle()
    cop[10:20] = np.nan
    assert sway_metrics(t, cop)["samples"] == len(t) - 10
    with pytest.raises(AnalysisError, match="at least 3"):
        sway_metrics(t[:2], cop[:2])


def test_live_sway_recorder_feeds_the_same_metrics() -> None:
    t, cop = circle()
    rec = SwayRecorder()
    for ti, (ap, ml) in zip(t, cop, strict=True):
        rec.append(50.0 + float(ti), float(ml), float(ap), "cop")  # live frame: x is ML, y is AP
        rec.append(50.0 + float(ti), 9.0, 9.0, "pelvis")  # a proxy never counts
    sway = rec.build()
    live, offline = sway_metrics(sway.times_s, sway.cop_m), sway_metrics(t, cop)
    for name in ("path_length_m", "mean_velocity_m_s", "rms_ap_m", "rms_ml_m", "range_ap_m", "ellipse95_area_m2"):
        assert live[name] == pytest.approx(offline[name]), name


# --- force-plate CSV ---------------------------------------------------------------------------


def write_csv(path: Path, header: list[str], columns: list[np.ndarray], delimiter: str = ",") -> Path:
    rows = [delimiter.join(header)] + [delimiter.join(f"{v:.6g}" for v in row) for row in zip(*columns, strict=True)]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_csv_cop_columns_in_cm_with_time(tmp_path: Path) -> None:
    t, cop = circle()
    path = write_csv(tmp_path / "plate.csv", ["Time (s)", "Fz", "COPx (cm)", "COPy (cm)"],
                     [t + 12.0, np.full(len(t), 700.0), cop[:, 1] * 100, cop[:, 0] * 100])  # x = ML, y = AP
    rec = read_force_plate_csv(path)  # units from the header
    assert rec.times_s[0] == 0.0 and rec.rate_hz == pytest.approx(100.0)
    assert np.allclose(rec.cop_m, cop, atol=1e-6)
    assert rec.columns == {"time": "Time (s)", "fz": "Fz", "ap": "COPy (cm)", "ml": "COPx (cm)"}
    assert np.allclose(read_force_plate_csv(path, cop_units="mm").cop_m, cop / 10, atol=1e-7)


def test_csv_sample_index_rate_and_axis_options(tmp_path: Path) -> None:
    t, cop = circle()
    path = write_csv(tmp_path / "plate.tsv", ["frame", "cop_x", "cop_y"],
                     [np.arange(len(t)) + 1, cop[:, 0] * 1000, cop[:, 1] * 1000], delimiter="\t")
    with pytest.raises(RecordingError, match="give the rate"):
        read_force_plate_csv(path)
    rec = read_force_plate_csv(path, rate_hz=200, cop_units="mm", ap_axis="-x")
    assert rec.times_s[-1] == pytest.approx((len(t) - 1) / 200)
    assert np.allclose(rec.cop_m, np.column_stack([-cop[:, 0], cop[:, 1]]), atol=1e-6)
    named = read_force_plate_csv(path, rate_hz=200, cop_units="mm", ap_column="cop_x", ml_column="cop_y")
    assert np.allclose(named.cop_m, cop, atol=1e-6)
    in_ms = write_csv(tmp_path / "ms.csv", ["Time (ms)", "COPx", "COPy"], [t * 1000, cop[:, 1], cop[:, 0]])
    assert read_force_plate_csv(in_ms).times_s[-1] == pytest.approx(t[-1])


def test_csv_cop_from_moments_and_unloaded_plate(tmp_path: Path) -> None:
    t, cop = circle()
    fz = np.full(len(t), 600.0)
    fz[:5] = 2.0  # nobody on the plate yet
    x_ml, y_ap = cop[:, 1], cop[:, 0]
    path = write_csv(tmp_path / "forces.csv", ["time", "Fx", "Fy", "Fz", "Mx", "My", "Mz"],
                     [t, 0 * t, 0 * t, fz, y_ap * fz, -x_ml * fz, 0 * t])
    rec = read_force_plate_csv(path)
    assert rec.cop_from_moments and np.isnan(rec.cop_m[:5]).all()
    assert np.allclose(rec.cop_m[5:], cop[5:], atol=1e-6)
    assert sway_metrics(rec.times_s, rec.cop_m)["samples"] == len(t) - 5


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty file"),
        ("time,Fz,Foo,Bar\n0,700,1,2\n0.01,700,1,2\n", "no centre-of-pressure columns (COPx, COPy)"),
        ("time,COPx,COPy\n0,0.01,0.02\n0.01,abc,0.02\n", "line 3, column 'COPx': 'abc' is not a number"),
        ("time,COPx,COPy\n", "a header and no data rows"),
        ("time,COPx,COPy\n0,0,0\n0,0,0\n", "line 3: times do not increase"),
    ],
    ids=["empty", "wrong-columns", "non-numeric", "header-only", "time-stuck"],
)
def test_csv_errors_are_one_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(RecordingError) as info:
        read_force_plate_csv(path)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_cli_balance_json_and_errors(tmp_path: Path) -> None:
    t, cop = circle()
    good = write_csv(tmp_path / "plate.csv", ["sample", "Cx", "Cy"],
                     [np.arange(len(t)), cop[:, 1] * 100, cop[:, 0] * 100])
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["balance", str(good), "--json", "--rate-hz", "100", "--cop-units", "cm"]) == 0
    report = json.loads(out.getvalue())
    assert report["kind"] == "balance" and report["ellipse95_kind"] == "prediction"
    assert report["path_length_m"] == pytest.approx(3 * 2 * math.pi * 0.01, rel=1e-3)
    bad = tmp_path / "bad.csv"
    bad.write_text("time,Left,Right\n0,1,2\n0.01,1,2\n")
    proc = subprocess.run([sys.executable, "-m", "scoring.analyze", "balance", str(bad), "--json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
    assert "columns: time, Left, Right" in proc.stderr
