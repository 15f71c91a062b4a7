"""Centre-of-pressure sway metrics (posturography), from a file or from a live session.

Input: COP samples in metres with columns (AP, ML) and their times in seconds. Samples with a NaN
are dropped (a plate briefly unloaded); the path does not jump across them.

The 95 % ellipse is the *prediction* ellipse (Schubert & Kirchner 2014, Gait & Posture 40:1): the
region expected to hold 95 % of the COP samples, area = π · χ²(0.95, 2) · sqrt(det Σ) with
χ²(0.95, 2) = −2 ln 0.05 ≈ 5.991 and Σ the (n − 1) sample covariance. The *confidence* ellipse
some systems report bounds the mean instead and comes out smaller; the two are not comparable,
so the output says which it is (``ellipse95_kind``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from scoring.errors import AnalysisError

CHI2_95_2DOF = -2.0 * math.log(0.05)  # 5.991: χ² quantile of 0.95 with 2 degrees of freedom


@dataclass(frozen=True, slots=True)
class SwayResult:
    samples: int
    duration_s: float
    path_length_m: float
    path_length_ap_m: float
    path_length_ml_m: float
    range_ap_m: float
    range_ml_m: float
    rms_ap_m: float  # about the mean position
    rms_ml_m: float
    ellipse95_area_m2: float
    ellipse95_semi_axes_m: tuple[float, float]  # major, minor
    ellipse95_angle_deg: float  # of the major axis from AP toward ML

    @property
    def mean_velocity_m_s(self) -> float | None:
        return self.path_length_m / self.duration_s if self.duration_s > 0 else None

    def as_json(self) -> dict[str, Any]:
        per_s = (lambda m: m / self.duration_s) if self.duration_s > 0 else (lambda m: None)
        return {
            "samples": self.samples,
            "duration_s": self.duration_s,
            "path_length_m": self.path_length_m,
            "mean_velocity_m_s": self.mean_velocity_m_s,
            "mean_velocity_ap_m_s": per_s(self.path_length_ap_m),
            "mean_velocity_ml_m_s": per_s(self.path_length_ml_m),
            "range_ap_m": self.range_ap_m,
            "range_ml_m": self.range_ml_m,
            "rms_ap_m": self.rms_ap_m,
            "rms_ml_m": self.rms_ml_m,
            "ellipse95_area_m2": self.ellipse95_area_m2,
            "ellipse95_semi_axes_m": list(self.ellipse95_semi_axes_m),
            "ellipse95_angle_deg": self.ellipse95_angle_deg,
            "ellipse95_kind": "prediction",
        }


def analyze_sway(times_s: np.ndarray, cop_m: np.ndarray) -> SwayResult:
    """Sway metrics of COP samples ``cop_m`` (N, 2: AP, ML, metres) at ``times_s``.

    Raises :class:`AnalysisError` with fewer than 3 valid samples.
    """
    times = np.asarray(times_s, dtype=float).reshape(-1)
    cop = np.asarray(cop_m, dtype=float).reshape(-1, 2)
    if len(times) != len(cop):
        raise AnalysisError(f"{len(times)} times for {len(cop)} COP samples")
    keep = np.isfinite(cop).all(axis=1) & np.isfinite(times)
    times, cop = times[keep], cop[keep]
    if len(times) < 3:
        raise AnalysisError(f"{len(times)} valid COP samples: at least 3 are needed for sway metrics")
    steps = np.diff(cop, axis=0)
    centred = cop - cop.mean(axis=0)
    cov = np.cov(cop, rowvar=False)
    eigvals, eigvecs = np.linalg.eigh(cov)  # ascending
    eigvals = np.clip(eigvals, 0.0, None)
    major = eigvecs[:, 1]
    return SwayResult(
        samples=len(times),
        duration_s=float(times[-1] - times[0]),
        path_length_m=float(np.linalg.norm(steps, axis=1).sum()),
        path_length_ap_m=float(np.abs(steps[:, 0]).sum()),
        path_length_ml_m=float(np.abs(steps[:, 1]).sum()),
        range_ap_m=float(np.ptp(cop[:, 0])),
        range_ml_m=float(np.ptp(cop[:, 1])),
        rms_ap_m=float(np.sqrt(np.mean(centred[:, 0] ** 2))),
        rms_ml_m=float(np.sqrt(np.mean(centred[:, 1] ** 2))),
        ellipse95_area_m2=float(math.pi * CHI2_95_2DOF * math.sqrt(max(float(np.linalg.det(cov)), 0.0))),
        ellipse95_semi_axes_m=(float(math.sqrt(CHI2_95_2DOF * eigvals[1])),
                               float(math.sqrt(CHI2_95_2DOF * eigvals[0]))),
        ellipse95_angle_deg=float(math.degrees(math.atan2(major[1], major[0])) % 180.0),
    )


def sway_metrics(times_s: np.ndarray, cop_m: np.ndarray) -> dict[str, Any]:
    """:func:`analyze_sway` as plain JSON: what the server stores at session end and the CLI prints."""
    return analyze_sway(times_s, cop_m).as_json()
