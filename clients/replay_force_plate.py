"""Stream a force-plate CSV recording to a StrideVR server as a live pressure mat would.

    python -m clients.replay_force_plate quiet.csv --token TOKEN --cop-units cm --rate-hz 100

The CSV is read by ``scoring.recordings.force_plate_csv`` (time or sample-index column, COP or
forces and moments, units as options) and sent as a centre-of-pressure stream: ``mat_setup`` kind
``cop`` in metres, then one ``cop`` message per sample at the file's rate times ``--speed``. The
patient frame's origin is the mean COP of the first second (quiet standing), forward is the
file's AP axis. Without an Fz column, ``--weight-n`` is sent as the load.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np

from clients.link import Link
from clients.replay import ReplayReport, end_replay, leave_running_argument, replay
from clients.start import add_station_arguments, check_choice, run, speed_argument, start_or_join
from scoring.errors import AnalysisError
from scoring.recordings.force_plate_csv import ForcePlateRecording, read_force_plate_csv

ORIGIN_WINDOW_S = 1.0


def mat_setup(recording: ForcePlateRecording) -> dict[str, Any]:
    """A COP stream in metres, mat x = medio-lateral (right), mat y = anterior."""
    first = recording.cop_m[recording.times_s <= ORIGIN_WINDOW_S]
    first = first[np.isfinite(first).all(axis=1)]
    if not first.size:
        first = recording.cop_m[np.isfinite(recording.cop_m).all(axis=1)]
    ap, ml = (first.mean(axis=0) if first.size else (0.0, 0.0))
    return {"type": "mat_setup", "kind": "cop", "units": "m", "forward": "+y", "mode": "explicit",
            "origin_m": [round(float(ml), 6), round(float(ap), 6)]}


def cop_frames(recording: ForcePlateRecording, weight_n: float) -> Iterator[dict[str, Any]]:
    for i, t in enumerate(recording.times_s):
        ap, ml = recording.cop_m[i]
        force = weight_n if recording.fz_n is None or recording.fz_offset_removed else abs(float(recording.fz_n[i]))
        cop = [round(float(ml), 6), round(float(ap), 6)] if math.isfinite(ap) and math.isfinite(ml) else None
        yield {"type": "cop", "t_s": float(t), "seq": i, "cop": cop, "force_n": min(force, 5000.0)}


async def replay_force_plate(url: str, station: str, token: str, recording: ForcePlateRecording, *,
                             speed: float = 1.0, weight_n: float = 700.0,
                             progress: bool = False, ca_file: str | None = None) -> ReplayReport:
    link = await Link.station(url, "device", station, token, ca_file=ca_file)
    try:
        return await replay(link, mat_setup(recording), cop_frames(recording, weight_n),
                            len(recording.times_s), recording.rate_hz, speed=speed, progress=progress)
    finally:
        await link.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("file", help="a force-plate .csv export")
    add_station_arguments(p, watches=False)
    speed_argument(p)
    leave_running_argument(p)
    p.add_argument("--rate-hz", type=float, help="sample rate, when the file has a sample index, not times")
    p.add_argument("--cop-units", choices=("m", "cm", "mm"), help="COP units (default: from the header, else m)")
    p.add_argument("--ap-axis", default="y", help="which plate axis is anterior: y, -y, x, -x")
    p.add_argument("--weight-n", type=float, default=700.0,
                   help="load to send when the file has no Fz (or an offset-removed one)")
    p.add_argument("--game", default="weight_shift", help="game to start with --therapist")
    args = p.parse_args(argv)
    check_choice(args)
    try:
        recording = read_force_plate_csv(args.file, rate_hz=args.rate_hz, cop_units=args.cop_units,
                                         ap_axis=args.ap_axis)
    except (AnalysisError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    game = start_or_join(args, args.game, {}, source="recording")
    print(f"{args.file}: {len(recording.times_s)} samples at {recording.rate_hz:g} Hz")
    for assumed in recording.assumptions:
        print(f"  assumed: {assumed}")
    report = run(replay_force_plate(args.url, args.station, args.token, recording, speed=args.speed,
                                            weight_n=args.weight_n, progress=True, ca_file=args.ca_file))
    print(f"sent {report.frames_sent} samples in {report.seconds:.1f} s; server errors: {report.errors}")
    end_replay(args, game)
    return 0 if report.errors == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
