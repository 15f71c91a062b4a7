"""Assessment settings: which stages run and how long each is. Nothing adapts (no difficulty
parameters), so that one assessment compares with the next."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from games.events import BALANCE, FEET, PELVIS_HEIGHT, Side
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
# The instrumented standard measures (:mod:`games.assessment.standard`, :mod:`games.assessment.four_square`).
FIVE_STS = "five_times_sit_to_stand"
TUG = "timed_up_and_go"
FSST = "four_square_step"
TEN_METRE_WALK = "ten_metre_walk"
QUIET_STAGES = (QUIET_EYES_OPEN, QUIET_EYES_CLOSED)
STANDARD_STAGES: tuple[str, ...] = (FIVE_STS, TUG, FSST, TEN_METRE_WALK)
# The protocol's order: a session runs the chosen stages in this order whatever order they are
# given in, so every assessment of a patient is done alike (fatigue and learning fall the same way).
STAGE_NAMES: tuple[str, ...] = (QUIET_EYES_OPEN, QUIET_EYES_CLOSED, LIMITS_OF_STABILITY, REACH, WALK,
                                TIMED_STEPPING, *STANDARD_STAGES)
# What an assessment runs unless the therapist chooses: StrideVR's own protocol. The standard
# measures need a chair, a walkway or floor squares, so they run when chosen (with it or alone).
DEFAULT_STAGES: tuple[str, ...] = STAGE_NAMES[: -len(STANDARD_STAGES)]
# The input each stage plays on: standing and leaning follow the weight, the rest the feet; the
# chair and walking tests follow a tracker's pelvis marker (its height and path).
STAGE_INPUTS: dict[str, str] = {QUIET_EYES_OPEN: BALANCE, QUIET_EYES_CLOSED: BALANCE, LIMITS_OF_STABILITY: BALANCE,
                                REACH: FEET, WALK: FEET, TIMED_STEPPING: FEET, FIVE_STS: PELVIS_HEIGHT,
                                TUG: PELVIS_HEIGHT, FSST: FEET, TEN_METRE_WALK: PELVIS_HEIGHT}
# The 10-metre walk: the patient walks the whole course, timed over its middle 6 m (the first and
# last 2 m are for speeding up and slowing down).
TEN_METRE_COURSE_M = 10.0
TEN_METRE_TIMED_FROM_M = 2.0
TEN_METRE_TIMED_TO_M = 8.0
TEN_METRE_PACES: tuple[str, ...] = ("comfortable", "fast")
TUG_TURN_LINE_M = 3.0
FIVE_STS_STANDS = 5
# The Four Square Step Test's squares, numbered as Dite & Temple (2002) did: 1 back-left (where the
# patient starts, facing 2), 2 front-left, 3 front-right, 4 back-right; and the order they are
# stepped into (forward, right, back, left, then right, forward, left, back).
FSST_SEQUENCE: tuple[int, ...] = (1, 2, 3, 4, 1, 4, 3, 2, 1)
# Limits-of-stability leans: the weight-shift game's names and patient-frame azimuths (0 forward,
# 90 right) of its four straight directions, so a measured limit is the one the game uses.
LEAN_DIRECTIONS: tuple[str, ...] = ("forward", "backward", "left", "right")
LEAN_AZIMUTH_DEG: dict[str, float] = {name: dict(SHIFT_DIRECTIONS)[name] for name in LEAN_DIRECTIONS}

# Assessment does not adapt: no staircase parameters.
ASSESSMENT_PARAMETERS: tuple[ParameterSpec, ...] = ()
# Every direction name an assessment's results report (quiet stages report their stage name).
ASSESSMENT_DIRECTIONS: tuple[str, ...] = tuple(dict.fromkeys(
    (*QUIET_STAGES, *LEAN_DIRECTIONS, *REACH_DIRECTION_NAMES, WALK, *STEP_DIRECTION_NAMES, *TEN_METRE_PACES, TUG,
     FIVE_STS, FSST)))


@dataclass(frozen=True, slots=True)
class AssessmentSettings:
    """``quiet_s``: each quiet-standing stage's duration. ``lean_directions``: the limits-of-
    stability leans (always in the order of :data:`LEAN_DIRECTIONS`), ``lean_s`` each; a lean
    ended by a step is done again up to ``lean_retries`` times. ``reach_directions``: the SEBT
    directions, done standing on the unaffected leg, then on the affected leg; a reach that faults
    or times out is tried again up to ``reach_retries`` times (as the SEBT repeats a failed trial).
    ``walk_steps``: steps of comfortable walking (or stepping in place). ``timed_targets``: stepping
    targets as fast as possible, alternating feet. Every stage's timing starts once both feet have
    been home for ``ready_s``. ``step_reach_m`` places the timed stepping targets.

    The standard measures: ``ten_metre_paces`` (comfortable, fast: one walk each), the Four Square
    Step Test's ``fsst_square_m`` (each square's side), and ``standard_max_s``, after which a chair,
    walking or square test the patient does not finish ends as timed out."""

    affected_side: Side = Side.LEFT
    leg_length_m: float = 0.9
    step_reach_m: float = REACH_PER_LEG_LENGTH * 0.9
    stages: tuple[str, ...] = DEFAULT_STAGES
    quiet_s: float = 30.0
    lean_directions: tuple[str, ...] = LEAN_DIRECTIONS
    lean_s: float = 8.0
    lean_retries: int = 1
    reach_directions: tuple[str, ...] = REACH_DIRECTION_NAMES
    reach_retries: int = 1
    walk_steps: int = 10
    timed_targets: int = 8
    ten_metre_paces: tuple[str, ...] = TEN_METRE_PACES
    fsst_square_m: float = 0.45
    standard_max_s: float = 120.0
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
        data["ten_metre_paces"] = list(self.ten_metre_paces)
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
    SettingSpec("ten_metre_paces", "choices", choices=TEN_METRE_PACES,
                description="10-metre walks: at the comfortable pace, as fast as safely possible (in that order)"),
    SettingSpec("fsst_square_m", "number", 0.3, 0.6, "m", description="Four Square Step Test: each square's side"),
    SettingSpec("standard_max_s", "number", 30.0, 300.0, "s",
                description="a chair, walking or square test not finished by then ends as timed out"),
    SettingSpec("ready_s", "number", 0.0, 10.0, "s",
                description="feet home this long before a stage's timing starts"),
    SettingSpec("home_radius_m", "number", 0.05, 0.5, "m", description="how near home counts as home"),
    SettingSpec("seed", "integer", 0, 2**32, description="random seed"),
)
