"""Reaching game (Star Excursion Balance Test style): stand on one leg, touch a target with the other
foot in one of eight directions, return home; reach is normalised to leg length."""

from games.reaching.game import ReachingGame
from games.reaching.settings import (
    REACHING_PARAMETERS,
    REACHING_SETTING_FIELDS,
    ReachingSettings,
)

__all__ = ["REACHING_PARAMETERS", "REACHING_SETTING_FIELDS", "ReachingGame", "ReachingSettings"]
