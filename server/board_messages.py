"""A balance board's messages (``board_setup``, ``load_cells``), parsed at the edge.

``board_setup``
    ``units`` "n" | "kg" | "raw"; ``calibration`` (raw only, required there): four lists, one per
    cell in ``CELLS`` order, of at least two [raw, newtons] points with raw increasing; ``tare_s``
    0 (readings already zeroed) or 0.5-10 s (default 1: the board empty that long first);
    ``mode`` "calibrate" (``calibrate_s`` 0.5-10, default 2) | "explicit" (``origin_m`` [x, y],
    metres from the board's centre, default [0, 0]); ``width_m`` (default 0.433) and ``length_m``
    (default 0.238), the sensor spacing, 0.05-2 m; ``rate_hz`` 0 or 5-1000 (default 50: the
    window-averaging rate, 0 for none); ``contact_threshold_n`` 0-2000 (default 20).
``load_cells``
    ``t_s``, ``seq``, ``cells``: four numbers in the setup's units (front-left, front-right,
    back-left, back-right from the standing patient's view), each finite; loads from -500 to
    5000 N (-50 to 500 kg), raw counts within +/-1e9.

A ``load_cells`` before a ``board_setup`` is ``no_setup``: a reading means nothing without its units.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from server.adapters.board import CELLS, BoardSetup, CalibrationPoints, LoadCellFrame
from server.codec import ProtocolError
from server.device_messages import MODES
from server.fields import Fields
from server.messages import COMMON, MAX_DEVICE_TIME_S, MAX_SEQ

UNITS = ("n", "kg", "raw")
CELL_LIMITS = {"n": (-500.0, 5000.0), "kg": (-50.0, 500.0), "raw": (-1e9, 1e9)}
MAX_CALIBRATION_POINTS = 16


def parse_board_setup(f: Fields) -> BoardSetup:
    f.only(COMMON + ("units", "calibration", "tare_s", "mode", "calibrate_s", "origin_m", "width_m", "length_m",
                     "rate_hz", "contact_threshold_n"))
    units = f.choice("units", UNITS)
    mode = f.choice("mode", MODES)
    assert units and mode
    options: dict[str, Any] = {}
    for key, low, high, unit in (("width_m", 0.05, 2.0, "m"), ("length_m", 0.05, 2.0, "m"),
                                 ("contact_threshold_n", 0.0, 2000.0, "N")):
        value = f.number(key, low=low, high=high, required=False, unit=unit)
        if value is not None:
            options[key] = value
    tare = f.number("tare_s", low=0.0, high=10.0, required=False, unit="s")
    if tare is not None:
        if 0 < tare < 0.5:
            raise ProtocolError("bad_field",
                                f"{f.where}: 'tare_s' must be 0 (already zeroed) or 0.5 to 10 s, got {tare}")
        options["tare_s"] = tare
    rate = f.number("rate_hz", low=0.0, high=1000.0, required=False, unit="Hz")
    if rate is not None:
        if 0 < rate < 5:
            raise ProtocolError("bad_field", f"{f.where}: 'rate_hz' must be 0 (no resampling) or 5 to 1000 Hz, "
                                             f"got {rate}")
        options["rate_hz"] = rate
    if mode == "calibrate":
        if f.data.get("origin_m") is not None:
            raise ProtocolError("bad_field", f"{f.where}: 'origin_m' applies to mode 'explicit' only")
        calibrate_s = f.number("calibrate_s", low=0.5, high=10.0, required=False, unit="s")
        if calibrate_s is not None:
            options["calibrate_s"] = calibrate_s
    else:
        if f.data.get("calibrate_s") is not None:
            raise ProtocolError("bad_field", f"{f.where}: 'calibrate_s' applies to mode 'calibrate' only")
        if f.data.get("origin_m") is not None:
            options["origin_m"] = f.vector("origin_m", size=2, limit=1.0, unit="m")
    if units == "raw":
        options["calibration"] = _calibration(f)
    elif f.data.get("calibration") is not None:
        raise ProtocolError("bad_field", f"{f.where}: 'calibration' applies to units 'raw' only (readings in "
                                         f"{units} are loads already)")
    return BoardSetup(units, mode, **options)


def _calibration(f: Fields) -> tuple[CalibrationPoints, ...]:
    value = f.data.get("calibration")
    shape = (f"{f.where}: 'calibration' must be 4 lists (one per cell: {', '.join(CELLS)}) of 2 to "
             f"{MAX_CALIBRATION_POINTS} [raw, newtons] points, raw increasing")
    if value is None:
        raise ProtocolError("missing_field", f"{shape}; units 'raw' need it")
    if not isinstance(value, list) or len(value) != len(CELLS):
        raise ProtocolError("bad_field", shape)
    cells: list[CalibrationPoints] = []
    for name, points in zip(CELLS, value, strict=True):
        if (not isinstance(points, list) or not 2 <= len(points) <= MAX_CALIBRATION_POINTS
                or not all(isinstance(p, list) and len(p) == 2 for p in points)
                or not all(type(v) in (int, float) for p in points for v in p)):
            raise ProtocolError("bad_field", f"{shape}; {name} is not")
        pairs = tuple((float(raw), float(n)) for raw, n in points)
        if not all(abs(v) <= 1e9 for p in pairs for v in p) or any(v != v for p in pairs for v in p):
            raise ProtocolError("bad_field", f"{shape}; {name} has a value that is not finite or beyond +/-1e9")
        if any(b[0] <= a[0] for a, b in pairwise(pairs)):
            raise ProtocolError("bad_field", f"{shape}; {name}'s raw values do not increase")
        cells.append(pairs)
    return tuple(cells)


def parse_load_cells(f: Fields, setup: BoardSetup | None) -> LoadCellFrame:
    if setup is None:
        raise ProtocolError("no_setup", f"{f.where}: send board_setup first (units, tare, geometry)")
    f.only(COMMON + ("t_s", "seq", "cells"))
    t = f.number("t_s", low=0.0, high=MAX_DEVICE_TIME_S, unit="s")
    seq = f.integer("seq", low=0, high=MAX_SEQ)
    assert t is not None and seq is not None
    low, high = CELL_LIMITS[setup.units]
    unit = "N" if setup.units == "n" else setup.units
    a, b, c, d = f.vector("cells", size=len(CELLS), limit=high, unit=unit)
    if min(a, b, c, d) < low:
        raise ProtocolError("bad_field", f"{f.where}: 'cells' must be from {low:g} to {high:g} {unit}, "
                                         f"got {[a, b, c, d]}")
    return LoadCellFrame(t, seq, (a, b, c, d))
