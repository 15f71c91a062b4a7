"""The games the server can start, by name."""

from __future__ import annotations

from games.parameters import ParameterSpec
from games.stepping import STEPPING_PARAMETERS

GAME_PARAMETERS: dict[str, tuple[ParameterSpec, ...]] = {"stepping": STEPPING_PARAMETERS}
