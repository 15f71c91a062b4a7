"""Weight-shift game: standing on both feet, move the centre of pressure into targets placed at a
share of the patient's limits of stability, hold, and come back to the centre."""

from games.weight_shift.game import WeightShiftGame
from games.weight_shift.settings import (
    WEIGHT_SHIFT_PARAMETERS,
    WEIGHT_SHIFT_SETTING_FIELDS,
    WeightShiftSettings,
)

__all__ = ["WEIGHT_SHIFT_PARAMETERS", "WEIGHT_SHIFT_SETTING_FIELDS", "WeightShiftGame", "WeightShiftSettings"]
