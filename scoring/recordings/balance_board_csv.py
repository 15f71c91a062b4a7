"""Balance-board recordings (four load cells with timestamps) -> centre of pressure and body weight.

A Wii Balance Board class board measures the load on each of its four corners. A CSV of such a
recording (read by :mod:`scoring.recordings.delimited`: any delimiter, quoted names, a units row,
decimal commas, metadata) has a time column and one column per cell. Names are matched ignoring
case, separators and a bracketed unit, with an optional ``sensor``/``cell``/``load`` prefix:

* front-left: ``FL``, ``front_left``, ``left_front``, ``TL``, ``TopLeft`` (a Wii board's "top" is
  the side the patient faces); front-right: ``FR``, ``TR``, ``TopRight``...; back-left: ``BL``,
  ``back_left``, ``rear_left``, ``BottomLeft``...; back-right: ``BR``, ``BottomRight``...;
* time: ``time``/``t``/``timestamp`` (seconds, or milliseconds when the name or units row says
  ``ms``), else the row number at ``rate_hz``.

Loads are in newtons or kilograms (the units row or a bracket, else the ``units`` option, else
newtons, and ``assumptions`` says so). Then, as the live adapter (``server/adapters/board.py``) does:

1. **tare**: each cell's mean over the first ``tare_s`` seconds, when nobody is on the board, is
   subtracted (``tare_s`` 0: the export is already zeroed);
2. **resampling by window averaging**: the board samples unevenly, so every reading in each window
   of ``1 / rate_hz`` seconds (aligned on multiples of it from the first reading) is averaged into
   one sample at the window's centre; an empty window gives no sample. Linear interpolation between
   neighbours would instead invent values between readings and let the timing jitter through;
3. **COP** from the geometry: cells at the corners of ``width_m`` x ``length_m`` (433 x 238 mm
   on a Wii board), x = W/2 ((FR + BR) − (FL + BL)) / total, y = L/2 ((FL + FR) − (BL + BR)) / total;
   windows with less than ``contact_threshold_n`` on the board have none;
4. **body weight**: the median load of the loaded windows. Loads are then given as a share of it
   (the left cells' share: weight-bearing asymmetry; the load's SD in % of body weight), the
   convention balance systems use; COP sway is not divided by weight (``docs/analysis.md``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from scoring.balance import sway_metrics
from scoring.errors import RecordingError
from scoring.recordings.delimited import Table, read_table

CELLS = ("front_left", "front_right", "back_left", "back_right")
DEFAULT_WIDTH_M = 0.433
DEFAULT_LENGTH_M = 0.238
STANDARD_GRAVITY = 9.80665
LOAD_SCALE_N = {"n": 1.0, "kg": STANDARD_GRAVITY, "kgf": STANDARD_GRAVITY}
MAX_EMPTY_N = 150.0  # as the live adapter: more than this during the tare, someone is on the board
_PREFIXES = ("sensor", "cell", "loadcell", "load", "force", "weight", "lc")
_CELL_NAMES = {
    "front_left": {"fl", "frontleft", "leftfront", "lf", "tl", "topleft", "lefttop"},
    "front_right": {"fr", "frontright", "rightfront", "rf", "tr", "topright", "righttop"},
    "back_left": {"bl", "backleft", "leftback", "lb", "bottomleft", "leftbottom", "rearleft", "leftrear"},
    "back_right": {"br", "backright", "rightback", "rb", "bottomright", "rightbottom", "rearright", "rightrear"},
}
_TIME_NAMES = {"time": 1.0, "t": 1.0, "times": 1.0, "timesec": 1.0, "timestamp": 1.0, "seconds": 1.0, "sec": 1.0,
               "timems": 0.001, "tms": 0.001}


@dataclass(frozen=True, slots=True)
class BalanceBoardRecording:
    times_s: np.ndarray  # from 0 at the first reading, as recorded (uneven)
    cells_n: np.ndarray  # (N, 4) in CELLS order, newtons, as read (not tared)
    rate_hz: float  # median reading rate
    columns: dict[str, str]  # role (time, front_left...) -> the file's column name
    units: str
    assumptions: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        dt = np.diff(self.times_s)
        return {"readings": len(self.times_s), "rate_hz": self.rate_hz, "columns": dict(self.columns),
                "units": self.units, "interval_sd_s": float(np.std(dt)) if len(dt) else 0.0,
                "assumptions": list(self.assumptions)}


def _normal(name: str) -> str:
    return re.sub(r"[\s_.\-]+", "", re.sub(r"[\[(].*?[\])]", "", name)).lower()


def _cell_role(name: str) -> str | None:
    text = _normal(name)
    for prefix in _PREFIXES:
        if text.startswith(prefix) and len(text) > len(prefix):
            text = text[len(prefix):]
            break
    return next((role for role, names in _CELL_NAMES.items() if text in names), None)


def read_balance_board_csv(path: str | Path, *, units: str | None = None,
                           rate_hz: float | None = None) -> BalanceBoardRecording:
    """The four cells' loads in newtons over time; see the module docstring. Raises
    :class:`RecordingError` naming the line and what was expected."""
    table = read_table(path)
    header = table.header
    assumptions: list[str] = []
    found: dict[str, int] = {}
    for i, name in enumerate(header):
        role = _cell_role(name)
        if role is not None and role not in found:
            found[role] = i
    missing = [role for role in CELLS if role not in found]
    if missing:
        raise RecordingError(f"{table.path}, line {table.header_line}: no column for the {', '.join(missing)} "
                             f"cell{'s' if len(missing) > 1 else ''} (expected four load columns such as FL, FR, BL, "
                             f"BR or TopLeft, TopRight, BottomLeft, BottomRight; columns: {', '.join(header)})")
    unit = _load_unit(table, [found[r] for r in CELLS], units, assumptions)
    cells = np.column_stack([table.column(found[r]) for r in CELLS]) * LOAD_SCALE_N[unit]
    bad = np.flatnonzero(~np.isfinite(cells).all(axis=1))
    if bad.size:
        raise RecordingError(f"{table.where(int(bad[0]))}: a load cell has no reading (expected four numbers)")
    times, time_column = _times(table, rate_hz, assumptions)
    dt = np.diff(times)
    columns = {role: header[i] for role, i in found.items()}
    if time_column is not None:
        columns["time"] = header[time_column]
    return BalanceBoardRecording(times, cells, float(1.0 / np.median(dt)) if len(dt) else 0.0, columns, unit,
                                 assumptions)


def _load_unit(table: Table, indices: list[int], given: str | None, assumptions: list[str]) -> str:
    """The option, else the one unit the file names for the four columns, else newtons (assumed)."""
    named = {(table.units[i] or "").strip().lower() for i in indices} - {""}
    if given:
        unit = given.strip().lower()
    elif len(named) > 1:
        raise RecordingError(f"{table.path}, line {table.header_line}: the load columns are in different "
                             f"units ({', '.join(sorted(named))}); expected one unit for all four")
    elif named:
        unit = named.pop()
    else:
        unit = "n"
        assumptions.append("loads in newtons: the file names no unit for them")
    if unit not in LOAD_SCALE_N:
        raise RecordingError(f"{table.path}: unknown load unit {unit!r} (expected N or kg)")
    return unit


def _times(table: Table, rate_hz: float | None, assumptions: list[str]) -> tuple[np.ndarray, int | None]:
    index = next((i for i, h in enumerate(table.header) if _normal(h) in _TIME_NAMES), None)
    if index is None:
        if not rate_hz or rate_hz <= 0:
            raise RecordingError(f"{table.path}, line {table.header_line}: no time column (time, timestamp); a "
                                 "balance board samples unevenly, so its times are needed (or give --rate-hz)")
        assumptions.append(f"{rate_hz:g} Hz as given: the file has no time column")
        times = np.arange(len(table.lines)) / rate_hz
    else:
        unit = (table.units[index] or "").strip().lower()
        times = table.column(index) * {"ms": 0.001, "s": 1.0}.get(unit, _TIME_NAMES[_normal(table.header[index])])
        bad = np.flatnonzero(~np.isfinite(times))
        if bad.size:
            raise RecordingError(f"{table.where(int(bad[0]))}: no time (expected a time in every row)")
        back = np.flatnonzero(np.diff(times) <= 0)
        if back.size:
            raise RecordingError(f"{table.where(int(back[0]) + 1)}: times do not increase from row to row "
                                 f"(expected a time after {times[back[0]]:g})")
    return times - times[0], index


def tare_readings(times_s: np.ndarray, tare_s: float) -> int:
    """How many readings the tare takes: those less than ``tare_s`` after the first (as the live
    adapter, which ends its tare on the first reading after them); 0 for no tare."""
    if tare_s <= 0:
        return 0
    return int(np.count_nonzero(times_s - times_s[0] < tare_s))


def tare_offsets(cells_n: np.ndarray, readings: int) -> np.ndarray:
    """Each cell's mean over the tare's readings (the empty board); zeros without a tare."""
    if readings == 0:
        return np.zeros(4)
    offsets = cells_n[:readings].mean(axis=0)
    if offsets.sum() > MAX_EMPTY_N:
        raise RecordingError(f"the tare's first {readings} readings carry {offsets.sum():.0f} N: someone is on "
                             "the board, so they cannot be its tare (record the empty board first, or give "
                             "--tare-s 0 for readings already zeroed)")
    return np.asarray(offsets)


def window_average(times_s: np.ndarray, values: np.ndarray, rate_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Uneven samples -> the mean of each window of ``1 / rate_hz`` s (aligned on its multiples),
    at the window's centre; empty windows give no sample. ``rate_hz`` 0: unchanged."""
    if rate_hz <= 0:
        return times_s, values
    period = 1.0 / rate_hz
    bins = np.floor(times_s / period).astype(np.int64)
    kept, start = np.unique(bins, return_index=True)
    sums = np.add.reduceat(values, start, axis=0)
    counts = np.diff(np.append(start, len(bins)))
    return (kept + 0.5) * period, sums / counts[:, None]


