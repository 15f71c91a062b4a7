"""Session settings a therapist may choose, declared per game so one generic parser can check them.

Each game lists its accepted ``start_game`` settings as :class:`SettingSpec` rows (name, kind,
range, unit, choices). The server's message parser validates a request by those rows alone; the game
then builds its settings dataclass from the checked values plus the patient's record
(:class:`PatientInfo`). :func:`apply_settings` checks again, so a direct caller cannot slip an
out-of-range value past the game either.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal, TypeVar

from games.events import Side

Kind = Literal["number", "integer", "boolean", "choice", "choices"]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SettingSpec:
    """One accepted setting. ``number``/``integer``: ``low``..``high`` inclusive, in ``unit``;
    ``choice``: one of ``choices``; ``choices``: a non-empty list drawn from ``choices`` (duplicates
    dropped, order kept); ``boolean``: true or false."""

    name: str
    kind: Kind
    low: float | None = None
    high: float | None = None
    unit: str = ""
    choices: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True, slots=True)
class PatientInfo:
    """What a game needs from the patient record (``step_reach_m`` is None when never measured)."""

    affected_side: Side
    leg_length_m: float
    step_reach_m: float | None = None


def check_setting(spec: SettingSpec, value: Any) -> Any:
    """The value converted to what the settings dataclass holds; ValueError when it is not valid."""
    where = f"setting '{spec.name}'"
    if spec.kind == "boolean":
        if not isinstance(value, bool):
            raise ValueError(f"{where} must be true or false, got {value!r}")
        return value
    if spec.kind == "choice":
        if value not in spec.choices:
            raise ValueError(f"{where} must be one of {', '.join(spec.choices)}, got {value!r}")
        return value
    if spec.kind == "choices":
        if (not isinstance(value, list | tuple) or not value
                or not all(isinstance(v, str) and v in spec.choices for v in value)):
            raise ValueError(f"{where} must be a non-empty list drawn from {', '.join(spec.choices)}")
        return tuple(dict.fromkeys(value))
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where} must be a number, got {value!r}")
    if spec.kind == "integer" and not isinstance(value, int):
        raise ValueError(f"{where} must be an integer, got {value!r}")
    assert spec.low is not None and spec.high is not None
    if not (math.isfinite(value) and spec.low <= value <= spec.high):
        unit = f" {spec.unit}" if spec.unit else ""
        raise ValueError(f"{where} must be from {spec.low} to {spec.high}{unit}, got {value!r}")
    return value if spec.kind == "integer" else float(value)


def apply_settings(base: T, specs: tuple[SettingSpec, ...], values: Mapping[str, Any]) -> T:
    """``base`` (a settings dataclass) with the checked ``values`` replacing its fields of the same
    names; None values are left out (a request may send null for "default")."""
    known = {spec.name: spec for spec in specs}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"unknown setting(s) {', '.join(unknown)}")
    checked = {k: check_setting(known[k], v) for k, v in values.items() if v is not None}
    return replace(base, **checked)  # type: ignore[type-var]
