"""Marker files in text: OpenSim TRC and tab-separated exports (Qualisys TSV and alike).

Both come out as the :class:`~scoring.recordings.c3d.MarkerRecording` a C3D file gives (metres,
t = 0 at the first frame, the vertical axis detected and positive up, the foot landmarks found by
their labels), so gait analysis and the replay tools take any of them. :func:`read_markers` picks
the reader by the file's suffix (``.c3d``, ``.trc``, ``.tsv``/``.txt``/``.csv``).

* **TRC** (OpenSim): line 2 names and line 3 gives ``DataRate ... NumMarkers Units ...``; then
  ``Frame# Time LHEE (two empty cells) LTOE ...`` and ``X1 Y1 Z1 X2 ...``; one row per frame,
  empty cells in gaps. Rate and units from the header.
* **Qualisys TSV**: a block of ``KEY<tab>value`` lines (``FREQUENCY``, ``MARKER_NAMES``...), then
  ``Frame Time LHEE X LHEE Y LHEE Z ...`` (older exports: no such row, three columns per marker in
  ``MARKER_NAMES`` order). QTM writes millimetres and zeros in gaps.
* **Other tab (or comma, semicolon) separated tables**: columns named ``LABEL X``, ``LABEL_x``,
  ``LABEL.X``, ``LABEL:X`` (a unit in brackets or in a units row counts), a ``Time`` column or a
  rate in the metadata or given.

What a file does not say is an option (``rate_hz``, ``units``), and what was assumed is listed in
``assumptions``. Errors name the line and what was expected there.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from scoring.errors import RecordingError
from scoring.recordings.c3d import UNIT_SCALE_M, MarkerRecording, marker_recording, read_c3d
from scoring.recordings.delimited import Table, metadata_rate_hz, parse_number, read_table, read_text

AXIS_SUFFIX = re.compile(r"^(?P<label>.+?)[\s_.:\-]*(?P<axis>[xyz])$", re.IGNORECASE)
TIME_NAMES = {"time", "t", "time_s", "times", "seconds"}
FRAME_NAMES = {"frame", "frame#", "frames", "sample", "index"}
QTM_UNITS = "mm"


def _scale(path: Path, units: str, where: str) -> float:
    scale = UNIT_SCALE_M.get(units.strip().lower())
    if scale is None:
        raise RecordingError(f"{path}, {where}: unknown units {units!r} (expected mm, cm or m)")
    return scale


def _rate_from_times(table: Table, index: int) -> float | None:
    times = table.column(index)
    dt = np.diff(times[np.isfinite(times)])
    return float(1.0 / np.median(dt)) if dt.size and np.median(dt) > 0 else None


def read_trc(path: str | Path, *, up: str | None = None, mapping: Mapping[str, str] | None = None
             ) -> MarkerRecording:
    """An OpenSim TRC file; see the module docstring."""
    path = Path(path)
    lines = read_text(path)
    if not lines or not lines[0].startswith("PathFileType"):
        opening = lines[0][:40] if lines else ""
        raise RecordingError(f"{path}, line 1: {opening!r} (expected a TRC file's 'PathFileType' line)")
    if len(lines) < 3:
        raise RecordingError(f"{path}: {len(lines)} lines (expected the TRC header on lines 2 and 3)")
    keys = [k.strip() for k in lines[1].split("\t")]
    values = [v.strip() for v in lines[2].split("\t")]
    header = dict(zip(keys, values, strict=False))
    for key in ("DataRate", "Units"):
        if not header.get(key):
            raise RecordingError(f"{path}, line 2-3: no {key} (expected 'DataRate ... Units' names on line 2 and "
                                 "their values on line 3)")
    rate_hz = parse_number(header["DataRate"])
    if rate_hz is None or rate_hz <= 0:
        raise RecordingError(f"{path}, line 3: DataRate {header['DataRate']!r} (expected a rate in Hz)")
    units = header["Units"]
    scale = _scale(path, units, "line 3")
    table = read_table(path)
    names = table.header
    if table.header_line is None or len(names) < 2 or names[0].lower().rstrip("#") != "frame":
        raise RecordingError(f"{path}, line {table.header_line or 4}: expected 'Frame# Time MARKER ...' above "
                             "the data")
    labels = [n for n in names[2:] if n]
    columns = [2 + 3 * k for k in range(len(labels))]
    if any(names[c] != label for c, label in zip(columns, labels, strict=True)) or 2 + 3 * len(labels) > \
            table.data.shape[1]:
        raise RecordingError(f"{path}, line {table.header_line}: marker names must each head three columns "
                             f"(X, Y, Z) after Frame# and Time; found {len(labels)} names for "
                             f"{table.data.shape[1] - 2} columns")
    declared = parse_number(header.get("NumMarkers", ""))
    if declared is not None and int(declared) != len(labels):
        raise RecordingError(f"{path}, line {table.header_line}: {len(labels)} marker names, but line 3 declares "
                             f"NumMarkers {int(declared)}")
    xyz = np.stack([table.data[:, c:c + 3] for c in columns]) * scale
    frames = table.column(0)
    first = int(frames[0]) if np.isfinite(frames[0]) else 1
    return marker_recording(path, labels, xyz, rate_hz=rate_hz, first_frame=first, units=units, up=up,
                            mapping=mapping, file_format="trc")


def _grouped_columns(table: Table) -> tuple[list[str], list[list[int]]]:
    """Marker labels and their (x, y, z) column indices, from names like ``LHEE X`` or ``LHEE_x``."""
    found: dict[str, dict[str, int]] = {}
    for index, name in enumerate(table.header):
        bare = re.sub(r"\s*[\[(][^\])]*[\])]\s*$", "", name).strip()
        match = AXIS_SUFFIX.match(bare)
        if match and match.group("label").strip():
            found.setdefault(match.group("label").strip(), {})[match.group("axis").lower()] = index
    labels = [label for label, axes in found.items() if set(axes) == set("xyz")]
    return labels, [[found[label][a] for a in "xyz"] for label in labels]


def read_marker_tsv(path: str | Path, *, rate_hz: float | None = None, units: str | None = None,
                    up: str | None = None, mapping: Mapping[str, str] | None = None) -> MarkerRecording:
    """A Qualisys TSV or another delimited table of marker columns; see the module docstring."""
    path = Path(path)
    table = read_table(path, header=False)
    meta = table.metadata
    qtm = "MARKER_NAMES" in meta
    assumptions: list[str] = []
    labels, columns = _grouped_columns(table) if table.header_line is not None else ([], [])
    if labels:
        pass
    elif table.header_line is not None and not qtm:
        raise RecordingError(f"{path}, line {table.header_line}: no marker columns (expected names like "
                             f"'LHEE X', 'LHEE Y', 'LHEE Z'; found {', '.join(n for n in table.header if n)})")
    elif qtm:  # an older QTM export: no row of names, three columns per MARKER_NAMES entry
        labels = [n for n in meta["MARKER_NAMES"] if n]
        width = table.data.shape[1]
        if width != 3 * len(labels):
            raise RecordingError(f"{path}, line {table.lines[0]}: {width} columns (expected 3 for each of the "
                                 f"{len(labels)} MARKER_NAMES)")
        columns = [[3 * k, 3 * k + 1, 3 * k + 2] for k in range(len(labels))]
    else:
        raise RecordingError(f"{path}, line {table.lines[0]}: numbers with no header row of marker names above them "
                             "and no MARKER_NAMES line (expected names like 'LHEE X' directly above the data)")
    lowered = [n.strip().lower() for n in table.header]
    time_index = next((i for i, n in enumerate(lowered) if re.sub(r"\s*[\[(].*$", "", n) in TIME_NAMES), None)
    frame_index = next((i for i, n in enumerate(lowered) if n in FRAME_NAMES), None)
    stated = parse_number(meta["FREQUENCY"][0]) if meta.get("FREQUENCY") else None
    if stated is None:
        stated = metadata_rate_hz(table)
    if stated is None and time_index is not None:
        stated = _rate_from_times(table, time_index)
    if stated is None:
        if not rate_hz:
            raise RecordingError(f"{path}: no frame rate (expected a FREQUENCY line, a Time column, or --rate-hz)")
        stated = rate_hz
        assumptions.append(f"{rate_hz:g} Hz as given: the file states no rate and has no time column")
    unit_found = next((table.units[c[0]] for c in columns if table.units[c[0]]), None)
    if units:
        unit_text = units
    elif unit_found:
        unit_text = unit_found
    elif qtm:
        unit_text = QTM_UNITS
        assumptions.append("millimetres: a Qualisys TSV names no units, and QTM exports positions in mm")
    else:
        raise RecordingError(f"{path}, line {table.header_line}: the marker columns name no units "
                             "(expected '(mm)' after a name or a units row; else give --units mm, cm or m)")
    scale = _scale(path, unit_text, f"line {table.header_line or table.lines[0]}")
    xyz = np.stack([table.data[:, c] for c in columns]) * scale
    first = 1
    if frame_index is not None and np.isfinite(table.column(frame_index)[0]):
        first = int(table.column(frame_index)[0])
    return marker_recording(path, labels, xyz, rate_hz=float(stated), first_frame=first, units=unit_text, up=up,
                            mapping=mapping, file_format="tsv", assumptions=assumptions)


def read_markers(path: str | Path, *, up: str | None = None, mapping: Mapping[str, str] | None = None,
                 rate_hz: float | None = None, units: str | None = None) -> MarkerRecording:
    """Any marker file, by its suffix: C3D, TRC, or a delimited table (TSV, TXT, CSV)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".c3d":
        return read_c3d(path, up=up, mapping=mapping)
    if suffix == ".trc":
        return read_trc(path, up=up, mapping=mapping)
    if suffix in (".tsv", ".txt", ".csv"):
        return read_marker_tsv(path, rate_hz=rate_hz, units=units, up=up, mapping=mapping)
    raise RecordingError(f"{path}: unknown marker file type {suffix or '(none)'!r} (expected .c3d, .trc, .tsv, "
                         ".txt or .csv)")

