"""Stepping game: step the named foot onto a floor target, hold, return home."""

from games.stepping.game import SteppingGame
from games.stepping.settings import STEPPING_PARAMETERS, SteppingSettings

__all__ = ["STEPPING_PARAMETERS", "SteppingGame", "SteppingSettings"]
