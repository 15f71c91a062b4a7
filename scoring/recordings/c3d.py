"""Read a C3D motion-capture file (ezc3d) into :class:`~scoring.trajectories.MarkerTrajectories`.

Everything comes out in metres, with t = 0 at the first frame stored (whatever the header's first
frame number) and one axis vertical, positive up. Gaps, whether NaN in the file or the older
convention of zeros with a negative residual, become NaN; so do exact (0, 0, 0) samples, which
no real marker produces.

The vertical axis is found from the heels (override with ``up="+z"``, ``"-y"``...): while a foot
stands its heel sits on the floor, so across all stances of both feet the vertical coordinate
hardly varies, while both floor coordinates spread over the walk or between the feet; during swing
the heel rises well above that level. The axis with the largest ratio of swing excursion to stance
spread is vertical, and the side the excursions go is up (the ankle above the heel settles it when
the excursions are ambiguous). To keep the frame right-handed, flipping the vertical axis also
flips the axis after it.
"""

from __future__ import annotations

import struct
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from games.events import MarkerKey
from scoring.errors import RecordingError
from scoring.recordings.labels import PELVIS, match_labels
from scoring.trajectories import SIDES, MarkerTrajectories

UNIT_SCALE_M = {"mm": 0.001, "cm": 0.01, "m": 1.0, "millimeter": 0.001, "millimeters": 0.001,
                "meter": 1.0, "meters": 1.0, "metre": 1.0, "metres": 1.0}
AXES = "xyz"


@dataclass(frozen=True, slots=True)
class C3DRecording:
    trajectories: MarkerTrajectories
    rate_hz: float
    first_frame: int  # the header's number of the first stored frame (t = 0 there)
    units: str  # POINT:UNITS as in the file; trajectories are in metres whatever it says
    up: str  # the file's axis that is up, e.g. "+z" (detected or as given)
    labels_used: dict[str, str]  # "L.heel" -> the file's label ("C.pelvis": labels joined with "+")
    file_format: str = "c3d"  # c3d, trc or tsv: every marker file reader gives this shape
    assumptions: list[str] = field(default_factory=list)  # what the file did not say and was assumed

    def as_json(self) -> dict[str, object]:
        return {"format": self.file_format, "rate_hz": self.rate_hz, "first_frame": self.first_frame,
                "units": self.units, "up": self.up, "labels_used": dict(self.labels_used),
                "assumptions": list(self.assumptions)}


MarkerRecording = C3DRecording  # the name for what every marker file reader returns


def _declared_frames(path: Path) -> int | None:
    """Frame count the raw header declares; ezc3d silently reads a truncated file as a shorter one."""
    with path.open("rb") as f:
        head = f.read(512)
        if len(head) < 512 or head[1] != 0x50:
            raise RecordingError(f"{path}: not a C3D file")
        f.seek((head[0] - 1) * 512 + 3)
        processor = f.read(1)
    endian = ">" if processor and processor[0] == 86 else "<"  # 86: MIPS (big-endian); 84 Intel, 85 DEC
    first, last = struct.unpack(endian + "HH", head[6:10])
    return last - first + 1 if 0 < first <= last < 0xFFFF else None  # 0xFFFF: too long for the header


def load_c3d(path: Path, *, plates: bool = False) -> Any:  # an ezc3d.c3d
    import ezc3d  # imported here: the server imports this package without needing it

    if not path.is_file():
        raise RecordingError(f"{path}: no such file")
    declared = _declared_frames(path)
    try:
        c3d = ezc3d.c3d(str(path), extract_forceplat_data=plates)
    except (OSError, RuntimeError, ValueError, IndexError) as exc:
        raise RecordingError(f"{path}: not a readable C3D file ({str(exc).splitlines()[0]})") from None
    got = c3d["data"]["points"].shape[2]
    if declared is not None and got < declared:
        raise RecordingError(f"{path}: truncated C3D file ({got} of {declared} frames)")
    return c3d


def _param(c3d: Any, group: str, name: str, default: float | str) -> Any:
    try:
        value = c3d["parameters"][group][name]["value"]
    except KeyError:
        return default
    return value[0] if len(value) else default


def _gaps_to_nan(points: np.ndarray, residuals: np.ndarray | None) -> np.ndarray:
    """(3, n_markers, n_frames) -> (n_markers, n_frames, 3) with every gap NaN."""
    xyz = np.moveaxis(np.asarray(points[:3], dtype=float), 0, -1).copy()
    gap = np.isnan(xyz).any(axis=2) | (xyz == 0.0).all(axis=2)
    if residuals is not None and residuals.size:
        gap |= np.asarray(residuals[0], dtype=float) < 0
    xyz[gap] = np.nan
    return xyz


