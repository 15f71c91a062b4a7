"""Stream a motion-capture recording (C3D, OpenSim TRC, Qualisys TSV) to a StrideVR server as a live
motion tracker would.

    python -m clients.replay_c3d walk.c3d --token TOKEN [--speed 1] [--map L.heel=LHeel] [--up +z]
    python -m clients.replay_c3d walk.trc --token TOKEN      # or walk.tsv (--units, --rate-hz if unstated)

The file is read by ``scoring.recordings.marker_text.read_markers`` (C3D with ``ezc3d``, TRC and
TSV through the delimited-text reader), all into the same trajectories: foot markers are found by their
labels in the common conventions (LHEE/RHEE, L.Heel, l_heel, LTOE, LANK, ...; ``--map`` overrides),
a duplicated label uses the copy that holds data, units come from POINT:UNITS, the vertical axis is
detected (``--up`` overrides), gaps go out as ``null`` and t = 0 is the first frame stored. Frames
go out at the file's rate times ``--speed`` (0: as fast as the server takes them).

The tracker is set up in explicit mode: metres, the file's vertical axis up, the lab floor axis
nearest to the walking direction as forward, and the origin on the floor midway between the feet
in the first frame. With ``--calibrate`` the server calibrates instead, which needs the recording
to start with the patient standing still for two seconds.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np

from clients.link import Link
from clients.replay import ReplayReport, end_replay, leave_running_argument, replay
from clients.start import add_station_arguments, check_choice, run, speed_argument, start_or_join
from scoring.errors import AnalysisError
from scoring.recordings.c3d import C3DRecording
from scoring.recordings.labels import parse_key
from scoring.recordings.marker_text import read_markers
from scoring.trajectories import MarkerTrajectories

AXES = "xyz"


def tracker_setup(recording: C3DRecording, calibrate: bool) -> dict[str, Any]:
    """The ``tracker_setup`` that makes the server read these trajectories as they are."""
    traj = recording.trajectories
    up = traj.up_axis
    setup: dict[str, Any] = {"type": "tracker_setup", "units": "m", "up": f"+{AXES[up]}"}
    if calibrate:
        return {**setup, "mode": "calibrate"}
    floor = [a for a in range(3) if a != up]
    heels = [p for (side, name), p in traj.positions_m.items() if name == "heel"] or list(
        traj.positions_m.values())
    direction = _walking_direction(heels)
    best = max(floor, key=lambda a: abs(direction[a]))
    forward = ("+" if direction[best] >= 0 else "-") + AXES[best]
    first = np.array([p[_first_valid(p)] for p in traj.positions_m.values() if _first_valid(p) is not None])
    origin = first.mean(axis=0)
    origin[up] = float(np.nanmin(np.concatenate([p[:, up] for p in heels])))
    return {**setup, "mode": "explicit", "forward": forward, "origin": [round(float(v), 5) for v in origin]}


def marker_frames(traj: MarkerTrajectories) -> Iterator[dict[str, Any]]:
    """One ``markers`` message per frame; NaN (a gap) goes out as null."""
    keys = sorted(traj.positions_m)
    rounded = {k: np.round(traj.positions_m[k], 5) for k in keys}
    for i in range(traj.frames):
        message: dict[str, Any] = {"type": "markers", "t_s": float(traj.times_s[i]), "seq": i}
        for side, name in keys:
            p = rounded[(side, name)][i]
            value = None if not np.isfinite(p).all() else [float(v) for v in p]
            if side == "C":
                message[name] = value
            else:
                message.setdefault(side, {})[name] = value
        yield message


async def replay_c3d(url: str, station: str, token: str, recording: C3DRecording, *, speed: float = 1.0,
                     calibrate: bool = False, progress: bool = False, ca_file: str | None = None) -> ReplayReport:
    traj = recording.trajectories
    link = await Link.station(url, "device", station, token, ca_file=ca_file)
    try:
        return await replay(link, tracker_setup(recording, calibrate), marker_frames(traj), traj.frames,
                            recording.rate_hz, speed=speed, progress=progress)
    finally:
        await link.close()


def _first_valid(p: np.ndarray) -> int | None:
    rows = np.flatnonzero(np.isfinite(p).all(axis=1))
    return int(rows[0]) if rows.size else None


def _walking_direction(heels: list[np.ndarray]) -> np.ndarray:
    """Last seen minus first seen heel position, summed over the heels."""
    total = np.zeros(3)
    for p in heels:
        rows = np.flatnonzero(np.isfinite(p).all(axis=1))
        if rows.size:
            total += p[rows[-1]] - p[rows[0]]
    return total if np.linalg.norm(total) > 0 else np.array([1.0, 0.0, 0.0])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("file", help="a .c3d, .trc or .tsv recording")
    add_station_arguments(p, watches=False)
    speed_argument(p)
    leave_running_argument(p)
    p.add_argument("--up", help="the file's vertical axis (+z, +y, -y ...); detected when left out")
    p.add_argument("--map", action="append", default=[], metavar="SIDE.MARKER=LABEL",
                   help="name a marker's label, e.g. L.heel=LHeel (repeatable)")
    p.add_argument("--rate-hz", type=float, help="frame rate, for a TSV that states none and has no times")
    p.add_argument("--units", choices=("mm", "cm", "m"), help="marker units, for a TSV that names none")
    p.add_argument("--calibrate", action="store_true", help="let the server calibrate (recording starts still)")
    p.add_argument("--game", default="stepping", help="game to start with --therapist")
    args = p.parse_args(argv)
    check_choice(args)
    try:
        mapping = {}
        for item in args.map:
            key, _, label = item.partition("=")
            parse_key(key)
            mapping[key] = label
        recording = read_markers(args.file, up=args.up, mapping=mapping or None, rate_hz=args.rate_hz,
                                 units=args.units)
    except (AnalysisError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    game = start_or_join(args, args.game, {}, source="recording")
    traj = recording.trajectories
    print(f"{args.file}: {traj.frames} frames at {recording.rate_hz:g} Hz, units {recording.units}, "
          f"up {recording.up}; markers: {', '.join(sorted(recording.labels_used))}")
    for assumed in recording.assumptions:
        print(f"  assumed: {assumed}")
    report = run(replay_c3d(args.url, args.station, args.token, recording, speed=args.speed,
                                    calibrate=args.calibrate, progress=True, ca_file=args.ca_file))
    print(f"sent {report.frames_sent} frames in {report.seconds:.1f} s; server errors: {report.errors}")
    for notice in report.notices or []:
        print(f"  {notice.get('kind')}: {notice.get('message')}")
    end_replay(args, game)
    return 0 if report.errors == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
