"""Quiet standing (eyes open, eyes closed): stand still for ``quiet_s`` while the balance input is
recorded; scoring computes the sway from the session's recording of the stand's window
(:mod:`games.assessment.standing`). A step during the stand makes it a fault but the stand goes on.
"""

from __future__ import annotations

from typing import Any

from games.assessment.settings import QUIET_EYES_CLOSED, AssessmentSettings
from games.assessment.standing import StandingStage
from games.events import Side


class QuietStage(StandingStage):
    def __init__(self, name: str, settings: AssessmentSettings) -> None:
        super().__init__(name, settings, stands=1, stand_s=settings.quiet_s)
        self.eyes = "closed" if name == QUIET_EYES_CLOSED else "open"
        self.instruction = (f"Stand still, feet on the marks, eyes {self.eyes}, "
                            f"for {settings.quiet_s:.0f} seconds")

    def _describe(self, index: int) -> tuple[Side, str, dict[str, float | str]]:
        return self.settings.affected_side, self.name, {"eyes": self.eyes}

    def parts(self) -> dict[str, Any]:
        return {"target": None, "eyes": self.eyes}
