"""The games the server can start, by name.

For each game, :data:`GAMES` holds what the server needs without knowing the game: its difficulty
parameters (for the staircase and the ``set_difficulty`` parser), the ``start_game`` settings it
accepts (name, kind, range, unit: the parser validates by these alone), how to build its settings
from those checked values plus the patient record, how to make a running game, and the inputs it
needs from the station's devices (``games.events.FEET`` / ``BALANCE``: ``start_game`` refuses a
game the connected devices cannot feed).

Accepted ``start_game`` settings (all optional; see each game's ``*_SETTING_FIELDS``):

- ``stepping``: affected_side_share 0-1, trials 0-10000, dwell_s 0-5 s, inter_trial_s 0-30 s,
  home_radius_m 0.05-0.5 m, directions (anterior, anterolateral, lateral, posterolateral,
  posterior), seed 0-2^32; the clinical modes (docs/clinical-modes.md): mirror (bool),
  neglect_cueing (bool) with cue_idle_s 1-30 s, cue_after_misses 1-10, cue_share_step 0-0.3,
  affected_side_share_max 0-1, and vision (full | target_vanishes | foot_hidden) with
  vanish_after_s 0-10 s. Patient: affected side, step reach (or 0.6 x leg length).
- ``reaching``: stance (unaffected | affected | alternate), directions (the 8 SEBT names), order
  (random | cycle), trials, touch_min_s 0-1 s, touch_max_s 0.2-5 s, touch_force_share_max
  0.05-0.5, return_home (bool), return_max_s 1-15 s, inter_trial_s 0-30 s, home_radius_m
  0.03-0.3 m, stance_tolerance_m 0.02-0.15 m, cop_margin_m 0-0.15 m, seed. Patient: affected side
  (which leg stands), leg length (distances and %LL).
- ``weight_shift``: los_forward_m 0.02-0.3 m, los_backward_m 0.02-0.2 m, los_side_m 0.02-0.3 m,
  directions (forward, forward-right, right, backward-right, backward, backward-left, left,
  forward-left), order, trials, inter_trial_s 0-30 s, centre_radius_m 0.01-0.1 m, seed. Patient:
  affected side (names the result's foot for straight forward/backward targets).
- ``treadmill``: belt_speed_m_s 0-3 m/s (live: also changed while playing, by the therapist or the
  treadmill's ``belt`` message), step_width_m 0.05-0.4 m, spawn_distance_m 0.8-3 m, behind_m
  0.1-1 m, trials, seed. Patient: affected side (its foot gets the first target).
- ``assessment``: stages (quiet_eyes_open, quiet_eyes_closed, limits_of_stability, reach, walk,
  timed_stepping, and when chosen five_times_sit_to_stand, timed_up_and_go, four_square_step,
  ten_metre_walk; always run in that order), quiet_s 10-60 s, lean_directions (forward, backward,
  left, right), lean_s 5-20 s, lean_retries 0-3, reach_directions (the 8 SEBT names), reach_retries 0-3,
  walk_steps 4-50, timed_targets 2-32, ten_metre_paces (comfortable, fast), fsst_square_m 0.3-0.6 m,
  standard_max_s 30-300 s, ready_s 0-10 s, home_radius_m, seed. No difficulty: every assessment asks
  the same. Patient: affected side, leg length, step reach.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from games.assessment import (
    ASSESSMENT_DIRECTIONS,
    ASSESSMENT_PARAMETERS,
    ASSESSMENT_SETTING_FIELDS,
    AssessmentGame,
    AssessmentSettings,
)
from games.assessment.settings import STAGE_INPUTS
from games.base import Game
from games.events import BALANCE, FEET
from games.parameters import ParameterSpec
from games.reaching import REACHING_PARAMETERS, REACHING_SETTING_FIELDS, ReachingGame, ReachingSettings
from games.reaching.settings import DIRECTION_NAMES as REACH_DIRECTION_NAMES
from games.setting_fields import PatientInfo, SettingSpec
from games.stepping import STEPPING_PARAMETERS, SteppingGame, SteppingSettings
from games.stepping.settings import DIRECTION_NAMES as STEP_DIRECTION_NAMES
from games.stepping.settings import STEPPING_SETTING_FIELDS
from games.treadmill import (
    TREADMILL_PARAMETERS,
    TREADMILL_SETTING_FIELDS,
    TreadmillGame,
    TreadmillSettings,
)
from games.treadmill.settings import DIRECTION_NAMES as TREADMILL_DIRECTION_NAMES
from games.weight_shift import (
    WEIGHT_SHIFT_PARAMETERS,
    WEIGHT_SHIFT_SETTING_FIELDS,
    WeightShiftGame,
    WeightShiftSettings,
)
from games.weight_shift.settings import DIRECTION_NAMES as SHIFT_DIRECTION_NAMES


@dataclass(frozen=True, slots=True)
class GameEntry:
    """One startable game. ``settings_from(values, patient)`` raises ValueError on a bad value;
    ``make(settings, difficulty, start_s)`` starts it. ``directions`` are all the direction names
    its trials report (a session plays ``settings.directions``, a subset); with
    ``adapts_per_direction`` the server keeps one staircase per direction."""

    name: str
    parameters: tuple[ParameterSpec, ...]
    settings_type: type
    setting_fields: tuple[SettingSpec, ...]
    settings_from: Callable[[Mapping[str, Any], PatientInfo], Any]
    make: Callable[[Any, dict[str, float], float], Game]
    directions: tuple[str, ...]
    adapts_per_direction: bool
    # Settings a therapist may change while the game runs (``set_difficulty`` ``settings``).
    live_settings: tuple[str, ...] = ()
    # The inputs (``games.events.FEET`` / ``BALANCE``) every session of it needs; or, with
    # ``needs_by_choice`` (a setting, and the input each of its values needs), the inputs of the
    # values a session chose (the assessment's stages).
    needs: frozenset[str] = frozenset({FEET})
    needs_by_choice: tuple[str, Mapping[str, str]] | None = None

    def inputs(self, settings: Any) -> frozenset[str]:
        """What a session with these settings needs from the station's devices."""
        if self.needs_by_choice is None:
            return self.needs
        setting, by_value = self.needs_by_choice
        return frozenset(by_value[value] for value in getattr(settings, setting))

    def playable_with(self, provided: frozenset[str]) -> str | None:
        """How this game can be played with only these inputs: its name, its name and the choices
        those inputs allow, or None."""
        if self.needs_by_choice is None:
            return self.name if self.needs <= provided else None
        setting, by_value = self.needs_by_choice
        allowed = [value for value, need in by_value.items() if need in provided]
        if len(allowed) == len(by_value):
            return self.name
        return f"{self.name} ({setting}: {', '.join(allowed)})" if allowed else None


