"""Validated device input and adapter output.

The parsers in ``server.device_messages`` build these from the wire; the adapters only ever see
values that are already typed, finite and in range, so they can stay free of checks. Lab positions
stay in the device's own units here: the setup says what they are, and the adapter converts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from games.events import BalanceEvent, FootEvent, MarkerKey

Vec2 = tuple[float, float]
Vec3 = tuple[float, float, float]

UNIT_SCALE_M = {"mm": 0.001, "cm": 0.01, "m": 1.0}
AXES_3D: dict[str, Vec3] = {
    "+x": (1.0, 0.0, 0.0), "-x": (-1.0, 0.0, 0.0),
    "+y": (0.0, 1.0, 0.0), "-y": (0.0, -1.0, 0.0),
    "+z": (0.0, 0.0, 1.0), "-z": (0.0, 0.0, -1.0),
}
AXES_2D: dict[str, Vec2] = {"+x": (1.0, 0.0), "-x": (-1.0, 0.0), "+y": (0.0, 1.0), "-y": (0.0, -1.0)}
PELVIS_KEY: MarkerKey = ("C", "pelvis")


@dataclass(frozen=True, slots=True)
class TrackerSetup:
    """How a motion tracker reports positions, and how the patient frame is found.

    ``mode`` ``"calibrate"``: the patient stands still on both feet for ``calibrate_s`` and the frame
    is measured. ``"explicit"``: ``forward`` (a lab axis perpendicular to ``up``) and ``origin`` (lab
    coordinates, in ``units``, of the floor point midway between the feet) give it directly.
    A foot whose markers have all been missing for more than ``max_gap_s`` counts as lost.
    """

    units: str
    up: str
    mode: str
    calibrate_s: float = 2.0
    forward: str | None = None
    origin: Vec3 = (0.0, 0.0, 0.0)
    max_gap_s: float = 0.25

    @property
    def scale_m(self) -> float:
        """Metres per lab unit."""
        return UNIT_SCALE_M[self.units]


@dataclass(frozen=True, slots=True)
class MarkerFrame:
    """One tracker frame: ``feet[side][marker]`` is a lab position in setup units, or None when the
    tracker did not see that marker. Markers the message left out are missing too."""

    t_s: float
    seq: int
    feet: dict[str, dict[str, Vec3 | None]]
    pelvis: Vec3 | None = None


@dataclass(frozen=True, slots=True)
class XrSetup:
    """A WebXR headset streaming its own poses as the station's tracker (``server.adapters.xr``).

    Positions are metres in the WebXR ``local-floor`` space (+y up, floor at y = 0); the patient
    frame is always measured by standing still for ``calibrate_s``. A foot controller missing for
    more than ``max_gap_s`` counts as lost.
    """

    calibrate_s: float = 2.0
    max_gap_s: float = 0.25


@dataclass(frozen=True, slots=True)
class XrPose:
    """One headset frame: the viewer (``head``) and the controllers strapped to the feet or ankles
    (``left``, ``right``), local-floor metres, each None when not tracked. ``head_forward``: the
    horizontal direction the head faces [x, z] (unit length), when the headset sends it."""

    t_s: float
    seq: int
    head: Vec3 | None
    left: Vec3 | None
    right: Vec3 | None
    head_forward: Vec2 | None = None


@dataclass(frozen=True, slots=True)
class MatSetup:
    """A pressure mat (``kind`` ``"grid"``: rows x cols cells of ``cell_m`` = (dx, dy) metres) or a
    centre-of-pressure stream (``kind`` ``"cop"``: points in ``units``, a force plate or balance
    board).

    Mat coordinates: x along the columns, y along the rows, metres; cell (r, c) has its centre at
    ((c + 0.5) dx, (r + 0.5) dy). ``forward`` is the mat axis the patient faces. ``mode``
    ``"calibrate"`` measures the origin from quiet standing; ``"explicit"`` takes ``origin_m``.
    """

    kind: str
    forward: str
    mode: str
    units: str = "m"
    rows: int = 0
    cols: int = 0
    cell_m: Vec2 = (0.0, 0.0)
    calibrate_s: float = 2.0
    origin_m: Vec2 = (0.0, 0.0)
    cell_threshold_kpa: float = 1.0
    contact_threshold_n: float = 20.0

    @property
    def scale_m(self) -> float:
        """Metres per COP unit."""
        return UNIT_SCALE_M[self.units]


@dataclass(frozen=True, slots=True)
class CopFrame:
    """One centre-of-pressure sample: ``cop`` in setup units (mat coordinates), or None when the
    plate is unloaded and has none; total ``force_n``."""

    t_s: float
    seq: int
    cop: Vec2 | None
    force_n: float


@dataclass(frozen=True, slots=True, eq=False)
class PressureFrame:
    """One pressure-mat frame: ``kpa`` is a (rows, cols) float array, finite, 0..2000 kPa."""

    t_s: float
    seq: int
    kpa: np.ndarray


@dataclass(frozen=True, slots=True)
class Notice:
    """Something the therapist should know about the device (calibration, tracking quality).

    ``kind`` is machine-readable (see ``NOTICE_KINDS``); ``message`` is for people; ``detail``
    holds the numbers, JSON-ready.
    """

    kind: str
    message: str
    detail: dict[str, Any] = field(default_factory=dict)


NOTICE_KINDS = (
    "calibrating",         # progress: detail share (0..1); share 0 again when the patient moved
    "calibrated",          # the patient frame is fixed; detail has the measured numbers
    "calibration_failed",  # detail reason; calibration starts over
    "markers_swapped",     # the left-foot markers stand to the right of the right-foot ones
    "tracking_lost",       # a foot has had no valid marker for longer than max_gap_s
    "tracking_restored",   # ... and is back; detail gap_s
    "gaps_bridged",        # summary, at most every few seconds, of marker gaps and rejected jumps
    "controllers_swapped",  # a headset's left controller is on the right foot: used as the right foot
)


@dataclass(frozen=True, slots=True)
class AdapterOutput:
    """What one device frame produced.

    ``markers`` (tracker only, once the patient frame is known) maps every marker seen so far,
    and the pelvis as ``("C", "pelvis")``, to its position in the patient frame in metres, or None
    when it is missing from this frame: the input of ``scoring.trajectories.TrajectoryRecorder``.
    ``t_s`` is the frame's device time, there even when a frame gives no event (both feet in gaps).
    """

    events: list[FootEvent | BalanceEvent] = field(default_factory=list)
    markers: dict[MarkerKey, Vec3 | None] | None = None
    notices: list[Notice] = field(default_factory=list)
    t_s: float | None = None
