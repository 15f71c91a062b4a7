"""The stepping game as the server runs it: rules + Panda3D scene + game clock."""

from __future__ import annotations

from typing import Any

from games.base import TrialResult
from games.events import BalanceEvent, FootEvent, Side
from games.scene import FloorScene, GameClock
from games.stepping.rules import Phase, SteppingRules, Target
from games.stepping.settings import STEPPING_PARAMETERS, SteppingSettings, home_spot


class SteppingGame:
    name = "stepping"
    parameter_specs = STEPPING_PARAMETERS
    adapts_per_direction = False

    def __init__(
        self, settings: SteppingSettings, difficulty: dict[str, float], start_s: float
    ) -> None:
        self.settings = settings
        self.clock = GameClock(start_s)
        self.scene = FloorScene(self.name)
        self.rules = SteppingRules(settings, difficulty)
        self._shown: Target | None = None
        self._version = 0
        self._difficulty_version = 0
        self._cache_key: tuple[object, ...] | None = None
        self._cached: dict[str, Any] = {}
        self.last_foot_seq: dict[Side, int] = {}

    # -- Game protocol --------------------------------------------------------------------------

    def on_foot(self, event: FootEvent, now_s: float) -> list[TrialResult]:
        t = self.clock.advance(now_s)
        self.scene.move_foot(event.side, event.x_m, event.y_m, event.z_m)
        inside = event.side in self.scene.feet_in_target()
        results = self.rules.on_foot(event, t, inside)
        self.last_foot_seq[event.side] = event.seq
        self._after_step()
        self._version += 1  # the feet moved: headsets redraw
        return results

    def on_balance(self, event: BalanceEvent, now_s: float) -> list[TrialResult]:
        """Stepping is played with the feet alone; where the weight acts does not matter."""
        return []

    def tick(self, now_s: float) -> list[TrialResult]:
        before = (self.rules.phase, self.rules.target)
        results = self.rules.tick(self.clock.advance(now_s))
        if results or before != (self.rules.phase, self.rules.target):
            self._after_step()
            self._version += 1
        return results

    def set_difficulty(self, values: dict[str, float], direction: str | None = None) -> None:
        """New values apply from the next target, so each trial has one set of parameters."""
        self.rules.difficulty.update(values)
        self._difficulty_version += 1
        self._version += 1

    def pause(self, now_s: float) -> None:
        self.clock.advance(now_s)
        self.rules.pause()
        self._after_step()
        self._version += 1

    def resume(self, now_s: float) -> None:
        self.clock.advance(now_s)
        self.rules.resume()
        self._version += 1

    def finish(self) -> None:
        self.rules.phase = Phase.FINISHED
        self._after_step()
        self._version += 1

    @property
    def version(self) -> int:
        return self._version

    @property
    def finished(self) -> bool:
        return self.rules.phase is Phase.FINISHED

    def home_spot(self, side: Side) -> tuple[float, float]:
        return home_spot(side, self.settings)

    @property
    def trials_done(self) -> int:
        return self.rules.trial_index

    @property
    def hits(self) -> int:
        return self.rules.hits

    def snapshot(self) -> dict[str, Any]:
        """The state a headset draws. Built on every foot event, so the parts that change only
        per trial (target, last outcome, difficulty) are cached between trials."""
        rules = self.rules
        now = self.clock.now
        if self._cache_key != (rules.target, rules.last_result, self._difficulty_version):
            self._cache_key = (rules.target, rules.last_result, self._difficulty_version)
            self._cached = _per_trial_parts(rules)
        return {
            "game": self.name,
            "phase": rules.phase.value,
            "t_s": now,
            "trial": rules.trial_index,
            "trials_planned": self.settings.trials,
            "hits": rules.hits,
            "time_left_s": rules.time_left_s(now),
            **self._cached,
            "feet": {
                side.value: {"x_m": t.x_m, "y_m": t.y_m, "z_m": t.z_m, "planted": t.planted}
                for side, t in rules.feet.items()
            },
            "foot_seq": {side.value: seq for side, seq in self.last_foot_seq.items()},
        }

    def close(self) -> None:
        self.scene.destroy()

    # -- internals ------------------------------------------------------------------------------

    def _after_step(self) -> None:
        """Keep the scene's target in step with the rules' target."""
        target = self.rules.target
        if target is self._shown:
            return
        if target is None:
            self.scene.clear_target()
        else:
            self.scene.set_target(target.x_m, target.y_m, target.radius_m)
        self._shown = target


def _per_trial_parts(rules: SteppingRules) -> dict[str, Any]:
    target, last = rules.target, rules.last_result
    return {
        "target": None
        if target is None
        else {
            "foot": target.foot.value,
            "direction": target.direction,
            "x_m": round(target.x_m, 4),
            "y_m": round(target.y_m, 4),
            "radius_m": round(target.radius_m, 4),
        },
        "last": None
        if last is None
        else {
            "trial": last.index,
            "outcome": last.outcome.value,
            "placement_error_m": None if last.placement_error_m is None else round(last.placement_error_m, 4),
        },
        "difficulty": {k: round(v, 4) for k, v in rules.difficulty.items()},
    }
