"""Treadmill stepping-target rules as a pure state machine: no Panda3D, no network, no clock.

The patient walks on a treadmill, so in the patient frame the feet stay roughly in place while the
belt carries a planted foot backward at the belt speed. Targets are painted on the belt: they
appear ``spawn_distance_m`` ahead and move toward the patient by ``belt_speed_m_s * dt``, the speed
read at every input (it is live). Consecutive targets alternate feet (the affected foot first),
``step_length_m`` apart along the belt and ``step_width_m`` apart across, so hitting every target
means walking with that step length.

One target is one trial. A *landing* is a foot planted again after being lifted (the device's
contact flag, else height hysteresis). Each landing is scored against at most one target:

- ``hit``: inside (within ``radius_m`` of the centre, where the target is at that instant) a
  coming target of its own foot;
- ``wrong_foot``: otherwise, inside a coming target of the other foot;
- ``miss``: otherwise, within half a step length along the belt of a coming target of its own foot
  (the patient stepped for it and landed outside);
- a target that scrolls ``behind_m`` behind the patient with no landing scored against it ends as
  ``timeout``: never attempted, told apart from a ``miss`` (both are failures to the staircase).

A result's ``target_x_m``/``target_y_m`` are where the target was when the trial ended: at the
landing, or on the behind line for a timeout (its end time is when it crossed the line, whatever
the tick rate). Its ``index`` is the target's index: targets are numbered as they appear, and a
pause gives the voided targets' numbers again (after the highest one already scored).

Distances are computed here, not by the scene's collision check: several targets are on the belt
at once and every one moves every tick, where the scene holds one still target. For a point foot
the two agree (the scene's foot probe is a 1 mm sphere).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum

from games.base import Outcome, TrialResult
from games.events import FootEvent, Side
from games.frame import home_spot
from games.tracking import FootTrack, Lift
from games.treadmill.settings import DIRECTION, TreadmillSettings
from games.trials import TrialTarget, target_result

# Resolved targets stay drawn (as hit or missed) until they are this far past the behind line.
SCROLL_OFF_M = 1.0
_EPS_M = 1e-9  # the belt's travel is a sum of floats: a place exactly on the spawn line counts as on it


class Phase(StrEnum):
    HOME = "home"  # waiting until both feet have been seen
    WALKING = "walking"  # targets stream along the belt
    PAUSED = "paused"
    FINISHED = "finished"


class TargetState(StrEnum):
    COMING = "coming"
    HIT = "hit"
    MISSED = "missed"


@dataclass(slots=True)
class BeltTarget(TrialTarget):
    """A target on the belt. ``x_m``/``y_m`` are where it is now; ``distance_m`` is the step length
    it was spaced by, ``shown_at_s`` when it appeared and ``time_window_s`` how long it takes to
    reach the behind line at the speed it appeared with."""

    index: int
    foot: Side
    state: TargetState = TargetState.COMING


@dataclass(frozen=True, slots=True)
class Landing:
    """Where a foot came down; ``belt_m`` is that point's place on the belt (``y_m`` plus the belt's
    travel so far), so two landings' difference is a step length whatever the time between them."""

    foot: Side
    x_m: float
    y_m: float
    belt_m: float
    at_s: float


