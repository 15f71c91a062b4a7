"""Quiet-standing windows: the part of calibration that trackers and mats share.

Both wait until the patient has stood still for a while and then average what they saw. Stillness
is judged per point against where that point was when the window opened, so slow drift resets the
window as surely as a step does.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from typing import Generic, TypeVar

from server.adapters.frames import Notice

PROGRESS_STEPS = 4  # a "calibrating" notice at 0, 25, 50 and 75 %: enough to show life, not spam

K = TypeVar("K", bound=Hashable)  # what names a point: a mat's foot, a tracker's (side, marker)


class StillWindow(Generic[K]):
    """Collects points while they stay within ``tolerance_m`` of where they started."""

    def __init__(self, duration_s: float, tolerance_m: float) -> None:
        self.duration_s = duration_s
        self.tolerance_m = tolerance_m
        self._shown_step = -1
        self.reset()

    def reset(self) -> None:
        self._start_s: float | None = None
        self._last_s = -math.inf
        self._frames = 0
        self._ref: dict[K, Sequence[float]] = {}
        self._sums: dict[K, list[float]] = {}
        self._counts: dict[K, int] = {}

    def add(self, t_s: float, points: Mapping[K, Sequence[float]]) -> float:
        """Add one frame's points; returns the share of the window done (1.0: still long enough).

        A point that moved, or time running backwards, restarts the window at this frame.
        """
        if t_s < self._last_s or any(
            k in self._ref and math.dist(p, self._ref[k]) > self.tolerance_m for k, p in points.items()
        ):
            self.reset()
        if self._start_s is None:
            self._start_s = t_s
        self._last_s = t_s
        self._frames += 1
        for k, p in points.items():
            if k not in self._ref:
                self._ref[k] = p
                self._sums[k] = [0.0] * len(p)
                self._counts[k] = 0
            sums = self._sums[k]
            for i, v in enumerate(p):
                sums[i] += v
            self._counts[k] += 1
        return self.share(t_s)

    def share(self, t_s: float) -> float:
        if self._start_s is None:
            return 0.0
        return min(1.0, (t_s - self._start_s) / self.duration_s)

    def means(self, min_share: float = 0.5) -> dict[K, tuple[float, ...]]:
        """Mean position of every point seen in at least ``min_share`` of the window's frames."""
        return {
            k: tuple(s / self._counts[k] for s in sums)
            for k, sums in self._sums.items()
            if self._counts[k] >= min_share * self._frames
        }

    def progress(self, share: float, what: str) -> Notice | None:
        """A "calibrating" notice when the share enters a new step (or falls back to the start)."""
        step = min(PROGRESS_STEPS - 1, int(share * PROGRESS_STEPS))
        if step == self._shown_step or share >= 1.0:
            return None
        self._shown_step = step
        return Notice("calibrating", f"calibrating: {what} ({round(100 * share)} %)",
                      {"share": round(share, 3)})

    def waiting(self, what: str) -> Notice | None:
        """Call when a frame cannot count (a foot missing): restarts the window, says so once."""
        self.reset()
        return self.progress(0.0, what)
