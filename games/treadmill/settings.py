"""Treadmill stepping-targets settings: the adaptive difficulty parameters and the session settings.

The belt speed is a *live* setting: the therapist's slider or the treadmill itself (a device
``belt`` message) changes it while the game runs, and it moves every target already on the belt.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from games.events import Side
from games.parameters import ParameterSpec
from games.setting_fields import PatientInfo, SettingSpec, apply_settings

TREADMILL_PARAMETERS: tuple[ParameterSpec, ...] = (
    ParameterSpec(
        name="step_length_m",
        unit="m",
        minimum=0.15,
        maximum=0.90,
        default_low=0.25,
        default_high=0.60,
        harder_when_larger=True,
        description="spacing of consecutive (left/right) targets along the belt: the step length "
        "the patient must make to hit every target",
    ),
    ParameterSpec(
        name="target_radius_m",
        unit="m",
        minimum=0.04,
        maximum=0.25,
        default_low=0.06,
        default_high=0.15,
        harder_when_larger=False,
        description="radius of each belt target",
    ),
)

# Every target asks for a step straight ahead: one direction, on the common compass (azimuth 0).
DIRECTION = "forward"
DIRECTION_NAMES: tuple[str, ...] = (DIRECTION,)


@dataclass(frozen=True, slots=True)
class TreadmillSettings:
    """Session settings. Lengths are metres in the patient frame (+y forward), speeds m/s.

    Targets appear ``spawn_distance_m`` ahead of the patient and are scored as never attempted
    (``timeout``) once they pass ``behind_m`` behind the patient unhit. ``step_width_m`` is the
    distance between left and right targets' centres (they sit at x = +-step_width_m / 2).
    ``trials`` is how many targets make the session (0 = until stopped). The stream is fixed
    (alternating feet, the affected foot first), so ``seed`` draws nothing; it is accepted so every
    game's ``start_game`` takes one. Heights use the same hysteresis as the other games.
    """

    affected_side: Side = Side.LEFT
    belt_speed_m_s: float = 0.6
    step_width_m: float = 0.18
    spawn_distance_m: float = 1.5
    behind_m: float = 0.4
    trials: int = 0
    seed: int | None = None
    stance_half_width_m: float = 0.10
    lift_height_m: float = 0.025
    plant_height_m: float = 0.015

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["affected_side"] = self.affected_side.value
        return data

    @classmethod
    def from_request(cls, values: Mapping[str, Any], patient: PatientInfo) -> TreadmillSettings:
        """Settings from a therapist's checked ``start_game`` values (see
        :data:`TREADMILL_SETTING_FIELDS`) and the patient record (the affected side starts the
        stream)."""
        return apply_settings(cls(affected_side=patient.affected_side), TREADMILL_SETTING_FIELDS, values)


TREADMILL_SETTING_FIELDS: tuple[SettingSpec, ...] = (
    SettingSpec("belt_speed_m_s", "number", 0.0, 3.0, "m/s",
                description="treadmill belt speed: how fast targets scroll toward the patient (live)"),
    SettingSpec("step_width_m", "number", 0.05, 0.4, "m",
                description="distance across between left and right targets"),
    SettingSpec("spawn_distance_m", "number", 0.8, 3.0, "m",
                description="how far ahead of the patient targets appear"),
    SettingSpec("behind_m", "number", 0.1, 1.0, "m",
                description="a target this far behind the patient unhit is scored as not attempted"),
    SettingSpec("trials", "integer", 0, 10_000, description="targets in the session; 0 = until stopped"),
    SettingSpec("seed", "integer", 0, 2**32, description="random seed (the target stream draws nothing)"),
)
