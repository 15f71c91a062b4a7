"""Synthetic overground walking with known answers, and C3D files of it in many dialects.

Heel strike ``j`` lands foot L (j even) or R (j odd) at ``j * step_length`` along the walk, half
the step width to its side, at ``t0 + j * step_time``. Each marker swings from its previous stance
spot to the next: horizontally along a minimum-jerk profile cut short so the heel *arrives with
speed* (as real heels do, about a quarter of its peak) and stays put from the landing frame on;
vertically as ``lift * sin²``. The heel leaves before the toe (heel-off), the toe lands after the
heel (foot flat). The truth is in frames: a heel strike is the first frame at or after the landing
instant, a toe-off the last frame at or before the toe leaves.

:func:`realistic_contact` makes the heel land as measured heels do: it decelerates smoothly
through terminal swing and touches down with a few percent of its peak speed (``heel_cut`` of the
minimum-jerk move done at contact), then slides to rest within ``heel_slide_s`` (micro-slip of a
millimetre or two). The ground contact instants (``contacts``) are then the truth a force plate
sees; the first frame at or after contact stays the frame truth.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from games.events import MarkerKey
from scoring.trajectories import SIDES, MarkerTrajectories

FOOT_LENGTH_M = 0.18  # heel marker to toe marker
STANCE_Z_M = {"heel": 0.06, "toe": 0.035, "ankle": 0.11}
LABELS = {  # convention -> (side, marker) -> label
    "pig": {"heel": "{S}HEE", "toe": "{S}TOE", "ankle": "{S}ANK"},
    "dotted": {"heel": "{S}.Heel", "toe": "{S}.Toe", "ankle": "{S}.Ankle"},
    "snake": {"heel": "{s}_heel", "toe": "{s}_toe", "ankle": "{s}_ankle"},
    "words": {"heel": "{Side}Heel", "toe": "{Side}Toe", "ankle": "{Side}Ankle"},
    "suffix": {"heel": "HEEL_{S}", "toe": "MT2_{S}", "ankle": "LMAL_{S}"},
    "custom": {"heel": "Marker{S}1", "toe": "Marker{S}2", "ankle": "Marker{S}3"},  # nobody's convention
}
PELVIS_OFFSETS_M = {"LASI": (0.10, 0.12, 0.95), "RASI": (0.10, -0.12, 0.95),
                    "LPSI": (-0.08, 0.05, 1.0), "RPSI": (-0.08, -0.05, 1.0)}


def _min_jerk(u: np.ndarray) -> np.ndarray:
    return 10 * u**3 - 15 * u**4 + 6 * u**5


def _profile(tau: np.ndarray, start: float, end: float) -> np.ndarray:
    """0 -> 1 over tau in [0, 1]: the [start, end] part of a minimum-jerk move, rescaled."""
    a, b = _min_jerk(np.array([start, end]))
    return (_min_jerk(start + (end - start) * np.clip(tau, 0, 1)) - a) / (b - a)


@dataclass(frozen=True)
class WalkSpec:
    step_length_m: float = 0.6
    step_width_m: float = 0.15
    step_time_s: float = 0.55
    strikes: int = 8  # regular heel strikes, alternating from L
    heel_lift_m: float = 0.2
    toe_lift_m: float = 0.08
    rate_hz: float = 100.0
    heading_deg: float = 0.0  # walking direction in the floor plane, 0 = +x
    origin_m: tuple[float, float] = (0.4, -0.3)
    stop: bool = False  # a last step brings the feet together (a short step, < 0.1 m)
    swing_share: float = 0.4  # of the stride
    heel_lead_s: float = 0.08  # heel-off before toe-off
    foot_flat_s: float = 0.06  # toe lands after the heel
    stand_s: float = 0.5  # standing still before the first swing and after the last landing
    noise_m: float = 0.0
    seed: int = 0
    pelvis: bool = False
    heel_cut: float = 0.85  # share of the heel's minimum-jerk move done at contact (0.85: about 25 % of peak speed)
    heel_slide_s: float = 0.0  # after contact the heel slows uniformly to rest over this long


CONTACT_CUT = 0.905  # touch-down at 12 % of peak speed (the real fixtures: 8-15 %)
CONTACT_SLIDE_S = 0.02


def realistic_contact(spec: WalkSpec) -> WalkSpec:
    """The same walk with heels that decelerate through terminal swing and touch down with about
    7 % of their peak speed, then slide to rest in 12 ms."""
    from dataclasses import replace

    return replace(spec, heel_cut=CONTACT_CUT, heel_slide_s=CONTACT_SLIDE_S)


@dataclass(frozen=True)
class Contact:
    """One foot's stance, as a force plate under it would see it (times in s, local walk frame)."""

    side: str
    strike: int  # index of the heel strike in the walk
    t_on_s: float  # the heel touches the ground
    t_off_s: float  # the toe leaves it (the end of the recording if it never does)
    heel_x_m: float  # landing spot along the walk, before placing the walk in the lab
    y_m: float