class TreadmillRules:
    """The target stream and its trials. Same public surface as the other games' rules (see
    :class:`games.scene_game.TrialRules`); ``revision`` is bumped whenever what a headset draws
    changes (targets moved, appeared, resolved; the phase)."""

    def __init__(self, settings: TreadmillSettings, difficulty: dict[str, float]) -> None:
        self.settings = settings
        self.difficulty = dict(difficulty)
        self.phase = Phase.HOME
        self.feet = {side: FootTrack(*self.home_spot(side), 0.0) for side in Side}
        self.targets: list[BeltTarget] = []
        self.trial_index = 0  # trials finished (results given)
        self.hits = 0
        self.last_result: TrialResult | None = None
        self.revision = 0
        self.belt_travel_m = 0.0  # how far the belt has moved since the game started (not paused)
        self._now_s: float | None = None  # the belt has been moved up to here (None: restart)
        self._next_index = 0
        self._max_resolved_index = -1
        self._lead_belt_m: float | None = None  # the last spawned target's place on the belt
        self._lifts = {side: Lift() for side in Side}
        self._landings: dict[Side, Landing] = {}

    # -- inputs -----------------------------------------------------------------------------

    def on_foot(self, event: FootEvent, now_s: float) -> list[TrialResult]:
        results = self.advance(now_s)
        s = self.settings
        track = self.feet[event.side]
        was_planted = track.update(event, s.lift_height_m, s.plant_height_m)
        lift = self._lifts[event.side]
        if not track.planted:
            lift.airborne(event, now_s)
            return results
        if was_planted or lift.at_s is None:
            return results  # still standing: sliding a foot is not a step
        self._lifts[event.side] = Lift()
        if self.phase not in (Phase.HOME, Phase.WALKING):
            return results  # the belt is not tracked while paused: no step length across a pause
        landing = Landing(event.side, event.x_m, event.y_m, event.y_m + self.belt_travel_m, now_s)
        if self.phase is Phase.WALKING:
            results += self._judge(landing, lift)
        self._landings[landing.foot] = landing
        return results

    def tick(self, now_s: float) -> list[TrialResult]:
        results = self.advance(now_s)
        if self.phase is Phase.HOME and all(track.seen for track in self.feet.values()):
            self.phase = Phase.WALKING
            self.revision += 1
        if self.phase is Phase.WALKING:
            self._spawn(now_s)
            self._check_done()
        return results

    def next_timer_s(self) -> float:
        """The belt moves with time: ticked every period."""
        return float("-inf")

    def advance(self, now_s: float) -> list[TrialResult]:
        """Move the belt, and every target on it, up to ``now_s`` at the current belt speed; the
        coming targets that crossed the behind line time out."""
        last = self._now_s
        if last is not None and now_s <= last:
            return []
        self._now_s = now_s
        if last is None or self.phase not in (Phase.HOME, Phase.WALKING):
            return []
        speed = self.settings.belt_speed_m_s
        travel = speed * (now_s - last)
        if travel <= 0.0:
            return []
        self.belt_travel_m += travel
        if not self.targets:
            return []
        behind = -self.settings.behind_m
        results = []
        for target in self.targets:
            target.y_m -= travel
            if target.state is TargetState.COMING and target.y_m < behind:
                crossed_s = now_s - (behind - target.y_m) / speed
                results.append(self._resolve(replace(target, y_m=behind), target, Outcome.TIMEOUT, crossed_s,
                                             measures={"belt_speed_m_s": speed}))
        self.targets = [t for t in self.targets if t.y_m >= behind - SCROLL_OFF_M]
        self.revision += 1
        return results

    def set_difficulty(self, values: dict[str, float], direction: str | None = None) -> None:
        """New values for targets that appear from now on; those on the belt keep theirs."""
        self.difficulty.update(values)

    def home_spot(self, side: Side) -> tuple[float, float]:
        return home_spot(side, self.settings.stance_half_width_m)

    def pause(self) -> None:
        """Stop the belt's targets; those still coming are voided (never scored), as the patient was
        interrupted. Resolved ones stay drawn where they are."""
        if self.phase in (Phase.PAUSED, Phase.FINISHED):
            return
        self._void()
        self.phase = Phase.PAUSED

    def resume(self) -> None:
        """The stream starts again from the spawn line; the belt restarts at the next input."""
        if self.phase is Phase.PAUSED:
            self.phase = Phase.HOME
            self._now_s = None
            self._landings.clear()
            self.revision += 1

    def finish(self) -> None:
        self._void()
        self.phase = Phase.FINISHED

    @property
    def finished(self) -> bool:
        return self.phase is Phase.FINISHED

    @property
    def target(self) -> BeltTarget | None:
        """The next target due: the coming one nearest the patient."""
        coming = [t for t in self.targets if t.state is TargetState.COMING]
        return min(coming, key=lambda t: t.y_m) if coming else None

    def time_left_s(self, now_s: float) -> float | None:
        """Until the next target due passes the behind line, at the current speed."""
        target, speed = self.target, self.settings.belt_speed_m_s
        if target is None or speed <= 0.0 or self.phase is not Phase.WALKING:
            return None
        elapsed = now_s - (self._now_s if self._now_s is not None else now_s)
        return max(0.0, (target.y_m + self.settings.behind_m) / speed - elapsed)

    # -- internals --------------------------------------------------------------------------

    def _judge(self, landing: Landing, lift: Lift) -> list[TrialResult]:
        """Score the landing against at most one coming target (see the module docstring)."""
        coming = [t for t in self.targets if t.state is TargetState.COMING]
        own = [t for t in coming if t.foot is landing.foot]
        other = [t for t in coming if t.foot is not landing.foot]

        def gap(t: BeltTarget) -> float:
            return math.hypot(landing.x_m - t.x_m, landing.y_m - t.y_m)

        hit = min((t for t in own if gap(t) <= t.radius_m), key=gap, default=None)
        if hit is not None:
            return [self._landed(hit, Outcome.HIT, landing, lift)]
        wrong = min((t for t in other if gap(t) <= t.radius_m), key=gap, default=None)
        if wrong is not None:
            return [self._resolve(wrong, wrong, Outcome.WRONG_FOOT, landing.at_s, landing=landing,
                                  measures={"belt_speed_m_s": self.settings.belt_speed_m_s})]
        near = min((t for t in own if abs(landing.y_m - t.y_m) <= t.distance_m / 2.0),
                   key=lambda t: abs(landing.y_m - t.y_m), default=None)
        if near is not None:
            return [self._landed(near, Outcome.MISS, landing, lift)]
        return []

    def _landed(self, target: BeltTarget, outcome: Outcome, landing: Landing, lift: Lift) -> TrialResult:
        """The target's own foot landed for it: where relative to the target (+ AP = too far
        forward, + ML = too far lateral for that foot) and the step length it made."""
        measures: dict[str, float | str] = {
            "belt_speed_m_s": self.settings.belt_speed_m_s,
            "landing_error_ap_m": landing.y_m - target.y_m,
            "landing_error_ml_m": target.foot.lateral_sign * (landing.x_m - target.x_m),
        }
        previous = self._landings.get(landing.foot.other)
        if previous is not None:
            measures["step_length_m"] = landing.belt_m - previous.belt_m
        return self._resolve(target, target, outcome, landing.at_s, landing=landing, lift=lift, measures=measures)

    def _resolve(
        self,
        scored: BeltTarget,
        target: BeltTarget,
        outcome: Outcome,
        now_s: float,
        *,
        measures: dict[str, float | str],
        landing: Landing | None = None,
        lift: Lift | None = None,
    ) -> TrialResult:
        """End ``target``'s trial; ``scored`` is the target as the result reports it (a copy on the
        behind line for a timeout)."""
        moved = None if lift is None else lift.at_s
        result = target_result(
            scored,
            index=target.index,
            foot=target.foot,
            outcome=outcome,
            ended_at_s=now_s,
            # a foot already in the air when the target appeared did not react to it
            moved_at_s=moved if moved is not None and moved >= target.shown_at_s else None,
            movement_time_s=None if moved is None else now_s - moved,
            difficulty={"step_length_m": target.distance_m, "target_radius_m": target.radius_m},
            landing=None if landing is None else (landing.x_m, landing.y_m),
            foot_lift_m=None if lift is None else lift.max_m,
            measures=measures,
        )
        target.state = TargetState.HIT if outcome is Outcome.HIT else TargetState.MISSED
        self.trial_index += 1
        self.hits += outcome.success
        self.last_result = result
        self._max_resolved_index = max(self._max_resolved_index, target.index)
        self.revision += 1
        return result

    def _spawn(self, now_s: float) -> None:
        """Put targets on the belt: the first at the spawn line, each next one ``step_length_m``
        (the value now) beyond the last, as soon as that place has come onto the visible belt."""
        s = self.settings
        while s.trials == 0 or self._next_index < s.trials:
            spacing = self.difficulty["step_length_m"]
            if self._lead_belt_m is None:
                belt_m = s.spawn_distance_m + self.belt_travel_m
            else:
                belt_m = self._lead_belt_m + spacing
                if belt_m - self.belt_travel_m > s.spawn_distance_m + _EPS_M:
                    return
            index = self._next_index
            foot = s.affected_side if index % 2 == 0 else s.affected_side.other
            y = belt_m - self.belt_travel_m
            speed = s.belt_speed_m_s
            self.targets.append(BeltTarget(
                direction=DIRECTION,
                direction_deg=0.0,
                x_m=foot.lateral_sign * s.step_width_m / 2.0,
                y_m=y,
                distance_m=spacing,
                radius_m=self.difficulty["target_radius_m"],
                shown_at_s=now_s,
                time_window_s=(y + s.behind_m) / speed if speed > 0.0 else math.inf,
                index=index,
                foot=foot,
            ))
            self._lead_belt_m = belt_m
            self._next_index += 1
            self.revision += 1

    def _check_done(self) -> None:
        s = self.settings
        if s.trials > 0 and self._next_index >= s.trials and self.target is None:
            self.phase = Phase.FINISHED
            self.revision += 1

    def _void(self) -> None:
        """Drop the coming targets unscored; their indices are given again."""
        self.targets = [t for t in self.targets if t.state is not TargetState.COMING]
        self._next_index = self._max_resolved_index + 1
        self._lead_belt_m = None
        self._lifts = {side: Lift() for side in Side}
        self.revision += 1
