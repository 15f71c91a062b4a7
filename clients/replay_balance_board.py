"""Stream a balance-board CSV recording to a StrideVR server as the live board would.

    python -m clients.replay_balance_board board.csv --token TOKEN --join --headset-token HTOKEN [--tare-s 1]

The CSV is read by ``scoring.recordings.balance_board_csv`` (a time column and four load columns,
in N or kg) and sent as the board sent it: a ``board_setup`` (newtons, the tare, the geometry, the
window-averaging rate; calibrate mode, so the origin is the mean centre of pressure of the stand that
measures the body weight) and one ``load_cells`` message per reading, as read (not tared: the server
does it), each ``t_s`` the reading's own time in the file, uneven as recorded. Readings go out at the
recording's mean rate times ``--speed``. The server's centre of pressure is then what
``python -m scoring.analyze board`` computes from the same file.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from typing import Any

from clients.link import Link
from clients.replay import ReplayReport, end_replay, leave_running_argument, replay
from clients.start import add_station_arguments, check_choice, run, speed_argument, start_or_join
from scoring.errors import AnalysisError
from scoring.recordings.balance_board_csv import (
    DEFAULT_LENGTH_M,
    DEFAULT_WIDTH_M,
    BalanceBoardRecording,
    read_balance_board_csv,
)


def board_setup(*, tare_s: float = 1.0, rate_hz: float = 50.0, width_m: float = DEFAULT_WIDTH_M,
                length_m: float = DEFAULT_LENGTH_M, calibrate_s: float = 2.0) -> dict[str, Any]:
    return {"type": "board_setup", "units": "n", "tare_s": tare_s, "mode": "calibrate", "calibrate_s": calibrate_s,
            "rate_hz": rate_hz, "width_m": width_m, "length_m": length_m}


def load_cell_frames(recording: BalanceBoardRecording) -> Iterator[dict[str, Any]]:
    for i, (t, cells) in enumerate(zip(recording.times_s, recording.cells_n, strict=True)):
        yield {"type": "load_cells", "t_s": float(t), "seq": i, "cells": [round(float(v), 4) for v in cells]}


def mean_rate_hz(recording: BalanceBoardRecording) -> float:
    """Readings per second over the whole recording: paced so, the replay lasts as long as it."""
    duration = float(recording.times_s[-1] - recording.times_s[0]) if len(recording.times_s) > 1 else 0.0
    return (len(recording.times_s) - 1) / duration if duration > 0 else max(recording.rate_hz, 1.0)


async def replay_balance_board(url: str, station: str, token: str, recording: BalanceBoardRecording,
                               setup: dict[str, Any], *, speed: float = 1.0, progress: bool = False,
                               ca_file: str | None = None) -> ReplayReport:
    link = await Link.station(url, "device", station, token, ca_file=ca_file)
    try:
        return await replay(link, setup, load_cell_frames(recording), len(recording.times_s),
                            mean_rate_hz(recording), speed=speed, progress=progress)
    finally:
        await link.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("file", help="a balance-board .csv export (time and four load columns)")
    add_station_arguments(p, watches=False)
    speed_argument(p)
    leave_running_argument(p)
    p.add_argument("--units", choices=("N", "kg"), help="load units (default: from the file, else N)")
    p.add_argument("--rate-hz", type=float, help="reading rate, when the file has no time column")
    p.add_argument("--tare-s", type=float, default=1.0,
                   help="the recording starts with the board empty this long (0: readings already zeroed)")
    p.add_argument("--resample-hz", type=float, default=50.0, help="the server's window-averaging rate (0: none)")
    p.add_argument("--width-m", type=float, default=DEFAULT_WIDTH_M, help="left-right sensor spacing")
    p.add_argument("--length-m", type=float, default=DEFAULT_LENGTH_M, help="front-back sensor spacing")
    p.add_argument("--game", default="weight_shift", help="game to start with --therapist")
    args = p.parse_args(argv)
    check_choice(args)
    try:
        recording = read_balance_board_csv(args.file, units=args.units, rate_hz=args.rate_hz)
    except (AnalysisError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    game = start_or_join(args, args.game, {}, source="recording")
    print(f"{args.file}: {len(recording.times_s)} readings at {mean_rate_hz(recording):.1f} Hz on average")
    setup = board_setup(tare_s=args.tare_s, rate_hz=args.resample_hz, width_m=args.width_m, length_m=args.length_m)
    report = run(replay_balance_board(args.url, args.station, args.token, recording, setup, speed=args.speed,
                                      progress=True, ca_file=args.ca_file))
    print(f"sent {report.frames_sent} readings in {report.seconds:.1f} s; server errors: {report.errors}")
    for notice in report.notices or []:
        print(f"  {notice.get('kind')}: {notice.get('message')}")
    end_replay(args, game)
    return 0 if report.errors == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
