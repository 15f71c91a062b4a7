"""Offline analysis of recordings: ``python -m scoring.analyze gait|balance|board FILE [--json]``.

``gait FILE`` reads foot markers from a C3D, OpenSim TRC or tab-separated (Qualisys TSV) file
(:mod:`scoring.recordings.c3d`, :mod:`scoring.recordings.marker_text`) and prints gait events and
spatio-temporal metrics (:mod:`scoring.gait`); ``balance FILE.csv`` reads a force-plate export
(:mod:`scoring.recordings.force_plate_csv`) and prints sway metrics (:mod:`scoring.balance`);
``board FILE.csv`` reads a balance board's four load cells (:mod:`scoring.recordings.balance_board_csv`)
and prints the body weight, the weight bearing and the sway.
Lengths in metres, times in seconds from the first stored frame. A file that cannot be analysed
gives one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from tqdm import tqdm

from scoring.balance import sway_metrics
from scoring.errors import AnalysisError
from scoring.gait import GaitSettings, analyze_gait
from scoring.recordings.balance_board_csv import analyze_board, read_balance_board_csv
from scoring.recordings.force_plate_csv import read_force_plate_csv
from scoring.recordings.marker_text import read_markers
from scoring.recordings.plates import ONSET_THRESHOLD_N, contact_onsets, match_strikes, read_c3d_plates, timing_summary


def _mapping(items: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, label = item.partition("=")
        if not sep or not key.strip() or not label.strip():
            raise AnalysisError(f"bad --map {item!r}: use --map L.heel=LABEL")
        out[key.strip()] = label.strip()
    return out


def _advance(bar: tqdm[Any], done: int, total: int) -> None:
    """Move the bar to ``done`` of ``total`` (the total grows once the file says how much work it holds)."""
    bar.total = total
    bar.update(done - bar.n)


def run_gait(args: argparse.Namespace, bar: tqdm[Any]) -> dict[str, Any]:
    recording = read_markers(args.file, up=args.up, mapping=_mapping(args.map), rate_hz=args.rate_hz,
                             units=args.units)
    markers = len(recording.trajectories.positions_m)
    _advance(bar, 1, markers + 1)
    result = analyze_gait(recording.trajectories, GaitSettings(max_gap_s=args.max_gap_s),
                          progress=lambda done, total: _advance(bar, done + 1, total + 1))
    report = {"kind": "gait", "file": str(args.file), "recording": recording.as_json(), **result.as_json()}
    if recording.file_format == "c3d":
        plates = read_c3d_plates(args.file)
        if plates:  # the force plates' contact onsets: the reference for the heel strikes
            onsets = [onset for plate in plates for onset in contact_onsets(plate, args.onset_threshold_n)]
            strikes = [(e.side, e.t_s) for e in result.heel_strikes]
            report["plates"] = {"count": len(plates), "onset_threshold_n": args.onset_threshold_n,
                                "onsets_s": [o.t_s for o in onsets],
                                "heel_strike_timing": timing_summary(match_strikes(onsets, strikes))}
    return report


def run_balance(args: argparse.Namespace, bar: tqdm[Any]) -> dict[str, Any]:
    recording = read_force_plate_csv(args.file, rate_hz=args.rate_hz, cop_units=args.cop_units,
                                     force_units=args.force_units, moment_units=args.moment_units,
                                     ap_axis=args.ap_axis, ap_column=args.ap_column, ml_column=args.ml_column)
    _advance(bar, 1, 2)
    metrics = sway_metrics(recording.times_s, recording.cop_m)
    _advance(bar, 2, 2)
    return {"kind": "balance", "file": str(args.file), "recording": recording.as_json(), **metrics}


def run_board(args: argparse.Namespace, bar: tqdm[Any]) -> dict[str, Any]:
    recording = read_balance_board_csv(args.file, units=args.units, rate_hz=args.rate_hz)
    _advance(bar, 1, 2)
    result = analyze_board(recording, tare_s=args.tare_s, rate_hz=args.resample_hz, width_m=args.width_m,
                           length_m=args.length_m)
    _advance(bar, 2, 2)
    return {"kind": "board", "file": str(args.file), "recording": recording.as_json(), **result}


RUNS = {"gait": run_gait, "balance": run_balance, "board": run_board}


def _num(value: float | None, digits: int = 3, unit: str = "") -> str:
    return "n/a" if value is None else f"{value:.{digits}f}{unit}"


def _stat(stat: dict[str, Any], unit: str) -> str:
    sd = f" ± {stat['sd']:.3f}" if stat.get("sd") is not None else ""
    return f"{_num(stat['mean'])}{sd} {unit} (n={stat['n']})"


def summary(report: dict[str, Any]) -> str:
    """A few lines for a person; ``--json`` has everything."""
    if report["kind"] == "gait":
        sides = {s: sum(e["side"] == s for e in report["heel_strikes"]) for s in ("L", "R")}
        lines = [
            f"{report['file']}: {report['duration_s']:.2f} s at {report['rate_hz']:.0f} Hz, "
            f"up {report['recording']['up']}",
            *[f"assumed: {a}" for a in report["recording"].get("assumptions", [])],
            f"heel strikes: {len(report['heel_strikes'])} (L {sides['L']}, R {sides['R']}); "
            f"steps: {len(report['steps'])} ({report['short_steps']} short, left out)",
            f"step length {_stat(report['step_length_m'], 'm')}",
            f"step width  {_stat(report['step_width_m'], 'm')}",
            f"step time   {_stat(report['step_time_s'], 's')}",
            f"cadence {_num(report['cadence_steps_per_min'], 1)} steps/min, speed {_num(report['speed_m_s'], 2)} m/s",
            "heel lift " + ", ".join(f"{s} {_num(v)} m" for s, v in report["heel_lift_m"].items())
            + "; toe lift " + ", ".join(f"{s} {_num(v)} m" for s, v in report["toe_lift_m"].items()),
        ]
        if report["gaps"]:
            lines.append(f"gaps longer than the bridging limit: {len(report['gaps'])}")
        timing = report.get("plates", {}).get("heel_strike_timing")
        if timing and timing["n"]:
            lines.append(f"heel strike − plate onset: mean {timing['bias_s'] * 1000:+.1f} ms, largest "
                         f"{timing['max_abs_s'] * 1000:.1f} ms (n={timing['n']}, onset at "
                         f"{report['plates']['onset_threshold_n']:g} N)")
        return "\n".join(lines)
    board = [f"body weight {report['body_weight_kg']:.1f} kg; left side {report['left_share_pct_bw']:.1f} % of it, "
             f"load SD {report['load_sd_pct_bw']:.2f} % of it"] if report["kind"] == "board" else []
    return "\n".join([
        f"{report['file']}: {report['samples']} samples, {report['duration_s']:.2f} s",
        *board,
        *[f"assumed: {a}" for a in report["recording"].get("assumptions", [])],
        f"path {_num(report['path_length_m'])} m, mean velocity {_num(report['mean_velocity_m_s'], 4)} m/s",
        f"range AP {_num(report['range_ap_m'], 4)} m, ML {_num(report['range_ml_m'], 4)} m; "
        f"RMS AP {_num(report['rms_ap_m'], 4)} m, ML {_num(report['rms_ml_m'], 4)} m",
        f"95 % prediction ellipse {report['ellipse95_area_m2'] * 1e4:.2f} cm²",
    ])


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m scoring.analyze", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print the full result as JSON")
    common.add_argument("--progress", action="store_true", help="draw the progress bar even when stderr is no terminal")
    gait = sub.add_parser("gait", parents=[common], help="gait events and metrics from a C3D, TRC or TSV file")
    gait.add_argument("file")
    gait.add_argument("--rate-hz", type=float, help="frame rate, for a TSV/CSV that states none and has no times")
    gait.add_argument("--units", choices=("mm", "cm", "m"), help="marker units, for a TSV/CSV that names none")
    gait.add_argument("--up", help="the file's vertical axis and sign, e.g. +z or -y (default: detected)")
    gait.add_argument("--map", action="append", default=[], metavar="L.heel=LABEL",
                      help="name a marker explicitly (repeatable): L.heel, R.toe, L.ankle, C.pelvis...")
    gait.add_argument("--onset-threshold-n", type=float, default=ONSET_THRESHOLD_N,
                      help="force-plate contact onset threshold (N, default %(default)s), for a C3D with plates")
    gait.add_argument("--max-gap-s", type=float, default=GaitSettings().max_gap_s,
                      help="bridge marker gaps up to this long (s, default %(default)s)")
    balance = sub.add_parser("balance", parents=[common], help="sway metrics from a force-plate CSV")
    balance.add_argument("file")
    balance.add_argument("--rate-hz", type=float, help="sample rate, when the file has no time column")
    balance.add_argument("--cop-units", choices=("m", "cm", "mm"), help="COP units (default: from the header, else m)")
    balance.add_argument("--force-units", choices=("N", "kN"), help="force units (default: from the file, else N)")
    balance.add_argument("--moment-units", choices=("Nm", "Nmm"), help="moment units (default: from the file, else Nm)")
    balance.add_argument("--ap-axis", default="y",
                         help="plate axis that is anterior-posterior: x, y, -x, -y (default y)")
    balance.add_argument("--ap-column", help="name of the AP COP column, when not recognised")
    balance.add_argument("--ml-column", help="name of the ML COP column, when not recognised")
    board = sub.add_parser("board", parents=[common],
                           help="body weight, weight bearing and sway from a balance board's four load cells (CSV)")
    board.add_argument("file")
    board.add_argument("--units", choices=("N", "kg"), help="load units (default: from the file, else N)")
    board.add_argument("--rate-hz", type=float, help="reading rate, when the file has no time column")
    board.add_argument("--tare-s", type=float, default=1.0,
                       help="the first seconds with nobody on the board, to zero each cell (0: already zeroed; "
                            "default %(default)s)")
    board.add_argument("--resample-hz", type=float, default=50.0,
                       help="window-averaging rate for the uneven readings (default %(default)s; 0: none)")
    board.add_argument("--width-m", type=float, default=0.433, help="left-right sensor spacing (default %(default)s)")
    board.add_argument("--length-m", type=float, default=0.238, help="front-back sensor spacing (default %(default)s)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        # tqdm draws on stderr only when it is a terminal (disable=None), unless --progress forces it
        with tqdm(desc=args.command, total=1, unit="step", disable=False if args.progress else None) as bar:
            report = RUNS[args.command](args, bar)
    except (AnalysisError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        print(json.dumps(report, indent=1) if args.json else summary(report))
        sys.stdout.flush()
    except BrokenPipeError:  # piped into head & co: the reader has what it wanted
        sys.stdout = None  # no second complaint at interpreter exit
    return 0


if __name__ == "__main__":
    sys.exit(main())
