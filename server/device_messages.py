"""Raw device messages: motion-tracker markers and pressure-mat data, parsed at the edge.

Devices that already know the patient frame send ``foot`` (``server.messages``). These messages
let a tracker or mat send what it measures and leave the geometry to ``server.adapters``. Every
message also carries ``type``, ``v`` and optionally ``id``; units are in the field names or, for lab
positions, in the setup.

``tracker_setup``
    ``units`` "mm" | "cm" | "m"; ``up`` "+x" | "-x" | "+y" | "-y" | "+z" | "-z"; ``mode``
    "calibrate" | "explicit"; ``max_gap_s`` 0.02-2 (default 0.25). Calibrate mode: ``calibrate_s``
    0.5-10 (default 2). Explicit mode: ``forward`` (required, a lab axis perpendicular to ``up``),
    ``origin`` [x, y, z] in ``units`` (default [0, 0, 0]). A field of the other mode is refused.
``markers``
    ``t_s``, ``seq``, ``L`` and ``R``: {``heel`` | ``toe`` | ``ankle``: [x, y, z] or
    [x, y, z, residual] in the setup's units, or null}, ``pelvis``: the same, or null. Any subset.
    A marker is *missing* (a gap, not an error) when null, when a coordinate or the residual is NaN
    (msgpack can carry NaN; JSON cannot, so JSON clients send null), or when the residual is
    negative (the C3D convention: zeros with residual -1). Infinite values, or beyond 100 m from the
    lab origin in any axis, are ``bad_field``.
``mat_setup``
    ``kind`` "grid" | "cop"; ``forward`` "+y" | "-y" | "+x" | "-x" (the mat axis the patient faces);
    ``mode`` "calibrate" | "explicit"; ``contact_threshold_n`` 0-2000 (default 20). Calibrate mode:
    ``calibrate_s`` 0.5-10 (default 2); explicit: ``origin_m`` [x, y] on the mat (default [0, 0]).
    Grid: ``rows``, ``cols`` (rows x cols <= 6400), ``cell_m`` [dx, dy] 0.001-0.1 m,
    ``cell_threshold_kpa`` 0-200 (default 1). COP: ``units`` "mm" | "cm" | "m".
``cop``
    ``t_s``, ``seq``, ``cop`` [x, y] in the setup's units within 10 m, or null (NaN over msgpack)
    when the plate is unloaded and has no centre of pressure; ``force_n`` 0-5000.
``xr_setup``
    A WebXR headset as the station's tracker (``server.adapters.xr``): ``mode`` "calibrate" (the
    only mode: the patient frame is measured standing); ``calibrate_s`` 0.5-10 (default 2),
    ``max_gap_s`` 0.02-2 (default 0.25).
``xr_pose``
    ``t_s``, ``seq``, ``head``, ``left``, ``right``: [x, y, z] metres in the WebXR ``local-floor``
    space, or null when not tracked; each within +/-5 m (no room is bigger), finite, height 0-3 m
    for the head. ``head_forward`` (optional): the head's horizontal facing [x, z], any length
    above 0.1. Sent at most at 90 Hz (``server.ratelimit``).
``pressure``
    ``t_s``, ``seq``, ``kpa``: ``rows`` lists of ``cols`` numbers, or one flat row-major list of
    rows x cols; each finite, -20 to 2000 kPa (small negatives, a mat's zeroing offset, read as 0).

A ``markers``, ``cop`` or ``pressure`` before its setup (or after a setup of the other kind) is a
``no_setup`` error: positions mean nothing without units and axes, and a guessed default (mm,
Z-up) would turn a tracker that sends metres into a patient who never moves, silently.
"""

from __future__ import annotations

import math
from typing import Any, Literal, overload

import numpy as np

from games.events import FOOT_MARKERS
from server.adapters.frames import (
    AXES_2D,
    AXES_3D,
    UNIT_SCALE_M,
    CopFrame,
    MarkerFrame,
    MatSetup,
    PressureFrame,
    TrackerSetup,
    Vec2,
    Vec3,
    XrPose,
    XrSetup,
)
from server.codec import ProtocolError
from server.fields import Fields
from server.messages import COMMON, MAX_DEVICE_TIME_S, MAX_FORCE_N, MAX_POSITION_M, MAX_SEQ

