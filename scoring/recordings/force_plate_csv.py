"""Read a force-plate CSV export into centre-of-pressure samples for :mod:`scoring.balance`.

One header row, then one row per sample (comma, semicolon or tab separated). Column names are
matched ignoring case, spaces, ``_``, ``.``, ``-`` and a unit in brackets (``COPx (mm)``):

* time: ``time``, ``t``, ``time_s``, ``timestamp``, ``seconds``, ``sec`` (seconds), or ``time_ms``
  / ``Time (ms)`` (milliseconds); else a sample index (``sample``, ``frame``, ``index``...) with ``rate_hz``; else
  the row number with ``rate_hz``;
* centre of pressure: ``COPx``/``COPy``, ``Cx``/``Cy``, ``Ax``/``Ay``, ``cop_x``, ``CoP_X``...;
* forces and moments: ``Fx``, ``Fy``, ``Fz``, ``Mx``, ``My``, ``Mz`` (also ``Force_Z``, ``Moment_X``).

Without COP columns but with Fz, Mx and My, COP = (−My / Fz, Mx / Fz): the plate convention of
AMTI and Bertec with the moments taken about the centre of the plate's top surface (a plate whose
origin lies below the surface needs its own exports' COP). Samples where |Fz| < ``min_fz_n``
(nobody on the plate) get no COP.

Which plate axis is anterior-posterior is a setting (``ap_axis``, default ``y``: x is
medio-lateral, as in the live patient frame); ``"-y"`` flips the AP sign.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scoring.errors import RecordingError

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

    def as_json(self) -> dict[str, object]:
        return {"samples": len(self.times_s), "rate_hz": self.rate_hz, "columns": dict(self.columns),
                "cop_from_moments": self.cop_from_moments}


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


def _rows(path: Path) -> tuple[list[str], list[list[str]]]:
    if not path.is_file():
        raise RecordingError(f"{path}: no such file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise RecordingError(f"{path}: not a text CSV file") from None
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise RecordingError(f"{path}: empty file")
    delimiter = max(",;\t", key=lines[0].count)
    rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter))
    header = [h.strip() for h in rows[0]]
    if len(rows) < 2:
        raise RecordingError(f"{path}: a header and no data rows")
    return header, rows[1:]


def _column(path: Path, header: list[str], rows: list[list[str]], index: int) -> np.ndarray:
    values = np.empty(len(rows))
    for r, row in enumerate(rows):
        cell = row[index].strip() if index < len(row) else ""
        try:
            values[r] = float(cell) if cell else np.nan
        except ValueError:
            raise RecordingError(f"{path}: row {r + 2}, column {header[index]!r}: {cell!r} is not a number") from None
    return values


def read_force_plate_csv(
    path: str | Path,
    *,
    rate_hz: float | None = None,
    cop_units: str | None = None,
    force_units: str = "N",
    moment_units: str = "Nm",
    ap_axis: str = "y",
    ap_column: str | None = None,
    ml_column: str | None = None,
    min_fz_n: float = 20.0,
) -> ForcePlateRecording:
    """COP (AP, ML) in metres over time from a force-plate CSV; see the module docstring.

    ``cop_units`` (m, cm, mm) defaults to the unit in the COP column's header, else metres.
    Raises :class:`RecordingError` with a one-line reason.
    """
    path = Path(path)
    ap_text = ap_axis.strip().lower()
    if ap_text.lstrip("+-") not in ("x", "y"):
        raise RecordingError(f"bad AP axis {ap_axis!r}: use x, y, -x or -y")
    header, rows = _rows(path)
    col = {"ap": _named(header, ap_column), "ml": _named(header, ml_column)}
    ap_name = ap_text.lstrip("+-")
    ml_name = "x" if ap_name == "y" else "y"
    col["ap"] = col["ap"] if col["ap"] is not None else _find(header, COP_NAMES[ap_name])
    col["ml"] = col["ml"] if col["ml"] is not None else _find(header, COP_NAMES[ml_name])
    for name, names in {**FORCE_NAMES, **MOMENT_NAMES}.items():
        col[name] = _find(header, names)

    def data(index: int) -> np.ndarray:
        return _column(path, header, rows, index)

    fz_n = None if col["fz"] is None else data(col["fz"]) * _scale(FORCE_SCALE_N, force_units, "force")
    ap_col, ml_col, mx_col, my_col = col["ap"], col["ml"], col["mx"], col["my"]
    from_moments = ap_col is None or ml_col is None
    if ap_col is not None and ml_col is not None:
        scale = _scale(LENGTH_SCALE_M, cop_units or _header_unit(header[ap_col]) or "m", "COP")
        ap, ml = data(ap_col) * scale, data(ml_col) * scale
    elif fz_n is not None and mx_col is not None and my_col is not None:
        m_scale = _scale(MOMENT_SCALE_NM, moment_units, "moment")
        with np.errstate(invalid="ignore", divide="ignore"):
            plate = {"x": -data(my_col) * m_scale / fz_n, "y": data(mx_col) * m_scale / fz_n}
        ap, ml = plate[ap_name], plate[ml_name]
    else:
        raise RecordingError(f"{path}: no centre-of-pressure columns (COPx, COPy) and no Fz, Mx, My to "
                             f"compute them (columns: {', '.join(header)})")
    if ap_text.startswith("-"):
        ap = -ap
    cop = np.column_stack([ap, ml])
    if fz_n is not None:
        cop[np.abs(fz_n) < min_fz_n] = np.nan
    times, time_column = _times(path, header, rows, rate_hz)
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
    )


def _scale(table: dict[str, float], unit: str, what: str) -> float:
    key = re.sub(r"[\s.·*]", "", unit).lower()
    if key not in table:
        raise RecordingError(f"unknown {what} unit {unit!r} (use {', '.join(table)})")
    return table[key]


def _header_unit(name: str) -> str | None:
    found = re.search(r"[\[(]\s*(mm|cm|m)\s*[\])]", name, re.IGNORECASE)
    return found.group(1).lower() if found else None


def _times(path: Path, header: list[str], rows: list[list[str]], rate_hz: float | None
           ) -> tuple[np.ndarray, int | None]:
    """Seconds from the first sample, and the column they came from: a time column, else a sample
    index or the row number at ``rate_hz``."""
    index = _find(header, TIME_NAMES)
    if index is not None:
        in_ms = re.search(r"[\[(]\s*ms\s*[\])]", header[index], re.IGNORECASE) is not None  # "Time (ms)"
        times = _column(path, header, rows, index) * (0.001 if in_ms else TIME_NAMES[_normal(header[index])])
    else:
        index = _find(header, SAMPLE_NAMES)
        if not rate_hz or rate_hz <= 0:
            what = f"the sample column {header[index]!r}" if index is not None else "the rows"
            raise RecordingError(f"{path}: no time column; give the rate (--rate-hz) for {what}")
        times = (_column(path, header, rows, index) if index is not None else np.arange(len(rows))) / rate_hz
    if not np.isfinite(times).all():
        raise RecordingError(f"{path}: the time column has empty cells")
    if len(times) > 1 and not (np.diff(times) > 0).all():
        raise RecordingError(f"{path}: times do not increase from row to row")
    return times - times[0], index
