"""Render a simulated body as real devices would report it: tracker markers, a pressure grid, a COP.

The scripted players (``clients/sim_player.py``) decide where the feet and the weight are; these
renderers turn that :class:`BodyPose` into the wire messages of a motion tracker (heel, toe and
ankle markers in the tracker's own lab axes and units), a pressure mat (a grid of kPa), a
force plate (a centre of pressure) or a WebXR headset streaming its own poses (the viewer, and
two controllers strapped to the feet, in its ``local-floor`` space). The server's adapters must
turn each back into the same pose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from games.events import Side

HEEL_TO_TOE_M = 0.18  # heel marker to toe marker along the foot
ANKLE_HEIGHT_M = 0.07
MARKER_HEIGHT_M = 0.02  # heel and toe markers sit on the shoe, above the floor
PELVIS_HEIGHT_M = 0.95
FOREFOOT_OFFSET_M = 0.08  # heel and forefoot pads, either side of the foot centre
PAD_RADIUS_M = 0.045
_UNIT_SCALE = {"m": 1.0, "cm": 100.0, "mm": 1000.0}
# The body a headset rides on: an inverted pendulum about the ankles, with the eyes, the centre of
# mass and the ankles at 0.936, 0.553 and 0.039 of stature (Winter 2009): the head moves this many
# times as far as the centre of mass does.
STATURE_M = 1.73
HEAD_OVER_COM = (0.936 - 0.039) / (0.553 - 0.039)
EYE_HEIGHT_M = 0.936 * STATURE_M
CONTROLLER_HEIGHT_M = 0.07  # a controller strapped on the instep, above the foot's centre


@dataclass(frozen=True, slots=True)
class BodyPose:
    """Feet (floor point under each foot's centre, z = lift) and the centre of pressure, in the
    patient frame (metres). ``loads_n`` overrides how the body weight splits between the feet;
    a foot named in ``toe_touch`` touches the floor with its toes only (a reach's light touch)."""

    feet: dict[Side, tuple[float, float, float]]
    cop: tuple[float, float]
    body_weight_n: float = 700.0
    loads_n: dict[Side, float] | None = None
    toe_touch: Side | None = None

    def foot_loads_n(self) -> dict[Side, float]:
        """Lever rule between planted feet; a lifted foot carries nothing."""
        if self.loads_n is not None:
            return self.loads_n
        planted = [s for s in Side if self.feet[s][2] < 0.005]
        if len(planted) == 1:
            return {s: (self.body_weight_n if s in planted else 0.0) for s in Side}
        if not planted:
            return dict.fromkeys(Side, 0.0)
        xl, xr = self.feet[Side.LEFT][0], self.feet[Side.RIGHT][0]
        right = min(1.0, max(0.0, (self.cop[0] - xl) / (xr - xl))) if xr != xl else 0.5
        return {Side.LEFT: (1 - right) * self.body_weight_n, Side.RIGHT: right * self.body_weight_n}


@dataclass(frozen=True, slots=True)
class LabFrame:
    """Where the tracker's lab axes put the patient: ``up`` "z" or "y", the patient facing
    ``yaw_deg`` from the lab's first floor axis, standing at ``origin_m`` (lab, metres)."""

    units: str = "mm"
    up: str = "z"
    yaw_deg: float = 0.0
    origin_m: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def to_lab(self, p: tuple[float, float, float]) -> list[float]:
        x, y, z = p  # patient: right, forward, up
        yaw = math.radians(self.yaw_deg)
        fwd = (math.cos(yaw), math.sin(yaw))  # forward in the lab floor axes (a, b)
        right = (fwd[1], -fwd[0])  # right = forward x up, for up = +c in a right-handed (a, b, c)
        a = x * right[0] + y * fwd[0]
        b = x * right[1] + y * fwd[1]
        if self.up == "z":
            lab = (a, b, z)  # floor axes x, y
        else:  # Y-up, right-handed: floor axes z, x (z x x = y)
            lab = (b, z, a)
        scale = _UNIT_SCALE[self.units]
        return [(lab[i] + self.origin_m[i]) * scale for i in range(3)]

    def setup(self, mode: str = "calibrate") -> dict[str, object]:
        message: dict[str, object] = {"type": "tracker_setup", "units": self.units, "up": f"+{self.up}",
                                      "mode": mode}
        if mode == "explicit":
            axes = ("x", "y") if self.up == "z" else ("z", "x")
            quarter = round(self.yaw_deg / 90.0) % 4
            if abs(self.yaw_deg - 90.0 * round(self.yaw_deg / 90.0)) > 1e-6:
                raise ValueError("explicit mode needs the patient facing along a lab axis")
            message["forward"] = ("+", "+", "-", "-")[quarter] + axes[quarter % 2]
            message["origin"] = [v * _UNIT_SCALE[self.units] for v in self.origin_m]
        return message


@dataclass(frozen=True, slots=True)
class XrRoom:
    """Where the patient stands in a headset's ``local-floor`` space (+y up, metres): at
    ``origin_m`` [x, z], facing ``yaw_deg`` turned left (counterclockwise seen from above) from -z,
    the way a WebXR user first faces. ``swapped``: the left controller is strapped on the right foot."""

    yaw_deg: float = 0.0
    origin_m: tuple[float, float] = (0.0, 0.0)
    swapped: bool = False

    def forward(self) -> tuple[float, float]:
        yaw = math.radians(self.yaw_deg)
        return (-math.sin(yaw), -math.cos(yaw))

    def to_room(self, p: tuple[float, float, float]) -> list[float]:
        x, y, z = p  # patient: right, forward, up
        fx, fz = self.forward()
        rx, rz = -fz, fx  # right = forward x up
        return [self.origin_m[0] + x * rx + y * fx, z, self.origin_m[1] + x * rz + y * fz]

    def setup(self) -> dict[str, object]:
        return {"type": "xr_setup", "mode": "calibrate"}


def xr_message(pose: BodyPose, room: XrRoom, t_s: float, seq: int, *, head_forward: bool = True) -> dict[str, object]:
    """The viewer where the body's lean puts it (the centre of mass over the COP, the body pivoting
    at the ankles) and a controller on each foot; ``head_forward``: send the head's facing too."""
    head = (pose.cop[0] * HEAD_OVER_COM, pose.cop[1] * HEAD_OVER_COM, EYE_HEIGHT_M)
    feet = {side: room.to_room((x, y, z + CONTROLLER_HEIGHT_M)) for side, (x, y, z) in pose.feet.items()}
    left, right = (Side.RIGHT, Side.LEFT) if room.swapped else (Side.LEFT, Side.RIGHT)
    message: dict[str, object] = {"type": "xr_pose", "t_s": t_s, "seq": seq, "head": room.to_room(head),
                                  "left": feet[left], "right": feet[right]}
    if head_forward:
        message["head_forward"] = list(room.forward())
    return message


def marker_message(pose: BodyPose, lab: LabFrame, t_s: float, seq: int,
                   missing: frozenset[tuple[str, str]] = frozenset()) -> dict[str, object]:
    """Heel, toe and ankle markers of both feet, and a pelvis marker above the COP."""
    message: dict[str, object] = {"type": "markers", "t_s": t_s, "seq": seq}
    for side in Side:
        x, y, z = pose.feet[side]
        points = {
            "heel": (x, y - HEEL_TO_TOE_M / 2, z + MARKER_HEIGHT_M),
            "toe": (x, y + HEEL_TO_TOE_M / 2, z + MARKER_HEIGHT_M),
            "ankle": (x, y - HEEL_TO_TOE_M / 2 + 0.03, z + ANKLE_HEIGHT_M),
        }
        message[side.value] = {name: None if (side.value, name) in missing else lab.to_lab(p)
                               for name, p in points.items()}
    message["pelvis"] = lab.to_lab((pose.cop[0], pose.cop[1], PELVIS_HEIGHT_M))
    return message


@dataclass(frozen=True, slots=True)
class Grid:
    """A pressure mat: ``rows`` along the patient's forward axis, ``cols`` to the right, square
    cells of ``cell_m``; the patient frame's origin lies at ``origin_m`` on the mat."""

    rows: int = 64
    cols: int = 64
    cell_m: float = 0.025
    origin_m: tuple[float, float] = (0.8, 0.8)

    def setup(self, mode: str = "explicit") -> dict[str, object]:
        message: dict[str, object] = {"type": "mat_setup", "kind": "grid", "rows": self.rows,
                                      "cols": self.cols, "cell_m": [self.cell_m, self.cell_m],
                                      "forward": "+y", "mode": mode}
        if mode == "explicit":
            message["origin_m"] = list(self.origin_m)
        return message

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Cell centres in the patient frame: x (cols), y (rows)."""
        xs = (np.arange(self.cols) + 0.5) * self.cell_m - self.origin_m[0]
        ys = (np.arange(self.rows) + 0.5) * self.cell_m - self.origin_m[1]
        return np.meshgrid(xs, ys)


def pressure_message(pose: BodyPose, grid: Grid, t_s: float, seq: int) -> dict[str, object]:
    """Each loaded foot as a heel pad and a forefoot pad, loaded so the feet's combined centre of
    pressure is the pose's COP (within what the feet can reach)."""
    x, y = grid.centres()
    kpa = np.zeros((grid.rows, grid.cols))
    cell_area = grid.cell_m**2
    for side, load in pose.foot_loads_n().items():
        if load <= 0:
            continue
        fx, fy, _ = pose.feet[side]
        offset = min(FOREFOOT_OFFSET_M, max(-FOREFOOT_OFFSET_M, pose.cop[1] - fy))
        forefoot = 1.0 if side is pose.toe_touch else 0.5 + offset / (2 * FOREFOOT_OFFSET_M)
        for share, py in ((forefoot, fy + FOREFOOT_OFFSET_M), (1 - forefoot, fy - FOREFOOT_OFFSET_M)):
            pad = (x - fx) ** 2 + (y - py) ** 2 <= PAD_RADIUS_M**2
            cells = int(pad.sum())
            if cells and share > 0:
                kpa[pad] += share * load / (cells * cell_area) / 1000.0
    return {"type": "pressure", "t_s": t_s, "seq": seq, "kpa": np.round(kpa, 2).tolist()}


def cop_message(pose: BodyPose, t_s: float, seq: int, units: str = "cm") -> dict[str, object]:
    scale = _UNIT_SCALE[units]
    force = sum(pose.foot_loads_n().values())
    return {"type": "cop", "t_s": t_s, "seq": seq, "cop": [pose.cop[0] * scale, pose.cop[1] * scale],
            "force_n": force}
