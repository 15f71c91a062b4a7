"""Pressure mats and centre-of-pressure streams -> events in the patient frame.

A COP stream (force plate, balance board) gives only where the whole body's weight acts: a
``"cop"`` :class:`BalanceEvent`, never a foot event, since one point cannot say where each foot is.

A pressure grid gives both. Cells above the threshold are joined into 8-connected blobs (numpy
finds the row runs, a small union-find joins runs that touch across rows: scipy is not a
dependency). One foot often prints as several blobs (heel, forefoot, toes when the midfoot is off
the mat), so blobs whose centres lie within 6 cm across and 20 cm along the forward axis are one
foot; feet side by side are 9 cm or more apart centre to centre. The two heaviest groups carrying at
least the contact threshold are the feet: two are told apart by which is further right, a lone one
goes to the foot whose last position (or home spot) is nearest. A foot's position is its centre of
pressure, its force the sum of pressure x cell area. A lifted foot keeps its last position, with
``contact`` False and force 0.

Calibrate mode waits for quiet standing (both feet on a grid, each foot's COP within 2 cm; for a
COP stream, loaded and within 5 cm, which quiet sway stays inside) and puts the origin midway between
the feet (grid) or at the mean COP (stream). Until then there are no events.

Cost, measured on the 2-core dev machine: a 64x64 frame with two feet (one printing as two blobs)
takes about 0.4 ms, 0.2 ms of it parsing and 0.17 ms here; at 100 Hz that is 4 % of one core.
``tests/test_adapters.py::test_pressure_frame_cost`` prints the figure.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from games.events import BalanceEvent, FootEvent, Side
from server.adapters.calibration import StillWindow
from server.adapters.frames import AXES_2D, AdapterOutput, CopFrame, MatSetup, Notice, PressureFrame, Vec2

FRAGMENT_ACROSS_M = 0.06
FRAGMENT_ALONG_M = 0.20
MIN_FRAGMENT_N = 2.0  # smaller blobs are sensor noise, not part of a foot
MAX_FRAGMENTS = 12
STILL_FOOT_M = 0.02
STILL_COP_M = 0.05
HOME_X_M = 0.10  # where a foot never seen yet is assumed to be, for assigning a lone print


@dataclass(frozen=True, slots=True)
class _Print:
    """Pressure under one foot: total force and its centre, in mat metres."""

    force_n: float
    cop_m: Vec2


class MatAdapter:
    """One mat's calibration and foot assignment; ``on_cop`` / ``on_pressure`` once per frame."""

    def __init__(self, setup: MatSetup) -> None:
        self.setup = setup
        fx, fy = AXES_2D[setup.forward]
        self._axes = np.array([[fy, -fx], [fx, fy]])  # rows: the patient's right and forward, on the mat
        self.origin_m: Vec2 | None = setup.origin_m if setup.mode == "explicit" else None
        self._window: StillWindow[str] = StillWindow(
            setup.calibrate_s, STILL_FOOT_M if setup.kind == "grid" else STILL_COP_M)
        self._last: dict[Side, Vec2] = {}
        self._down: dict[Side, bool] = {}  # in contact in the last frame
        if setup.kind == "grid":
            dx, dy = setup.cell_m
            cols = setup.cols
            self._force_per_kpa_n = dx * dy * 1000.0  # kPa x m^2 = kN
            padded = (setup.rows, cols + 1)  # a zero column ends every run at its row's end
            self._x_m = np.zeros(padded)
            self._x_m[:, :cols] = (np.arange(cols) + 0.5) * dx
            self._y_m = np.zeros(padded)
            self._y_m[:, :cols] = ((np.arange(setup.rows) + 0.5) * dy)[:, None]

    @property
    def calibrated(self) -> bool:
        return self.origin_m is not None

    def to_patient(self, p: Vec2) -> Vec2:
        assert self.origin_m is not None
        d = (p[0] - self.origin_m[0], p[1] - self.origin_m[1])
        (rx, ry), (fx, fy) = self._axes
        return (float(rx * d[0] + ry * d[1]), float(fx * d[0] + fy * d[1]))

    # -- COP stream --------------------------------------------------------------------------------

    def on_cop(self, frame: CopFrame) -> AdapterOutput:
        k = self.setup.scale_m
        cop = None if frame.cop is None else (frame.cop[0] * k, frame.cop[1] * k)
        loaded = cop is not None and frame.force_n >= self.setup.contact_threshold_n
        notices: list[Notice] = []
        if self.origin_m is None:
            notices += self._calibrate(frame.t_s, {"cop": cop} if loaded else None)  # type: ignore[dict-item]
        if self.origin_m is None or cop is None or not loaded:
            return AdapterOutput(notices=notices, t_s=frame.t_s)
        x, y = self.to_patient(cop)
        return AdapterOutput([BalanceEvent(x, y, frame.force_n, None, "cop", frame.t_s, frame.seq)],
                             None, notices, frame.t_s)

    # -- pressure grid -----------------------------------------------------------------------------

    def on_pressure(self, frame: PressureFrame) -> AdapterOutput:
        prints, total = self._prints(frame.kpa)
        notices: list[Notice] = []
        if self.origin_m is None:
            feet = self._by_side(prints) if len(prints) == 2 else None
            notices += self._calibrate(
                frame.t_s, None if feet is None else {s.value: p.cop_m for s, p in feet.items()})
            if self.origin_m is None:
                return AdapterOutput(notices=notices, t_s=frame.t_s)
        feet = self._by_side(prints)
        t, seq = frame.t_s, frame.seq
        events: list[FootEvent | BalanceEvent] = []
        for side in Side:
            foot = feet.get(side)
            self._down[side] = foot is not None
            if foot is not None:
                self._last[side] = self.to_patient(foot.cop_m)
            if side in self._last:
                x, y = self._last[side]
                events.append(FootEvent(side, x, y, 0.0, foot is not None,
                                        0.0 if foot is None else foot.force_n, t, seq))
        if total.force_n >= self.setup.contact_threshold_n:
            on_feet = sum(p.force_n for p in feet.values())
            left = feet[Side.LEFT].force_n if Side.LEFT in feet else 0.0
            x, y = self.to_patient(total.cop_m)
            events.append(BalanceEvent(x, y, total.force_n, left / on_feet if on_feet > 0 else None, "cop",
                                       t, seq))
        return AdapterOutput(events, None, notices, t)

    def _prints(self, kpa: np.ndarray) -> tuple[list[_Print], _Print]:
        """The feet (at most two, heaviest first) and the whole mat's load."""
        mask = kpa > self.setup.cell_threshold_kpa
        if not mask.any():
            return [], _Print(0.0, (0.0, 0.0))
        rows, cols = kpa.shape
        padded = np.zeros((rows, cols + 1))
        padded[:, :cols] = np.where(mask, kpa, 0.0)
        edges = np.diff(padded.ravel() > 0, prepend=False, append=False).nonzero()[0]
        starts, ends = edges[0::2], edges[1::2]  # each run: flat indices [start, end)
        # reduceat sums from one run's start to the next; the cells between runs are zero
        sums = [np.add.reduceat(w.ravel(), starts) for w in (padded, padded * self._x_m, padded * self._y_m)]
        row = starts // (cols + 1)
        labels = _components(len(starts), _touching_runs(row.tolist(), (starts - row * (cols + 1)).tolist(),
                                                         (ends - row * (cols + 1)).tolist()))
        blob_s, blob_x, blob_y = (np.bincount(labels, weights=s) for s in sums)
        k = self._force_per_kpa_n
        total_s = float(blob_s.sum())
        total = _Print(total_s * k, (float(blob_x.sum()) / total_s, float(blob_y.sum()) / total_s))
        keep = [i for i in np.argsort(-blob_s)[:MAX_FRAGMENTS].tolist() if blob_s[i] * k >= MIN_FRAGMENT_N]
        if not keep:
            return [], total
        s, x, y = blob_s[keep], blob_x[keep], blob_y[keep]
        across, along = (self._axes @ np.vstack([x / s, y / s])).tolist()
        near = ((i, j) for i in range(len(keep)) for j in range(i)
                if abs(across[i] - across[j]) < FRAGMENT_ACROSS_M and abs(along[i] - along[j]) < FRAGMENT_ALONG_M)
        groups = _components(len(keep), near)
        foot_s, foot_x, foot_y = (np.bincount(groups, weights=w) for w in (s, x, y))
        feet = [_Print(float(foot_s[g]) * k, (float(foot_x[g] / foot_s[g]), float(foot_y[g] / foot_s[g])))
                for g in np.argsort(-foot_s)[:2].tolist() if foot_s[g] * k >= self.setup.contact_threshold_n]
        return feet, total

    def _by_side(self, feet: list[_Print]) -> dict[Side, _Print]:
        """Which print is which foot. Continuity first: a foot that stayed down keeps the print
        nearest to where it was (a reaching foot may land on the other side of the stance foot);
        only without history does left-to-right order decide."""
        if len(feet) == 2:
            down = [s for s in Side if self._down.get(s)]
            if self.origin_m is not None and down:
                pts = [self.to_patient(p.cop_m) for p in feet]

                def cost(order: tuple[_Print, _Print]) -> float:
                    pos = dict(zip(Side, (pts[feet.index(p)] for p in order), strict=True))
                    return sum((pos[s][0] - self._last[s][0]) ** 2 + (pos[s][1] - self._last[s][1]) ** 2
                               for s in down)

                order = min(((feet[0], feet[1]), (feet[1], feet[0])), key=cost)
                return dict(zip(Side, order, strict=True))
            a, b = sorted(feet, key=lambda p: float(self._axes[0] @ p.cop_m))
            return {Side.LEFT: a, Side.RIGHT: b}
        if not feet:
            return {}
        if self.origin_m is None:  # not calibrated: nothing to compare with
            return {}
        x, y = self.to_patient(feet[0].cop_m)
        home = {s: self._last.get(s, (s.lateral_sign * HOME_X_M, 0.0)) for s in Side}
        side = min(Side, key=lambda s: (home[s][0] - x) ** 2 + (home[s][1] - y) ** 2)
        return {side: feet[0]}

    # -- calibration -------------------------------------------------------------------------------

    def _calibrate(self, t_s: float, points: dict[str, Vec2] | None) -> list[Notice]:
        """Feed quiet standing (``points`` None: the patient is not standing on both feet)."""
        what = "stand still on both feet" if self.setup.kind == "grid" else "stand still on the plate"
        if points is None:
            notice = self._window.waiting(what)
            return [notice] if notice else []
        share = self._window.add(t_s, points)
        if share < 1.0:
            notice = self._window.progress(share, what)
            return [notice] if notice else []
        means = self._window.means()
        self._window.reset()
        if self.setup.kind == "grid":
            (lx, ly), (rx, ry) = means["L"], means["R"]
            self.origin_m = ((lx + rx) / 2, (ly + ry) / 2)
            width = float(np.hypot(rx - lx, ry - ly))
            return [Notice("calibrated", f"calibrated: origin midway between the feet, {width:.3f} m apart",
                           {"origin_m": [round(v, 4) for v in self.origin_m], "stance_width_m": round(width, 4)})]
        cx, cy = means["cop"]
        self.origin_m = (cx, cy)
        return [Notice("calibrated", "calibrated: origin at the mean centre of pressure",
                       {"origin_m": [round(cx, 4), round(cy, 4)]})]


def _components(n: int, pairs: Iterable[tuple[int, int]]) -> np.ndarray:
    """Connected components of ``n`` items joined by ``pairs``: a label 0..k-1 per item."""
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[rb] = ra
    return np.unique([find(i) for i in range(n)], return_inverse=True)[1].reshape(-1)


def _touching_runs(row: list[int], start: list[int], end: list[int]) -> Iterator[tuple[int, int]]:
    """Pairs of row runs (row-major, columns [start, end)) that touch across rows, diagonals included."""
    first_of_row: dict[int, int] = {}
    for i, r in enumerate(row):
        first_of_row.setdefault(r, i)
    n = len(row)
    for i, r in enumerate(row):
        j = first_of_row.get(r - 1)
        if j is None:
            continue
        while j < n and row[j] == r - 1 and end[j] < start[i]:
            j += 1
        while j < n and row[j] == r - 1 and start[j] <= end[i]:
            yield i, j
            j += 1