@dataclass
class Walk:
    spec: WalkSpec
    times_s: np.ndarray
    positions_m: dict[MarkerKey, np.ndarray]  # z up, metres
    extra_m: dict[str, np.ndarray] = field(default_factory=dict)  # other markers by label (pelvis...)
    heel_strikes: dict[str, list[int]] = field(default_factory=dict)  # frames per side
    toe_offs: dict[str, list[int]] = field(default_factory=dict)
    steps: list[tuple[str, float, float, float, bool]] = field(default_factory=list)  # side, length, width, time, short
    contacts: list[Contact] = field(default_factory=list)  # in heel strike order

    def trajectories(self) -> MarkerTrajectories:
        return MarkerTrajectories(self.times_s.copy(), {k: v.copy() for k, v in self.positions_m.items()}, 2)


def walk(spec: WalkSpec = WalkSpec()) -> Walk:
    """Generate the walk and its truth."""
    s = spec
    swing_s = s.swing_share * 2 * s.step_time_s
    t0 = s.stand_s + swing_s + s.heel_lead_s
    n_strikes = s.strikes + (1 if s.stop else 0)
    strike_t = [t0 + j * s.step_time_s for j in range(n_strikes)]
    strike_x = [j * s.step_length_m for j in range(s.strikes)] + ([(s.strikes - 1) * s.step_length_m] if s.stop else [])
    end_s = strike_t[-1] + s.foot_flat_s + s.stand_s
    n = math.floor(end_s * s.rate_hz) + 1
    t = np.arange(n) / s.rate_hz
    local: dict[MarkerKey, np.ndarray] = {}
    walk_ = Walk(spec, t, {})
    for side in SIDES:
        js = [j for j in range(n_strikes) if (j % 2 == 0) == (side == "L")]
        y = s.step_width_m / 2 * (1 if side == "L" else -1)
        start_x = (-2 if side == "L" else -1) * s.step_length_m
        heel = np.zeros((n, 3))
        toe = np.zeros((n, 3))
        heel[:, 0], toe[:, 0] = start_x, start_x + FOOT_LENGTH_M
        heel[:, 1] = toe[:, 1] = y
        heel[:, 2], toe[:, 2] = STANCE_Z_M["heel"], STANCE_Z_M["toe"]
        previous_x = {"heel": start_x, "toe": start_x}  # where each marker last came to rest
        for j in js:
            land_t, land_x = strike_t[j], strike_x[j]
            slid_m = 0.0
            for name, arr, off_t, on_t, lift, dx, cut, slide_s in (
                ("heel", heel, land_t - swing_s - s.heel_lead_s, land_t, s.heel_lift_m, 0.0, (0.0, s.heel_cut),
                 s.heel_slide_s),
                ("toe", toe, land_t - swing_s, land_t + s.foot_flat_s, s.toe_lift_m, FOOT_LENGTH_M, (0.15, 0.85), 0.0),
            ):
                start = previous_x[name]
                tau = (t - off_t) / (on_t - off_t)
                moving = (tau > 0) & (tau < 1)
                arr[t >= on_t, 0] = land_x + dx
                arr[moving, 0] = start + dx + (land_x - start) * _profile(tau[moving], *cut)
                arr[moving, 2] += lift * np.sin(np.pi * tau[moving]) ** 2
                previous_x[name] = land_x
                if slide_s > 0:  # touch-down speed, then uniform deceleration to rest
                    a, b = _min_jerk(np.array(cut))
                    u = cut[1]
                    speed = (land_x - start) * (cut[1] - cut[0]) * 30 * u**2 * (1 - u) ** 2 / (b - a) / (on_t - off_t)
                    after = np.clip(t - on_t, 0.0, slide_s)
                    later = t >= on_t
                    arr[later, 0] += speed * (after[later] - after[later] ** 2 / (2 * slide_s))
                    slid_m = speed * slide_s / 2
                    previous_x[name] = land_x + slid_m
            walk_.heel_strikes.setdefault(side, []).append(math.ceil(land_t * s.rate_hz - 1e-9))
            later_js = [k for k in js if k > j]
            walk_.contacts.append(Contact(side, j, land_t, (strike_t[later_js[0]] - swing_s) if later_js else end_s,
                                          land_x + slid_m, y))
            walk_.toe_offs.setdefault(side, []).append(math.floor((land_t - swing_s) * s.rate_hz + 1e-9))
        ankle = 0.7 * heel + 0.3 * toe
        ankle[:, 1] += 0.035 * (1 if side == "L" else -1)
        ankle[:, 2] = heel[:, 2] + STANCE_Z_M["ankle"] - STANCE_Z_M["heel"]
        local.update({(side, "heel"): heel, (side, "toe"): toe, (side, "ankle"): ankle})
    walk_.contacts.sort(key=lambda c: c.t_on_s)
    for j in range(1, n_strikes):
        length = strike_x[j] - strike_x[j - 1]
        walk_.steps.append(("L" if j % 2 == 0 else "R", length, s.step_width_m, s.step_time_s, length < 0.1))
    if s.pelvis:
        centre_x = (local[("L", "heel")][:, 0] + local[("R", "heel")][:, 0]) / 2 + 0.09
        for label, (dx, dy, z) in PELVIS_OFFSETS_M.items():
            walk_.extra_m[label] = np.column_stack([centre_x + dx, np.full(n, dy), np.full(n, z)])
    rng = np.random.default_rng(s.seed)
    rot = math.radians(s.heading_deg)
    c, si = math.cos(rot), math.sin(rot)

    def place(p: np.ndarray) -> np.ndarray:
        out = np.column_stack([c * p[:, 0] - si * p[:, 1] + s.origin_m[0],
                               si * p[:, 0] + c * p[:, 1] + s.origin_m[1], p[:, 2]])
        return out + rng.normal(0.0, s.noise_m, out.shape) if s.noise_m else out

    walk_.positions_m = {k: place(v) for k, v in local.items()}
    walk_.extra_m = {k: place(v) for k, v in walk_.extra_m.items()}
    return walk_


