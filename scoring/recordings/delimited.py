"""Delimited text exports as labs' software writes them: one tolerant reader for every CSV/TSV shape.

Force plates, balance boards and motion capture export "CSV" in many dialects. This module finds
the table in such a file and leaves the meaning of its columns to the reader that calls it:

* the delimiter: comma, semicolon or tab, whichever yields the longest block of rows of numbers
  (``csv.Sniffer`` guesses from a sample and is fooled by decimal commas: ``1,5;2,5``);
* quoted column names and cells (the stdlib ``csv`` module does the quoting);
* decimal commas (``0,125``) where the delimiter is not a comma;
* the header: the row of names directly above the first rows of numbers, optionally followed by a
  row of units (``s; N; mm`` or ``[mm]``) or of coordinate labels (``X1 Y1 Z1``, as in TRC files);
  a unit in brackets after a name (``Fz (N)``) counts too;
* leading and trailing metadata blocks (``Rate: 1000``, ``FREQUENCY<tab>100``, a footer of
  comments): kept as ``metadata``, the first cell the key, the other cells the values;
* a sample-index column is just a column of numbers; the caller decides what it means.

Every error names the file, the line and what was expected there.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scoring.errors import RecordingError

DELIMITERS = (";", "\t", ",")
DELIMITER_NAMES = {";": "semicolon", "\t": "tab", ",": "comma"}
UNIT_TOKENS = {"s", "sec", "ms", "us", "m", "cm", "mm", "n", "kn", "nm", "n.m", "n·m", "nmm", "n.mm", "n*m",
               "deg", "°", "rad", "v", "mv", "hz", "%", "kg", "g", "lb", "lbf", "in", "m/s", "mm/s", "m/s2",
               "m/s^2", "mm/s2", "frame", "frames", "-"}
COORDINATE = re.compile(r"^[xyz]\d*$", re.IGNORECASE)
BRACKETED_UNIT = re.compile(r"[\[(]\s*([^\])]+?)\s*[\])]\s*$")
DECIMAL_COMMA = re.compile(r"^[+-]?\d*,\d+(?:[eE][+-]?\d+)?$")
MISSING = {"", "nan", "na", "n/a", "-nan"}
SAMPLE_LINES = 2000


@dataclass(frozen=True, slots=True)
class Table:
    """The numeric table of a delimited file, with where each row came from."""

    path: Path
    header: list[str]  # column names, stripped; "" for an unnamed column
    units: list[str | None]  # per column: from the units row, else from a bracket in the name
    subheader: list[str] | None  # the row under the names when it held units or coordinate labels
    data: np.ndarray  # (rows, columns) float; NaN where a cell was empty
    lines: list[int]  # 1-based line number of each data row
    header_line: int | None  # 1-based line of the names (None: the file has no header row)
    delimiter: str
    decimal_comma: bool
    metadata: dict[str, list[str]] = field(default_factory=dict)  # leading and trailing blocks

    def column(self, index: int) -> np.ndarray:
        return self.data[:, index]

    def where(self, row: int) -> str:
        """``"walk.csv, line 12"`` for data row ``row``: how errors point at a sample."""
        return f"{self.path}, line {self.lines[row]}"

    def describe(self) -> dict[str, object]:
        return {"delimiter": DELIMITER_NAMES[self.delimiter], "decimal_comma": self.decimal_comma,
                "header_line": self.header_line, "first_data_line": self.lines[0] if self.lines else None,
                "rows": len(self.lines)}


def unit_in_name(name: str) -> str | None:
    """``"COPx (mm)"`` -> ``"mm"``."""
    found = BRACKETED_UNIT.search(name)
    return found.group(1).strip() if found else None


def _is_unit(cell: str) -> bool:
    text = cell.strip().strip("[]()").strip().lower()
    return text in UNIT_TOKENS or bool(COORDINATE.match(text))


def _number(cell: str, decimal_comma: bool) -> float | None:
    """The cell's value (NaN for an empty or "nan" cell), None when it is not a number."""
    text = cell.strip()
    if text.lower() in MISSING:
        return float("nan")
    if decimal_comma:
        text = text.replace(",", ".")
    try:
        return float(text)
    except ValueError:
        return None


def _trim(row: list[str]) -> list[str]:
    """Without empty trailing cells (a delimiter at the end of every line)."""
    end = len(row)
    while end and not row[end - 1].strip():
        end -= 1
    return row[:end]


@dataclass(slots=True)
class _Layout:
    delimiter: str
    decimal_comma: bool
    rows: list[list[str]]  # every line split, blank lines as []
    start: int  # index of the first data row
    stop: int  # index after the last data row
    width: int
    score: tuple[int, int, int]  # the most rows, then the earliest block, then the widest


