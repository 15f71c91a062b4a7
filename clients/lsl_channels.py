"""What an LSL stream's channels are: from their labels and units to StrideVR device messages.

Motion capture: one channel per marker coordinate, labelled ``<marker><sep><axis>`` (``LHEE_x``,
``L.Heel X``, ``RTOE-z``, ``LeftAnkle_Y``: any separator or none, axis ``x``/``y``/``z``, any case),
or described as the XDF motion-capture metadata does (``<marker>LHEE</marker>`` and
``<type>PositionX</type>`` in each channel, whatever its label),
optionally a residual channel per marker (``LHEE_res``, ``_residual``, ``_cond``, ``_err``: negative
means not seen). Marker names are read by the C3D reader's conventions
(:mod:`scoring.recordings.labels`: Plug-in Gait, ``L.Heel``, ``heel_l``...; ``--map`` names the rest);
pelvis markers (ASIS/PSIS/sacrum) average into the pelvis. A coordinate that is NaN, a residual
below 0, or all three coordinates exactly 0 (how several LSL motion-capture apps send an occluded
marker) is a gap, sent as ``null``.

Force plate: channels labelled ``Fx Fy Fz Mx My Mz`` and/or ``COPx COPy`` (the names the
force-plate CSV reader knows: ``Force_Z``, ``Moment_X``, ``Cx``...). With COP channels the COP is
theirs; otherwise COP = (−My / Fz, Mx / Fz), the AMTI/Bertec convention with moments about the
plate's surface centre. No COP while |Fz| is under the contact threshold (nobody on the plate).

Units: each channel's ``unit`` in the stream's metadata (``millimeters``, ``mm``, ``m``, ``N``,
``Nm``, ``Nmm``...), else the option given; a position or COP unit that neither says is an error,
not a guess (millimetres read as metres would be a patient who never moves).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from scoring.errors import RecordingError
from scoring.recordings.force_plate_csv import COP_NAMES, FORCE_NAMES, MOMENT_NAMES
from scoring.recordings.labels import PELVIS, match_labels

LENGTH_UNITS = {"m": "m", "meter": "m", "meters": "m", "metre": "m", "metres": "m", "cm": "cm", "centimeters": "cm",
                "centimetres": "cm", "mm": "mm", "millimeters": "mm", "millimetres": "mm"}
LENGTH_SCALE_M = {"m": 1.0, "cm": 0.01, "mm": 0.001}
FORCE_SCALE_N = {"n": 1.0, "newton": 1.0, "newtons": 1.0, "kn": 1000.0}
MOMENT_SCALE_NM = {"nm": 1.0, "n.m": 1.0, "n*m": 1.0, "newtonmeters": 1.0, "nmm": 0.001, "n.mm": 0.001}
AXIS = re.compile(r"^(?P<name>.+?)[\s_.\-:]*(?P<axis>[xyz])$", re.IGNORECASE)
RESIDUAL = re.compile(r"^(?P<name>.+?)[\s_.\-:]*(?P<kind>res|residual|resid|cond|err|error)$", re.IGNORECASE)
MAX_FORCE_N = 5000.0


POSITION_TYPE = re.compile(r"^position([xyz])$", re.IGNORECASE)


def effective_labels(labels: Sequence[str | None], markers: Sequence[str | None],
                     types: Sequence[str | None]) -> list[str | None]:
    """Each channel's label, or ``<marker>_<axis>`` where the channel names its marker and a
    ``PositionX``/``Y``/``Z`` type (the XDF motion-capture metadata)."""
    out: list[str | None] = []
    for label, marker, kind in zip(labels, markers, types, strict=True):
        axis = POSITION_TYPE.match((kind or "").strip())
        out.append(f"{marker.strip()}_{axis[1].lower()}" if marker and marker.strip() and axis else label)
    return out


class ChannelError(RecordingError):
    """The stream's channels cannot be read as the kind of device asked for."""


def _unit_key(text: str | None) -> str:
    return re.sub(r"[\s·]", "", text or "").lower()


