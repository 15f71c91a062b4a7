"""One summary number of a session, as every analysis returns it and the store keeps it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MetricValue:
    """``metric`` names its unit (``step_length_m``); ``side`` is ``L``, ``R`` or ``""`` for both;
    ``direction`` a direction name or ``""``; ``sd`` and ``n`` say what a mean rests on."""

    family: str
    metric: str
    value: float
    side: str = ""
    direction: str = ""
    sd: float | None = None
    n: int | None = None
