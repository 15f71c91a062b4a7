"""Normalised input events: what every device adapter produces and every game consumes.

Two kinds: :class:`FootEvent` (where one foot is) and :class:`BalanceEvent` (where the body's
weight acts on the floor). Trackers, pressure mats and force plates all end up as these.

Coordinates are in the *patient frame*: origin on the floor midway between the feet at calibration,
+y forward, +x to the patient's right, +z up, all in metres.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# The kinds of input a game can need, by the event that carries each: a device provides some
# (``server/device_kinds.py``), a game declares which it needs (``games/registry.py``).
FEET = "feet"  # FootEvent: where each foot is
BALANCE = "balance"  # BalanceEvent: where the weight acts (centre of pressure or pelvis proxy)
PELVIS_HEIGHT = "pelvis"  # BalanceEvent with a height (``z_m``): a tracker's pelvis marker, for chair and walking tests
GAME_INPUTS = frozenset({FEET, BALANCE, PELVIS_HEIGHT})
INPUT_WORDS = {FEET: "foot positions", BALANCE: "centre of pressure (or pelvis sway)",
               PELVIS_HEIGHT: "a pelvis marker's height and path"}

# A tracked foot marker, as trackers send it and gait analysis reads it: (side "L"/"R", marker).
FOOT_MARKERS = ("heel", "toe", "ankle")
MarkerKey = tuple[str, str]


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


@dataclass(slots=True)
class FootEvent:
    """One foot's position at one instant, already in the patient frame.

    ``contact`` is the device's own contact decision (pressure mat, force plate); ``None`` means the
    device does not know, and games fall back to the height ``z_m``.

    Never changed once built (``dataclasses.replace`` makes a new one), but not ``frozen``: one is
    built for every event a tracker sends, and a frozen dataclass takes five times as long to build
    (0.8 against 0.16 µs).
    """

    side: Side
    x_m: float
    y_m: float
    z_m: float
    contact: bool | None
    force_n: float | None
    device_time_s: float
    seq: int


@dataclass(frozen=True, slots=True)
class BalanceEvent:
    """Where the body's weight acts on the floor at one instant, in the patient frame (metres).

    ``source`` says what the point is: ``"cop"``, the centre of pressure measured by a mat or force
    plate; or ``"com_proxy"``, the floor projection of the pelvis centre from a motion tracker, a
    kinematic stand-in for the centre of mass that tracks the COP closely in slow weight shifts.
    ``force_n`` is the total vertical force and ``left_share`` the share of it under the left foot
    (0..1); either is ``None`` when the device cannot tell. ``z_m``: the pelvis marker's height
    above the floor (``com_proxy`` only; ``None`` for a centre of pressure), which the chair and
    walking tests of the assessment follow.
    """

    x_m: float
    y_m: float
    force_n: float | None
    left_share: float | None
    source: str
    device_time_s: float
    seq: int
    z_m: float | None = None
