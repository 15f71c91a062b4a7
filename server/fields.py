"""Field validators for incoming messages: types, finiteness and sane ranges, with clear errors."""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from typing import Any

from server.codec import ProtocolError

_MISSING = object()


class Fields:
    """Typed access to one message's fields; every getter raises :class:`ProtocolError`."""

    def __init__(self, data: dict[str, Any], where: str) -> None:
        self.data = data
        self.where = where

    def _get(self, key: str, required: bool) -> Any:
        value = self.data.get(key, _MISSING)
        if value is _MISSING or value is None:
            if required:
                raise ProtocolError("missing_field", f"{self.where}: field '{key}' is required")
            return None
        return value

    def _bad(self, key: str, expectation: str, value: Any) -> ProtocolError:
        shown = repr(value)
        if len(shown) > 40:
            shown = shown[:37] + "..."
        return ProtocolError("bad_field", f"{self.where}: '{key}' must be {expectation}, got {shown}")

    def string(
        self, key: str, *, max_len: int = 200, required: bool = True, pattern: str | None = None,
        empty: bool = False,
    ) -> str | None:
        """``empty``: an empty string is a value (free text a user may clear), not an error."""
        value = self._get(key, required)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self._bad(key, "a string", value)
        if not (0 if empty else 1) <= len(value) <= max_len:
            raise self._bad(key, f"{0 if empty else 1} to {max_len} characters", value)
        if pattern is not None and not re.fullmatch(pattern, value):
            raise self._bad(key, f"text matching {pattern}", value)
        return value

    def number(
        self, key: str, *, low: float, high: float, required: bool = True, unit: str = ""
    ) -> float | None:
        value = self._get(key, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._bad(key, "a number", value)
        number = float(value)
        if not math.isfinite(number) or not low <= number <= high:
            raise self._bad(key, f"a finite number from {low} to {high}{' ' + unit if unit else ''}", value)
        return number

    def integer(self, key: str, *, low: int, high: int, required: bool = True) -> int | None:
        value = self._get(key, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self._bad(key, f"an integer from {low} to {high}", value)
        return value

    def boolean(self, key: str, *, required: bool = True) -> bool | None:
        value = self._get(key, required)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise self._bad(key, "true or false", value)
        return value

    def choice(self, key: str, choices: Collection[str], *, required: bool = True) -> str | None:
        value = self._get(key, required)
        if value is None:
            return None
        if not isinstance(value, str) or value not in choices:
            raise self._bad(key, "one of " + ", ".join(sorted(choices)), value)
        return value

    def vector(self, key: str, *, size: int, limit: float, unit: str) -> tuple[float, ...]:
        value = self._get(key, True)
        if not isinstance(value, list | tuple) or len(value) != size:
            raise self._bad(key, f"a list of {size} numbers ({unit})", value)
        out = []
        for item in value:
            if isinstance(item, bool) or not isinstance(item, int | float):
                raise self._bad(key, f"a list of {size} numbers ({unit})", value)
            number = float(item)
            if not math.isfinite(number) or abs(number) > limit:
                raise self._bad(key, f"finite numbers within +/-{limit} {unit}", value)
            out.append(number)
        return tuple(out)

    def mapping(self, key: str, *, required: bool = False, max_items: int = 32) -> Fields | None:
        value = self._get(key, required)
        if value is None:
            return None
        if not isinstance(value, dict) or len(value) > max_items:
            raise self._bad(key, f"an object with at most {max_items} fields", value)
        return Fields(value, f"{self.where}.{key}")

    def string_list(
        self, key: str, choices: Collection[str], *, required: bool = False
    ) -> tuple[str, ...] | None:
        value = self._get(key, required)
        if value is None:
            return None
        if (
            not isinstance(value, list)
            or not value
            or len(value) > len(choices)
            or not all(isinstance(v, str) and v in choices for v in value)
        ):
            raise self._bad(key, "a non-empty list drawn from " + ", ".join(choices), value)
        return tuple(dict.fromkeys(value))

    def only(self, allowed: Collection[str]) -> None:
        """Reject unknown fields: a typo in a clinical setting must not pass silently."""
        unknown = sorted(set(self.data) - set(allowed))
        if unknown:
            raise ProtocolError(
                "unknown_field", f"{self.where}: unknown field(s) {', '.join(map(str, unknown))[:120]}"
            )