def _numeric_share(row: list[str], decimal_comma: bool) -> float:
    cells = [c for c in row if c.strip()]
    if not cells:
        return 0.0
    return sum(_number(c, decimal_comma) is not None for c in cells) / len(cells)


def _all_numeric(row: list[str], decimal_comma: bool) -> bool:
    return all(_number(c, decimal_comma) is not None for c in row if c.strip())


def _ends_numeric(row: list[str], decimal_comma: bool) -> bool:
    """The first and the last filled cell are numbers: a data row (a bad cell inside is reported
    when the row is read), not a line of metadata; cheap enough for every row of a long export."""
    first = next((c for c in row if c.strip()), None)
    last = next((c for c in reversed(row) if c.strip()), None)
    return first is not None and last is not None and _number(first, decimal_comma) is not None \
        and _number(last, decimal_comma) is not None


def _layout(lines: list[str], delimiter: str) -> _Layout | None:
    """The longest run of numeric rows of one width, splitting with ``delimiter``."""
    rows = [row if any(c.strip() for c in row) else []
            for row in csv.reader(lines, delimiter=delimiter, skipinitialspace=True)]
    decimal_comma = delimiter != "," and any(
        DECIMAL_COMMA.match(cell.strip()) for row in rows[:2000] for cell in row)
    best: _Layout | None = None
    i = 0
    while i < len(rows):
        if len(_trim(rows[i])) < 2 or not _all_numeric(rows[i], decimal_comma):
            i += 1
            continue
        width, j = len(rows[i]), i + 1
        while j < len(rows) and rows[j] and len(_trim(rows[j])) <= width <= len(rows[j]) \
                and (_ends_numeric(rows[j], decimal_comma) or _numeric_share(rows[j], decimal_comma) >= 0.5):
            j += 1
        score = (j - i, -i, width)
        if best is None or score > best.score:
            best = _Layout(delimiter, decimal_comma, rows, i, j, width, score)
        i = j
    return best


def _fast_numbers(rows: list[list[str]], width: int, decimal_comma: bool) -> np.ndarray | None:
    """All rows as floats in one numpy conversion, or None when a cell needs the slow path (a bad
    cell, a stray extra field, a missing-value word), which then says which line is at fault."""
    if any(len(row) != width for row in rows):
        return None
    cells = np.array(rows, dtype=str)
    if decimal_comma:
        cells = np.char.replace(cells, ",", ".")
    cells = np.char.strip(cells)
    cells[cells == ""] = "nan"
    try:
        return cells.astype(float)
    except ValueError:
        return None


def _numbers_cell_by_cell(path: Path, rows: list[list[str]], lay: _Layout, names: list[str]) -> np.ndarray:
    """The slow path: every cell on its own, so the first bad one is named with its line."""
    width = lay.width
    data = np.empty((lay.stop - lay.start, width))
    for r, k in enumerate(range(lay.start, lay.stop)):
        cells = rows[k]
        if any(c.strip() for c in cells[width:]):
            raise RecordingError(f"{path}, line {k + 1}: {len(_trim(cells))} fields, expected {width} "
                                 f"(as on line {lay.start + 1})")
        for c in range(width):
            cell = cells[c] if c < len(cells) else ""
            value = _number(cell, lay.decimal_comma)
            if value is None:
                column = f"column {names[c]!r}" if names[c] else f"column {c + 1}"
                raise RecordingError(f"{path}, line {k + 1}, {column}: {cell.strip()!r} is not a number "
                                     f"(expected a number{' with a decimal comma' if lay.decimal_comma else ''})")
            data[r, c] = value
    return data


def _metadata(rows: list[list[str]]) -> dict[str, list[str]]:
    meta: dict[str, list[str]] = {}
    for row in rows:
        cells = [c.strip() for c in _trim(row)]
        if not cells:
            continue
        key, values = cells[0], cells[1:]
        if not values and ":" in key:  # "Rate: 1000" in a one-cell line
            key, _, value = key.partition(":")
            values = [value.strip()]
        meta[key.strip().rstrip(":")] = values
    return meta


