"""Quiet standing (eyes open, eyes closed): stand still for ``quiet_s`` while the balance input is
recorded.

The stage measures nothing itself: its result says which balance source it had (the measured
centre of pressure if a plate or mat was there, else a tracker's pelvis proxy) and where the stand
lies in that source's recording (``device_t0_s`` .. ``device_t1_s``, device time), so scoring cuts
the session's recording there and computes the sway once, as it does for every session
(:mod:`scoring.assessment`). A stage without any balance input still ends on time and says so
(``balance_source: "none"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from games.assessment.settings import QUIET_EYES_CLOSED, AssessmentSettings
from games.assessment.stage import Stage, copy_feet, feet_home, r4, stage_result
from games.base import Outcome, TrialResult
from games.events import BalanceEvent, FootEvent, Side
from games.tracking import FootTrack
from games.trials import ReadyGate

COP = "cop"
NO_BALANCE = "none"


class QuietPhase(StrEnum):
    HOME = "home"  # waiting for the patient to stand ready
    STAND = "stand"
    DONE = "done"


@dataclass(slots=True)
class SourceWindow:
    """When one balance source reported during the stand (device time) and how often."""

    first_s: float
    last_s: float
    n: int = 1


class QuietStage(Stage):
    def __init__(self, name: str, settings: AssessmentSettings) -> None:
        self.name = name
        self.settings = settings
        self.eyes = "closed" if name == QUIET_EYES_CLOSED else "open"
        self.instruction = (f"Stand still, feet on the marks, eyes {self.eyes}, "
                            f"for {settings.quiet_s:.0f} seconds")
        self.planned = 1
        self._gate = ReadyGate(settings.ready_s)
        self._phase = QuietPhase.HOME
        self._paused = False
        self._balance_seen = False
        self._t0_s = 0.0
        self.feet: dict[Side, FootTrack] = {}
        self._clear()

    def _clear(self) -> None:
        """Forget the window's data (a new stand starts)."""
        self._lifts = 0
        self._sources: dict[str, SourceWindow] = {}

    def start(self, feet: Mapping[Side, FootTrack], now_s: float) -> None:
        self.feet = copy_feet(feet)
        self._update_home(now_s)

    # -- inputs -------------------------------------------------------------------------------

    def on_foot(self, event: FootEvent, now_s: float, inside_target: bool) -> list[TrialResult]:
        s = self.settings
        track = self.feet[event.side]
        was_planted = track.update(event, s.lift_height_m, s.plant_height_m)
        if self._paused:
            return []
        if self._phase is QuietPhase.STAND and was_planted and not track.planted:
            self._lifts += 1  # a step or a lifted foot: balance was lost
        self._update_home(now_s)
        return []

    def on_balance(self, event: BalanceEvent, now_s: float) -> list[TrialResult]:
        self._balance_seen = True
        if self._paused:
            return []
        if self._phase is QuietPhase.STAND:
            window = self._sources.get(event.source)
            if window is None:
                self._sources[event.source] = SourceWindow(event.device_time_s, event.device_time_s)
            else:
                window.last_s, window.n = event.device_time_s, window.n + 1
        self._update_home(now_s)
        return []

    def tick(self, now_s: float) -> list[TrialResult]:
        if self._paused:
            return []
        if self._phase is QuietPhase.HOME:
            self._update_home(now_s)
            if self._gate.due(now_s):
                self._phase, self._t0_s = QuietPhase.STAND, now_s
                self._clear()
        elif self._phase is QuietPhase.STAND and now_s - self._t0_s >= self.settings.quiet_s:
            self._phase = QuietPhase.DONE
            return [self._result(now_s)]
        return []

    def _update_home(self, now_s: float) -> None:
        if self._phase is QuietPhase.HOME:
            self._gate.update(self._ready(), now_s)

    def _ready(self) -> bool:
        """Every foot a device reports is home and down, and some input (a foot or a balance
        point) has been seen: a balance plate alone reports no feet."""
        seen = {side: t for side, t in self.feet.items() if t.seen}
        if not seen and not self._balance_seen:
            return False
        return feet_home(seen, self, self.settings.home_radius_m)

    def pause(self, now_s: float) -> None:
        """An interrupted stand is not scored: it starts again from the beginning on resume."""
        self._paused = True
        if self._phase is QuietPhase.STAND:
            self._phase = QuietPhase.HOME
            self._clear()
        self._gate.reset()

    def resume(self, now_s: float) -> None:
        self._paused = False

    # -- state ----------------------------------------------------------------------------------

    @property
    def done(self) -> bool:
        return self._phase is QuietPhase.DONE

    @property
    def phase(self) -> str:
        return self._phase.value

    def time_left_s(self, now_s: float) -> float | None:
        if self._phase is QuietPhase.STAND:
            return max(0.0, self.settings.quiet_s - (now_s - self._t0_s))
        return None

    def progress(self, now_s: float) -> str:
        if self._phase is QuietPhase.STAND:
            return f"{min(now_s - self._t0_s, self.settings.quiet_s):.0f}/{self.settings.quiet_s:.0f} s"
        return f"{int(self.done)}/1"

    def parts(self) -> dict[str, Any]:
        return {"target": None, "eyes": self.eyes}

    # -- result ---------------------------------------------------------------------------------

    def _result(self, now_s: float) -> TrialResult:
        """The measured COP if there was one, else the source with the most samples (a pelvis proxy)."""
        source = COP if COP in self._sources else max(self._sources, key=lambda k: self._sources[k].n,
                                                      default=NO_BALANCE)
        window = self._sources.get(source)
        measures: dict[str, float | str] = {
            "stage": self.name,
            "eyes": self.eyes,
            "duration_s": now_s - self._t0_s,
            "balance_source": source,
            "balance_samples": 0 if window is None else window.n,
            "feet_lifted": self._lifts,
        }
        if window is None:
            measures["note"] = "no balance input: sway not measured"
        else:
            measures["device_t0_s"], measures["device_t1_s"] = window.first_s, window.last_s
        outcome = Outcome.FAULT if self._lifts else Outcome.HIT
        if self._lifts:
            measures["fault"] = "stepped"
        return stage_result(foot=self.settings.affected_side, direction=self.name, outcome=outcome,
                            shown_at_s=self._t0_s, ended_at_s=now_s, measures=measures)


def cursor_part(event: BalanceEvent | None) -> dict[str, Any] | None:
    """The latest balance point, as the weight-shift game draws its cursor."""
    if event is None:
        return None
    return {"x_m": r4(event.x_m), "y_m": r4(event.y_m), "source": event.source}
