"""Read a force-plate CSV export into centre-of-pressure samples for :mod:`scoring.balance`.

The table is found by :mod:`scoring.recordings.delimited` (comma, semicolon or tab; quoted names;
a units row; decimal commas; metadata above and below). Column names are matched ignoring case,
spaces, ``_``, ``.``, ``-`` and a unit in brackets (``COPx (mm)``):

* time: ``time``, ``t``, ``time_s``, ``timestamp``, ``seconds``, ``sec`` (seconds), or ``time_ms``
  / ``Time (ms)`` / a units row saying ``ms`` (milliseconds); else a sample index (``sample``,
  ``frame``, ``index``...) or the row number, at the rate in the metadata (``Rate: 1000 Hz``,
  ``Sampling frequency;100``) or ``rate_hz``;
* centre of pressure: ``COPx``/``COPy``, ``Cx``/``Cy``, ``Ax``/``Ay``, ``cop_x``, ``CoP_X``...;
* forces and moments: ``Fx``, ``Fy``, ``Fz``, ``Mx``, ``My``, ``Mz`` (also ``Force_Z``, ``Moment_X``).

Without COP columns but with Fz, Mx and My, COP = (−My / Fz, Mx / Fz): the plate convention of
AMTI and Bertec with the moments taken about the centre of the plate's top surface (a plate whose
origin lies below the surface needs its own exports' COP). Samples where |Fz| < ``min_fz_n``
(nobody on the plate) get no COP, unless Fz is under it in most samples: then the force channels
were offset-removed (zeroed with the person standing), the COP columns are used throughout and
``assumptions`` says so; from moments such a file cannot give a COP, and the error says why.

Which plate axis is anterior-posterior is a setting (``ap_axis``, default ``y``: x is
medio-lateral, as in the live patient frame); ``"-y"`` flips the AP sign.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scoring.errors import RecordingError
from scoring.recordings.delimited import Table, metadata_rate_hz, read_table

LENGTH_SCALE_M = {"m": 1.0, "cm": 0.01, "mm": 0.001}
FORCE_SCALE_N = {"n": 1.0, "kn": 1000.0}
MOMENT_SCALE_NM = {"nm": 1.0, "nmm": 0.001}
TIME_NAMES = {"time": 1.0, "t": 1.0, "times": 1.0, "timesec": 1.0, "timestamp": 1.0, "seconds": 1.0,
              "sec": 1.0, "timems": 0.001, "tms": 0.001}
SAMPLE_NAMES = {"sample", "samples", "samplenumber", "frame", "frames", "framenumber", "frameno",
                "index", "idx", "sampleindex", "n"}
COP_NAMES = {axis: {f"cop{axis}", f"c{axis}", f"a{axis}", f"centerofpressure{axis}", f"centreofpressure{axis}"}
             for axis in "xy"}
FORCE_NAMES = {name: {name, f"force{name[1]}", f"forces{name[1]}"} for name in ("fx", "fy", "fz")}
MOMENT_NAMES = {name: {name, f"moment{name[1]}", f"moments{name[1]}", f"t{name[1]}"} for name in ("mx", "my", "mz")}


@dataclass(frozen=True, slots=True)
class ForcePlateRecording:
    times_s: np.ndarray  # from 0 at the first sample
    cop_m: np.ndarray  # (N, 2): AP, ML in metres; NaN where the plate was unloaded
    fz_n: np.ndarray | None  # vertical force, when the file has it
    rate_hz: float  # median sample rate
    columns: dict[str, str]  # role ("time", "ap", "ml", "fz"...) -> the file's column name
    cop_from_moments: bool
    fz_offset_removed: bool = False  # Fz was zeroed with the person on the plate: it is no load
    assumptions: list[str] = field(default_factory=list)  # what the file did not say and was assumed
    layout: dict[str, object] = field(default_factory=dict)  # delimiter, decimal comma, header and data lines

    def as_json(self) -> dict[str, object]:
        return {"samples": len(self.times_s), "rate_hz": self.rate_hz, "columns": dict(self.columns),
                "cop_from_moments": self.cop_from_moments, "fz_offset_removed": self.fz_offset_removed,
                "assumptions": list(self.assumptions),
                "layout": dict(self.layout)}


def _normal(name: str) -> str:
    """``'COP_x (mm)'`` -> ``'copx'``."""
    return re.sub(r"[\s_.\-]+", "", re.sub(r"[\[(].*?[\])]", "", name)).lower()


def _find(header: list[str], names: set[str] | dict[str, float]) -> int | None:
    hits = [i for i, h in enumerate(header) if _normal(h) in names]
    return hits[0] if hits else None


def _named(header: list[str], name: str | None) -> int | None:
    if name is None:
        return None
    hits = [i for i, h in enumerate(header) if h.strip().lower() == name.strip().lower()]
    if not hits:
        raise RecordingError(f"no column {name!r} (columns: {', '.join(header)})")
    return hits[0]


def _unit(table: Table, index: int, given: str | None, fallback: str, what: str,
          assumptions: list[str]) -> str:
    """The unit of a column: the option, else the file's units row or bracket, else ``fallback``
    (which is then recorded as an assumption)."""
    if given:
        return given
    found = table.units[index]
    if found:
        return found
    assumptions.append(f"{what} in {fallback}: the file names no unit for column {table.header[index]!r}")
    return fallback


def read_force_plate_csv(
    path: str | Path,
    *,
    rate_hz: float | None = None,
    cop_units: str | None = None,
    force_units: str | None = None,
    moment_units: str | None = None,
    ap_axis: str = "y",
    ap_column: str | None = None,
    ml_column: str | None = None,
    min_fz_n: float = 20.0,
) -> ForcePlateRecording:
    """COP (AP, ML) in metres over time from a force-plate CSV; see the module docstring.

    Units (``cop_units`` m/cm/mm, ``force_units`` N/kN, ``moment_units`` Nm/Nmm) default to the
    file's units row or a bracket in the column name, else metres, N and Nm (noted in
    ``assumptions``). Raises :class:`RecordingError` with a one-line reason naming the line.
    """
    path = Path(path)
    ap_text = ap_axis.strip().lower()
    if ap_text.lstrip("+-") not in ("x", "y"):
        raise RecordingError(f"bad AP axis {ap_axis!r}: use x, y, -x or -y")
    table = read_table(path)
    header = table.header
    assumptions: list[str] = []
    col = {"ap": _named(header, ap_column), "ml": _named(header, ml_column)}
    ap_name = ap_text.lstrip("+-")
    ml_name = "x" if ap_name == "y" else "y"
    col["ap"] = col["ap"] if col["ap"] is not None else _find(header, COP_NAMES[ap_name])
    col["ml"] = col["ml"] if col["ml"] is not None else _find(header, COP_NAMES[ml_name])
    for name, names in {**FORCE_NAMES, **MOMENT_NAMES}.items():
        col[name] = _find(header, names)

    fz_col = col["fz"]
    fz_n = None if fz_col is None else table.column(fz_col) * _scale(
        FORCE_SCALE_N, _unit(table, fz_col, force_units, "N", "force", assumptions), "force")
    ap_col, ml_col, mx_col, my_col = col["ap"], col["ml"], col["mx"], col["my"]
    from_moments = ap_col is None or ml_col is None
    offset_removed = fz_n is not None and _offset_removed(fz_n, min_fz_n)
    if ap_col is not None and ml_col is not None:
        scale = _scale(LENGTH_SCALE_M, _unit(table, ap_col, cop_units, "m", "COP", assumptions), "COP")
        ap, ml = table.column(ap_col) * scale, table.column(ml_col) * scale
    elif fz_n is not None and mx_col is not None and my_col is not None:
        if offset_removed:
            raise RecordingError(
                f"{path}: Fz is near 0 throughout (median {np.nanmedian(np.abs(fz_n)):.1f} N, column "
                f"{header[fz_col or 0]!r}, from line {table.lines[0]}): the force channels look offset-removed, so "
                "COP cannot be computed from the moments; export the COP columns, or the forces without "
                "offset removal")
        m_scale = _scale(MOMENT_SCALE_NM, _unit(table, my_col, moment_units, "Nm", "moments", assumptions), "moment")
        with np.errstate(invalid="ignore", divide="ignore"):
            plate = {"x": -table.column(my_col) * m_scale / fz_n, "y": table.column(mx_col) * m_scale / fz_n}
        ap, ml = plate[ap_name], plate[ml_name]
    else:
        raise RecordingError(f"{path}, line {table.header_line}: no centre-of-pressure columns (COPx, COPy) and "
                             f"no Fz, Mx, My to compute them (columns: {', '.join(header)})")
    if ap_text.startswith("-"):
        ap = -ap
    cop = np.column_stack([ap, ml])
    if fz_n is not None and offset_removed:
        assumptions.append(
            f"Fz near 0 throughout (median |Fz| {np.nanmedian(np.abs(fz_n)):.1f} N < {min_fz_n:g} N): taken as "
            "offset-removed force channels with the person on the plate; every sample's COP columns used")
    elif fz_n is not None:
        cop[np.abs(fz_n) < min_fz_n] = np.nan
    times, time_column = _times(table, rate_hz, assumptions)
    used = {"time": time_column, "fz": col["fz"], **({"mx": col["mx"], "my": col["my"]} if from_moments
                                                     else {"ap": col["ap"], "ml": col["ml"]})}
    dt = np.diff(times)
    return ForcePlateRecording(
        times_s=times,
        cop_m=cop,
        fz_n=fz_n,
        rate_hz=float(1.0 / np.median(dt)) if len(dt) and np.median(dt) > 0 else float(rate_hz or 0.0),
        columns={role: header[i] for role, i in used.items() if i is not None},
        cop_from_moments=from_moments,
        fz_offset_removed=offset_removed,
        assumptions=assumptions,
        layout=table.describe(),
    )


def _offset_removed(fz_n: np.ndarray, min_fz_n: float) -> bool:
    """Most samples under the loaded threshold: a plate zeroed with the person on it (or an empty
    plate, which the COP columns then show as constant)."""
    finite = fz_n[np.isfinite(fz_n)]
    return bool(finite.size) and float(np.median(np.abs(finite))) < min_fz_n


def _scale(table: dict[str, float], unit: str, what: str) -> float:
    key = re.sub(r"[\s.·*]", "", unit).lower()
    if key not in table:
        raise RecordingError(f"unknown {what} unit {unit!r} (use {', '.join(table)})")
    return table[key]


def _times(table: Table, rate_hz: float | None, assumptions: list[str]) -> tuple[np.ndarray, int | None]:
    """Seconds from the first sample, and the column they came from: a time column, else a sample
    index or the row number at ``rate_hz``."""
    header, path = table.header, table.path
    index = _find(header, TIME_NAMES)
    if index is not None:
        unit = (table.units[index] or "").strip().lower()
        scale = {"ms": 0.001, "s": 1.0, "sec": 1.0}.get(unit, TIME_NAMES[_normal(header[index])])
        times = table.column(index) * scale
    else:
        index = _find(header, SAMPLE_NAMES)
        from_file = metadata_rate_hz(table)
        if (not rate_hz or rate_hz <= 0) and from_file is not None:
            rate_hz = from_file
            assumptions.append(f"{rate_hz:g} Hz from the file's metadata: the file has no time column")
        elif not rate_hz or rate_hz <= 0:
            what = f"the sample column {header[index]!r}" if index is not None else "the rows"
            raise RecordingError(f"{path}, line {table.header_line}: no time column; give the rate (--rate-hz) "
                                 f"for {what}")
        else:
            assumptions.append(f"{rate_hz:g} Hz as given: the file has no time column")
        times = (table.column(index) if index is not None else np.arange(len(table.lines))) / rate_hz
    bad = np.flatnonzero(~np.isfinite(times))
    if bad.size:
        raise RecordingError(f"{table.where(int(bad[0]))}: the time column {header[index]!r} is empty "
                             "(expected a time in every row)" if index is not None else f"{path}: no times")
    back = np.flatnonzero(np.diff(times) <= 0)
    if back.size:
        raise RecordingError(f"{table.where(int(back[0]) + 1)}: times do not increase from row to row "
                             f"(expected a time after {times[back[0]]:g})")
    return times - times[0], index

