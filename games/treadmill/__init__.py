"""Treadmill stepping targets: walking on a treadmill, step on targets that scroll toward the patient
with the belt, alternating feet, spaced by the step length being trained."""

from games.treadmill.game import TreadmillGame
from games.treadmill.settings import (
    TREADMILL_PARAMETERS,
    TREADMILL_SETTING_FIELDS,
    TreadmillSettings,
)

__all__ = ["TREADMILL_PARAMETERS", "TREADMILL_SETTING_FIELDS", "TreadmillGame", "TreadmillSettings"]