GAMES: dict[str, GameEntry] = {
    "stepping": GameEntry(
        "stepping", STEPPING_PARAMETERS, SteppingSettings, STEPPING_SETTING_FIELDS,
        SteppingSettings.from_request, SteppingGame, STEP_DIRECTION_NAMES, SteppingGame.adapts_per_direction,
        live_settings=("affected_side_share",),
    ),
    "reaching": GameEntry(
        "reaching", REACHING_PARAMETERS, ReachingSettings, REACHING_SETTING_FIELDS,
        ReachingSettings.from_request, ReachingGame, REACH_DIRECTION_NAMES, ReachingGame.adapts_per_direction,
        live_settings=("touch_max_s", "touch_force_share_max"),
    ),
    "weight_shift": GameEntry(
        "weight_shift", WEIGHT_SHIFT_PARAMETERS, WeightShiftSettings, WEIGHT_SHIFT_SETTING_FIELDS,
        WeightShiftSettings.from_request, WeightShiftGame, SHIFT_DIRECTION_NAMES,
        WeightShiftGame.adapts_per_direction, needs=frozenset({BALANCE}),
    ),
    "treadmill": GameEntry(
        "treadmill", TREADMILL_PARAMETERS, TreadmillSettings, TREADMILL_SETTING_FIELDS,
        TreadmillSettings.from_request, TreadmillGame, TREADMILL_DIRECTION_NAMES, TreadmillGame.adapts_per_direction,
        live_settings=("belt_speed_m_s",),
    ),
    "assessment": GameEntry(
        "assessment", ASSESSMENT_PARAMETERS, AssessmentSettings, ASSESSMENT_SETTING_FIELDS,
        AssessmentSettings.from_request, AssessmentGame, ASSESSMENT_DIRECTIONS, AssessmentGame.adapts_per_direction,
        needs_by_choice=("stages", STAGE_INPUTS),
    ),
}



def playable_with(provided: frozenset[str]) -> list[str]:
    """Every game (with its allowed choices) these inputs can play, for a refusal to name."""
    return [how for entry in GAMES.values() if (how := entry.playable_with(provided)) is not None]


GAME_PARAMETERS: dict[str, tuple[ParameterSpec, ...]] = {name: g.parameters for name, g in GAMES.items()}