def board_cop(cells_n: np.ndarray, width_m: float = DEFAULT_WIDTH_M,
              length_m: float = DEFAULT_LENGTH_M) -> tuple[np.ndarray, np.ndarray]:
    """COP (N, 2: AP forward, ML right) in metres from the board's centre, and the total load (N)."""
    fl, fr, bl, br = cells_n.T
    total = fl + fr + bl + br
    with np.errstate(invalid="ignore", divide="ignore"):
        ml = width_m / 2 * ((fr + br) - (fl + bl)) / total
        ap = length_m / 2 * ((fl + fr) - (bl + br)) / total
    return np.column_stack([ap, ml]), total


@dataclass(frozen=True, slots=True)
class BoardSamples:
    """What the board measured, resampled: COP (NaN where unloaded), load, left share."""

    times_s: np.ndarray
    cop_m: np.ndarray  # (N, 2): AP, ML
    total_n: np.ndarray
    left_share: np.ndarray  # NaN where unloaded
    tare_n: np.ndarray


def board_samples(recording: BalanceBoardRecording, *, tare_s: float = 1.0, rate_hz: float = 50.0,
                  width_m: float = DEFAULT_WIDTH_M, length_m: float = DEFAULT_LENGTH_M,
                  contact_threshold_n: float = 20.0) -> BoardSamples:
    """Tare, window averaging and COP, as the live adapter computes them."""
    skip = tare_readings(recording.times_s, tare_s)
    tare = tare_offsets(recording.cells_n, skip)
    times, cells = window_average(recording.times_s[skip:], recording.cells_n[skip:] - tare, rate_hz)
    cop, total = board_cop(cells, width_m, length_m)
    unloaded = ~(total >= contact_threshold_n)
    cop[unloaded] = np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        left = (cells[:, 0] + cells[:, 2]) / total
    left[unloaded] = np.nan
    return BoardSamples(times, cop, total, left, tare)


def analyze_board(recording: BalanceBoardRecording, **options: Any) -> dict[str, Any]:
    """Body weight, weight bearing and COP sway of a board recording (``options``: as
    :func:`board_samples`), as plain JSON."""
    s = board_samples(recording, **options)
    loaded = np.isfinite(s.cop_m).all(axis=1)
    if loaded.sum() < 3:
        raise RecordingError(f"{loaded.sum()} loaded samples: nobody stood on the board after the tare")
    weight = float(np.median(s.total_n[loaded]))
    return {
        "body_weight_n": weight,
        "body_weight_kg": weight / STANDARD_GRAVITY,
        "tare_n": [float(v) for v in s.tare_n],
        "resampled_hz": options.get("rate_hz", 50.0),
        "left_share_pct_bw": float(100.0 * np.mean(s.left_share[loaded])),
        "load_sd_pct_bw": float(100.0 * np.std(s.total_n[loaded]) / weight),
        **sway_metrics(s.times_s, s.cop_m),
    }
