"""Balance boards (Wii Balance Board class: four load cells) -> centre-of-pressure events.

A board reports what each corner's load cell carries. The adapter turns those four readings into
newtons (units ``n`` or ``kg``, or ``raw`` through each cell's own calibration), zeroes them (the
*tare*: the mean of each cell while nobody is on the board), averages them in fixed windows (the
board's sampling is uneven; averaging every reading that falls in a window keeps the signal's
mean where linear interpolation between two readings would invent samples and alias the jitter),
and computes the centre of pressure from the board's geometry: with the cells at the corners of
a ``width_m`` x ``length_m`` rectangle (433 x 238 mm between sensor centres on a Wii board),

    x = width / 2 * ((FR + BR) - (FL + BL)) / total      (to the patient's right)
    y = length / 2 * ((FL + FR) - (BL + BR)) / total     (forward)

Cells are named from the view of the patient standing on the board (front-left, front-right,
back-left, back-right), so the board's front is the patient's forward. The patient's body weight is
measured while they stand still (``calibrate_s``), and every event carries the load on the left
cells as a share of the total, the weight-bearing asymmetry that balance systems report in % of body
weight. A window is sent when the first reading of the next one arrives, so a window adds at most
its own length plus one reading interval (20 ms at the default 50 Hz) of delay.

The windows are aligned on multiples of the period of the device clock, as the offline resampling
of ``scoring.recordings.balance_board_csv`` aligns them, so a recording replayed through the server
gives the samples the offline analysis of the same file gives.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from games.events import BalanceEvent, FootEvent
from server.adapters.calibration import StillWindow
from server.adapters.frames import AdapterOutput, Notice, Vec2

CELLS = ("front_left", "front_right", "back_left", "back_right")
DEFAULT_WIDTH_M = 0.433  # left to right sensor centres, Wii Balance Board
DEFAULT_LENGTH_M = 0.238  # front to back
STANDARD_GRAVITY = 9.80665
UNIT_SCALE_N = {"n": 1.0, "kg": STANDARD_GRAVITY}
MAX_EMPTY_N = 150.0  # more than this on the board during the tare: someone is standing on it
TARE_STILL_N = 20.0  # a cell moving more than this during the tare: the board is being stepped on
STILL_COP_M = 0.05  # quiet standing for the body weight: the COP stays within 5 cm

Cells = tuple[float, float, float, float]
CalibrationPoints = tuple[tuple[float, float], ...]  # (raw, newtons), raw increasing


@dataclass(frozen=True, slots=True)
class BoardSetup:
    """How a balance board reports its four cells, and how its frame is found.

    ``units`` ``"n"`` / ``"kg"``: readings are loads; ``"raw"``: device counts, turned into newtons
    by ``calibration`` (per cell, in :data:`CELLS` order: (raw, newtons) points, piecewise linear and
    extended past its ends, e.g. a Wii board's 0, 17 and 34 kg readings). ``tare_s`` 0: the readings
    are already zeroed; else the board must be empty that long first. ``mode`` ``"calibrate"``: the
    origin is the mean COP of the quiet stand that measures the body weight; ``"explicit"``:
    ``origin_m`` in board coordinates (metres from the board's centre, x right, y forward).
    ``rate_hz``: the window-averaging rate (0: every reading as it comes).
    """

    units: str
    mode: str
    calibration: tuple[CalibrationPoints, ...] | None = None
    tare_s: float = 1.0
    calibrate_s: float = 2.0
    origin_m: Vec2 = (0.0, 0.0)
    width_m: float = DEFAULT_WIDTH_M
    length_m: float = DEFAULT_LENGTH_M
    rate_hz: float = 50.0
    contact_threshold_n: float = 20.0

    def newtons(self, cells: Sequence[float]) -> Cells:
        """Each cell's reading in newtons (before the tare)."""
        if self.calibration is None:
            k = UNIT_SCALE_N[self.units]
            return (cells[0] * k, cells[1] * k, cells[2] * k, cells[3] * k)
        a, b, c, d = (_piecewise(v, points) for v, points in zip(cells, self.calibration, strict=True))
        return (a, b, c, d)


@dataclass(frozen=True, slots=True)
class LoadCellFrame:
    """One reading of the four cells, in :data:`CELLS` order and the setup's units."""

    t_s: float
    seq: int
    cells: Cells


def _piecewise(value: float, points: CalibrationPoints) -> float:
    """Linear between the calibration points, and along the first or last segment beyond them."""
    i = 1
    while i < len(points) - 1 and value > points[i][0]:
        i += 1
    (r0, n0), (r1, n1) = points[i - 1], points[i]
    return n0 + (value - r0) * (n1 - n0) / (r1 - r0)


def board_cop(cells_n: Sequence[float], width_m: float, length_m: float) -> tuple[float, float, float]:
    """(x right, y forward) in metres from the board's centre, and the total load in newtons."""
    fl, fr, bl, br = cells_n
    total = fl + fr + bl + br
    return (width_m / 2 * ((fr + br) - (fl + bl)) / total, length_m / 2 * ((fl + fr) - (bl + br)) / total, total)


class WindowAverage:
    """Uneven readings -> one mean per window of ``period_s`` (aligned on multiples of it); an
    empty window gives nothing (a gap, not an invented sample). ``period_s`` 0 passes readings on."""

    def __init__(self, period_s: float) -> None:
        self.period_s = period_s
        self._bin: int | None = None
        self._sums = [0.0, 0.0, 0.0, 0.0]
        self._count = 0
        self._seq = 0

    def add(self, t_s: float, seq: int, cells: Cells) -> list[tuple[float, int, Cells]]:
        """The windows this reading closes: (window centre time, last seq in it, mean cells)."""
        if self.period_s <= 0:
            return [(t_s, seq, cells)]
        index = math.floor(t_s / self.period_s)
        out = []
        if self._bin is not None and index != self._bin:  # a new window (or time went back: start over)
            out.append(self._close())
        self._bin = index
        for i, v in enumerate(cells):
            self._sums[i] += v
        self._count += 1
        self._seq = seq
        return out

    def _close(self) -> tuple[float, int, Cells]:
        assert self._bin is not None
        n = self._count
        a, b, c, d = (s / n for s in self._sums)
        window = ((self._bin + 0.5) * self.period_s, self._seq, (a, b, c, d))
        self._sums = [0.0, 0.0, 0.0, 0.0]
        self._count = 0
        return window


class BoardAdapter:
    """One board's tare, body weight, origin and windows; ``on_load_cells`` once per reading."""

    def __init__(self, setup: BoardSetup) -> None:
        self.setup = setup
        self.tare_n: Cells | None = None if setup.tare_s > 0 else (0.0, 0.0, 0.0, 0.0)
        self.origin_m: Vec2 | None = setup.origin_m if setup.mode == "explicit" else None
        self.body_weight_n: float | None = None
        self._tare: StillWindow[str] = StillWindow(setup.tare_s or 1.0, TARE_STILL_N)
        self._stand: StillWindow[str] = StillWindow(setup.calibrate_s, STILL_COP_M)
        self._windows = WindowAverage(1.0 / setup.rate_hz if setup.rate_hz > 0 else 0.0)

    def on_load_cells(self, frame: LoadCellFrame) -> AdapterOutput:
        cells = self.setup.newtons(frame.cells)
        tared: list[Notice] = []
        if self.tare_n is None:
            if self._tare.share(frame.t_s) < 1.0:
                return AdapterOutput(notices=self._taring(frame.t_s, cells), t_s=frame.t_s)
            tared = self._tared()  # the readings of the last tare_s: this one is the first after them
        tare = self.tare_n
        assert tare is not None
        zeroed = (cells[0] - tare[0], cells[1] - tare[1], cells[2] - tare[2], cells[3] - tare[3])
        events: list[FootEvent | BalanceEvent] = []
        notices = tared
        for t, seq, mean in self._windows.add(frame.t_s, frame.seq, zeroed):
            event, notice = self._window(t, seq, mean)
            events += [event] if event is not None else []
            notices += notice
        return AdapterOutput(events, None, notices, frame.t_s)

    def _taring(self, t_s: float, cells: Cells) -> list[Notice]:
        total = sum(cells)
        if total > MAX_EMPTY_N:
            notice = self._tare.waiting("taring: step off the board, nobody on it")
            return [notice] if notice else []
        share = self._tare.add(t_s, {"cells": cells})
        notice = self._tare.progress(share, "taring: keep the board empty")
        return [notice] if notice else []

    def _tared(self) -> list[Notice]:
        a, b, c, d = self._tare.means()["cells"]
        self.tare_n = (a, b, c, d)
        return [Notice("calibrating", "tared: now stand still on the board",
                       {"share": 0.0, "tare_n": [round(v, 2) for v in self.tare_n]})]

    def _window(self, t_s: float, seq: int, cells: Cells) -> tuple[BalanceEvent | None, list[Notice]]:
        total = sum(cells)
        if total < self.setup.contact_threshold_n:  # nobody on the board: no centre of pressure
            notices = [] if self.body_weight_n is not None else self._weighing(t_s, None, 0.0)
            return None, notices
        x, y, _ = board_cop(cells, self.setup.width_m, self.setup.length_m)
        notices = [] if self.body_weight_n is not None else self._weighing(t_s, (x, y), total)
        if self.origin_m is None:
            return None, notices
        left = (cells[0] + cells[2]) / total
        event = BalanceEvent(x - self.origin_m[0], y - self.origin_m[1], total, min(1.0, max(0.0, left)), "cop",
                             t_s, seq)
        return event, notices

    def _weighing(self, t_s: float, cop: Vec2 | None, total_n: float) -> list[Notice]:
        """Quiet standing: the body weight (mean load) and, in calibrate mode, the origin (mean COP)."""
        what = "stand still on the board"
        if cop is None:
            notice = self._stand.waiting(what)
            return [notice] if notice else []
        share = self._stand.add(t_s, {"cop": cop, "load": (total_n / 1000.0,)})  # 50 N wobble = 5 cm
        if share < 1.0:
            notice = self._stand.progress(share, what)
            return [notice] if notice else []
        means = self._stand.means()
        self._stand.reset()
        self.body_weight_n = means["load"][0] * 1000.0
        cx, cy = means["cop"]
        if self.origin_m is None:
            self.origin_m = (cx, cy)
        detail = {"body_weight_n": round(self.body_weight_n, 1),
                  "body_weight_kg": round(self.body_weight_n / STANDARD_GRAVITY, 2),
                  "origin_m": [round(v, 4) for v in self.origin_m],
                  "tare_n": [round(v, 2) for v in self.tare_n or ()]}
        return [Notice("calibrated", f"calibrated: body weight {detail['body_weight_kg']} kg, origin "
                       + ("at the mean centre of pressure" if self.setup.mode == "calibrate" else "as set"), detail)]
