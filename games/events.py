"""Normalised foot events: the single input type every game consumes.

Coordinates are in the *patient frame*: origin on the floor midway between the feet at calibration,
+y forward, +x to the patient's right, +z up, all in metres.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Side(StrEnum):
    LEFT = "L"
    RIGHT = "R"

    @property
    def other(self) -> Side:
        return Side.RIGHT if self is Side.LEFT else Side.LEFT

    @property
    def lateral_sign(self) -> float:
        """+1 for the right foot (lateral is +x), -1 for the left foot."""
        return 1.0 if self is Side.RIGHT else -1.0


@dataclass(frozen=True, slots=True)
class FootEvent:
    """One foot's position at one instant, already in the patient frame.

    ``contact`` is the device's own contact decision (pressure mat, force plate); ``None`` means the
    device does not know, and games fall back to the height ``z_m``.
    """

    side: Side
    x_m: float
    y_m: float
    z_m: float
    contact: bool | None
    force_n: float | None
    device_time_s: float
    seq: int
