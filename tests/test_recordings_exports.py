"""The files labs export: the tolerant delimited-text layer, force-plate CSVs in European and
offset-removed shapes, and marker files in OpenSim TRC and Qualisys TSV read into the C3D shape.

The fixtures in ``tests/fixtures/recordings/`` were written by ``make_fixtures.py`` there from a
known walk and a known stand; each test recomputes that truth and compares.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from scoring.analyze import main as analyze_main
from scoring.errors import RecordingError
from scoring.gait import analyze_gait
from scoring.recordings.c3d import read_c3d
from scoring.recordings.delimited import read_table
from scoring.recordings.force_plate_csv import read_force_plate_csv
from scoring.recordings.marker_text import read_marker_tsv, read_markers, read_trc
from tests.fixtures.recordings import make_fixtures
from tests.fixtures.recordings.make_fixtures import WALK, stand
from tests.synthetic_walk import walk, write_c3d

FIXTURES = Path(__file__).parent / "fixtures" / "recordings"


def _analyse(argv: list[str]) -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert analyze_main([*argv, "--json"]) == 0
    return json.loads(out.getvalue())


@pytest.mark.parametrize("name", sorted(make_fixtures.FIXTURES))
def test_fixtures_are_what_the_generator_writes(name: str) -> None:
    """The committed files are the generator's output, so the truth the tests use is theirs."""
    assert (FIXTURES / name).read_text() == make_fixtures.FIXTURES[name]()


# --- the delimited layer ------------------------------------------------------------------------