def label_for(convention: str, side: str, marker: str, prefix: str = "") -> str:
    pattern = LABELS[convention][marker]
    return prefix + pattern.format(S=side, s=side.lower(), Side="Left" if side == "L" else "Right")


def write_c3d(
    path: Path,
    w: Walk,
    *,
    up: str = "z",  # "z": (x, y, z) as generated; "y": file (X, Y, Z) = (x, z, -y)
    units: str = "mm",
    convention: str = "pig",
    prefix: str = "",
    first_frame: int = 0,
    gaps: tuple[tuple[str, str, int, int], ...] = (),  # (side, marker, first frame, frames) set NaN
    zero_gaps: bool = False,  # gaps as zeros with residual -1 instead of NaN
    empty_duplicate: bool = False,  # an all-gap copy of each heel label, stored before the real one
    markers: tuple[str, ...] = ("heel", "toe", "ankle"),
    extra_labels: tuple[str, ...] = ("C7", "LKNE", "RKNE"),  # markers the reader must ignore
    before_write: Callable[[Any, str, float], None] | None = None,  # (c3d, up, unit scale): adds analogs, plates
) -> Path:
    import ezc3d

    scale = {"mm": 1000.0, "cm": 100.0, "m": 1.0}[units]
    labels: list[str] = []
    columns: list[np.ndarray] = []
    residual_gaps: list[np.ndarray] = []
    n = len(w.times_s)
    for side in SIDES:
        for marker in markers:
            label = label_for(convention, side, marker, prefix)
            p = w.positions_m[(side, marker)].copy()
            gap = np.zeros(n, dtype=bool)
            for g_side, g_marker, start, length in gaps:
                if (g_side, g_marker) == (side, marker):
                    gap[start:start + length] = True
            if empty_duplicate and marker == "heel":
                labels.append(label)
                columns.append(np.full((n, 3), np.nan))
                residual_gaps.append(np.ones(n, dtype=bool))
            p[gap] = np.nan
            labels.append(label)
            columns.append(p)
            residual_gaps.append(gap)
    for label, p in w.extra_m.items():
        labels.append(prefix + label)
        columns.append(p)
        residual_gaps.append(np.zeros(n, dtype=bool))
    for label in extra_labels:
        labels.append(prefix + label)
        columns.append(np.column_stack([w.times_s * 0.5, np.full(n, 0.2), np.full(n, 0.5)]))
        residual_gaps.append(np.zeros(n, dtype=bool))
    xyz = np.stack(columns)  # (markers, frames, 3), z up
    if up == "y":
        xyz = np.stack([xyz[..., 0], xyz[..., 2], -xyz[..., 1]], axis=-1)
    elif up != "z":
        raise ValueError(up)
    points = np.ones((4, len(labels), n))
    points[:3] = np.moveaxis(xyz * scale, -1, 0)
    residuals = np.zeros((1, len(labels), n))
    if zero_gaps:
        gap = np.stack(residual_gaps)
        points[:3, gap] = 0.0
        residuals[0, gap] = -1.0
    c3d = ezc3d.c3d()
    c3d["parameters"]["POINT"]["RATE"]["value"] = [w.spec.rate_hz]
    c3d["parameters"]["POINT"]["LABELS"]["value"] = labels
    c3d.add_parameter("POINT", "UNITS", [units])
    c3d["data"]["points"] = points
    c3d["data"]["meta_points"] = {"residuals": residuals,
                                  "camera_masks": np.zeros((7, len(labels), n), dtype=bool)}
    c3d["header"]["points"]["first_frame"] = first_frame
    if before_write is not None:
        before_write(c3d, up, scale)
    c3d.write(str(path))
    return path
