"""Synthetic quiet standing on a force plate, written as the CSV a plate's software exports."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tests.synthetic_walk import FOOT_LENGTH_M, Walk


def quiet_csv(path: Path, seconds: float, rate_hz: float = 100.0) -> Path:
    """Quiet standing: slow sway plus a random walk, COP in cm (``sample,Fz,COPx,COPy``, x the
    medio-lateral axis), a body weight near 650 N."""
    t = np.arange(0, seconds, 1 / rate_hz)
    rng = np.random.default_rng(3)
    ap = 0.8 * np.sin(2 * np.pi * 0.3 * t) + np.cumsum(rng.normal(0, 0.02, t.size))  # cm
    ml = 0.5 * np.sin(2 * np.pi * 0.2 * t + 1.0) + np.cumsum(rng.normal(0, 0.02, t.size))
    rows = ["sample,Fz,COPx,COPy"] + [f"{i},{650 + 5 * np.sin(i / 50):.3f},{x:.5f},{y:.5f}"
                                      for i, (x, y) in enumerate(zip(ml, ap, strict=True))]
    path.write_text("\n".join(rows) + "\n")
    return path


# --- force plates under a synthetic walk, in a C3D file's analog channels -----------------------

PLATE_LENGTH_M = 0.5  # along the walk
PLATE_WIDTH_M = 0.2  # across it: one foot's line only (the other foot passes 0.15 m to the side)
ANALOG_RATIO = 10  # analog samples per marker frame (1000 Hz plates under 100 Hz cameras)


def grf_n(t_s: np.ndarray, on_s: float, off_s: float, weight_n: float) -> np.ndarray:
    """Vertical ground reaction force of one stance: zero before contact, an impact transient
    (half the body weight within about 10 ms), the double hump of walking, zero after toe-off."""
    force = np.zeros_like(t_s)
    inside = (t_s >= on_s) & (t_s <= off_s)
    dt = t_s[inside] - on_s
    tau = dt / (off_s - on_s)
    force[inside] = weight_n * (np.sin(np.pi * tau) + 0.2 * np.sin(3 * np.pi * tau)
                                + 0.5 * (1 - np.exp(-dt / 0.008)) * np.exp(-dt / 0.04) * np.sin(np.pi * tau) ** 0.1)
    return force


def plate_hook(w: Walk, strikes: Sequence[int], *, weight_n: float = 700.0, noise_n: float = 2.0,
               seed: int = 11) -> Callable[[Any, str, float], None]:
    """A ``write_c3d(before_write=...)`` hook that puts one type-2 force plate (Fx Fy Fz Mx My Mz,
    plate z down, moments about the plate's surface centre) under each of the given heel strikes,
    with the forces of that stance and Gaussian channel noise; the lab geometry follows the walk's
    heading and origin and the file's vertical axis and units."""
    s = w.spec
    rate = s.rate_hz * ANALOG_RATIO
    n = len(w.times_s) * ANALOG_RATIO
    t = np.arange(n) / rate
    rng = np.random.default_rng(seed)
    rot = math.radians(s.heading_deg)
    c, si = math.cos(rot), math.sin(rot)

    def lab(x: float, y: float) -> np.ndarray:  # local walk frame -> lab floor (x, y, 0), metres
        return np.array([c * x - si * y + s.origin_m[0], si * x + c * y + s.origin_m[1], 0.0])

    contacts = {ct.strike: ct for ct in w.contacts}
    channels: list[np.ndarray] = []
    corners, origins, numbers = [], [], []
    for k, j in enumerate(strikes):
        ct = contacts[j]
        centre_x, centre_y = ct.heel_x_m + FOOT_LENGTH_M / 2, ct.y_m
        fz = grf_n(t, ct.t_on_s, ct.t_off_s, weight_n)
        tau = np.clip((t - ct.t_on_s) / (ct.t_off_s - ct.t_on_s), 0, 1)
        cop_x = ct.heel_x_m + (FOOT_LENGTH_M + 0.05) * tau - centre_x  # heel to toe, plate frame x = walk x
        cop_y = np.zeros(n)  # on the foot's line; plate frame y = -walk y
        shear = 0.15 * fz * np.cos(np.pi * tau)  # braking, then propulsion, along the walk
        # plate frame (x along the walk, y to its right, z down): the reaction force pushes up (−z)
        f_plate = np.column_stack([-shear, np.zeros(n), -fz])
        # r × F with r on the surface
        m_plate = np.column_stack([cop_y * f_plate[:, 2], -cop_x * f_plate[:, 2], np.zeros(n)])
        block = np.column_stack([f_plate, m_plate * 1000.0])  # moments in N·mm, as plates export them
        channels.append(block + rng.normal(0.0, noise_n, block.shape) * np.array([1, 1, 1, 30, 30, 30]))
        quad = [(+1, +1), (-1, +1), (-1, -1), (+1, -1)]  # c3d order: plate (+x+y), (−x+y), (−x−y), (+x−y)
        corners.append([lab(centre_x + qx * PLATE_LENGTH_M / 2, centre_y - qy * PLATE_WIDTH_M / 2) for qx, qy in quad])
        origins.append([0.0, 0.0, 0.0])
        numbers.append([6 * k + i + 1 for i in range(6)])

    def hook(c3d: Any, up: str, scale: float) -> None:
        data = np.concatenate(channels, axis=1).T if channels else np.zeros((0, n))  # (channels, samples)
        labels = [f"{name}{k + 1}" for k in range(len(channels)) for name in ("Fx", "Fy", "Fz", "Mx", "My", "Mz")]
        c3d["parameters"]["ANALOG"]["RATE"]["value"] = [rate]
        c3d["parameters"]["ANALOG"]["LABELS"]["value"] = labels
        c3d["parameters"]["ANALOG"]["UNITS"]["value"] = ["N", "N", "N", "Nmm", "Nmm", "Nmm"] * len(channels)
        c3d["parameters"]["ANALOG"]["SCALE"]["value"] = [1.0] * len(labels)
        c3d["parameters"]["ANALOG"]["OFFSET"]["value"] = [0] * len(labels)
        c3d["parameters"]["ANALOG"]["GEN_SCALE"]["value"] = [1.0]
        c3d["data"]["analogs"] = data[np.newaxis, :, :]
        lab_corners = np.array(corners)  # (plates, 4, 3) z up, metres
        if up == "y":
            lab_corners = np.stack([lab_corners[..., 0], lab_corners[..., 2], -lab_corners[..., 1]], axis=-1)
        c3d["parameters"]["FORCE_PLATFORM"]["USED"]["value"] = [len(channels)]
        c3d["parameters"]["FORCE_PLATFORM"]["TYPE"]["value"] = [2] * len(channels)
        c3d["parameters"]["FORCE_PLATFORM"]["ZERO"]["value"] = [1, 0]
        platform = c3d["parameters"]["FORCE_PLATFORM"]
        platform["CORNERS"]["value"] = np.transpose(lab_corners * scale, (2, 1, 0))  # (xyz, corner, plate)
        c3d["parameters"]["FORCE_PLATFORM"]["ORIGIN"]["value"] = np.array(origins).T
        c3d["parameters"]["FORCE_PLATFORM"]["CHANNEL"]["value"] = np.array(numbers).T

    return hook
