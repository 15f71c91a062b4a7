"""Synthetic quiet standing on a force plate, written as the CSV a plate's software exports."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def quiet_csv(path: Path, seconds: float, rate_hz: float = 100.0) -> Path:
    """Quiet standing: slow sway plus a random walk, COP in cm (``sample,Fz,COPx,COPy``, x the
    medio-lateral axis), a body weight near 650 N."""
    t = np.arange(0, seconds, 1 / rate_hz)
    rng = np.random.default_rng(3)
    ap = 0.8 * np.sin(2 * np.pi * 0.3 * t) + np.cumsum(rng.normal(0, 0.02, t.size))  # cm
    ml = 0.5 * np.sin(2 * np.pi * 0.2 * t + 1.0) + np.cumsum(rng.normal(0, 0.02, t.size))
    rows = ["sample,Fz,COPx,COPy"] + [f"{i},{650 + 5 * np.sin(i / 50):.3f},{x:.5f},{y:.5f}"
                                      for i, (x, y) in enumerate(zip(ml, ap, strict=True))]
    path.write_text("\n".join(rows) + "\n")
    return path
