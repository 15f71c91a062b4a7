"""The training modes a session's settings switch on, named once for storage and analysis.

A mode changes what a trial means (a mirror trial is scored on the mirrored foot; a proprioception
trial is played without seeing the target or the foot), so every stored trial carries its
session's modes and the session's analysis adds each mode's own metrics.
"""

from __future__ import annotations

from typing import Any

MIRROR = "mirror"
NEGLECT_CUEING = "neglect_cueing"
PROPRIOCEPTION = "proprioception"


def training_modes(settings: Any) -> tuple[str, ...]:
    """The modes on in these game settings (any game's settings dataclass), in a fixed order."""
    modes = []
    if getattr(settings, "mirror", False):
        modes.append(MIRROR)
    if getattr(settings, "neglect_cueing", False):
        modes.append(NEGLECT_CUEING)
    if getattr(settings, "vision", "full") != "full":
        modes.append(PROPRIOCEPTION)
    return tuple(modes)