def read_text(path: Path) -> list[str]:
    """The file's lines; UTF-8 (with or without a byte-order mark), else Latin-1 (older Windows exports)."""
    if not path.is_file():
        raise RecordingError(f"{path}: no such file")
    raw = path.read_bytes()
    if b"\x00" in raw[:4096]:
        raise RecordingError(f"{path}: not a text file (binary content)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text.splitlines()


def read_table(path: str | Path, *, header: bool = True) -> Table:
    """The table of numbers in a delimited text file; see the module docstring.

    ``header=False`` accepts a file with no row of names directly above the numbers (an old
    Qualisys TSV names its markers in the metadata); the names are then empty.
    Raises :class:`RecordingError` naming the line and what was expected there.
    """
    path = Path(path)
    lines = read_text(path)
    if not any(line.strip() for line in lines):
        raise RecordingError(f"{path}: empty file")
    sample = lines[:SAMPLE_LINES]  # the delimiter from the head of the file, the table from all of it
    layouts = [found for d in DELIMITERS if (found := _layout(sample, d)) is not None]
    if layouts and len(lines) > len(sample):
        layouts = [found for found in [_layout(lines, max(layouts, key=lambda lay: lay.score).delimiter)] if found]
    if not layouts:
        named = next((n for n, line in enumerate(lines, 1) if line.strip()), 1)
        raise RecordingError(f"{path}: no rows of numbers (line {named} is {lines[named - 1].strip()[:60]!r}, "
                             "and no line below it holds numbers separated by commas, semicolons or tabs): "
                             "a header and no data rows?")
    lay = max(layouts, key=lambda found: found.score)
    rows, width = lay.rows, lay.width
    above = [k for k in range(lay.start - 1, -1, -1) if rows[k]][:2]  # the non-blank lines above the numbers
    names_at: int | None = None
    sub: list[str] | None = None
    if above and all(_is_unit(c) for c in rows[above[0]] if c.strip()) and len(above) > 1:
        sub, names_at = rows[above[0]], above[1]
    elif above:
        names_at = above[0]
    names: list[str] = []
    if names_at is not None:
        names = [c.strip() for c in _trim(rows[names_at])]
        if len(names) < 2 or len(names) > width or _numeric_share(names, lay.decimal_comma) > 0.5:
            names_at, sub, names = None, None, []
    if names_at is None and header:
        raise RecordingError(f"{path}, line {lay.start + 1}: numbers with no header row of column names above them "
                             f"(expected the {DELIMITER_NAMES[lay.delimiter]}-separated names of the "
                             f"{width} columns directly above line {lay.start + 1})")
    names += [""] * (width - len(names))
    units: list[str | None] = [unit_in_name(n) for n in names]
    if sub is not None:
        sub_cells = [c.strip().strip("[]()").strip() for c in sub] + [""] * width
        units = [sub_cells[k] if sub_cells[k] and not COORDINATE.match(sub_cells[k]) else units[k]
                 for k in range(width)]
    data = _fast_numbers(rows[lay.start:lay.stop], width, lay.decimal_comma)
    if data is None:
        data = _numbers_cell_by_cell(path, rows, lay, names)
    if lay.stop < len(rows) and len(_trim(rows[lay.stop])) >= 2 \
            and _numeric_share(rows[lay.stop], lay.decimal_comma) == 1.0:
        raise RecordingError(f"{path}, line {lay.stop + 1}: {len(rows[lay.stop])} fields, expected {width} "
                             f"(as on line {lay.start + 1})")
    for k in range(lay.stop, len(rows)):  # numbers of the same shape after a break: a damaged file
        row = _trim(rows[k])
        if len(row) == len(_trim(rows[lay.start])) and _numeric_share(row, lay.decimal_comma) == 1.0:
            raise RecordingError(f"{path}, line {k + 1}: the data resume after a break at line {lay.stop + 1} "
                                 f"(expected one block of rows, or metadata after the last row)")
    lead_end = (names_at if names_at is not None else lay.start)
    return Table(
        path=path,
        header=names,
        units=units,
        subheader=[c.strip() for c in sub] if sub is not None else None,
        data=data,
        lines=list(range(lay.start + 1, lay.stop + 1)),
        header_line=names_at + 1 if names_at is not None else None,
        delimiter=lay.delimiter,
        decimal_comma=lay.decimal_comma,
        metadata={**_metadata(rows[:lead_end]), **_metadata(rows[lay.stop:])},
    )


def parse_number(text: str) -> float | None:
    """A metadata value as a number (decimal point or comma), None when it is not one."""
    value = _number(text, "," in text and "." not in text)
    return None if value is None or np.isnan(value) else value


RATE_KEYS = re.compile(r"^(sampl\w*\s*)?(rate|freq\w*)|^frequency$|^datarate$|hz$", re.IGNORECASE)


def metadata_rate_hz(table: Table) -> float | None:
    """The sample rate a metadata line states (``Rate: 1000 Hz``, ``FREQUENCY<tab>100``), if any."""
    for key, values in table.metadata.items():
        if RATE_KEYS.search(key.strip()) and values:
            value = parse_number(re.sub(r"\s*hz\s*$", "", values[0], flags=re.IGNORECASE))
            if value is not None and value > 0:
                return value
    return None
