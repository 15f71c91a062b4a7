"""Assessment: a guided, repeatable protocol (quiet standing eyes open and closed, limits of
stability, SEBT reach on each leg, comfortable walking, timed stepping) whose results become the
``assessment`` metrics."""

from games.assessment.game import AssessmentGame
from games.assessment.settings import (
    ASSESSMENT_DIRECTIONS,
    ASSESSMENT_PARAMETERS,
    ASSESSMENT_SETTING_FIELDS,
    STAGE_NAMES,
    AssessmentSettings,
)

__all__ = [
    "ASSESSMENT_DIRECTIONS",
    "ASSESSMENT_PARAMETERS",
    "ASSESSMENT_SETTING_FIELDS",
    "STAGE_NAMES",
    "AssessmentGame",
    "AssessmentSettings",
]
