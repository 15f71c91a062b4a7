"""Foot marker trajectories: the one shape gait analysis reads, whether from a file or live.

The offline analyser fills it from a C3D file; the server fills it, frame by frame, from the
tracker adapter's normalised markers. Same input, same code, same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from games.events import MarkerKey

SIDES = ("L", "R")
_UNSEEN: tuple[float, float, float] = (float("nan"), float("nan"), float("nan"))


@dataclass(slots=True)
class MarkerTrajectories:
    """Marker positions over time, in metres.

    ``times_s`` holds one time per frame (t = 0 at the first frame). ``positions_m`` holds one
    (N, 3) array per (side, marker), NaN where the marker was not seen. Axis ``up_axis`` is vertical
    with positive up; the other two axes span the floor (any walking direction).
    """

    times_s: np.ndarray
    positions_m: dict[MarkerKey, np.ndarray]
    up_axis: int = 2

    @property
    def frames(self) -> int:
        return int(self.times_s.shape[0])

    @property
    def rate_hz(self) -> float:
        """Median frame rate, from the times."""
        if self.frames < 2:
            return 0.0
        return float(1.0 / np.median(np.diff(self.times_s)))


@dataclass(slots=True)
class TrajectoryRecorder:
    """Collects live frames into :class:`MarkerTrajectories` (patient frame: z up)."""

    max_frames: int = 240 * 60 * 60  # an hour at 240 Hz; older frames are dropped beyond that
    _times: list[float] = field(default_factory=list)
    _rows: dict[MarkerKey, list[tuple[float, float, float]]] = field(default_factory=dict)

    def append(self, t_s: float, markers: dict[MarkerKey, tuple[float, float, float] | None]) -> None:
        if len(self._times) >= self.max_frames:
            return
        n = len(self._times)
        self._times.append(t_s)
        for key, pos in markers.items():
            rows = self._rows.get(key)
            if rows is None:
                rows = self._rows[key] = [_UNSEEN] * n
            rows.append(_UNSEEN if pos is None else pos)
        for rows in self._rows.values():
            if len(rows) == n:  # a marker missing from this frame
                rows.append(_UNSEEN)

    def __len__(self) -> int:
        return len(self._times)

    def frames(self, start: int, stop: int) -> tuple[list[float], dict[MarkerKey, list[tuple[float, float, float]]]]:
        """Frames ``start`` to ``stop`` (exclusive) as recorded (a copy of references: cheap), for
        the session's input journal (:mod:`scoring.input_chunks`)."""
        return self._times[start:stop], {key: rows[start:stop] for key, rows in self._rows.items()}

    def extend(self, times_s: np.ndarray, positions_m: dict[MarkerKey, np.ndarray]) -> None:
        """Append frames recorded before (``positions_m``: (N, 3) per marker, NaN where unseen):
        the same state as appending them one by one, so :meth:`build` gives the same numbers."""
        n, added = len(self._times), int(times_s.shape[0])
        self._times.extend(float(t) for t in times_s)
        for key, positions in positions_m.items():
            if key not in self._rows:
                self._rows[key] = [_UNSEEN] * n
            self._rows[key].extend((x, y, z) for x, y, z in positions.tolist())
        for rows in self._rows.values():
            if len(rows) < n + added:  # a marker this part never saw
                rows.extend([_UNSEEN] * (n + added - len(rows)))

    def track(self, key: MarkerKey) -> tuple[np.ndarray, np.ndarray] | None:
        """One marker as recorded: device times and (N, 3) positions (NaN where unseen), or None
        if it was never seen. Unlike :meth:`build` the times keep the device's clock, so a window
        a game marked in device time can be cut out."""
        rows = self._rows.get(key)
        if rows is None:
            return None
        return np.asarray(self._times, dtype=float), np.asarray(rows, dtype=float).reshape(-1, 3)

    def build(self) -> MarkerTrajectories:
        times = np.asarray(self._times, dtype=float)
        if times.size:
            times = times - times[0]
        positions = {k: np.asarray(v, dtype=float).reshape(-1, 3) for k, v in self._rows.items()}
        return MarkerTrajectories(times, positions, up_axis=2)


@dataclass(slots=True)
class Sway:
    """Centre-of-pressure samples: ``cop_m`` is (N, 2) with columns (AP, ML) in metres — AP
    forward-positive, ML right-positive — and ``times_s`` starts at 0, which is device time
    ``start_s`` (so a window given in device time can be cut out: :meth:`window`)."""

    times_s: np.ndarray
    cop_m: np.ndarray
    start_s: float = 0.0

    def window(self, t0_device_s: float, t1_device_s: float) -> Sway:
        """The samples from device time ``t0`` to ``t1`` (inclusive), times still from ``start_s``."""
        t0, t1 = t0_device_s - self.start_s, t1_device_s - self.start_s
        eps = 1e-9 * max(1.0, abs(t0), abs(t1))  # device times survive the subtraction only this well
        keep = (self.times_s >= t0 - eps) & (self.times_s <= t1 + eps)
        return Sway(self.times_s[keep], self.cop_m[keep], self.start_s)


@dataclass(slots=True)
class SwayRecorder:
    """Collects live balance points (patient frame) per source, for the session's sway metrics.

    Session sway metrics use only measured centres of pressure (``source == "cop"``, the default of
    :meth:`build`): a tracker's pelvis proxy is fine for steering a cursor but is not what
    posturography norms describe. An assessment also keeps the proxy (``sources``), for quiet
    standing when no plate is there (reported as such, never compared with a plate's).
    """

    sources: tuple[str, ...] = ("cop",)
    max_samples: int = 200 * 60 * 60
    _samples: dict[str, tuple[list[float], list[float], list[float]]] = field(default_factory=dict)

    def append(self, t_s: float, x_m: float, y_m: float, source: str) -> None:
        if source not in self.sources:
            return
        times, ap, ml = self._samples.setdefault(source, ([], [], []))
        if len(times) >= self.max_samples:
            return
        times.append(t_s)
        ap.append(y_m)
        ml.append(x_m)

    def __len__(self) -> int:
        return len(self._samples.get("cop", ((),))[0])

    def count(self, source: str) -> int:
        return len(self._samples.get(source, ((),))[0])

    def samples(self, source: str, start: int, stop: int) -> tuple[list[float], list[float], list[float]]:
        """Samples ``start`` to ``stop`` (exclusive) of one source as (times, AP, ML), for the
        session's input journal (:mod:`scoring.input_chunks`)."""
        times, ap, ml = self._samples.get(source, ([], [], []))
        return times[start:stop], ap[start:stop], ml[start:stop]

    def extend(self, source: str, times_s: np.ndarray, ap_m: np.ndarray, ml_m: np.ndarray) -> None:
        """Append samples recorded before, of a source this recorder keeps."""
        if source in self.sources:
            times, ap, ml = self._samples.setdefault(source, ([], [], []))
            times.extend(times_s.tolist())
            ap.extend(ap_m.tolist())
            ml.extend(ml_m.tolist())

    @property
    def recorded(self) -> tuple[str, ...]:
        """The sources that sent samples."""
        return tuple(self._samples)

    def build(self, source: str = "cop") -> Sway:
        times_list, ap, ml = self._samples.get(source, ([], [], []))
        times = np.asarray(times_list, dtype=float)
        start = float(times[0]) if times.size else 0.0
        return Sway(times - start, np.column_stack([np.asarray(ap), np.asarray(ml)]).reshape(-1, 2), start)
