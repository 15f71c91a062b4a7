"""Limits of stability (as in the NeuroCom / Biodex LOS test): per direction, lean as far as
possible without stepping or lifting the heels, and hold, for ``lean_s``.

Each lean is one stand (:mod:`games.assessment.standing`): it waits for both feet home, then is
timed; its result marks its balance source and device-time window, and scoring measures the
excursion there. The "lean" cue shows only once the lean is timed (while waiting the patient is
told to stand still), so the window opens with the patient still at rest: scoring takes its
first half second as the lean's starting centre. A step ends the lean at once as a fault
(``fault: "stepped"``): the base of support has changed, so nothing after it is a limit of
stability; the same lean is done again (up to ``lean_retries`` times, ``measures.attempt``
counting from 0) once both feet are home, then the next lean follows.
"""

from __future__ import annotations

from typing import Any

from games.assessment.settings import LEAN_AZIMUTH_DEG, LIMITS_OF_STABILITY, AssessmentSettings
from games.assessment.standing import StandingStage
from games.events import Side

SIDE_OF_LEAN = {"left": Side.LEFT, "right": Side.RIGHT}


class LeanStage(StandingStage):
    active_phase = "lean"
    stops_on_step = True
    unmeasured = "limit of stability"

    def __init__(self, settings: AssessmentSettings) -> None:
        self.directions = settings.lean_order
        super().__init__(LIMITS_OF_STABILITY, settings, stands=len(self.directions), stand_s=settings.lean_s,
                         retries=settings.lean_retries)

    @property
    def direction(self) -> str | None:
        """The lean running or next (None once every lean is done)."""
        return self.directions[self._index] if self._index < len(self.directions) else None

    @property
    def instruction(self) -> str:  # type: ignore[override]
        lean = (self.direction or "").upper()
        if not lean:
            return "Limits of stability done"
        if self.standing:
            return f"Lean {lean} as far as you can without stepping or lifting your heels, and hold"
        return f"Stand still, feet on the marks. Next: lean {lean}"

    def _describe(self, index: int) -> tuple[Side, str, dict[str, float | str]]:
        """A sideways lean names the leg it loads, forward and backward the affected leg (as the
        weight-shift game's results do)."""
        lean = self.directions[index]
        foot = SIDE_OF_LEAN.get(lean, self.settings.affected_side)
        return foot, lean, {"lean": lean, "azimuth_deg": LEAN_AZIMUTH_DEG[lean]}

    def progress(self, now_s: float) -> str:
        return f"{self._index}/{self.planned}"

    def parts(self) -> dict[str, Any]:
        return {"target": None, "lean": self.direction}
