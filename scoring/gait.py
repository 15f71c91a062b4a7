"""Gait events and spatio-temporal metrics from foot marker trajectories (pure numpy).

Heel strike is the frame at which the heel *has decelerated into contact near its stance height*
after a swing, not the heel's lowest point: the heel dips before contact, so the minimum comes
early. Speeds are forward differences (``v[i]`` = how fast the marker leaves frame ``i``), so the
first still frame is the frame at which the marker arrives; toe-off is the mirror image, the last
still frame (backward difference) before the swing. "Still" is relative to each swing's own peak
speed, with a floor from the noise measured while the marker stands, so the same thresholds work
for 0.3 m/s stroke gait and 1.3 m/s healthy gait, at any sampling rate.

A heel decelerates smoothly through terminal swing and touches down still moving (8-15 % of its
peak speed in the real recordings of ``tests/fixtures/gait``), so the frame where it first counts
as still (15 %) comes before the contact, the more so the slower the gait. A landing therefore
ends where the heel's speed, centred on the frame and averaged over 20 ms, stays under 12 % of
the peak, looked for within 40 ms of the still frame (validated against force-plate contact
onsets: ``docs/analysis.md``).

Overground walking only: on a treadmill the stance foot moves and never looks still.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from games.events import MarkerKey
from scoring.errors import AnalysisError
from scoring.trajectories import SIDES, MarkerTrajectories

ProgressFn = Callable[[int, int], None]
TOE_OFF_SOURCES = ("toe", "heel", "ankle")  # toe-off from the toe, else the heel, else the ankle


@dataclass(frozen=True, slots=True)
class GaitSettings:
    """Detection thresholds; the defaults suit 30–240 Hz and 0.3–1.5 m/s overground walking."""

    max_gap_s: float = 0.1  # NaN runs up to this long, seen on both sides, are bridged linearly
    swing_frac: float = 0.3  # in swing: faster than this fraction of the marker's 99th-percentile speed
    still_frac: float = 0.15  # still before a lift-off: slower than this fraction of the swing's peak speed...
    land_frac: float = 0.12  # a landing then ends where the marker is slower than this fraction of the peak...
    land_settle_s: float = 0.04  # ...if it gets there this soon after, else where it became still
    land_smooth_s: float = 0.02  # the speed for that test is averaged over this long, centred (noise)...
    land_stay_s: float = 0.02  # ...and must stay under it this long
    noise_factor: float = 3.0  # ...and never below this many times the median standing speed
    min_still_s: float = 0.04  # a landing stays still this long (a lift-off was still this long)
    min_swing_m: float = 0.05  # swings that move the marker less are shuffles, not steps
    height_tol_m: float = 0.03  # near stance height: within this of the stance level, or...
    height_tol_frac: float = 0.3  # ...within this fraction of the swing's lift, whichever is larger
    short_step_m: float = 0.1  # shorter steps are flagged and left out of the means


@dataclass(frozen=True, slots=True)
class Gap:
    """A run of frames where a marker stayed unseen after bridging."""

    side: str
    marker: str
    start_s: float
    duration_s: float

    def as_json(self) -> dict[str, Any]:
        return {"side": self.side, "marker": self.marker, "start_s": self.start_s, "duration_s": self.duration_s}


@dataclass(frozen=True, slots=True)
class GaitEvent:
    side: str
    frame: int
    t_s: float

    def as_json(self) -> dict[str, Any]:
        return {"side": self.side, "t_s": self.t_s, "frame": self.frame}


@dataclass(frozen=True, slots=True)
class Step:
    """From the opposite foot's heel strike to this foot's (``side`` is the foot that landed)."""

    side: str
    t_s: float
    length_m: float | None  # along the line of progression; negative if the foot landed behind
    width_m: float | None  # perpendicular to it, always positive
    time_s: float
    short: bool  # shorter than ``GaitSettings.short_step_m``: a stop or a shuffle, left out of the means

    def as_json(self) -> dict[str, Any]:
        return {"side": self.side, "t_s": self.t_s, "length_m": self.length_m, "width_m": self.width_m,
                "time_s": self.time_s, "short": self.short}


@dataclass(frozen=True, slots=True)
class Swing:
    """One swing of one marker: its last still frame before (``lift``) and first still frame after
    (``land``), None where the recording or a gap hides it; ``height_m`` is the highest point above
    the marker's stance level, known only when both ends were seen."""

    lift: int | None
    land: int | None
    height_m: float | None


