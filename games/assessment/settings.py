"""Assessment settings: which stages run and how long each is. Nothing adapts (no difficulty
parameters), so that one assessment compares with the next."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from games.events import BALANCE, FEET, Side
from games.parameters import ParameterSpec
from games.reaching.settings import DIRECTION_NAMES as REACH_DIRECTION_NAMES
from games.setting_fields import PatientInfo, SettingSpec, apply_settings
from games.stepping.settings import DIRECTION_NAMES as STEP_DIRECTION_NAMES
from games.stepping.settings import REACH_PER_LEG_LENGTH
from games.weight_shift.settings import SHIFT_DIRECTIONS

QUIET_EYES_OPEN = "quiet_eyes_open"
QUIET_EYES_CLOSED = "quiet_eyes_closed"
LIMITS_OF_STABILITY = "limits_of_stability"
REACH = "reach"
WALK = "walk"
TIMED_STEPPING = "timed_stepping"
QUIET_STAGES = (QUIET_EYES_OPEN, QUIET_EYES_CLOSED)
# The protocol's order: a session runs the chosen stages in this order whatever order they are
# given in, so every assessment of a patient is done alike (fatigue and learning fall the same way).
STAGE_NAMES: tuple[str, ...] = (QUIET_EYES_OPEN, QUIET_EYES_CLOSED, LIMITS_OF_STABILITY, REACH, WALK,
                                TIMED_STEPPING)
# The input each stage plays on: standing and leaning follow the weight, the rest the feet.
STAGE_INPUTS: dict[str, str] = {QUIET_EYES_OPEN: BALANCE, QUIET_EYES_CLOSED: BALANCE, LIMITS_OF_STABILITY: BALANCE,
                                REACH: FEET, WALK: FEET, TIMED_STEPPING: FEET}
# Limits-of-stability leans: the weight-shift game's names and patient-frame azimuths (0 forward,
# 90 right) of its four straight directions, so a measured limit is the one the game uses.
LEAN_DIRECTIONS: tuple[str, ...] = ("forward", "backward", "left", "right")
LEAN_AZIMUTH_DEG: dict[str, float] = {name: dict(SHIFT_DIRECTIONS)[name] for name in LEAN_DIRECTIONS}

# Assessment does not adapt: no staircase parameters.
ASSESSMENT_PARAMETERS: tuple[ParameterSpec, ...] = ()
# Every direction name an assessment's results report (quiet stages report their stage name).
ASSESSMENT_DIRECTIONS: tuple[str, ...] = tuple(dict.fromkeys(
    (*QUIET_STAGES, *LEAN_DIRECTIONS, *REACH_DIRECTION_NAMES, WALK, *STEP_DIRECTION_NAMES)))


@dataclass(frozen=True, slots=True)
class AssessmentSettings:
    """``quiet_s``: each quiet-standing stage's duration. ``lean_directions``: the limits-of-
    stability leans (always in the order of :data:`LEAN_DIRECTIONS`), ``lean_s`` each; a lean
    ended by a step is done again up to ``lean_retries`` times. ``reach_directions``: the SEBT
    directions, done standing on the unaffected leg, then on the affected leg; a reach that faults
    or times out is tried again up to ``reach_retries`` times (as the SEBT repeats a failed trial).
    ``walk_steps``: steps of comfortable walking (or stepping in place). ``timed_targets``: stepping
    targets as fast as possible, alternating feet. Every stage's timing starts once both feet have
    been home for ``ready_s``. ``step_reach_m`` places the timed stepping targets."""

    affected_side: Side = Side.LEFT
    leg_length_m: float = 0.9
    step_reach_m: float = REACH_PER_LEG_LENGTH * 0.9
    stages: tuple[str, ...] = STAGE_NAMES
    quiet_s: float = 30.0
    lean_directions: tuple[str, ...] = LEAN_DIRECTIONS
    lean_s: float = 8.0
    lean_retries: int = 1
    reach_directions: tuple[str, ...] = REACH_DIRECTION_NAMES
    reach_retries: int = 1
    walk_steps: int = 10
    timed_targets: int = 8
    ready_s: float = 1.0
    home_radius_m: float = 0.15
    stance_half_width_m: float = 0.10
    lift_height_m: float = 0.025
    plant_height_m: float = 0.015
    seed: int | None = None

    @property
    def stage_order(self) -> tuple[str, ...]:
        """The chosen stages in the protocol's order."""
        return tuple(name for name in STAGE_NAMES if name in self.stages)

    @property
    def lean_order(self) -> tuple[str, ...]:
        """The chosen leans in the protocol's order."""
        return tuple(name for name in LEAN_DIRECTIONS if name in self.lean_directions)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["affected_side"] = self.affected_side.value
        data["stages"] = list(self.stages)
        data["lean_directions"] = list(self.lean_directions)
        data["reach_directions"] = list(self.reach_directions)
        return data

    @classmethod
    def from_request(cls, values: Mapping[str, Any], patient: PatientInfo) -> AssessmentSettings:
        """Settings from checked ``start_game`` values and the patient record (affected side, leg
        length, step reach or ``REACH_PER_LEG_LENGTH`` of the leg length)."""
        reach = patient.step_reach_m or REACH_PER_LEG_LENGTH * patient.leg_length_m
        base = cls(affected_side=patient.affected_side, leg_length_m=patient.leg_length_m, step_reach_m=reach)
        return apply_settings(base, ASSESSMENT_SETTING_FIELDS, values)


ASSESSMENT_SETTING_FIELDS: tuple[SettingSpec, ...] = (
    SettingSpec("stages", "choices", choices=STAGE_NAMES,
                description="stages to run (always in the protocol's order)"),
    SettingSpec("quiet_s", "number", 10.0, 60.0, "s", description="duration of each quiet-standing stage"),
    SettingSpec("lean_directions", "choices", choices=LEAN_DIRECTIONS,
                description="limits-of-stability leans (always in the protocol's order)"),
    SettingSpec("lean_s", "number", 5.0, 20.0, "s",
                description="each limits-of-stability lean: lean as far as possible and hold"),
    SettingSpec("lean_retries", "integer", 0, 3,
                description="times a limits-of-stability lean ended by a step is done again"),
    SettingSpec("reach_directions", "choices", choices=REACH_DIRECTION_NAMES,
                description="SEBT directions, each done standing on either leg"),
    SettingSpec("reach_retries", "integer", 0, 3,
                description="times a faulted or timed-out reach is tried again"),
    SettingSpec("walk_steps", "integer", 4, 50, description="steps of comfortable walking or stepping in place"),
    SettingSpec("timed_targets", "integer", 2, 32, description="stepping targets of the timed task"),
    SettingSpec("ready_s", "number", 0.0, 10.0, "s",
                description="feet home this long before a stage's timing starts"),
    SettingSpec("home_radius_m", "number", 0.05, 0.5, "m", description="how near home counts as home"),
    SettingSpec("seed", "integer", 0, 2**32, description="random seed"),
)