MAX_LAB_M = 100.0  # no lab is this big: a coordinate beyond it is a unit or export bug, not a marker
MAX_MAT_M = 10.0
MAX_CELLS = 6400
MAX_KPA = 2000.0  # ~4x the peak plantar pressure of running; above it the data is broken
MIN_KPA = -20.0  # some mats' zeroing leaves small negatives on unloaded cells: read as 0
MODES = ("calibrate", "explicit")
_NUMBERS = {int, float}


def _refuse(f: Fields, keys: tuple[str, ...], why: str) -> None:
    for key in keys:
        if f.data.get(key) is not None:
            raise ProtocolError("bad_field", f"{f.where}: '{key}' {why}")


def _number_or(f: Fields, key: str, default: float, *, low: float, high: float, unit: str) -> float:
    value = f.number(key, low=low, high=high, required=False, unit=unit)
    return default if value is None else value


def _clock(f: Fields) -> tuple[float, int]:
    t = f.number("t_s", low=0.0, high=MAX_DEVICE_TIME_S, unit="s")
    seq = f.integer("seq", low=0, high=MAX_SEQ)
    assert t is not None and seq is not None
    return t, seq


# -- tracker ---------------------------------------------------------------------------------------


def parse_tracker_setup(f: Fields) -> TrackerSetup:
    f.only(COMMON + ("units", "up", "mode", "calibrate_s", "forward", "origin", "max_gap_s"))
    units = f.choice("units", UNIT_SCALE_M)
    up = f.choice("up", AXES_3D)
    mode = f.choice("mode", MODES)
    assert units and up and mode
    max_gap_s = _number_or(f, "max_gap_s", 0.25, low=0.02, high=2.0, unit="s")
    if mode == "calibrate":
        _refuse(f, ("forward", "origin"), "applies to mode 'explicit' only")
        calibrate_s = _number_or(f, "calibrate_s", 2.0, low=0.5, high=10.0, unit="s")
        return TrackerSetup(units, up, mode, calibrate_s=calibrate_s, max_gap_s=max_gap_s)
    _refuse(f, ("calibrate_s",), "applies to mode 'calibrate' only")
    forward = f.choice("forward", AXES_3D)
    assert forward
    if forward[1] == up[1]:
        raise ProtocolError("bad_field",
                            f"{f.where}: 'forward' must be perpendicular to 'up' ({up}), got {forward!r}")
    origin: Vec3 = (0.0, 0.0, 0.0)
    if f.data.get("origin") is not None:
        limit = MAX_LAB_M / UNIT_SCALE_M[units]
        origin = f.vector("origin", size=3, limit=limit, unit=units)  # type: ignore[assignment]
    return TrackerSetup(units, up, mode, forward=forward, origin=origin, max_gap_s=max_gap_s)


@overload
def _point(value: Any, where: str, size: Literal[3], limit: float, units: str) -> Vec3 | None: ...
@overload
def _point(value: Any, where: str, size: Literal[2], limit: float, units: str) -> Vec2 | None: ...
def _point(value: Any, where: str, size: int, limit: float, units: str) -> tuple[float, ...] | None:
    """A point; a 3-D one may be followed by a residual. None when the device marks it missing."""
    if value is None:
        return None
    sizes = (size, size + 1) if size == 3 else (size,)
    if (not isinstance(value, list | tuple) or len(value) not in sizes
            or not all(type(v) in _NUMBERS for v in value)):
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        extra = " (optionally followed by a residual)" if size == 3 else ""
        raise ProtocolError("bad_field", f"{where} must be a list of {size} numbers ({units}){extra}, or null, "
                                         f"got {shown}")
    numbers = [float(v) for v in value]
    if any(math.isinf(v) for v in numbers):
        raise ProtocolError("bad_field", f"{where} must be finite (null or NaN marks a missing point)")
    if any(math.isnan(v) for v in numbers) or (len(numbers) > size and numbers[size] < 0):
        return None
    point = numbers[:size]
    if max(abs(v) for v in point) > limit:
        raise ProtocolError("bad_field", f"{where} must be within +/-{limit:g} {units}, got {point}")
    return tuple(point)