def test_table_with_metadata_units_row_quotes_and_decimal_commas() -> None:
    table = read_table(FIXTURES / "plate_semicolon_decimal_comma.csv")
    t, cop, fz = stand()
    assert table.header == ["Sample", "Fz", "COP X", "COP Y"]
    assert table.units == [None, "N", "mm", "mm"]
    assert table.delimiter == ";" and table.decimal_comma
    assert table.header_line == 5 and table.lines[0] == 7 and len(table.lines) == len(t)
    assert np.allclose(table.column(1), fz, atol=0.006)
    assert np.allclose(table.column(3), cop[:, 0] * 1000, atol=0.0006)
    assert table.metadata["Sampling frequency"] == ["100 Hz"] and table.metadata["Operator"] == ["J. Doe"]


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_table_delimiters_and_trailing_delimiters(tmp_path: Path, delimiter: str) -> None:
    decimal = "," if delimiter != "," else "."
    rows = [f"a{delimiter}b{delimiter}c{delimiter}"] + [
        delimiter.join(f"{i}{decimal}5" if k == 1 else str(i * k) for k in range(3)) + delimiter for i in range(5)]
    path = tmp_path / "t.txt"
    path.write_text("\n".join(rows) + "\n")
    table = read_table(path)
    assert table.delimiter == delimiter and table.header[:3] == ["a", "b", "c"]
    assert np.allclose(table.data[:, 1], np.arange(5) + 0.5) and np.isnan(table.data[:, 3]).all()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty file"),
        ("a;b\n", "line 1 is 'a;b'"),
        ("x;y\n1;2\n3;oops\n5;6\n", "line 3, column 'y': 'oops' is not a number"),
        ("x;y\n1;2\n3;4;5\n", "line 3: 3 fields, expected 2"),
        ("x;y\n1;2\n3;4\n\nnotes\n7;8\n", "line 6: the data resume after a break at line 4"),
        ("1;2\n3;4\n", "line 1: numbers with no header row"),
        ("x;y\n1,5;2,5\n3,5;x,5\n",
         "line 3, column 'y': 'x,5' is not a number (expected a number with a decimal comma)"),
    ],
    ids=["empty", "header-only", "bad-cell", "extra-field", "resumes", "no-header", "decimal-comma"],
)
def test_table_errors_name_the_line_and_what_was_expected(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(RecordingError) as info:
        read_table(path)
    assert message in str(info.value) and "\n" not in str(info.value), str(info.value)


def test_missing_value_words_read_as_gaps(tmp_path: Path) -> None:
    """Cells the one-pass conversion cannot take ("NA", "n/a") go through the cell-by-cell path
    and come out as gaps, like empty cells; a row short of a field is an error (above)."""
    path = tmp_path / "gaps.tsv"
    path.write_text("t\tx\ty\n0\t1,5\tNA\n1\t\t2,5\n2\t3,5\tn/a\n")
    table = read_table(path)
    assert table.decimal_comma and table.delimiter == "\t"
    assert np.array_equal(table.data, [[0, 1.5, np.nan], [1, np.nan, 2.5], [2, 3.5, np.nan]], equal_nan=True)


def test_latin1_export_is_read(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("Gerät;Kraftmessplatte\n\"Time (s)\";\"COPx (mm)\";\"COPy (mm)\"\n0;1,0;2,0\n0,01;1,5;2,5\n"
                     .encode("latin-1"))
    rec = read_force_plate_csv(path)
    assert np.allclose(rec.cop_m, [[0.002, 0.001], [0.0025, 0.0015]])
    assert rec.times_s[-1] == pytest.approx(0.01)


# --- force plates -------------------------------------------------------------------------------


def test_plate_export_semicolon_decimal_comma_rate_from_metadata() -> None:
    rec = read_force_plate_csv(FIXTURES / "plate_semicolon_decimal_comma.csv")
    t, cop, fz = stand()
    assert rec.rate_hz == pytest.approx(100.0) and rec.times_s[-1] == pytest.approx(t[-1])
    assert np.allclose(rec.cop_m, cop, atol=1e-6)  # mm from the units row
    assert rec.fz_n is not None and np.allclose(rec.fz_n, fz, atol=0.006)
    assert any("100 Hz from the file's metadata" in a for a in rec.assumptions)
    assert rec.columns == {"time": "Sample", "fz": "Fz", "ap": "COP Y", "ml": "COP X"}


def test_offset_removed_force_uses_the_cop_columns_and_says_so() -> None:
    """Fz zeroed with the person standing: every sample's COP is used (no "0 valid COP samples"),
    the sway is that of the stand, and the output says what was assumed."""
    rec = read_force_plate_csv(FIXTURES / "plate_offset_removed.csv")
    t, cop, _ = stand()
    assert rec.fz_offset_removed and np.isfinite(rec.cop_m).all()
    assert np.allclose(rec.cop_m, cop, atol=1e-5)
    assert any("offset-removed" in a for a in rec.assumptions)
    report = _analyse(["balance", str(FIXTURES / "plate_offset_removed.csv")])
    assert report["samples"] == len(t)
    assert report["range_ap_m"] == pytest.approx(np.ptp(cop[:, 0]), abs=2e-5)
    assert any("offset-removed" in a for a in report["recording"]["assumptions"])


def test_offset_removed_force_without_cop_columns_is_an_error(tmp_path: Path) -> None:
    t, cop, fz = stand()
    path = tmp_path / "moments.csv"
    rows = ["time,Fz,Mx,My"] + [f"{t[i]:.2f},{fz[i] - 690:.2f},{cop[i, 0] * 690:.3f},{-cop[i, 1] * 690:.3f}"
                                for i in range(len(t))]
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(RecordingError, match="offset-removed, so COP cannot be computed from the moments"):
        read_force_plate_csv(path)


def test_unloaded_samples_still_masked_on_a_normal_plate(tmp_path: Path) -> None:
    t, cop, fz = stand()
    fz = fz.copy()
    fz[:20] = 3.0  # stepping on
    path = tmp_path / "plate.csv"
    rows = ["Time;Fz;COPx;COPy", "s;N;m;m"] + [f"{t[i]:.2f};{fz[i]:.1f};{cop[i, 1]:.5f};{cop[i, 0]:.5f}"
                                                for i in range(len(t))]
    path.write_text("\n".join(rows) + "\n")
    rec = read_force_plate_csv(path)
    assert not rec.fz_offset_removed and np.isnan(rec.cop_m[:20]).all() and np.isfinite(rec.cop_m[20:]).all()
    assert rec.assumptions == []


# --- marker files -------------------------------------------------------------------------------


def _same_as_c3d(rec_path: Path, tmp_path: Path, **options: object) -> None:
    """The text file gives the trajectories and gait result the C3D of the same walk gives."""
    w = walk(WALK)
    rec = read_markers(rec_path, **options)  # type: ignore[arg-type]
    c3d = read_c3d(write_c3d(tmp_path / "same.c3d", w))
    assert rec.rate_hz == pytest.approx(WALK.rate_hz) and rec.trajectories.frames == len(w.times_s)
    for key, truth in w.positions_m.items():
        got = rec.trajectories.positions_m[key]
        seen = np.isfinite(got).all(axis=1)
        assert seen.sum() >= len(truth) - 4
        up = rec.trajectories.up_axis
        assert np.allclose(got[seen, up], truth[seen, 2], atol=1e-5)  # heights, in metres, up positive
    ours = analyze_gait(rec.trajectories).as_json()
    theirs = analyze_gait(c3d.trajectories).as_json()
    assert [e["frame"] for e in ours["heel_strikes"]] == [e["frame"] for e in theirs["heel_strikes"]]
    assert ours["step_length_m"]["mean"] == pytest.approx(WALK.step_length_m, rel=0.01)
    assert ours["cadence_steps_per_min"] == pytest.approx(60 / WALK.step_time_s, rel=0.01)


def test_opensim_trc(tmp_path: Path) -> None:
    rec = read_trc(FIXTURES / "walk_opensim.trc")
    assert rec.file_format == "trc" and rec.units == "mm" and rec.up == "+y" and rec.first_frame == 1
    assert rec.labels_used["R.ankle"] == "RANK"
    assert np.isnan(rec.trajectories.positions_m[("R", "ankle")][40:44]).all()  # empty cells: a gap
    assert rec.assumptions == []
    _same_as_c3d(FIXTURES / "walk_opensim.trc", tmp_path)


def test_qualisys_tsv(tmp_path: Path) -> None:
    rec = read_marker_tsv(FIXTURES / "walk_qualisys.tsv")
    assert rec.file_format == "tsv" and rec.up == "+z" and rec.rate_hz == pytest.approx(WALK.rate_hz)
    assert np.isnan(rec.trajectories.positions_m[("L", "toe")][70:73]).all()  # QTM's zeros: a gap
    assert rec.assumptions == ["millimetres: a Qualisys TSV names no units, and QTM exports positions in mm"]
    _same_as_c3d(FIXTURES / "walk_qualisys.tsv", tmp_path)


def test_old_qualisys_tsv_without_a_header_row(tmp_path: Path) -> None:
    lines = (FIXTURES / "walk_qualisys.tsv").read_text().splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("Frame\t"))
    old = lines[:header] + ["\t".join(line.split("\t")[2:]) for line in lines[header + 1:]]
    path = tmp_path / "old.tsv"
    path.write_text("\n".join(old) + "\n")
    _same_as_c3d(path, tmp_path)


def test_generic_csv_needs_units_only_when_unnamed(tmp_path: Path) -> None:
    w = walk(WALK)
    keys = [("L", "heel"), ("L", "toe"), ("R", "heel"), ("R", "toe")]
    names = ["LHEE", "LTOE", "RHEE", "RTOE"]

    def write(name: str, header_suffix: str) -> Path:
        cols = [f'"{n}_{a}{header_suffix}"' for n in names for a in "xyz"]
        rows = ["frame;" + ";".join(cols)] + [
            f"{i};" + ";".join(f"{v * 100:.4f}".replace(".", ",") for k in keys for v in w.positions_m[k][i])
            for i in range(len(w.times_s))]
        path = tmp_path / name
        path.write_text("\n".join(rows) + "\n")
        return path

    unnamed = write("plain.csv", "")
    with pytest.raises(RecordingError, match="no frame rate"):
        read_markers(unnamed, units="cm")
    with pytest.raises(RecordingError, match=r"line 1: the marker columns name no units.*--units"):
        read_markers(unnamed, rate_hz=WALK.rate_hz)
    rec = read_markers(unnamed, units="cm", rate_hz=WALK.rate_hz)
    assert rec.assumptions == [f"{WALK.rate_hz:g} Hz as given: the file states no rate and has no time column"]
    named = read_markers(write("named.csv", " (cm)"), rate_hz=WALK.rate_hz)
    for each in (rec, named):
        assert np.allclose(each.trajectories.positions_m[("L", "heel")][:, 2], w.positions_m[("L", "heel")][:, 2],
                           atol=1e-6)
        assert analyze_gait(each.trajectories).as_json()["step_length_m"]["mean"] == pytest.approx(0.6, rel=0.01)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("a.trc", "hello\n", "line 1: 'hello' (expected a TRC file's 'PathFileType' line)"),
        ("b.trc", "PathFileType\t4\nDataRate\tUnits\n100\t\n", "no Units"),
        ("c.trc", "PathFileType\t4\nDataRate\tNumMarkers\tUnits\n100\t3\tmm\nFrame#\tTime\tLHEE\t\t\n"
                  "\t\tX1\tY1\tZ1\n1\t0\t1\t2\t3\n2\t0.01\t1\t2\t3\n",
         "1 marker names, but line 3 declares NumMarkers 3"),
        ("d.tsv", "FREQUENCY\t100\nFrame\tTime\tC7 X (mm)\tC7 Y (mm)\tC7 Z (mm)\n1\t0\t1\t2\t3\n",
         "no foot markers found"),
        ("e.tsv", "Frame\tTime\tfoo\tbar\n1\t0\t1\t2\n", "line 1: no marker columns"),
        ("f.xyz", "", "unknown marker file type '.xyz'"),
    ],
    ids=["not-trc", "trc-no-units", "trc-marker-count", "tsv-no-feet", "tsv-no-markers", "suffix"],
)
def test_marker_file_errors(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(RecordingError) as info:
        read_markers(path)
    assert message in str(info.value) and "\n" not in str(info.value), str(info.value)


def test_analyze_cli_reads_trc_and_tsv() -> None:
    for name, fmt in (("walk_opensim.trc", "trc"), ("walk_qualisys.tsv", "tsv")):
        report = _analyse(["gait", str(FIXTURES / name)])
        assert report["recording"]["format"] == fmt
        assert report["step_length_m"]["mean"] == pytest.approx(WALK.step_length_m, rel=0.01)
        assert len(report["heel_strikes"]) == WALK.strikes
