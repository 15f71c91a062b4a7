"""Stepping game settings: the adaptive difficulty parameters and the fixed session settings."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from games.events import Side
from games.parameters import ParameterSpec

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

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["affected_side"] = self.affected_side.value
        data["directions"] = list(self.directions)
        return data


def home_spot(side: Side, settings: SteppingSettings) -> tuple[float, float]:
    """Where a foot stands at rest, in metres in the patient frame."""
    return side.lateral_sign * settings.stance_half_width_m, 0.0