def _stats(values: Sequence[float]) -> dict[str, float | int | None]:
    n = len(values)
    return {"mean": float(np.mean(values)) if n else None,
            "sd": float(np.std(values, ddof=1)) if n >= 2 else None, "n": n}


def _mean_or_none(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if values else None


@dataclass(frozen=True, slots=True)
class GaitResult:
    heel_strikes: list[GaitEvent]
    toe_offs: list[GaitEvent]
    steps: list[Step]
    heel_lift_m: dict[str, float | None]  # mean over swings of each swing's highest point above stance
    toe_lift_m: dict[str, float | None]
    speed_m_s: float | None
    gaps: list[Gap]
    frames: int
    rate_hz: float
    duration_s: float
    counted_steps: list[Step] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "counted_steps",
                           [s for s in self.steps if not s.short and s.length_m is not None])

    def _by_side(self, side: str) -> list[float]:
        return [s.length_m for s in self.counted_steps if s.side == side]  # type: ignore[misc]

    @property
    def cadence_steps_per_min(self) -> float | None:
        """60 / mean step time of the counted steps: robust to a heel strike lost in a gap."""
        times = [s.time_s for s in self.counted_steps]
        return 60.0 / float(np.mean(times)) if times else None

    @property
    def step_length_symmetry(self) -> float | None:
        """Mean left step length / mean right step length (1.0 = symmetric)."""
        left, right = _mean_or_none(self._by_side("L")), _mean_or_none(self._by_side("R"))
        return left / right if left is not None and right else None

    def as_json(self) -> dict[str, Any]:
        """Plain JSON types; lengths in m, times in s from the first frame, None where not computable."""
        counted = self.counted_steps
        return {
            "heel_strikes": [e.as_json() for e in self.heel_strikes],
            "toe_offs": [e.as_json() for e in self.toe_offs],
            "steps": [s.as_json() for s in self.steps],
            "step_length_m": _stats([s.length_m for s in counted]),  # type: ignore[misc]
            "step_length_by_side_m": {side: _stats(self._by_side(side)) for side in SIDES},
            "step_length_symmetry_l_r": self.step_length_symmetry,
            "step_width_m": _stats([s.width_m for s in counted]),  # type: ignore[misc]
            "step_time_s": _stats([s.time_s for s in counted]),
            "cadence_steps_per_min": self.cadence_steps_per_min,
            "speed_m_s": self.speed_m_s,
            "heel_lift_m": dict(self.heel_lift_m),
            "toe_lift_m": dict(self.toe_lift_m),
            "short_steps": len(self.steps) - len(counted),
            "gaps": [g.as_json() for g in self.gaps],
            "frames": self.frames,
            "rate_hz": self.rate_hz,
            "duration_s": self.duration_s,
        }


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of True."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(np.int8), [0]))))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def bridge_gaps(times_s: np.ndarray, pos_m: np.ndarray, max_gap_s: float) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Linearly interpolate NaN runs of at most ``max_gap_s`` that have a seen frame on both sides.

    Short dropouts (a marker hidden by the other leg for a few frames) would otherwise split swings;
    longer ones are left NaN because a straight line through a swing would invent a landing.
    Returns the filled copy and the (start, stop) frames of the runs left open.
    """
    missing = np.isnan(pos_m).any(axis=1)
    out = pos_m.astype(float, copy=True)
    out[missing] = np.nan
    n = len(times_s)
    period_s = float(np.median(np.diff(times_s))) if n > 1 else 0.0
    left_open: list[tuple[int, int]] = []
    for a, b in _runs(missing):
        duration_s = (times_s[b] if b < n else times_s[-1] + period_s) - times_s[a]
        if 0 < a and b < n and duration_s <= max_gap_s + 1e-9:
            for c in range(out.shape[1]):
                out[a:b, c] = np.interp(times_s[a:b], times_s[[a - 1, b]], out[[a - 1, b], c])
        else:
            left_open.append((a, b))
    return out, left_open


def floor_speed(times_s: np.ndarray, floor_m: np.ndarray, frames: int = 1) -> np.ndarray:
    """Forward-difference speed in the floor plane over ``frames`` frames: ``v[i]`` is how fast the
    marker leaves frame ``i``, so a landing's first still frame is its arrival (NaN at the end and
    next to gaps)."""
    v = np.full(len(times_s), np.nan)
    if len(times_s) > frames:
        dt = times_s[frames:] - times_s[:-frames]
        with np.errstate(invalid="ignore", divide="ignore"):
            v[:-frames] = np.where(dt > 0, np.linalg.norm(floor_m[frames:] - floor_m[:-frames], axis=1) / dt, np.nan)
    return v


def _moving_mean(v: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average over ``width`` frames (odd); NaN wherever the window holds a NaN or
    runs off the ends."""
    if width <= 1:
        return v.copy()
    finite = np.isfinite(v)
    sums = np.convolve(np.where(finite, v, 0.0), np.ones(width), mode="same")
    counts = np.convolve(finite.astype(float), np.ones(width), mode="same")
    out = np.full(len(v), np.nan)
    whole = counts == width
    out[whole] = sums[whole] / width
    return out


