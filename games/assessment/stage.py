"""What every assessment stage offers the game that runs them in turn.

A stage is a small state machine like a game's rules: the game gives it the time and each input
(with the scene's "inside the target?" answer for foot events) and collects its trial results. A
stage keeps its own copy of the feet, taken from the game's when it starts, so it never waits for
a foot that is already standing still to report again.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from games.base import Outcome, TrialResult
from games.events import BalanceEvent, FootEvent, Side
from games.frame import home_spot
from games.tracking import FootTrack


class Stage:
    """Base of every stage: the defaults a stage without targets uses."""

    name: str = ""
    instruction: str = ""
    planned: int = 0  # trials it is expected to produce (for "progress" and trials_planned)
    stance_half_width_m: float = 0.10
    _paused: bool = False  # a stage that is paused ignores inputs and its clock

    def start(self, feet: Mapping[Side, FootTrack], now_s: float) -> None:
        raise NotImplementedError

    def on_foot(self, event: FootEvent, now_s: float, inside_target: bool) -> list[TrialResult]:
        raise NotImplementedError

    def on_balance(self, event: BalanceEvent, now_s: float) -> list[TrialResult]:
        return []

    def tick(self, now_s: float) -> list[TrialResult]:
        raise NotImplementedError

    def pause(self, now_s: float) -> None:
        raise NotImplementedError

    def resume(self, now_s: float) -> None:
        self._paused = False

    def finish(self) -> None:
        pass

    @property
    def done(self) -> bool:
        raise NotImplementedError

    @property
    def phase(self) -> str:
        raise NotImplementedError

    @property
    def target(self) -> Any:
        """The floor target on screen (``x_m``, ``y_m``, ``radius_m``) or None."""
        return None

    def time_left_s(self, now_s: float) -> float | None:
        return None

    def progress(self, now_s: float) -> str:
        raise NotImplementedError

    def parts(self) -> dict[str, Any]:
        """Snapshot parts of the running stage (``target``, ``touch``...) the headset draws."""
        return {"target": None}

    def home_spot(self, side: Side) -> tuple[float, float]:
        return home_spot(side, self.stance_half_width_m)


def feet_home(feet: Mapping[Side, FootTrack], stage: Stage, radius_m: float) -> bool:
    """Both feet seen, on the floor and within ``radius_m`` of this stage's home spots."""
    return all(
        track.seen and track.planted and track.distance_to(*stage.home_spot(side)) <= radius_m
        for side, track in feet.items()
    )


def copy_feet(feet: Mapping[Side, FootTrack]) -> dict[Side, FootTrack]:
    return {side: FootTrack(t.x_m, t.y_m, t.z_m, t.planted, t.seen, t.force_n) for side, t in feet.items()}


def stage_result(
    *,
    foot: Side,
    direction: str,
    outcome: Outcome,
    shown_at_s: float,
    ended_at_s: float,
    measures: dict[str, float | str],
    movement_time_s: float | None = None,
    foot_lift_m: float | None = None,
) -> TrialResult:
    """A result of a stage without a target (quiet standing, a walking step): the target fields
    are zero. The game numbers it (``index``) in the session's sequence."""
    return TrialResult(
        index=0, foot=foot, direction=direction, direction_deg=0.0, target_x_m=0.0, target_y_m=0.0,
        target_distance_m=0.0, target_radius_m=0.0, outcome=outcome, shown_at_s=shown_at_s,
        ended_at_s=ended_at_s, reaction_time_s=None, movement_time_s=movement_time_s,
        placement_error_m=None, landing_x_m=None, landing_y_m=None, foot_lift_m=foot_lift_m,
        difficulty={}, measures=measures,
    )


def r4(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, 4)
