"""Force plates in a C3D file's analog channels, and the instants a foot lands on them.

A plate's contact onset is the reference against which kinematic heel strikes are validated: the
first instant the force on the plate exceeds a threshold (20 N by default, the usual 10–20 N
clinical convention). ezc3d reads the plates' channels and geometry (``FORCE_PLATFORM``: type,
corners, origin, channels, calibration) and gives the force in the laboratory frame; the onset
uses the magnitude of that force, so it needs no convention of axis or sign.

Times are in seconds from the first stored frame, as in :mod:`scoring.recordings.c3d`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scoring.errors import RecordingError
from scoring.recordings.c3d import load_c3d

ONSET_THRESHOLD_N = 20.0
MIN_CONTACT_S = 0.05  # a load shorter than this is a knock, not a foot's stance
MIN_UNLOADED_S = 0.05  # an onset follows at least this long unloaded (else it is a bounce of the last contact)


@dataclass(frozen=True, slots=True)
class PlateForces:
    """One plate's force in the laboratory frame, sampled at the analog rate."""

    index: int  # 0-based, in FORCE_PLATFORM order
    times_s: np.ndarray
    force_n: np.ndarray  # (N, 3)
    rate_hz: float

    @property
    def load_n(self) -> np.ndarray:
        """Force magnitude above the unloaded baseline (the quietest 5 % of samples)."""
        load = np.linalg.norm(self.force_n, axis=1)
        above: np.ndarray = load - float(np.nanpercentile(load, 5))
        return above


@dataclass(frozen=True, slots=True)
class ContactOnset:
    plate: int
    t_s: float  # where the load crosses the threshold, interpolated between samples
    peak_n: float  # the largest load of this contact


def read_c3d_plates(path: str | Path) -> list[PlateForces]:
    """Every force plate of a C3D file (an empty list when it has none)."""
    path = Path(path)
    c3d = load_c3d(path, plates=True)
    platforms = c3d["data"].get("platform", [])
    rate = float(c3d["header"]["analogs"]["frame_rate"] or 0.0)
    if platforms and not rate > 0:
        raise RecordingError(f"{path}: force plates but no analog rate (ANALOG:RATE)")
    out = []
    for i, platform in enumerate(platforms):
        force = np.asarray(platform["force"], dtype=float).T  # (samples, 3), newtons
        out.append(PlateForces(i, np.arange(len(force)) / rate if rate else np.zeros(0), force, rate))
    return out


def contact_onsets(plate: PlateForces, threshold_n: float = ONSET_THRESHOLD_N) -> list[ContactOnset]:
    """Each contact's onset: the load crosses ``threshold_n`` after at least ``MIN_UNLOADED_S``
    below it and stays above it ``MIN_CONTACT_S``. A contact already under way at the first
    sample has no onset."""
    load = plate.load_n
    over = load > threshold_n
    edges = np.flatnonzero(np.diff(np.concatenate(([0], over.astype(np.int8), [0]))))
    runs = list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))
    min_on = max(1, round(MIN_CONTACT_S * plate.rate_hz))
    min_off = max(1, round(MIN_UNLOADED_S * plate.rate_hz))
    onsets: list[ContactOnset] = []
    last_end = None
    for a, b in runs:
        if b - a < min_on:
            continue
        quiet = a >= min_off if last_end is None else a - last_end >= min_off
        last_end = b
        if a == 0 or not quiet:
            continue
        lo, hi = load[a - 1], load[a]
        frac = (threshold_n - lo) / (hi - lo) if hi > lo else 0.0
        t = float(plate.times_s[a - 1] + frac * (plate.times_s[a] - plate.times_s[a - 1]))
        onsets.append(ContactOnset(plate.index, t, float(load[a:b].max())))
    return onsets


@dataclass(frozen=True, slots=True)
class StrikeTiming:
    """A kinematic heel strike against the plate onset of the same landing."""

    plate: int
    side: str
    onset_s: float
    heel_strike_s: float

    @property
    def difference_s(self) -> float:
        """Heel strike minus onset: negative when the kinematic event comes early."""
        return self.heel_strike_s - self.onset_s

    def as_json(self) -> dict[str, object]:
        return {"plate": self.plate, "side": self.side, "onset_s": self.onset_s,
                "heel_strike_s": self.heel_strike_s, "difference_s": self.difference_s}


def match_strikes(onsets: Sequence[ContactOnset], strikes: Sequence[tuple[str, float]],
                  within_s: float = 0.15) -> list[StrikeTiming]:
    """Pair each onset with the nearest heel strike (side, t_s) within ``within_s``; an onset
    with none (a foot the markers lost, a landing with no heel strike) is left out."""
    out: list[StrikeTiming] = []
    for onset in onsets:
        if not strikes:
            break
        side, t = min(strikes, key=lambda s: abs(s[1] - onset.t_s))
        if abs(t - onset.t_s) <= within_s:
            out.append(StrikeTiming(onset.plate, side, onset.t_s, t))
    return out


def timing_summary(timings: Sequence[StrikeTiming]) -> dict[str, object]:
    """Mean (bias), SD and largest absolute difference of heel strike minus plate onset, in s."""
    d = np.array([t.difference_s for t in timings])
    return {"n": int(d.size), "bias_s": float(d.mean()) if d.size else None,
            "sd_s": float(d.std(ddof=1)) if d.size > 1 else None,
            "max_abs_s": float(np.abs(d).max()) if d.size else None,
            "pairs": [t.as_json() for t in timings]}
