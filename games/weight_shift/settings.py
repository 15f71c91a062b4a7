"""Weight-shift game settings: difficulty parameters, directions, limits of stability, session.

Directions are in the patient frame (not relative to a leg): forward is +y, right is +x. Targets are
placed from the centre at a share of the patient's limits of stability (LOS) in that direction. The
centre is the patient frame's origin (midway between the feet at calibration) unless the therapist
gives the patient's own quiet-standing centre of pressure (``centre_x_m``, ``centre_y_m``, which
an assessment measures): after a stroke many patients stand with their weight off to the sound
side, and a centre they cannot settle on would keep every trial from starting.

LOS defaults are healthy-adult ballparks for the centre of pressure, measured from the midpoint
between the feet in a comfortable stance: about 0.12 m forward (the COP can travel most of the way
to the toes), 0.06 m backward (the heel is close behind the ankle) and 0.14 m to each side (out to
the lateral edge of each foot). Patients after stroke often reach far less, and less toward the
paretic side: measure the patient's own LOS and enter it. Between the axes the LOS follows a
half-ellipse, ``r = 1 / sqrt((sin a / side)^2 + (cos a / fwd_or_back)^2)`` for azimuth ``a``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from games.events import Side
from games.parameters import ParameterSpec
from games.setting_fields import PatientInfo, SettingSpec, apply_settings
from games.trials import TRIAL_ORDERS

WEIGHT_SHIFT_PARAMETERS: tuple[ParameterSpec, ...] = (
    ParameterSpec(
        name="target_share_los",
        unit="fraction of LOS",
        minimum=0.20,
        maximum=1.00,
        default_low=0.30,
        default_high=0.80,
        harder_when_larger=True,
        description="distance from the centre to the target, as a share of the patient's limit of "
        "stability in that direction",
    ),
    ParameterSpec(
        name="target_radius_m",
        unit="m",
        minimum=0.01,
        maximum=0.10,
        default_low=0.02,
        default_high=0.06,
        harder_when_larger=False,
        description="radius of the target the pressure cursor must stay in",
    ),
    ParameterSpec(
        name="hold_s",
        unit="s",
        minimum=0.0,
        maximum=5.0,
        default_low=0.5,
        default_high=2.0,
        harder_when_larger=True,
        description="how long the cursor must stay in the target without leaving it",
    ),
    ParameterSpec(
        name="time_window_s",
        unit="s",
        minimum=1.0,
        maximum=15.0,
        default_low=3.0,
        default_high=10.0,
        harder_when_larger=False,
        description="time from the target appearing to reach it; the hold may run hold_s beyond",
    ),
)

# (name, patient-frame azimuth in degrees: 0 forward, 90 right)
SHIFT_DIRECTIONS: tuple[tuple[str, float], ...] = (
    ("forward", 0.0),
    ("forward-right", 45.0),
    ("right", 90.0),
    ("backward-right", 135.0),
    ("backward", 180.0),
    ("backward-left", 225.0),
    ("left", 270.0),
    ("forward-left", 315.0),
)
DIRECTION_NAMES: tuple[str, ...] = tuple(name for name, _ in SHIFT_DIRECTIONS)


@dataclass(frozen=True, slots=True)
class WeightShiftSettings:
    """Session settings a therapist picks before starting; they do not adapt.

    A trial starts once the cursor has stayed within ``centre_radius_m`` of the centre, with every
    tracked foot on the floor, for ``inter_trial_s``. ``trials`` = 0 plays until stopped. Feet are
    tracked only to catch a step (a foot lifting above ``lift_height_m``, or a mat's contact off):
    the game is played standing on both feet. ``affected_side`` names the result's ``foot`` for
    straight forward/backward targets (sideways targets name the leg they load).
    """

    affected_side: Side = Side.LEFT
    los_forward_m: float = 0.12
    los_backward_m: float = 0.06
    los_side_m: float = 0.14
    directions: tuple[str, ...] = DIRECTION_NAMES
    order: str = "random"
    trials: int = 0
    inter_trial_s: float = 1.0
    centre_radius_m: float = 0.03
    centre_x_m: float = 0.0
    centre_y_m: float = 0.0
    stance_half_width_m: float = 0.10
    lift_height_m: float = 0.025
    plant_height_m: float = 0.015
    seed: int | None = None

    def los_m(self, azimuth_deg: float) -> float:
        """The limit of stability along a patient-frame azimuth (half-ellipse between the axes)."""
        rad = math.radians(azimuth_deg)
        sx, cy = math.sin(rad), math.cos(rad)
        sagittal = self.los_forward_m if cy >= 0.0 else self.los_backward_m
        return 1.0 / math.hypot(sx / self.los_side_m, cy / sagittal)

    @property
    def centre_m(self) -> tuple[float, float]:
        """Where the cursor rests between trials and targets are placed from (patient frame)."""
        return self.centre_x_m, self.centre_y_m

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["affected_side"] = self.affected_side.value
        data["directions"] = list(self.directions)
        return data

    @classmethod
    def from_request(cls, values: Mapping[str, Any], patient: PatientInfo) -> WeightShiftSettings:
        """Settings from a therapist's checked ``start_game`` values (see
        :data:`WEIGHT_SHIFT_SETTING_FIELDS`) and the patient record."""
        return apply_settings(cls(affected_side=patient.affected_side), WEIGHT_SHIFT_SETTING_FIELDS, values)


# A quiet-standing centre further than this from the midpoint is not standing on both feet.
MAX_CENTRE_OFFSET_M = 0.15

WEIGHT_SHIFT_SETTING_FIELDS: tuple[SettingSpec, ...] = (
    SettingSpec("los_forward_m", "number", 0.02, 0.30, "m",
                description="limit of stability forward of the centre (measured, or the default)"),
    SettingSpec("los_backward_m", "number", 0.02, 0.20, "m", description="limit of stability backward"),
    SettingSpec("los_side_m", "number", 0.02, 0.30, "m", description="limit of stability to each side"),
    SettingSpec("directions", "choices", choices=DIRECTION_NAMES, description="target directions"),
    SettingSpec("order", "choice", choices=TRIAL_ORDERS,
                description="random (seeded) or cycle through 'directions' in the order given"),
    SettingSpec("trials", "integer", 0, 10_000, description="trials in the session; 0 = until stopped"),
    SettingSpec("inter_trial_s", "number", 0.0, 30.0, "s",
                description="cursor at the centre this long before the next target"),
    SettingSpec("centre_radius_m", "number", 0.01, 0.10, "m", description="how near the centre counts"),
    SettingSpec("centre_x_m", "number", -MAX_CENTRE_OFFSET_M, MAX_CENTRE_OFFSET_M, "m",
                description="the patient's quiet-standing centre, right (+) of the midpoint between the feet"),
    SettingSpec("centre_y_m", "number", -MAX_CENTRE_OFFSET_M, MAX_CENTRE_OFFSET_M, "m",
                description="the patient's quiet-standing centre, forward (+) of the midpoint between the feet"),
    SettingSpec("seed", "integer", 0, 2**32, description="random seed, for a reproducible order"),
)
