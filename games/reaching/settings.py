"""Reaching game settings: difficulty parameters, the eight SEBT directions, session settings.

Directions are named relative to the *stance* leg, as in the Star Excursion Balance Test, and
measured from the stance foot's spot. With the angle ``a`` of :data:`REACH_DIRECTIONS` (from anterior
toward the stance leg's medial side) the unit vector in the patient frame is::

    (x, y) = (medial_sign * sin a, cos a),   medial_sign = -1 for right-leg stance, +1 for left-leg

So for right-leg stance (the left foot reaches) medial is -x (to the patient's left, the reaching
foot's own side) and lateral is +x. The reaching foot crosses the stance foot for the lateral
directions: in front of it for anterolateral, behind it for lateral and posterolateral, as in the
SEBT. Posteromedial is behind and to the reaching foot's side, without crossing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from games.events import Side
from games.parameters import ParameterSpec
from games.setting_fields import PatientInfo, SettingSpec, apply_settings
from games.trials import TRIAL_ORDERS

REACHING_PARAMETERS: tuple[ParameterSpec, ...] = (
    ParameterSpec(
        name="reach_frac_ll",
        unit="fraction of leg length",
        minimum=0.20,
        maximum=1.20,
        default_low=0.30,
        default_high=0.90,
        harder_when_larger=True,
        description="distance from the stance foot to the target centre along the direction, as a "
        "fraction of the patient's leg length (ASIS to medial malleolus)",
    ),
    ParameterSpec(
        name="target_radius_m",
        unit="m",
        minimum=0.03,
        maximum=0.25,
        default_low=0.05,
        default_high=0.15,
        harder_when_larger=False,
        description="radius of the floor target to touch",
    ),
    ParameterSpec(
        name="time_window_s",
        unit="s",
        minimum=1.0,
        maximum=15.0,
        default_low=2.0,
        default_high=8.0,
        harder_when_larger=False,
        description="time from the target appearing to the reaching foot touching down",
    ),
)

# (name, angle in degrees from anterior toward the stance leg's medial side), clockwise round the
# star for right-leg stance as drawn from above.
REACH_DIRECTIONS: tuple[tuple[str, float], ...] = (
    ("anterior", 0.0),
    ("anteromedial", 45.0),
    ("medial", 90.0),
    ("posteromedial", 135.0),
    ("posterior", 180.0),
    ("posterolateral", 225.0),
    ("lateral", 270.0),
    ("anterolateral", 315.0),
)
DIRECTION_NAMES: tuple[str, ...] = tuple(name for name, _ in REACH_DIRECTIONS)
# Which leg stands, relative to the patient's affected side; "alternate" swaps every trial.
STANCE_CHOICES = ("unaffected", "affected", "alternate")


@dataclass(frozen=True, slots=True)
class ReachingSettings:
    """Session settings a therapist picks before starting; they do not adapt.

    ``stance_side`` is the leg the patient stands on (the other reaches); with ``alternate_legs``
    the legs swap every trial, starting with ``stance_side``. ``trials`` = 0 plays until stopped.
    A touch shorter than ``touch_min_s`` is a scuff and the reach goes on; one longer than
    ``touch_max_s`` is resting on the foot (a fault), as is a touch carrying more than
    ``touch_force_share_max`` of the weight when a mat measures each foot's force. The stance foot
    may drift ``stance_tolerance_m`` from where it stood when the target appeared. While the
    reaching foot is in the air the centre of pressure must stay within the stance foot's outline
    (``foot_half_length_m`` x ``foot_half_width_m`` around its tracked point) plus ``cop_margin_m``.
    With ``return_home`` the trial ends only when the reaching foot is back within ``home_radius_m``
    of its home spot, at most ``return_max_s`` after the touch ended. Home spots are
    ``stance_half_width_m`` either side of the origin: narrower than for stepping, as the SEBT starts
    with the feet together at the centre of the star (a medial target near the lower distance limit
    can still overlap the reaching foot's home circle).
    """

    stance_side: Side = Side.RIGHT
    alternate_legs: bool = False
    leg_length_m: float = 0.9
    directions: tuple[str, ...] = DIRECTION_NAMES
    order: str = "random"
    trials: int = 0
    touch_min_s: float = 0.0
    touch_max_s: float = 1.0
    touch_force_share_max: float = 0.25
    return_home: bool = True
    return_max_s: float = 5.0
    inter_trial_s: float = 1.0
    home_radius_m: float = 0.08
    stance_tolerance_m: float = 0.05
    stance_half_width_m: float = 0.06
    lift_height_m: float = 0.025
    plant_height_m: float = 0.015
    foot_half_length_m: float = 0.12
    foot_half_width_m: float = 0.045
    cop_margin_m: float = 0.03
    seed: int | None = None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["stance_side"] = self.stance_side.value
        data["directions"] = list(self.directions)
        return data

    @classmethod
    def from_request(cls, values: Mapping[str, Any], patient: PatientInfo) -> ReachingSettings:
        """Settings from a therapist's checked ``start_game`` values (see
        :data:`REACHING_SETTING_FIELDS`) and the patient record. ``stance`` defaults to
        ``unaffected``: the paretic leg reaches while the stronger one stands."""
        values = dict(values)
        stance = values.pop("stance", None) or "unaffected"
        if stance not in STANCE_CHOICES:
            raise ValueError(f"setting 'stance' must be one of {', '.join(STANCE_CHOICES)}")
        side = patient.affected_side if stance == "affected" else patient.affected_side.other
        base = cls(stance_side=side, alternate_legs=stance == "alternate", leg_length_m=patient.leg_length_m)
        return apply_settings(base, _DATACLASS_FIELDS, values)


_DATACLASS_FIELDS: tuple[SettingSpec, ...] = (
    SettingSpec("directions", "choices", choices=DIRECTION_NAMES,
                description="directions to reach in, named relative to the stance leg"),
    SettingSpec("order", "choice", choices=TRIAL_ORDERS,
                description="random (seeded) or cycle through 'directions' in the order given"),
    SettingSpec("trials", "integer", 0, 10_000, description="trials in the session; 0 = until stopped"),
    SettingSpec("touch_min_s", "number", 0.0, 1.0, "s", description="shorter contacts are scuffs"),
    SettingSpec("touch_max_s", "number", 0.2, 5.0, "s",
                description="a longer touch is resting on the reaching foot (fault)"),
    SettingSpec("touch_force_share_max", "number", 0.05, 0.5,
                description="share of both feet's force the touching foot may carry (mat only)"),
    SettingSpec("return_home", "boolean", description="the foot must come back home to finish"),
    SettingSpec("return_max_s", "number", 1.0, 15.0, "s", description="time to get back home"),
    SettingSpec("inter_trial_s", "number", 0.0, 30.0, "s",
                description="both feet home this long before the next target"),
    SettingSpec("home_radius_m", "number", 0.03, 0.3, "m", description="how near home counts as home"),
    SettingSpec("stance_tolerance_m", "number", 0.02, 0.15, "m",
                description="how far the stance foot may drift before it is a fault"),
    SettingSpec("cop_margin_m", "number", 0.0, 0.15, "m",
                description="how far the centre of pressure may leave the stance foot's outline"),
    SettingSpec("seed", "integer", 0, 2**32, description="random seed, for a reproducible order"),
)
# Accepted start_game settings; leg length and the sides come from the patient record.
REACHING_SETTING_FIELDS: tuple[SettingSpec, ...] = (
    SettingSpec("stance", "choice", choices=STANCE_CHOICES,
                description="which leg stands: the unaffected (default), the affected, or alternate"),
    *_DATACLASS_FIELDS,
)
