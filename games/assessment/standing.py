"""Standing stages: one or more timed stands on both feet while the balance input is recorded
(quiet standing: one stand; limits of stability: one lean per direction).

Each stand waits until the patient stands ready (:class:`ReadyGate`), then runs for its duration.
The stage measures nothing itself: each result says which balance source it had (the measured
centre of pressure if a plate or mat was there, else a tracker's pelvis proxy) and where the stand
lies in that source's recording (``device_t0_s`` .. ``device_t1_s``, device time), so scoring cuts
the session's recording there and computes its numbers once, as it does for every session
(:mod:`scoring.assessment`). A stand without any balance input still ends on time and says so
(``balance_source: "none"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from games.assessment.settings import AssessmentSettings
from games.assessment.stage import Stage, copy_feet, feet_home, r4, stage_result
from games.base import Outcome, TrialResult
from games.events import BalanceEvent, FootEvent, Side
from games.tracking import FootTrack
from games.trials import ReadyGate

COP = "cop"
NO_BALANCE = "none"


class StandPhase(StrEnum):
    HOME = "home"  # waiting for the patient to stand ready
    ACTIVE = "active"  # the stand is timed (each stage names it: "stand", "lean")
    DONE = "done"


@dataclass(slots=True)
class SourceWindow:
    """When one balance source reported during the stand (device time) and how often."""

    first_s: float
    last_s: float
    n: int = 1


class BalanceWindows:
    """Per balance source, the device-time window of one stand."""

    def __init__(self) -> None:
        self._sources: dict[str, SourceWindow] = {}

    def add(self, event: BalanceEvent) -> None:
        window = self._sources.get(event.source)
        if window is None:
            self._sources[event.source] = SourceWindow(event.device_time_s, event.device_time_s)
        else:
            window.last_s, window.n = event.device_time_s, window.n + 1

    def measures(self, unmeasured: str) -> dict[str, float | str]:
        """The measured COP if there was one, else the source with the most samples (a pelvis
        proxy); ``unmeasured`` names what is missing when there was none."""
        source = COP if COP in self._sources else max(self._sources, key=lambda k: self._sources[k].n,
                                                      default=NO_BALANCE)
        window = self._sources.get(source)
        out: dict[str, float | str] = {"balance_source": source, "balance_samples": 0 if window is None else window.n}
        if window is None:
            out["note"] = f"no balance input: {unmeasured} not measured"
        else:
            out["device_t0_s"], out["device_t1_s"] = window.first_s, window.last_s
        return out


class StandingStage(Stage):
    """``stands`` stands of ``stand_s`` each. A foot lifting during a stand (a step: balance was
    lost) makes it a fault; with ``stops_on_step`` the stand also ends there, since the base of
    support has changed and what follows no longer measures the same thing, and is done again up
    to ``retries`` times (as a clinical limits-of-stability test repeats a trial lost to a step)."""

    active_phase = "stand"
    stops_on_step = False
    unmeasured = "sway"

    def __init__(self, name: str, settings: AssessmentSettings, stands: int, stand_s: float,
                 retries: int = 0) -> None:
        self.name = name
        self.settings = settings
        self.planned = stands
        self.stand_s = stand_s
        self.retries = retries  # a stand ended by a step (``stops_on_step``) is done again this often
        self.attempt = 0  # retries of the stand running or next
        self._gate = ReadyGate(settings.ready_s)
        self._phase = StandPhase.HOME if stands > 0 else StandPhase.DONE
        self._index = 0  # the stand running or next
        self._paused = False
        self._balance_seen = False
        self._t0_s = 0.0
        self.feet: dict[Side, FootTrack] = {}
        self._clear()

    # -- what each stage says of its stands ---------------------------------------------------

    def _describe(self, index: int) -> tuple[Side, str, dict[str, float | str]]:
        """Stand ``index``'s result: its foot, direction and the stage's own measures."""
        raise NotImplementedError

    def _clear(self) -> None:
        """Forget the stand's data (a new stand starts)."""
        self._lifts = 0
        self._windows = BalanceWindows()

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
        if self._phase is StandPhase.ACTIVE and was_planted and not track.planted:
            self._lifts += 1  # a step or a lifted foot: balance was lost
            if self.stops_on_step:
                return [self._end(now_s)]
        self._update_home(now_s)
        return []

    def on_balance(self, event: BalanceEvent, now_s: float) -> list[TrialResult]:
        self._balance_seen = True
        if self._paused:
            return []
        if self._phase is StandPhase.ACTIVE:
            self._windows.add(event)
        self._update_home(now_s)
        return []

    def tick(self, now_s: float) -> list[TrialResult]:
        if self._paused:
            return []
        if self._phase is StandPhase.HOME:
            self._update_home(now_s)
            if self._gate.due(now_s):
                self._phase, self._t0_s = StandPhase.ACTIVE, now_s
                self._clear()
        elif self._phase is StandPhase.ACTIVE and now_s - self._t0_s >= self.stand_s:
            return [self._end(now_s)]
        return []

    def _update_home(self, now_s: float) -> None:
        if self._phase is StandPhase.HOME:
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
        if self._phase is StandPhase.ACTIVE:
            self._phase = StandPhase.HOME
            self._clear()
        self._gate.reset()

    # -- state ----------------------------------------------------------------------------------

    @property
    def done(self) -> bool:
        return self._phase is StandPhase.DONE

    @property
    def phase(self) -> str:
        return self.active_phase if self._phase is StandPhase.ACTIVE else self._phase.value

    @property
    def standing(self) -> bool:
        """A stand is being timed."""
        return self._phase is StandPhase.ACTIVE

    def time_left_s(self, now_s: float) -> float | None:
        if self._phase is StandPhase.ACTIVE:
            return max(0.0, self.stand_s - (now_s - self._t0_s))
        return None

    def progress(self, now_s: float) -> str:
        if self._phase is StandPhase.ACTIVE:
            return f"{min(now_s - self._t0_s, self.stand_s):.0f}/{self.stand_s:.0f} s"
        return f"{self._index}/{self.planned}"

    # -- result ---------------------------------------------------------------------------------

    def _end(self, now_s: float) -> TrialResult:
        """The stand's result; the next stand waits for the patient to stand ready again."""
        foot, direction, own = self._describe(self._index)
        measures: dict[str, float | str] = {
            "stage": self.name, **own, "duration_s": now_s - self._t0_s,
            **self._windows.measures(self.unmeasured), "feet_lifted": self._lifts,
        }
        if self._lifts:
            measures["fault"] = "stepped"
        if self.retries:
            measures["attempt"] = self.attempt
        result = stage_result(foot=foot, direction=direction, outcome=Outcome.FAULT if self._lifts else Outcome.HIT,
                              shown_at_s=self._t0_s, ended_at_s=now_s, measures=measures)
        if self._lifts and self.stops_on_step and self.attempt < self.retries:
            self.attempt += 1  # the same stand again, once the patient stands ready
        else:
            self._index, self.attempt = self._index + 1, 0
        self._phase = StandPhase.DONE if self._index >= self.planned else StandPhase.HOME
        self._gate.reset()
        self._clear()
        return result


def cursor_part(event: BalanceEvent | None) -> dict[str, Any] | None:
    """The latest balance point, as the weight-shift game draws its cursor."""
    if event is None:
        return None
    return {"x_m": r4(event.x_m), "y_m": r4(event.y_m), "source": event.source}
