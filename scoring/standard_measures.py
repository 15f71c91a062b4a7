"""The instrumented standard measures, detected from what the tracker recorded: the pelvis marker's
height and path (10-metre walk, Timed Up and Go, Five Times Sit-to-Stand) and the feet's landings
(Four Square Step Test). Pure functions of arrays and landings, so each is tested with simulated
trajectories of known timing, and the assessment's metrics (:mod:`scoring.assessment`) apply them
to the window of the session's recording each stage marks.

Where the stopwatch of the clinical test starts on "go", these start at the first movement (the
pelvis leaving the seat, or passing the 2 m mark of the walkway): the patient's reaction time to
the cue is not part of the measure, and no examiner's thumb is either.

Definitions:

* a stand: the pelvis rises from its seated height past ``RISE_HIGH`` of the way to its standing
  height (both measured in the window, so no chair or body height needs entering), and a sit: it
  falls back below ``RISE_LOW``;
* a rise begins where the pelvis last moved up slower than ``STILL_SHARE`` of the rise's peak
  vertical speed before it passed that height, and ends (standing) where it next does; a sit
  starts where the pelvis last moved down slower than that (of the sit's peak) before falling,
  and ends (seated) where it next does;
* Timed Up and Go phases from the pelvis's distance from where it rose: the turn is where that
  distance stops growing (its rate below half the walking speed out) until it shrinks at half the
  walking speed back; the walk back ends where it stops shrinking, and the rest (turn and sit) is
  the last phase. The phases add up to the total.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from games.assessment.settings import FSST_SEQUENCE, TEN_METRE_TIMED_FROM_M, TEN_METRE_TIMED_TO_M
from scoring.errors import AnalysisError

# The pelvis is not rising (or sitting down) when it moves up (down) slower than this share of
# that movement's peak vertical speed, or than STILL_MIN_M_S, whichever is faster: a slow riser's
# start is found as early in the movement as a quick one's, and a marker's jitter never counts.
STILL_SHARE = 0.10
STILL_MIN_M_S = 0.02
RISE_HIGH, RISE_LOW = 0.8, 0.2  # a stand counts once the pelvis passes 80 % up, a sit once below 20 %
MIN_RISE_M = 0.12  # less than this between sitting and standing heights: no sit-to-stand in the window
SMOOTH_S = 0.10  # moving-average width: a marker's jitter never makes a crossing
HALF_SPEED = 0.5  # Timed Up and Go: the turn starts / the walk back ends below this share of the speed


# -- helpers -----------------------------------------------------------------------------------------


def _smooth(times_s: np.ndarray, values: np.ndarray, width_s: float = SMOOTH_S) -> np.ndarray:
    """A centred moving average over about ``width_s`` (edges padded with the end values)."""
    if values.size < 3:
        return values.astype(float)
    step = float(np.median(np.diff(times_s)))
    k = max(1, round(width_s / step)) if step > 0 else 1
    if k <= 1:
        return values.astype(float)
    pad = np.concatenate([np.full(k // 2, values[0]), values, np.full(k - 1 - k // 2, values[-1])])
    return np.convolve(pad, np.ones(k) / k, mode="valid")


def _clean(times_s: Sequence[float] | np.ndarray, *columns: Sequence[float] | np.ndarray) -> list[np.ndarray]:
    """Times and columns as arrays, without the samples where the marker was not seen (NaN)."""
    t = np.asarray(times_s, dtype=float)
    cols = [np.asarray(c, dtype=float) for c in columns]
    keep = np.isfinite(t)
    for c in cols:
        keep &= np.isfinite(c)
    return [t[keep], *(c[keep] for c in cols)]


def _interp_time(t: np.ndarray, v: np.ndarray, i: int, level: float) -> float:
    """When ``v`` passed ``level`` between samples ``i - 1`` and ``i`` (linear)."""
    if i <= 0:
        return float(t[0])
    v0, v1 = v[i - 1], v[i]
    if v1 == v0:
        return float(t[i])
    u = (level - v0) / (v1 - v0)
    return float(t[i - 1] + min(1.0, max(0.0, u)) * (t[i] - t[i - 1]))


# -- sit to stand ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SitStand:
    """One stand and the sit after it (``sit_start_s``, ``seated_s`` None when the window ended
    standing)."""

    rise_s: float  # the pelvis leaves the seat
    standing_s: float  # it reaches standing height
    sit_start_s: float | None  # it starts down for the last time before the seat
    seated_s: float | None  # it is back on the seat


@dataclass(frozen=True, slots=True)
class Heights:
    seated_m: float
    standing_m: float

    @property
    def rise_m(self) -> float:
        return self.standing_m - self.seated_m

    def level(self, fraction: float) -> float:
        return self.seated_m + fraction * self.rise_m


def heights(z_m: np.ndarray) -> Heights:
    """The seated height (the low 2nd percentile) and the standing height (the median of the
    samples in the upper half of the range: walking's bob and a last lean do not move it)."""
    low, high = float(np.percentile(z_m, 2)), float(np.percentile(z_m, 98))
    upper = z_m[z_m >= low + 0.5 * (high - low)]
    standing = float(np.median(upper)) if upper.size else high
    if standing - low < MIN_RISE_M:
        raise AnalysisError(f"the pelvis rose only {100 * (standing - low):.0f} cm: no sit-to-stand "
                            f"(at least {100 * MIN_RISE_M:.0f} cm)")
    return Heights(low, standing)


def sit_stands(times_s: Sequence[float] | np.ndarray, z_m: Sequence[float] | np.ndarray) -> list[SitStand]:
    """Every stand of the window (which should start seated) and the sit after it."""
    t, raw = _clean(times_s, z_m)
    if t.size < 3:
        raise AnalysisError("too few pelvis samples")
    z = _smooth(t, raw)
    vz = np.gradient(z, t)
    h = heights(z)
    hi, lo = h.level(RISE_HIGH), h.level(RISE_LOW)
    out: list[SitStand] = []
    standing = bool(z[0] >= hi)
    up_i = 0
    for i in range(1, z.size):
        if not standing and z[i] >= hi:
            standing, up_i = True, i
        elif standing and z[i] <= lo and up_i:
            out.append(_cycle(t, vz, up_i, i))
            standing = False
    if standing and up_i:
        out.append(_cycle(t, vz, up_i, None))
    return out


def _last_before(t: np.ndarray, v: np.ndarray, i: int, level: float, sign: float) -> float:
    """Walking back from sample ``i``, when ``sign * v`` last was at or below ``level``."""
    j = i
    while j > 0 and sign * v[j - 1] > level:
        j -= 1
    return _interp_time(t, sign * v, j, level) if j > 0 else float(t[0])


def _first_after(t: np.ndarray, v: np.ndarray, i: int, level: float, sign: float) -> float | None:
    """From sample ``i`` on, when ``sign * v`` first comes down to ``level`` (None: never)."""
    j = i
    while j < v.size and sign * v[j] > level:
        j += 1
    return _interp_time(t, sign * v, j, level) if j < v.size else None


def _still(t: np.ndarray, vz: np.ndarray, i: int, sign: float) -> float:
    """The "not moving" speed for the movement through sample ``i`` (up: sign 1, down: -1)."""
    near = np.abs(t - t[i]) <= 1.0
    return max(STILL_MIN_M_S, STILL_SHARE * float(np.max(sign * vz[near])))


def _cycle(t: np.ndarray, vz: np.ndarray, up_i: int, down_i: int | None) -> SitStand:
    up = _still(t, vz, up_i, 1.0)
    rise = _last_before(t, vz, up_i, up, 1.0)
    standing = _first_after(t, vz, up_i, up, 1.0)
    if standing is None:
        standing = float(t[-1])
    if down_i is None:
        return SitStand(rise, standing, None, None)
    down = _still(t, vz, down_i, -1.0)
    sit_start = max(standing, _last_before(t, vz, down_i, down, -1.0))
    return SitStand(rise, standing, sit_start, _first_after(t, vz, down_i, down, -1.0))


@dataclass(frozen=True, slots=True)
class FiveStsResult:
    stands: int
    total_s: float | None  # first rise to seated after the fifth stand
    to_fifth_stand_s: float | None  # first rise to standing the fifth time


def five_times_sit_to_stand(times_s: Sequence[float] | np.ndarray, z_m: Sequence[float] | np.ndarray,
                            stands: int = 5) -> FiveStsResult:
    """From the first rise to being seated after the ``stands``-th stand (and to that stand)."""
    cycles = sit_stands(times_s, z_m)
    if len(cycles) < stands:
        return FiveStsResult(len(cycles), None, None)
    first, last = cycles[0], cycles[stands - 1]
    total = None if last.seated_s is None else last.seated_s - first.rise_s
    return FiveStsResult(len(cycles), total, last.standing_s - first.rise_s)


# -- Timed Up and Go ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TugResult:
    total_s: float
    sit_to_stand_s: float
    walk_out_s: float
    turn_s: float
    walk_back_s: float
    turn_to_sit_s: float
    distance_m: float  # the farthest the pelvis went from where it rose

    def phases(self) -> dict[str, float]:
        return {"sit_to_stand": self.sit_to_stand_s, "walk_out": self.walk_out_s, "turn": self.turn_s,
                "walk_back": self.walk_back_s, "turn_to_sit": self.turn_to_sit_s}


def timed_up_and_go(times_s: Sequence[float] | np.ndarray, x_m: Sequence[float] | np.ndarray,
                    y_m: Sequence[float] | np.ndarray, z_m: Sequence[float] | np.ndarray) -> TugResult:
    """Total and phase times of one Timed Up and Go from the pelvis marker (patient frame)."""
    t, x, y, z = _clean(times_s, x_m, y_m, z_m)
    cycles = sit_stands(t, z)
    if not cycles or cycles[-1].seated_s is None:
        raise AnalysisError("the patient did not stand up and sit down again")
    first, last = cycles[0], cycles[-1]
    assert last.seated_s is not None and last.sit_start_s is not None
    x, y = _smooth(t, x), _smooth(t, y)
    i0 = int(np.searchsorted(t, first.rise_s))
    d = np.hypot(x - x[min(i0, t.size - 1)], y - y[min(i0, t.size - 1)])
    rate = np.gradient(_smooth(t, d, 0.3), t)
    walk = (t >= first.standing_s) & (t <= last.sit_start_s)
    if not walk.any():
        raise AnalysisError("no walk between standing up and sitting down")
    idx = np.flatnonzero(walk)
    peak = int(idx[np.argmax(d[idx])])
    out_idx, back_idx = idx[idx <= peak], idx[idx >= peak]
    speed_out = float(np.percentile(rate[out_idx], 90)) if out_idx.size else 0.0
    speed_back = float(np.percentile(-rate[back_idx], 90)) if back_idx.size else 0.0
    if speed_out <= 0.05 or speed_back <= 0.05:
        raise AnalysisError("no walk out and back between standing up and sitting down")
    fast_out = out_idx[rate[out_idx] >= HALF_SPEED * speed_out]
    fast_back = back_idx[-rate[back_idx] >= HALF_SPEED * speed_back]
    turn_start = float(t[fast_out[-1]]) if fast_out.size else float(t[peak])
    turn_end = float(t[fast_back[0]]) if fast_back.size else float(t[peak])
    back_end = float(t[fast_back[-1]]) if fast_back.size else turn_end
    marks = [first.rise_s, first.standing_s, turn_start, turn_end, back_end, last.seated_s]
    for i in range(1, len(marks)):  # in order, whatever the data (each phase at least 0)
        marks[i] = max(marks[i], marks[i - 1])
    rise, stood, t_start, t_end, b_end, seated = marks
    return TugResult(seated - rise, stood - rise, t_start - stood, t_end - t_start, b_end - t_end, seated - b_end,
                     float(d[peak]))


# -- 10-metre walk -----------------------------------------------------------------------------------


def ten_metre_walk_speed_m_s(times_s: Sequence[float] | np.ndarray, x_m: Sequence[float] | np.ndarray,
                             y_m: Sequence[float] | np.ndarray) -> float:
    """Speed over the middle 6 m of the walk: from the pelvis passing 2 m from where it stood at the
    window's start to passing 8 m (linear between samples)."""
    t, x, y = _clean(times_s, x_m, y_m)
    if t.size < 3:
        raise AnalysisError("too few pelvis samples")
    start = t <= t[0] + 0.2
    d = np.hypot(x - x[start].mean(), y - y[start].mean())
    times = []
    for mark in (TEN_METRE_TIMED_FROM_M, TEN_METRE_TIMED_TO_M):
        past = np.flatnonzero(d >= mark)
        if not past.size:
            raise AnalysisError(f"the walk did not pass {mark:.0f} m (it went {float(d.max()):.1f} m)")
        times.append(_interp_time(t, d, int(past[0]), mark))
    if times[1] <= times[0]:
        raise AnalysisError("the timed 6 m took no time")
    return (TEN_METRE_TIMED_TO_M - TEN_METRE_TIMED_FROM_M) / (times[1] - times[0])


# -- Four Square Step Test ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Landing:
    """A foot coming down in a square (1-4; 0: outside the four)."""

    t_s: float
    side: str
    square: int


@dataclass(frozen=True, slots=True)
class FourSquareResult:
    time_s: float | None  # None: the sequence was not completed
    errors: int  # landings in a square out of the sequence
    squares_done: int  # of the sequence's 8 moves


def four_square_step(landings: Iterable[Landing], start: int = FSST_SEQUENCE[0],
                     sequence: Sequence[int] = FSST_SEQUENCE) -> FourSquareResult:
    """Timed from the first foot landing in square 2 to the last foot landing back in square 1
    at the end of the sequence (Dite & Temple 2002). A move is done when both feet stand in the
    next square; a landing in any square other than the current or the next one is a sequence
    error. A patient who skips a square and goes on is followed (the skip is the error), so one
    slip does not void the rest."""
    feet = {"L": start, "R": start}
    k = 0  # feet in sequence[k]
    errors = 0
    first_s: float | None = None
    end_s: float | None = None
    for landing in sorted(landings, key=lambda x: x.t_s):
        if k >= len(sequence) - 1:
            break
        feet[landing.side] = landing.square
        allowed = (sequence[k], sequence[k + 1])
        if landing.square not in allowed:
            errors += 1
        if k == 0 and first_s is None and landing.square == sequence[1]:
            first_s = landing.t_s
        if feet["L"] == feet["R"]:
            square = feet["L"]
            ahead = [j for j in (k + 1, k + 2) if j < len(sequence) and sequence[j] == square]
            if ahead:
                k = ahead[0]
                if first_s is None:
                    first_s = landing.t_s
                if k == len(sequence) - 1:
                    end_s = landing.t_s
    time_s = None if end_s is None or first_s is None else end_s - first_s
    return FourSquareResult(time_s, errors, k)


# -- the session's recording -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PelvisTrack:
    """The pelvis marker over a session: device times and (N, 3) patient-frame positions (NaN
    where unseen), as the tracker's recording holds them."""

    times_s: np.ndarray
    positions_m: np.ndarray

    def window(self, t0_s: float, t1_s: float) -> PelvisTrack:
        keep = (self.times_s >= t0_s) & (self.times_s <= t1_s)
        return PelvisTrack(self.times_s[keep], self.positions_m[keep])

    @property
    def x_m(self) -> np.ndarray:
        return self.positions_m[:, 0]

    @property
    def y_m(self) -> np.ndarray:
        return self.positions_m[:, 1]

    @property
    def z_m(self) -> np.ndarray:
        return self.positions_m[:, 2]
