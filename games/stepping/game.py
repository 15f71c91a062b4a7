"""The stepping game as the server runs it: rules + Panda3D scene + game clock."""

from __future__ import annotations

from typing import Any

from games.scene_game import SceneGame, feet_part
from games.stepping.rules import SteppingRules
from games.stepping.settings import STEPPING_PARAMETERS, SteppingSettings


class SteppingGame(SceneGame[SteppingRules]):
    name = "stepping"
    parameter_specs = STEPPING_PARAMETERS
    adapts_per_direction = False
    rules_type = SteppingRules
    settings: SteppingSettings

    def _per_trial_parts(self) -> dict[str, Any]:
        rules = self.rules
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

    def _live_parts(self) -> dict[str, Any]:
        return {"feet": feet_part(self.rules.feet)}