def _merge(runs: list[tuple[int, int]], finite: np.ndarray, max_dip: int) -> list[tuple[int, int]]:
    """Join swing runs split by a short dip in speed (noise near the threshold), never across a gap."""
    merged: list[tuple[int, int]] = []
    for a, b in runs:
        if merged and a - merged[-1][1] <= max_dip and finite[merged[-1][1]:a].all():
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return merged


@dataclass(frozen=True, slots=True)
class _Stillness:
    """Per-frame tests for one swing: ``still[i]``: the marker moves slower than the swing's
    threshold over the ``span`` frames after ``i``; ``near[i]``: it is near its stance height."""

    still: np.ndarray
    near: np.ndarray
    finite: np.ndarray
    span: int
    hold: int
    arrived: np.ndarray | None = None  # slower still: where a landing ends its deceleration
    settle: int = 0  # frames after a landing to look for ``arrived``
    stay: int = 1  # ...which must hold this many frames in a row

    @staticmethod
    def _mostly(window: np.ndarray) -> bool:
        """Still for most of the window: one noisy frame does not undo a landing."""
        return bool(window.mean() >= 0.75)

    def first_landing(self, start: int, stop: int) -> int | None:
        """First frame in [start, stop) near stance height, still for ``hold`` frames from there."""
        for i in range(start, stop):
            if not self.finite[i]:
                return None  # a gap or the end: the landing was not seen
            if self.still[i] and self.near[i] and self._mostly(self.still[i:i + self.hold]):
                return self._arrival(i)
        return None

    def _arrival(self, landing: int) -> int:
        """The first frame within ``settle`` of the landing where the marker is slower than the
        ``arrived`` test (the heel decelerating into contact), else the landing itself."""
        if self.arrived is None:
            return landing
        for j in range(landing, min(landing + self.settle + 1, len(self.arrived))):
            if not self.finite[j]:
                break
            if self.arrived[j:j + self.stay].all():  # and stays so: a dip of noise is no arrival
                return j
        return landing

    def last_lift(self, start: int, stop: int) -> int | None:
        """Last frame j in (stop, start] near stance height that was still ``hold`` frames before."""
        for j in range(start, stop, -1):
            i = j - self.span  # the speed leaving i covers i..j
            if i < 0 or not self.finite[i]:
                return None
            if self.still[i] and self.near[j] and self._mostly(self.still[max(0, i - self.hold + 1):i + 1]):
                return j
        return None


def _span(v1: np.ndarray, finite: np.ndarray, settings: GaitSettings, rate_hz: float) -> int:
    """Frames to take the speed over: 1 (exact arrival frame) unless marker noise would swamp the
    still threshold; then the fewest frames that bring the noise floor under it (at most 30 ms)."""
    speed_ref = float(np.percentile(v1[finite], 99))
    standing = finite & (v1 < 0.1 * speed_ref)
    if not standing.any() or not speed_ref > 0:
        return 1
    floor = settings.noise_factor * float(np.median(v1[standing]))
    wanted = int(np.ceil(floor / (min(settings.still_frac, settings.land_frac) * speed_ref)))
    return int(np.clip(wanted, 1, max(1, round(0.03 * rate_hz))))


