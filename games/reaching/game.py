"""The reaching game as the server runs it: rules + Panda3D scene + game clock."""

from __future__ import annotations

from typing import Any

from games.base import TrialResult
from games.events import BalanceEvent
from games.reaching.rules import ReachingRules, ReachTarget
from games.reaching.settings import REACHING_PARAMETERS, ReachingSettings
from games.scene_game import FootTargetGame, feet_part, result_part


class ReachingGame(FootTargetGame[ReachingRules]):
    name = "reaching"
    parameter_specs = REACHING_PARAMETERS
    adapts_per_direction = True
    rules_type = ReachingRules
    settings: ReachingSettings

    def on_balance(self, event: BalanceEvent, now_s: float) -> list[TrialResult]:
        """Where the weight acts matters only for faults; it is not drawn, so no redraw unless a
        trial ended."""
        results = self.rules.on_balance(event, self.clock.advance(now_s))
        if results:
            self._changed()
        return results

    def _per_trial_parts(self) -> dict[str, Any]:
        rules = self.rules
        target, last = rules.target, rules.last_result
        return {
            "target": None if target is None else _target_part(target, self.settings.leg_length_m),
            "last": None if last is None else result_part(last),
            "difficulty": None if target is None else {k: _r4(v) for k, v in target.difficulty.items()},
            "difficulty_by_direction": rules.difficulty.as_dict(),
            "leg_length_m": self.settings.leg_length_m,
        }

    def _live_parts(self) -> dict[str, Any]:
        touch = self.rules.touch
        return {
            "feet": feet_part(self.rules.feet),
            "touch": None if touch is None else {"x_m": _r4(touch.x_m), "y_m": _r4(touch.y_m),
                                                  "inside": touch.inside},
        }


def _target_part(target: ReachTarget, leg_length_m: float) -> dict[str, Any]:
    return {
        "foot": target.foot.value,
        "stance": target.stance.value,
        "direction": target.direction,
        "direction_deg": _r4(target.direction_deg),
        "x_m": _r4(target.x_m),
        "y_m": _r4(target.y_m),
        "radius_m": _r4(target.radius_m),
        "distance_m": _r4(target.distance_m),
        "distance_pct_ll": _r4(100.0 * target.distance_m / leg_length_m),
        "centre_x_m": _r4(target.anchor_x_m),
        "centre_y_m": _r4(target.anchor_y_m),
    }


def _r4(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) else value
