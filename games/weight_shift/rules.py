"""Weight-shift game rules as a pure state machine: no Panda3D, no network, no clock of its own.

The cursor is where the weight acts on the floor (:class:`BalanceEvent`: a mat's centre of pressure
or a tracker's pelvis proxy). The caller passes the time and, for each balance event, whether the
cursor is inside the target (the scene's collision answer).

Trial life cycle::

    HOME ──cursor at the centre, feet down, for inter_trial_s──▶ TARGET ──cursor enters──▶ HOLD
      ▲                                                            ▲ leaves: the hold restarts │
      │                                                            └───────────────────────────┤
      └──── HIT: held hold_s without leaving ◀─────────────────────────────────────────────────┘
            TIMEOUT: no full hold by time_window_s + hold_s after the target appeared
            FAULT "stepped": a foot left the floor during the trial (the game is played standing)

The window is the time to *reach* the target; the hold may run up to ``hold_s`` beyond it, so the
staircase can make holding harder without also shortening the time to get there.

Measures: ``time_to_target_s`` and ``path_efficiency`` (straight distance from the cursor's start to
its first point inside the target, over the cursor path length to that point, 0..1; sway adds path,
so a noisy cursor scores lower) once the target was entered; always ``hold_achieved_s`` (the longest
unbroken hold), ``closest_distance_m`` (nearest approach to the target centre), ``target_distance_m``
and ``los_m``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

from games.base import Outcome, TrialResult
from games.events import BalanceEvent, FootEvent, Side
from games.frame import unit_vector
from games.per_direction import DirectionDifficulty
from games.trials import TrialLoop, TrialTarget, next_direction
from games.weight_shift.settings import DIRECTION_NAMES, SHIFT_DIRECTIONS, WeightShiftSettings

_AZIMUTHS = dict(SHIFT_DIRECTIONS)


class Phase(StrEnum):
    HOME = "home"
    TARGET = "target"
    HOLD = "hold"
    PAUSED = "paused"
    FINISHED = "finished"


_IN_TRIAL = (Phase.TARGET, Phase.HOLD)


@dataclass(slots=True)
class ShiftTarget(TrialTarget):
    los_m: float
    hold_s: float
    difficulty: dict[str, float] = field(default_factory=dict)

    @property
    def deadline_s(self) -> float:
        return self.shown_at_s + self.time_window_s + self.hold_s


@dataclass(slots=True)
class Cursor:
    x_m: float
    y_m: float
    source: str
    force_n: float | None
    left_share: float | None


@dataclass(slots=True)
class Approach:
    """How the cursor got to the target in one trial."""

    start: tuple[float, float]
    last: tuple[float, float]
    path_m: float = 0.0
    left_centre_at_s: float | None = None
    entered_at_s: float | None = None
    entry: tuple[float, float] | None = None
    path_to_entry_m: float | None = None
    hold_since_s: float | None = None
    best_hold_s: float = 0.0
    closest_m: float = math.inf

    @property
    def path_efficiency(self) -> float | None:
        if self.entry is None or self.path_to_entry_m is None:
            return None
        straight = math.dist(self.start, self.entry)
        if self.path_to_entry_m <= 1e-9:
            return 1.0  # already inside when the target appeared
        return min(1.0, straight / self.path_to_entry_m)


class WeightShiftRules(TrialLoop[WeightShiftSettings, ShiftTarget]):
    phases = Phase

    def __init__(self, settings: WeightShiftSettings, difficulty: dict[str, float]) -> None:
        super().__init__(settings)
        self.difficulty = DirectionDifficulty(difficulty, DIRECTION_NAMES)
        self.cursor: Cursor | None = None
        self.approach: Approach | None = None

    # -- inputs -----------------------------------------------------------------------------

    def on_balance(self, event: BalanceEvent, now_s: float, inside_target: bool) -> list[TrialResult]:
        self.cursor = Cursor(event.x_m, event.y_m, event.source, event.force_n, event.left_share)
        if self.phase is Phase.HOME:
            self._update_home(now_s)
            return []
        if self.phase not in _IN_TRIAL:
            return []
        target, a = self.target, self.approach
        assert target is not None and a is not None
        point = (event.x_m, event.y_m)
        a.path_m += math.dist(a.last, point)
        a.last = point
        a.closest_m = min(a.closest_m, math.dist(point, (target.x_m, target.y_m)))
        if a.left_centre_at_s is None and math.dist(point, self.settings.centre_m) > self.settings.centre_radius_m:
            a.left_centre_at_s = now_s
        if not inside_target:
            if self.phase is Phase.HOLD:
                self._end_hold(now_s)
            return []
        if a.entered_at_s is None:
            a.entered_at_s, a.entry, a.path_to_entry_m = now_s, point, a.path_m
        if self.phase is Phase.TARGET:
            self.phase = Phase.HOLD
            a.hold_since_s = now_s
        return self._check_hold(now_s)

    def on_foot(self, event: FootEvent, now_s: float) -> list[TrialResult]:
        s = self.settings
        track = self.feet[event.side]
        track.update(event, s.lift_height_m, s.plant_height_m)
        if self.phase in _IN_TRIAL and not track.planted:
            return [self._finish(Outcome.FAULT, now_s, "stepped")]
        if self.phase is Phase.HOME:
            self._update_home(now_s)
        return []

    def tick(self, now_s: float) -> list[TrialResult]:
        if self.phase is Phase.HOME:
            self._wait_at_home(now_s)
            return []
        if self.phase not in _IN_TRIAL:
            return []
        assert self.target is not None
        if results := self._check_hold(now_s):
            return results
        if now_s >= self.target.deadline_s:
            if self.phase is Phase.HOLD:
                self._end_hold(now_s)
            return [self._finish(Outcome.TIMEOUT, now_s)]
        return []

    def set_difficulty(self, values: dict[str, float], direction: str | None = None) -> None:
        self.difficulty.set(values, direction)

    def finish(self) -> None:
        super().finish()
        self._clear_trial()

    def time_left_s(self, now_s: float) -> float | None:
        """Time left in the trial (the window plus the hold allowance)."""
        if self.phase in _IN_TRIAL and self.target is not None:
            return max(0.0, self.target.deadline_s - now_s)
        return None

    def hold_progress_s(self, now_s: float) -> float | None:
        """How long the current hold has lasted; None when not holding."""
        a = self.approach
        if self.phase is not Phase.HOLD or a is None or a.hold_since_s is None:
            return None
        return max(0.0, now_s - a.hold_since_s)

    # -- internals --------------------------------------------------------------------------

    def _check_hold(self, now_s: float) -> list[TrialResult]:
        held = self.hold_progress_s(now_s)
        assert self.target is not None
        if held is not None and held >= self.target.hold_s:
            self._end_hold(now_s)
            return [self._finish(Outcome.HIT, now_s)]
        return []

    def _end_hold(self, now_s: float) -> None:
        a = self.approach
        assert a is not None and a.hold_since_s is not None
        a.best_hold_s = max(a.best_hold_s, now_s - a.hold_since_s)
        a.hold_since_s = None
        self.phase = Phase.TARGET

    def _clear_trial(self) -> None:
        self.approach = None

    def _is_ready(self) -> bool:
        """Cursor at the centre and every foot seen so far on the floor."""
        c = self.cursor
        centred = c is not None and math.dist((c.x_m, c.y_m), self.settings.centre_m) <= self.settings.centre_radius_m
        standing = all(t.planted for t in self.feet.values() if t.seen)
        return centred and standing

    def _show_target(self, now_s: float) -> None:
        s = self.settings
        assert self.cursor is not None
        direction = next_direction(self._rng, s.directions, s.order, self.trial_index)
        values = self.difficulty.values(direction)
        azimuth = _AZIMUTHS[direction]
        los = s.los_m(azimuth)
        distance = values["target_share_los"] * los
        ux, uy = unit_vector(azimuth)
        self.target = ShiftTarget(
            direction=direction,
            direction_deg=azimuth,
            x_m=s.centre_x_m + distance * ux,
            y_m=s.centre_y_m + distance * uy,
            distance_m=distance,
            los_m=los,
            radius_m=values["target_radius_m"],
            shown_at_s=now_s,
            time_window_s=values["time_window_s"],
            hold_s=values["hold_s"],
            difficulty=values,
        )
        start = (self.cursor.x_m, self.cursor.y_m)
        self.approach = Approach(start=start, last=start)
        self._ready.reset()
        self.phase = Phase.TARGET

    def _loaded_side(self, target: ShiftTarget) -> Side:
        """The leg a target loads: its side, or the affected leg for straight forward/backward."""
        centre_x = self.settings.centre_x_m
        if abs(target.x_m - centre_x) < 1e-9:
            return self.settings.affected_side
        return Side.RIGHT if target.x_m > centre_x else Side.LEFT

    def _finish(self, outcome: Outcome, now_s: float, fault: str | None = None) -> TrialResult:
        target, a = self.target, self.approach
        assert target is not None and a is not None
        measures: dict[str, float | str] = {
            "target_distance_m": target.distance_m,
            "los_m": target.los_m,
            "hold_achieved_s": a.best_hold_s,
        }
        if math.isfinite(a.closest_m):
            measures["closest_distance_m"] = a.closest_m
        if a.entered_at_s is not None:
            measures["time_to_target_s"] = a.entered_at_s - target.shown_at_s
        if (efficiency := a.path_efficiency) is not None:
            measures["path_efficiency"] = efficiency
        if fault is not None:
            measures["fault"] = fault
        left, entered = a.left_centre_at_s, a.entered_at_s
        return self._conclude(
            outcome,
            now_s,
            foot=self._loaded_side(target),
            moved_at_s=left,
            movement_time_s=None if left is None or entered is None else max(0.0, entered - left),
            difficulty=dict(target.difficulty),
            measures=measures,
        )
