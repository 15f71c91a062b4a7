"""Balance-board readings of a known centre of pressure, and CSV files of them.

The four cells of a board whose sensors sit at the corners of ``width_m`` x ``length_m`` carry,
for a body of weight W whose COP is (x, y) from the centre (a = x / (W/2), b = y / (L/2)), the
bilinear split FL = W (1 − a)(1 + b) / 4, FR = W (1 + a)(1 + b) / 4, BL = W (1 − a)(1 − b) / 4,
BR = W (1 + a)(1 − b) / 4: its total is W and its moments put the COP at (x, y) exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

WIDTH_M = 0.433
LENGTH_M = 0.238


def cells_for(cop_xy_m: np.ndarray, weight_n: np.ndarray | float, width_m: float = WIDTH_M,
              length_m: float = LENGTH_M) -> np.ndarray:
    """(N, 4) cell loads in newtons (FL, FR, BL, BR) for COP rows (x right, y forward)."""
    cop = np.atleast_2d(cop_xy_m)
    a = cop[:, 0] / (width_m / 2)
    b = cop[:, 1] / (length_m / 2)
    w = np.broadcast_to(np.asarray(weight_n, dtype=float), a.shape)
    return np.column_stack([w * (1 - a) * (1 + b), w * (1 + a) * (1 + b), w * (1 - a) * (1 - b),
                            w * (1 + a) * (1 - b)]) / 4


@dataclass
class BoardRecording:
    """Uneven readings: ``times_s``; ``cells_n`` as the board reports them (with its dead load);
    ``cop_m`` and ``weight_n`` the truth (NaN COP while the board is empty)."""

    times_s: np.ndarray
    cells_n: np.ndarray
    cop_m: np.ndarray
    weight_n: float
    dead_load_n: np.ndarray


def uneven_times(seconds: float, mean_rate_hz: float = 80.0, seed: int = 1) -> np.ndarray:
    """Reading times with the jitter of a Bluetooth board: intervals from 0.2 to 1.8 times the mean."""
    rng = np.random.default_rng(seed)
    mean = 1.0 / mean_rate_hz
    intervals = rng.uniform(0.2 * mean, 1.8 * mean, int(seconds * mean_rate_hz * 1.2) + 10)
    times = np.cumsum(intervals)
    return np.concatenate([[0.0], times[times < seconds]])


def sway_recording(*, empty_s: float = 1.5, stand_s: float = 12.0, weight_n: float = 700.0,
                   radius_m: float = 0.02, period_s: float = 4.0, offset_m: tuple[float, float] = (0.01, -0.015),
                   dead_load_n: tuple[float, float, float, float] = (11.0, 9.5, 12.5, 10.0),
                   noise_n: float = 0.0, seed: int = 1) -> BoardRecording:
    """The board empty for ``empty_s`` (only its dead load on the cells), then a patient standing
    with their COP on a slow circle of ``radius_m`` around ``offset_m``."""
    t = uneven_times(empty_s + stand_s, seed=seed)
    on = t >= empty_s
    phase = 2 * np.pi * (t - empty_s) / period_s
    cop = np.column_stack([offset_m[0] + radius_m * np.cos(phase), offset_m[1] + radius_m * np.sin(phase)])
    cells = cells_for(cop, weight_n) * on[:, None]
    dead = np.asarray(dead_load_n)
    rng = np.random.default_rng(seed + 1)
    cells = cells + dead + (rng.normal(0.0, noise_n, cells.shape) if noise_n else 0.0)
    cop[~on] = np.nan
    return BoardRecording(t, cells, cop, weight_n, dead)


def write_board_csv(path: Path, rec: BoardRecording, *, units: str = "kg", names: tuple[str, ...] = (
        "TopLeft", "TopRight", "BottomLeft", "BottomRight"), delimiter: str = ";", decimal_comma: bool = True,
                    time_ms: bool = True) -> Path:
    """A board export: a metadata line, names with units in brackets, times in ms (or s)."""
    scale = 9.80665 if units == "kg" else 1.0
    header = ["Time (ms)" if time_ms else "time"] + [f"{n} ({units})" for n in names]
    lines = ["Balance board export; board 1", delimiter.join(header)]
    for t, row in zip(rec.times_s, rec.cells_n / scale, strict=True):
        values = [f"{t * 1000 if time_ms else t:.3f}"] + [f"{v:.5f}" for v in row]
        if decimal_comma:
            values = [v.replace(".", ",") for v in values]
        lines.append(delimiter.join(values))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
