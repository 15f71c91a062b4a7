"""One summary number of a session, as every analysis returns it and the store keeps it, and the
name of the task that produced it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

TASK_SEPARATOR = ":"  # game, then what part of it: ``assessment:quiet_eyes_closed``, ``stepping:mirror``


def task_name(game: str, part: str | Sequence[str] = ()) -> str:
    """The task a metric comes from: the game, and its assessment stage(s) or training modes
    ("+"-joined, as a stored trial's ``mode``). ``stepping``, ``stepping:mirror``,
    ``assessment:quiet_eyes_open``, ``assessment:quiet_eyes_open+quiet_eyes_closed``."""
    parts = part if isinstance(part, str) else "+".join(part)
    return f"{game}{TASK_SEPARATOR}{parts}" if parts else game


@dataclass(frozen=True, slots=True)
class MetricValue:
    """``metric`` names its unit (``step_length_m``); ``side`` is ``L``, ``R`` or ``""`` for both;
    ``direction`` a direction name or ``""``; ``sd`` and ``n`` say what a mean rests on; ``task``
    the task that produced it (:func:`task_name`; ``""`` until the session's analysis fills in the
    session's own task)."""

    family: str
    metric: str
    value: float
    side: str = ""
    direction: str = ""
    sd: float | None = None
    n: int | None = None
    task: str = ""