def marker_swings(times_s: np.ndarray, pos_m: np.ndarray, up_axis: int,
                  settings: GaitSettings = GaitSettings()) -> list[Swing]:
    """Every swing of one marker, with its lift-off and landing frames and its height."""
    floor_axes = [a for a in range(3) if a != up_axis]
    z = pos_m[:, up_axis]
    rate_hz = 1.0 / float(np.median(np.diff(times_s)))
    v = floor_speed(times_s, pos_m[:, floor_axes])
    finite = np.isfinite(v)
    if finite.sum() < 3:
        return []
    span = _span(v, finite, settings, rate_hz)
    if span > 1:
        v = floor_speed(times_s, pos_m[:, floor_axes], span)
        finite = np.isfinite(v)
        if finite.sum() < 3:
            return []
    speed_ref = float(np.percentile(v[finite], 99))
    if not speed_ref > 0:
        return []
    standing = finite & (v < 0.1 * speed_ref)
    noise_floor = settings.noise_factor * float(np.median(v[standing])) if standing.any() else 0.0
    stance_z = float(np.median(z[standing])) if standing.any() else float(np.nanmin(z))
    hold = max(1, round(settings.min_still_s * rate_hz))
    settle = round(settings.land_settle_s * rate_hz)
    stay = max(1, round(settings.land_stay_s * rate_hz))
    width = 2 * round(settings.land_smooth_s * rate_hz / 2) + 1  # odd, centred: the crossing stays in place
    # v[i] spans frames i..i+span, so it is the speed half a span later: centre it on frame i
    lag = span // 2
    smooth = _moving_mean(np.concatenate([np.full(lag, np.nan), v[:len(v) - lag]]) if lag else v, width)
    moving = finite & (v > max(settings.swing_frac * speed_ref, 2.0 * noise_floor))
    runs = _merge(_runs(moving), finite, hold)
    swings: list[Swing] = []
    for k, (a, b) in enumerate(runs):
        peak = a + int(np.argmax(v[a:b]))
        top_z = float(np.nanmax(z[a:b + 1]))
        with np.errstate(invalid="ignore"):
            near = z <= stance_z + max(settings.height_tol_m, settings.height_tol_frac * (top_z - stance_z))
        still = finite & (v < max(settings.still_frac * v[peak], noise_floor))
        test = _Stillness(still, near, finite, span, hold, settle=settle, stay=stay,
                          arrived=smooth < max(settings.land_frac * v[peak], noise_floor / np.sqrt(width)))
        land = test.first_landing(peak, runs[k + 1][0] if k + 1 < len(runs) else len(v))
        lift = test.last_lift(peak + span, runs[k - 1][1] if k else 0)
        ends = (lift if lift is not None else a, land if land is not None else min(b + span, len(z) - 1))
        if np.linalg.norm(pos_m[ends[1], floor_axes] - pos_m[ends[0], floor_axes]) < settings.min_swing_m:
            continue
        height = float(np.nanmax(z[lift:land + 1]) - stance_z) if lift is not None and land is not None else None
        swings.append(Swing(lift, land, height))
    return swings


def _progression(points: np.ndarray, sides: Sequence[str], i: int, min_m: float) -> np.ndarray | None:
    """Unit line of progression for the step ending at strike ``i``: the mean direction of the
    same foot's stride P_i − P_{i−2} and the other foot's stride around it P_{i+1} − P_{i−1}
    (either alone where the other is missing), else the walk's first-to-last direction.

    Local strides follow any walking direction and curves; on a curve the two strides' directions
    are the path's tangents at each end of the step, so their mean keeps the width free of the
    curvature that either one alone would add to it.
    """
    n = len(points)
    units: list[np.ndarray] = []
    for a, b in ((i, i - 2), (i + 1, i - 1)):
        if 0 <= b and a < n and sides[a] == sides[b]:
            d = points[a] - points[b]
            if np.linalg.norm(d) >= min_m:
                units.append(d / np.linalg.norm(d))
    if not units and n > 1 and np.linalg.norm(points[-1] - points[0]) >= min_m:
        units.append(points[-1] - points[0])
    if not units:
        return None
    u = np.sum(units, axis=0)
    unit: np.ndarray = u / np.linalg.norm(u)
    return unit


