"""Neglect cueing: draw a patient's attention to the affected foot they tend to ignore.

After a stroke with hemispatial neglect the patient may leave the affected foot standing while its
target is up, or keep answering with the sound foot. This state machine decides when to cue
(see docs/clinical-modes.md, "Neglect cueing") and measures how fast the foot answers a cue. It is
plain numbers: the game feeds it the affected foot's state, the targets and the trial outcomes, and
turns what it returns into game events and a raised affected-side share.

A trial's measures cover the time since the previous trial ended up to its own end: a cue raised
because a trial was missed counts for that trial, a response between trials for the next one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from games.base import Outcome
from games.events import Side

MOVE_THRESHOLD_M = 0.02  # a foot displaced more than this has moved (tracker noise is ~mm)
# Outcomes that count as the affected foot not answering its target (WRONG_FOOT: the sound foot did).
UNANSWERED = frozenset({Outcome.MISS, Outcome.TIMEOUT, Outcome.WRONG_FOOT})


@dataclass(frozen=True, slots=True)
class Cue:
    reason: str  # "idle" or "missed"
    at_s: float


@dataclass(frozen=True, slots=True)
class Response:
    response_time_s: float
    at_s: float


def raised_share(share: float, step: float, ceiling: float) -> float:
    """The affected-side share after one cue: one step up, never above the ceiling (and never down,
    should the therapist have set the share above the ceiling by hand)."""
    return max(share, round(min(ceiling, share + step), 6))


class NeglectCueing:
    """When to cue the affected foot, and when it answers.

    Idle cue: a target for the affected foot is up and the foot has stayed planted within
    ``MOVE_THRESHOLD_M`` of where it was at the last reference (the target appearing, the last cue
    or its last movement) for ``idle_s``; so at most one idle cue per ``idle_s``. Missed cue:
    ``after_misses`` affected-side targets in a row not answered (sound-side trials do not break
    the run). Response: the first movement (lift, or more than ``MOVE_THRESHOLD_M``) after a cue,
    timed from the latest cue; the number of cues it took is counted separately.
    """

    def __init__(self, side: Side, idle_s: float, after_misses: int) -> None:
        self.side = side
        self.idle_s = idle_s
        self.after_misses = after_misses
        self.total_cues = 0
        self._cue_at_s: float | None = None  # the latest unanswered cue
        self._ref: tuple[float, float] | None = None  # where the foot was at the reference time
        self._ref_s = 0.0
        self._idle_target: object | None = None  # the affected-side target being watched
        self._misses = 0
        self._trial_cues = 0
        self._trial_response_s: float | None = None

    @property
    def active(self) -> bool:
        """A cue is unanswered: the headset keeps the foot highlighted."""
        return self._cue_at_s is not None

    def observe(self, x_m: float, y_m: float, planted: bool, now_s: float) -> Response | None:
        """The affected foot's latest state; a :class:`Response` when it answers a cue."""
        ref = self._ref
        if ref is not None and planted and math.hypot(x_m - ref[0], y_m - ref[1]) <= MOVE_THRESHOLD_M:
            return None  # still
        self._ref, self._ref_s = (x_m, y_m), now_s
        if self._cue_at_s is None:
            return None
        response = Response(now_s - self._cue_at_s, now_s)
        self._cue_at_s = None
        if self._trial_response_s is None:
            self._trial_response_s = response.response_time_s
        return response

    def watch(self, target: object | None, foot: Side | None, x_m: float, y_m: float, now_s: float) -> None:
        """The target now up (None between trials) and its foot; a new affected-side target restarts
        the idle time from where the foot stands now."""
        watched = target if foot is self.side else None
        if watched is not None and watched is not self._idle_target:
            self._ref, self._ref_s = (x_m, y_m), now_s
        self._idle_target = watched

    def idle_cue(self, stepping: bool, x_m: float, y_m: float, now_s: float) -> Cue | None:
        """An idle cue when due; ``stepping``: the watched target still waits for the foot to step."""
        if self._idle_target is None or not stepping or now_s - self._ref_s < self.idle_s:
            return None
        return self._cue("idle", x_m, y_m, now_s)

    def trial_ended(self, foot: Side, outcome: Outcome, x_m: float, y_m: float, now_s: float) -> Cue | None:
        """A trial's outcome; a missed cue when this makes ``after_misses`` unanswered in a row."""
        if foot is not self.side:
            return None
        if outcome not in UNANSWERED:
            self._misses = 0
            return None
        self._misses += 1
        if self._misses < self.after_misses:
            return None
        self._misses = 0
        return self._cue("missed", x_m, y_m, now_s)

    def skip(self, paused_s: float) -> None:
        """A pause of ``paused_s`` (game time runs on through it): an unanswered cue's response
        time and the idle time do not count it."""
        if self._cue_at_s is not None:
            self._cue_at_s += paused_s
        self._ref_s += paused_s

    def take_trial_measures(self) -> dict[str, float]:
        """``cues`` and (when answered) ``cue_response_s`` since the last trial ended; starts anew."""
        measures: dict[str, float] = {"cues": float(self._trial_cues)}
        if self._trial_response_s is not None:
            measures["cue_response_s"] = self._trial_response_s
        self._trial_cues, self._trial_response_s = 0, None
        return measures

    def _cue(self, reason: str, x_m: float, y_m: float, now_s: float) -> Cue:
        self._cue_at_s = now_s
        self._ref, self._ref_s = (x_m, y_m), now_s
        self.total_cues += 1
        self._trial_cues += 1
        return Cue(reason, now_s)