def length_unit(units: Sequence[str | None], indices: Sequence[int], given: str | None, what: str) -> str:
    """The one length unit of these channels: the option, else their metadata."""
    if given:
        return given
    found = {LENGTH_UNITS.get(_unit_key(units[i])) for i in indices if units[i]}
    if None in found:
        raise ChannelError(f"the stream's {what} channels have a unit this bridge does not know "
                           f"({', '.join(sorted({str(units[i]) for i in indices}))}): give --units")
    if len(found) > 1:
        raise ChannelError(f"the stream's {what} channels are in several units ({', '.join(sorted(found))})")  # type: ignore[arg-type]
    if not found:
        raise ChannelError(f"the stream names no unit for its {what} channels: give --units (mm, cm or m)")
    return found.pop()  # type: ignore[return-value]


@dataclass(frozen=True)
class MarkerChannels:
    """Which channels hold which marker: ``xyz[key]`` the three indices (x, y, z) of each foot
    landmark, ``pelvis`` those of every pelvis marker, ``residual`` the residual channel of a
    landmark where the stream has one; positions in ``units``."""

    xyz: dict[tuple[str, str], tuple[int, int, int]]
    pelvis: list[tuple[int, int, int]]
    residual: dict[tuple[str, str], int]
    units: str
    labels: dict[tuple[str, str], str]  # landmark -> the stream's marker name

    def setup(self, up: str, calibrate_s: float) -> dict[str, Any]:
        return {"type": "tracker_setup", "units": self.units, "up": up, "mode": "calibrate",
                "calibrate_s": calibrate_s}

    def message(self, sample: Sequence[float], t_s: float, seq: int) -> dict[str, Any]:
        """One ``markers`` message; gaps as null."""
        message: dict[str, Any] = {"type": "markers", "t_s": t_s, "seq": seq}
        for (side, name), (ix, iy, iz) in self.xyz.items():
            res = self.residual.get((side, name))
            seen = None if res is not None and not sample[res] >= 0 else _point(sample, ix, iy, iz)
            message.setdefault(side, {})[name] = seen
        if self.pelvis:
            points = [p for p in (_point(sample, *i) for i in self.pelvis) if p is not None]
            message["pelvis"] = [sum(c) / len(points) for c in zip(*points, strict=True)] if points else None
        return message


def _point(sample: Sequence[float], ix: int, iy: int, iz: int) -> list[float] | None:
    p = [float(sample[ix]), float(sample[iy]), float(sample[iz])]
    if not all(math.isfinite(v) for v in p) or p == [0.0, 0.0, 0.0]:
        return None
    return p


def marker_channels(labels: Sequence[str | None], units: Sequence[str | None], *, given_units: str | None = None,
                    mapping: dict[str, str] | None = None) -> MarkerChannels:
    """Read marker channels from the labels; :class:`ChannelError` when no foot marker is found."""
    axes: dict[str, dict[str, int]] = {}
    residual: dict[str, int] = {}
    for i, label in enumerate(labels):
        text = (label or "").strip()
        found = AXIS.match(text)
        if found:
            axes.setdefault(found["name"], {})[found["axis"].lower()] = i
            continue
        quality = RESIDUAL.match(text)
        if quality:
            residual[quality["name"]] = i
    names = [name for name, got in axes.items() if set(got) == {"x", "y", "z"}]
    if not names:
        shown = ", ".join(str(label) for label in labels[:12]) + (" ..." if len(labels) > 12 else "")
        raise ChannelError(f"no marker coordinate channels (labels like LHEE_x, LHEE_y, LHEE_z) among the "
                           f"stream's {len(labels)} channels: {shown or 'none labelled'}")
    try:
        chosen = match_labels(names, [1] * len(names), mapping)
    except RecordingError as exc:
        raise ChannelError(str(exc)) from None
    feet = {key: idx[0] for key, idx in chosen.items() if key != PELVIS}
    if not feet:
        raise ChannelError(f"none of the stream's markers is a foot landmark this bridge knows "
                           f"({', '.join(names[:12])}): name them with --map L.heel=LABEL ...")
    xyz = {key: (axes[names[i]]["x"], axes[names[i]]["y"], axes[names[i]]["z"]) for key, i in feet.items()}
    pelvis = [(axes[names[i]]["x"], axes[names[i]]["y"], axes[names[i]]["z"]) for i in chosen.get(PELVIS, [])]
    used = [c for trio in [*xyz.values(), *pelvis] for c in trio]
    unit = length_unit(units, used, given_units, "marker")
    residuals = {key: residual[names[i]] for key, i in feet.items() if names[i] in residual}
    return MarkerChannels(xyz, pelvis, residuals, unit, {key: names[i] for key, i in feet.items()})


