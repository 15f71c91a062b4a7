"""The training modes a session's settings switch on, named once for storage and analysis.

A mode changes what a trial means (a mirror trial is scored on the mirrored foot; a proprioception
trial is played without seeing the target or the foot), so every stored trial carries its
session's modes and the session's analysis adds each mode's own metrics.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MIRROR = "mirror"
NEGLECT_CUEING = "neglect_cueing"
PROPRIOCEPTION = "proprioception"


def training_modes(settings: Any) -> tuple[str, ...]:
    """The modes on in these game settings (any game's settings dataclass, or its stored dict), in
    a fixed order."""
    def get(name: str, default: Any) -> Any:
        if isinstance(settings, Mapping):
            return settings.get(name, default)
        return getattr(settings, name, default)

    modes = []
    if get("mirror", False):
        modes.append(MIRROR)
    if get("neglect_cueing", False):
        modes.append(NEGLECT_CUEING)
    if get("vision", "full") != "full":
        modes.append(PROPRIOCEPTION)
    return tuple(modes)