def _up_axis(heels: list[np.ndarray], ankles: list[np.ndarray]) -> tuple[int, float]:
    """(axis, sign) of up, from heel trajectories in metres (see the module docstring)."""
    speeds = [np.linalg.norm(np.diff(h, axis=0), axis=1) for h in heels]
    scale = np.nanpercentile(np.concatenate(speeds), 95)
    stance = np.concatenate([h[:-1][s < 0.2 * scale] for h, s in zip(heels, speeds, strict=True)])
    if len(stance) < 10:
        stance = np.concatenate(list(heels))
    level = np.nanmedian(stance, axis=0)
    every = np.concatenate(heels)
    above = np.nanpercentile(every, 99.5, axis=0) - level
    below = level - np.nanpercentile(every, 0.5, axis=0)
    score = np.maximum(above, below) / (np.nanstd(stance, axis=0) + 0.001)
    axis = int(np.argmax(score))
    sign = 1.0 if above[axis] >= below[axis] else -1.0
    if ankles and max(above[axis], below[axis]) < 1.5 * min(above[axis], below[axis]):
        lift = np.nanmedian(np.concatenate(ankles)[:, axis]) - np.nanmedian(every[:, axis])
        if abs(lift) > 0.01:
            sign = float(np.sign(lift))
    return axis, sign


def _parse_up(up: str) -> tuple[int, float]:
    text = up.strip().lower()
    sign = -1.0 if text.startswith("-") else 1.0
    name = text.lstrip("+-")
    if name not in ("x", "y", "z"):
        raise RecordingError(f"bad up axis {up!r}: use +z, -y, +x...")
    return AXES.index(name), sign


def read_c3d(path: str | Path, *, up: str | None = None, mapping: Mapping[str, str] | None = None
             ) -> C3DRecording:
    """Foot (and pelvis) markers of a C3D file, in metres, with the vertical axis positive up.

    ``mapping`` names labels explicitly (``{"L.heel": "MyLabel"}``), ``up`` overrides the detected
    vertical axis. Raises :class:`RecordingError` with a one-line reason.
    """
    path = Path(path)
    c3d = load_c3d(path)
    labels = [str(x) for x in c3d["parameters"]["POINT"]["LABELS"]["value"]]
    rate_hz = float(c3d["header"]["points"]["frame_rate"] or _param(c3d, "POINT", "RATE", 0.0))
    if not rate_hz > 0:
        raise RecordingError(f"{path}: no frame rate in the file")
    units = str(_param(c3d, "POINT", "UNITS", "mm")).strip()
    scale = UNIT_SCALE_M.get(units.lower())
    if scale is None:
        raise RecordingError(f"{path}: unknown POINT:UNITS {units!r} (expected mm, cm or m)")
    xyz = _gaps_to_nan(c3d["data"]["points"], c3d["data"].get("meta_points", {}).get("residuals"))
    return marker_recording(path, labels, xyz[: len(labels)] * scale, rate_hz=rate_hz,
                            first_frame=int(c3d["header"]["points"]["first_frame"]), units=units, up=up,
                            mapping=mapping, file_format="c3d")


def marker_recording(path: Path, labels: list[str], xyz_m: np.ndarray, *, rate_hz: float, first_frame: int,
                     units: str, up: str | None, mapping: Mapping[str, str] | None, file_format: str,
                     assumptions: list[str] | None = None) -> C3DRecording:
    """The recording of labelled markers ``xyz_m`` (markers, frames, 3) in metres, NaN in gaps: the
    foot landmarks found by their labels, the vertical axis detected or given. Every marker file
    reader (C3D, TRC, TSV) ends here, so they all give the same shape."""
    xyz = np.asarray(xyz_m, dtype=float).copy()
    xyz[(xyz == 0.0).all(axis=2)] = np.nan  # no real marker sits exactly at the origin
    seen = [int(np.isfinite(xyz[i]).all(axis=1).sum()) for i in range(len(labels))]
    channels = match_labels(labels, seen, mapping)
    if not any(key[0] in SIDES for key in channels):
        shown = ", ".join(labels[:40]) + (" ..." if len(labels) > 40 else "") or "none"
        raise RecordingError(f"{path}: no foot markers found (labels seen: {shown}); "
                             "name them with --map L.heel=LABEL")
    positions: dict[MarkerKey, np.ndarray] = {}
    for key, idx in channels.items():
        if key == PELVIS:
            with warnings.catch_warnings():  # frames where no pelvis marker is seen stay NaN
                warnings.simplefilter("ignore", RuntimeWarning)
                positions[key] = np.nanmean(xyz[idx], axis=0)
        else:
            positions[key] = xyz[idx[0]]
    axis, sign = _parse_up(up) if up else _up_axis(
        [p for (s, m), p in positions.items() if m == "heel"] or [p for k, p in positions.items() if k[0] in SIDES],
        [p for (s, m), p in positions.items() if m == "ankle"])
    if sign < 0:
        flip = np.ones(3)
        flip[[axis, (axis + 1) % 3]] = -1.0  # a half turn about the third axis keeps it right-handed
        positions = {k: p * flip for k, p in positions.items()}
    n = xyz.shape[1]
    return C3DRecording(
        trajectories=MarkerTrajectories(np.arange(n) / rate_hz, positions, up_axis=axis),
        rate_hz=rate_hz,
        first_frame=first_frame,
        units=units,
        up=("+" if sign > 0 else "-") + AXES[axis],
        labels_used={f"{k[0]}.{k[1]}": "+".join(labels[i] for i in idx) for k, idx in sorted(channels.items())},
        file_format=file_format,
        assumptions=list(assumptions or []),
    )