def _steps(strikes: Sequence[GaitEvent], points: np.ndarray, settings: GaitSettings
           ) -> tuple[list[Step], float | None]:
    """Steps between consecutive heel strikes of opposite feet, and the walking speed."""
    sides = [e.side for e in strikes]
    steps: list[Step] = []
    distance_m = 0.0
    for i in range(1, len(strikes)):
        u = _progression(points, sides, i, settings.short_step_m)
        d = points[i] - points[i - 1]
        if u is None:
            distance_m = float("nan")
        else:
            distance_m += float(d @ u)  # a missed strike still counts the distance covered
        if sides[i] == sides[i - 1]:
            continue
        length = float(d @ u) if u is not None else None
        width = abs(float(u[0] * d[1] - u[1] * d[0])) if u is not None else None
        steps.append(Step(sides[i], strikes[i].t_s, length, width, strikes[i].t_s - strikes[i - 1].t_s,
                          length is not None and length < settings.short_step_m))
    elapsed_s = strikes[-1].t_s - strikes[0].t_s
    speed = distance_m / elapsed_s if elapsed_s > 0 and np.isfinite(distance_m) else None
    return steps, speed


def analyze_gait(markers: MarkerTrajectories, settings: GaitSettings = GaitSettings(), *,
                 progress: ProgressFn | None = None) -> GaitResult:
    """Heel strikes, toe-offs, steps and their summary from foot markers.

    Raises :class:`AnalysisError` when there is no heel marker or fewer than two heel strikes.
    """
    times = np.asarray(markers.times_s, dtype=float)
    present = {key: np.asarray(pos, dtype=float) for key, pos in markers.positions_m.items()
               if key[0] in SIDES and np.isfinite(pos).all(axis=1).any()}
    if not any((side, "heel") in present for side in SIDES):
        raise AnalysisError("no heel markers: gait events need the heel of at least one foot")
    if len(times) < 3:
        raise AnalysisError(f"only {len(times)} frames: too short for gait analysis")
    gaps: list[Gap] = []
    swings: dict[MarkerKey, list[Swing]] = {}
    period_s = float(np.median(np.diff(times)))
    for done, (key, pos) in enumerate(sorted(present.items()), start=1):
        filled, left_open = bridge_gaps(times, pos, settings.max_gap_s)
        gaps += [Gap(key[0], key[1], float(times[a]), float((b - a) * period_s)) for a, b in left_open]
        swings[key] = marker_swings(times, filled, markers.up_axis, settings)
        present[key] = filled
        if progress is not None:
            progress(done, len(present))

    def events(key: MarkerKey, end: str) -> list[GaitEvent]:
        frames = [getattr(s, end) for s in swings.get(key, [])]
        return [GaitEvent(key[0], f, float(times[f])) for f in frames if f is not None]

    heel_strikes = sorted((e for side in SIDES for e in events((side, "heel"), "land")), key=lambda e: e.t_s)
    if len(heel_strikes) < 2:
        raise AnalysisError(f"{len(heel_strikes)} heel strike(s) found, at least 2 are needed: "
                            "is the subject walking, and are the heel markers seen throughout?")
    toe_offs = sorted((e for side in SIDES for e in events(_toe_off_source(side, present), "lift")),
                      key=lambda e: e.t_s)
    floor_axes = [a for a in range(3) if a != markers.up_axis]
    settle = max(1, round(settings.min_still_s * markers.rate_hz))  # median over the settled frames: less noise
    points = np.array([np.nanmedian(present[(e.side, "heel")][e.frame:e.frame + settle][:, floor_axes], axis=0)
                       for e in heel_strikes])
    steps, speed = _steps(heel_strikes, points, settings)

    def lift(side: str, marker: str) -> float | None:
        return _mean_or_none([s.height_m for s in swings.get((side, marker), []) if s.height_m is not None])

    return GaitResult(
        heel_strikes=heel_strikes,
        toe_offs=toe_offs,
        steps=steps,
        heel_lift_m={side: lift(side, "heel") for side in SIDES},
        toe_lift_m={side: lift(side, "toe") for side in SIDES},
        speed_m_s=speed,
        gaps=gaps,
        frames=len(times),
        rate_hz=markers.rate_hz,
        duration_s=float(times[-1] - times[0]),
    )


def _toe_off_source(side: str, present: dict[MarkerKey, np.ndarray]) -> MarkerKey:
    return next(((side, m) for m in TOE_OFF_SOURCES if (side, m) in present), (side, "toe"))