def parse_markers(f: Fields, setup: TrackerSetup | None) -> MarkerFrame:
    if setup is None:
        raise ProtocolError("no_setup", f"{f.where}: send tracker_setup first (units, up axis, mode)")
    f.only(COMMON + ("t_s", "seq", "L", "R", "pelvis"))
    t, seq = _clock(f)
    limit = MAX_LAB_M / setup.scale_m
    feet: dict[str, dict[str, Vec3 | None]] = {}
    for side in ("L", "R"):
        markers = f.mapping(side, max_items=len(FOOT_MARKERS))
        if markers is None:
            continue
        markers.only(FOOT_MARKERS)
        feet[side] = {name: _point(value, f"{f.where}: '{side}.{name}'", 3, limit, setup.units)
                      for name, value in markers.data.items()}
    pelvis = _point(f.data.get("pelvis"), f"{f.where}: 'pelvis'", 3, limit, setup.units)
    return MarkerFrame(t, seq, feet, pelvis)


# -- WebXR headset as a tracker ----------------------------------------------------------------------

XR_MODES = ("calibrate",)
MAX_HEAD_HEIGHT_M = 3.0


def parse_xr_setup(f: Fields) -> XrSetup:
    f.only(COMMON + ("mode", "calibrate_s", "max_gap_s"))
    f.choice("mode", XR_MODES)
    return XrSetup(calibrate_s=_number_or(f, "calibrate_s", 2.0, low=0.5, high=10.0, unit="s"),
                   max_gap_s=_number_or(f, "max_gap_s", 0.25, low=0.02, high=2.0, unit="s"))


def parse_xr_pose(f: Fields, setup: XrSetup | None) -> XrPose:
    if setup is None:
        raise ProtocolError("no_setup", f"{f.where}: send xr_setup first")
    f.only(COMMON + ("t_s", "seq", "head", "left", "right", "head_forward"))
    t, seq = _clock(f)
    points = {key: _xr_point(f, key) for key in ("head", "left", "right")}
    head = points["head"]
    if head is not None and not 0.0 <= head[1] <= MAX_HEAD_HEIGHT_M:
        raise ProtocolError("bad_field", f"{f.where}: 'head' height must be from 0 to {MAX_HEAD_HEIGHT_M:g} m "
                                         f"above the floor, got {head[1]}")
    facing: Vec2 | None = None
    if f.data.get("head_forward") is not None:
        facing = f.vector("head_forward", size=2, limit=MAX_POSITION_M, unit="m")  # type: ignore[assignment]
        assert facing is not None
        norm = math.hypot(*facing)
        if norm < 0.1:
            raise ProtocolError("bad_field", f"{f.where}: 'head_forward' must be a horizontal direction "
                                             f"[x, z] of length above 0.1, got {list(facing)}")
        facing = (facing[0] / norm, facing[1] / norm)
    return XrPose(t, seq, head, points["left"], points["right"], facing)


def _xr_point(f: Fields, key: str) -> Vec3 | None:
    """A local-floor position, or None when the headset does not track it now (a gap). Unlike a lab
    tracker's, NaN is an error here: WebXR never reports one."""
    if f.data.get(key) is None:
        return None
    return f.vector(key, size=3, limit=MAX_POSITION_M, unit="m")  # type: ignore[return-value]


# -- mat -------------------------------------------------------------------------------------------

_GRID_FIELDS = ("rows", "cols", "cell_m", "cell_threshold_kpa")


def parse_mat_setup(f: Fields) -> MatSetup:
    f.only(COMMON + ("kind", "forward", "mode", "calibrate_s", "origin_m", "contact_threshold_n", "units")
           + _GRID_FIELDS)
    kind = f.choice("kind", ("grid", "cop"))
    forward = f.choice("forward", AXES_2D)
    mode = f.choice("mode", MODES)
    assert kind and forward and mode
    common: dict[str, Any] = {
        "contact_threshold_n": _number_or(f, "contact_threshold_n", 20.0, low=0.0, high=2000.0, unit="N")}
    if mode == "calibrate":
        _refuse(f, ("origin_m",), "applies to mode 'explicit' only")
        common["calibrate_s"] = _number_or(f, "calibrate_s", 2.0, low=0.5, high=10.0, unit="s")
    else:
        _refuse(f, ("calibrate_s",), "applies to mode 'calibrate' only")
        if f.data.get("origin_m") is not None:
            common["origin_m"] = f.vector("origin_m", size=2, limit=MAX_MAT_M, unit="m")
    if kind == "cop":
        _refuse(f, _GRID_FIELDS, "applies to kind 'grid' only")
        units = f.choice("units", UNIT_SCALE_M)
        assert units
        return MatSetup(kind, forward, mode, units=units, **common)
    _refuse(f, ("units",), "applies to kind 'cop' only (a grid's size is in cell_m)")
    rows = f.integer("rows", low=1, high=MAX_CELLS)
    cols = f.integer("cols", low=1, high=MAX_CELLS)
    assert rows is not None and cols is not None
    if rows * cols > MAX_CELLS:
        raise ProtocolError("bad_field", f"{f.where}: rows x cols must be at most {MAX_CELLS} cells, "
                                         f"got {rows} x {cols}")
    cell_m = f.vector("cell_m", size=2, limit=0.1, unit="m")
    if min(cell_m) < 0.001:
        raise ProtocolError("bad_field", f"{f.where}: 'cell_m' must be from 0.001 to 0.1 m, got {list(cell_m)}")
    threshold = _number_or(f, "cell_threshold_kpa", 1.0, low=0.0, high=200.0, unit="kPa")
    return MatSetup(kind, forward, mode, rows=rows, cols=cols, cell_m=cell_m,  # type: ignore[arg-type]
                    cell_threshold_kpa=threshold, **common)


