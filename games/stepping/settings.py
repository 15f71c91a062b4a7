"""Stepping game settings: the adaptive difficulty parameters and the fixed session settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from games import frame
from games.events import Side
from games.parameters import ParameterSpec
from games.setting_fields import PatientInfo, SettingSpec, apply_settings

STEPPING_PARAMETERS: tuple[ParameterSpec, ...] = (
    ParameterSpec(
        name="step_distance_frac",
        unit="fraction of reach",
        minimum=0.10,
        maximum=1.20,
        default_low=0.30,
        default_high=1.00,
        harder_when_larger=True,
        description="distance from the foot's home spot to the target centre, as a fraction of the "
        "patient's measured step reach",
    ),
    ParameterSpec(
        name="target_radius_m",
        unit="m",
        minimum=0.03,
        maximum=0.25,
        default_low=0.05,
        default_high=0.20,
        harder_when_larger=False,
        description="radius of the floor target",
    ),
    ParameterSpec(
        name="time_window_s",
        unit="s",
        minimum=0.6,
        maximum=15.0,
        default_low=1.5,
        default_high=6.0,
        harder_when_larger=False,
        description="time from the target appearing to the foot landing in it",
    ),
)

# Directions relative to the stepping foot, as (name, angle from forward toward that foot's lateral
# side in degrees). Stepping across the midline is left out: it risks a fall for hemiparetic gait.
STEP_DIRECTIONS: tuple[tuple[str, float], ...] = (
    ("anterior", 0.0),
    ("anterolateral", 45.0),
    ("lateral", 90.0),
    ("posterolateral", 135.0),
    ("posterior", 180.0),
)
DIRECTION_NAMES: tuple[str, ...] = tuple(name for name, _ in STEP_DIRECTIONS)
# Step reach assumed when the patient's was never measured: a fraction of leg length.
REACH_PER_LEG_LENGTH = 0.6
# Proprioception training: what the headset stops drawing (docs/clinical-modes.md).
VISION_MODES: tuple[str, ...] = ("full", "target_vanishes", "foot_hidden")


@dataclass(frozen=True, slots=True)
class SteppingSettings:
    """Session settings a therapist picks before starting; they do not adapt.

    ``affected_side_share`` is the share of targets for the affected foot (0..1).
    ``trials`` is how many trials make the session (0 = until stopped).
    Heights use hysteresis: a foot is lifted above ``lift_height_m`` and planted again below
    ``plant_height_m`` (only when the device gives no contact flag).
    """

    affected_side: Side = Side.LEFT
    affected_side_share: float = 0.7
    reach_m: float = 0.6
    trials: int = 0
    dwell_s: float = 0.5
    inter_trial_s: float = 0.5
    home_radius_m: float = 0.15
    stance_half_width_m: float = 0.10
    lift_height_m: float = 0.025
    plant_height_m: float = 0.015
    directions: tuple[str, ...] = field(default_factory=lambda: tuple(n for n, _ in STEP_DIRECTIONS))
    seed: int | None = None
    # Mirror therapy: the sound foot drives the affected foot's avatar (docs/clinical-modes.md).
    mirror: bool = False
    # Neglect cueing: cue the affected foot when it stays still or keeps missing, and raise its
    # share of targets by ``cue_share_step`` per cue, up to ``affected_side_share_max``.
    neglect_cueing: bool = False
    cue_idle_s: float = 3.0
    cue_after_misses: int = 2
    cue_share_step: float = 0.05
    affected_side_share_max: float = 0.9
    # Proprioception training: ``full``, ``target_vanishes`` (at lift-off, or ``vanish_after_s``
    # after the target appears when that is > 0 and comes first) or ``foot_hidden``.
    vision: str = "full"
    vanish_after_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["affected_side"] = self.affected_side.value
        data["directions"] = list(self.directions)
        return data

    @classmethod
    def from_request(cls, values: Mapping[str, Any], patient: PatientInfo) -> SteppingSettings:
        """Settings from a therapist's checked ``start_game`` values (see
        :data:`STEPPING_SETTING_FIELDS`) and the patient record: the measured step reach, or
        ``REACH_PER_LEG_LENGTH`` of the leg length when it was never measured."""
        reach = patient.step_reach_m or REACH_PER_LEG_LENGTH * patient.leg_length_m
        base = cls(affected_side=patient.affected_side, reach_m=reach)
        settings = apply_settings(base, STEPPING_SETTING_FIELDS, values)
        if settings.neglect_cueing and settings.affected_side_share_max < settings.affected_side_share:
            raise ValueError(
                f"setting 'affected_side_share_max' ({settings.affected_side_share_max}) must be at least "
                f"'affected_side_share' ({settings.affected_side_share}): cues only raise the share"
            )
        if settings.neglect_cueing and settings.mirror:
            raise ValueError("settings 'mirror' and 'neglect_cueing' cannot be combined: in mirror mode the "
                             "affected foot's avatar follows the sound foot, so its own stillness is not seen")
        return settings


STEPPING_SETTING_FIELDS: tuple[SettingSpec, ...] = (
    SettingSpec("affected_side_share", "number", 0.0, 1.0,
                description="share of targets for the affected foot"),
    SettingSpec("trials", "integer", 0, 10_000, description="trials in the session; 0 = until stopped"),
    SettingSpec("dwell_s", "number", 0.0, 5.0, "s", description="how long to stand in the target"),
    SettingSpec("inter_trial_s", "number", 0.0, 30.0, "s",
                description="both feet home this long before the next target"),
    SettingSpec("home_radius_m", "number", 0.05, 0.5, "m", description="how near home counts as home"),
    SettingSpec("directions", "choices", choices=DIRECTION_NAMES,
                description="step directions, relative to the stepping foot"),
    SettingSpec("seed", "integer", 0, 2**32, description="random seed, for a reproducible order"),
    SettingSpec("mirror", "boolean",
                description="mirror therapy: the affected foot's avatar mirrors the sound foot"),
    SettingSpec("neglect_cueing", "boolean",
                description="neglect cueing: cue the affected foot when it stays still or keeps missing"),
    SettingSpec("cue_idle_s", "number", 1.0, 30.0, "s",
                description="cue when the affected foot stays still this long while its target is up"),
    SettingSpec("cue_after_misses", "integer", 1, 10,
                description="cue after this many affected-side targets missed in a row"),
    SettingSpec("cue_share_step", "number", 0.0, 0.3,
                description="added to the affected-side share per cue"),
    SettingSpec("affected_side_share_max", "number", 0.0, 1.0,
                description="ceiling for the affected-side share raised by cues"),
    SettingSpec("vision", "choice", choices=VISION_MODES,
                description="proprioception training: full, target_vanishes or foot_hidden"),
    SettingSpec("vanish_after_s", "number", 0.0, 10.0, "s",
                description="target_vanishes: hide the target this long after it appears; 0 = at lift-off"),
)


def home_spot(side: Side, settings: SteppingSettings) -> tuple[float, float]:
    """Where a foot stands at rest, in metres in the patient frame."""
    return frame.home_spot(side, settings.stance_half_width_m)