def _bare(label: str | None) -> str:
    return re.sub(r"[\s_.\-]+", "", re.sub(r"[\[(].*?[\])]", "", label or "")).lower()


@dataclass(frozen=True)
class PlateChannels:
    """A force plate's channels: ``fz`` (required), ``cop`` (x, y) or ``moments`` (mx, my)."""

    fz: int
    cop: tuple[int, int] | None
    moments: tuple[int, int] | None
    force_scale_n: float
    length_scale_m: float  # COP channels
    moment_scale_nm: float
    contact_threshold_n: float = 20.0

    def setup(self, forward: str, calibrate_s: float) -> dict[str, Any]:
        return {"type": "mat_setup", "kind": "cop", "units": "m", "forward": forward, "mode": "calibrate",
                "calibrate_s": calibrate_s, "contact_threshold_n": self.contact_threshold_n}

    def message(self, sample: Sequence[float], t_s: float, seq: int) -> dict[str, Any]:
        fz = float(sample[self.fz]) * self.force_scale_n
        force = abs(fz) if math.isfinite(fz) else 0.0
        cop: list[float] | None = None
        if force >= self.contact_threshold_n:
            if self.cop is not None:
                k = self.length_scale_m
                cop = [float(sample[self.cop[0]]) * k, float(sample[self.cop[1]]) * k]
            elif self.moments is not None:
                mx, my = (float(sample[i]) * self.moment_scale_nm for i in self.moments)
                cop = [-my / fz, mx / fz]
            if cop is not None and not all(math.isfinite(v) for v in cop):
                cop = None
        return {"type": "cop", "t_s": t_s, "seq": seq, "cop": cop, "force_n": min(force, MAX_FORCE_N)}


def plate_channels(labels: Sequence[str | None], units: Sequence[str | None], *, cop_units: str | None = None,
                   force_units: str | None = None, moment_units: str | None = None) -> PlateChannels:
    bare = [_bare(label) for label in labels]

    def find(names: set[str]) -> int | None:
        return next((i for i, b in enumerate(bare) if b in names), None)

    fz = find(FORCE_NAMES["fz"])
    if fz is None:
        raise ChannelError(f"no vertical force channel (Fz) among the stream's channels: "
                           f"{', '.join(str(label) for label in labels[:12])}")
    cx, cy = find(COP_NAMES["x"]), find(COP_NAMES["y"])
    mx, my = find(MOMENT_NAMES["mx"]), find(MOMENT_NAMES["my"])
    cop = (cx, cy) if cx is not None and cy is not None else None
    moments = (mx, my) if mx is not None and my is not None else None
    if cop is None and moments is None:
        raise ChannelError("the stream has Fz but neither COP channels (COPx, COPy) nor moments (Mx, My) to "
                           "compute the centre of pressure from")

    def scale(table: dict[str, float], index: int, given: str | None, default: str, what: str) -> float:
        key = _unit_key(given or units[index] or default)
        if key not in table:
            raise ChannelError(f"unknown {what} unit {given or units[index]!r} (use {', '.join(table)})")
        return table[key]

    length = LENGTH_SCALE_M[length_unit(units, list(cop), cop_units, "COP")] if cop is not None else 1.0
    return PlateChannels(fz, cop, moments if cop is None else None,
                         scale(FORCE_SCALE_N, fz, force_units, "N", "force"), length,
                         scale(MOMENT_SCALE_NM, moments[0], moment_units, "Nm", "moment") if moments and cop is None
                         else 1.0)