def _mat(setup: MatSetup | None, where: str, kind: str) -> MatSetup:
    if setup is None or setup.kind != kind:
        got = "none" if setup is None else f"kind '{setup.kind}'"
        raise ProtocolError("no_setup", f"{where}: send mat_setup with kind '{kind}' first (the mat has {got})")
    return setup


def parse_cop(f: Fields, setup: MatSetup | None) -> CopFrame:
    setup = _mat(setup, f.where, "cop")
    f.only(COMMON + ("t_s", "seq", "cop", "force_n"))
    t, seq = _clock(f)
    cop = _point(f.data.get("cop"), f"{f.where}: 'cop'", 2, MAX_MAT_M / setup.scale_m, setup.units)
    force = f.number("force_n", low=0.0, high=MAX_FORCE_N, unit="N")
    assert force is not None
    return CopFrame(t, seq, cop, force)


def parse_pressure(f: Fields, setup: MatSetup | None) -> PressureFrame:
    """A pressure grid: a 64 x 64 frame parses in about 0.2 ms, half of it checking every value is a
    number (numpy would quietly turn true or "5" into one), half converting it with numpy."""
    setup = _mat(setup, f.where, "grid")
    f.only(COMMON + ("t_s", "seq", "kpa"))
    t, seq = _clock(f)
    raw = f.data.get("kpa")
    rows, cols = setup.rows, setup.cols
    shape = f"{f.where}: 'kpa' must be {rows} lists of {cols} numbers (kPa), or one list of {rows * cols}"
    if not isinstance(raw, list) or not raw:
        raise ProtocolError("missing_field" if raw is None else "bad_field", shape)
    types: set[type] = set()
    if isinstance(raw[0], list):
        if len(raw) != rows or not all(type(r) is list and len(r) == cols for r in raw):
            raise ProtocolError("bad_field", f"{shape}; got {len(raw)} rows of {len(raw[0])}")
        for r in raw:
            types.update(map(type, r))
    elif len(raw) == rows * cols:
        types.update(map(type, raw))
    else:
        raise ProtocolError("bad_field", f"{shape}; got {len(raw)} values")
    if not types <= _NUMBERS:
        raise ProtocolError("bad_field", f"{shape}; got {', '.join(sorted(t.__name__ for t in types - _NUMBERS))}")
    kpa = np.array(raw, dtype=np.float64).reshape(rows, cols)
    if not np.isfinite(kpa).all() or kpa.min() < MIN_KPA or kpa.max() > MAX_KPA:
        bad = kpa[~(np.isfinite(kpa) & (kpa >= MIN_KPA) & (kpa <= MAX_KPA))][0]
        raise ProtocolError("bad_field",
                            f"{f.where}: 'kpa' values must be finite, {MIN_KPA:g} to {MAX_KPA:g} kPa, got {bad}")
    return PressureFrame(t, seq, np.maximum(kpa, 0.0, out=kpa))


MAX_BELT_SPEED_M_S = 3.0


def parse_belt(f: Fields) -> float:
    """A treadmill's belt speed (m/s), for the treadmill game's scrolling targets."""
    f.only(COMMON + ("speed_m_s",))
    speed = f.number("speed_m_s", low=0.0, high=MAX_BELT_SPEED_M_S, unit="m/s")
    assert speed is not None
    return speed
