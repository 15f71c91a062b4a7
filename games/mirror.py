"""Virtual mirror therapy: the affected foot's avatar follows the mirror image of the sound foot.

The patient moves the sound leg; the headset shows the affected leg making the same movement,
reflected in the sagittal plane through the patient's midline. The server computes that stream so
that the game plays (and scores) the mirrored foot exactly as the headset draws it.
"""

from __future__ import annotations

from dataclasses import replace

from games.events import FootEvent, Side


def midline_x(home_spots: dict[Side, tuple[float, float]]) -> float:
    """The patient's midline (x in metres): midway between the two feet's home spots."""
    return (home_spots[Side.LEFT][0] + home_spots[Side.RIGHT][0]) / 2.0


def mirrored(event: FootEvent, midline_x_m: float) -> FootEvent:
    """The other foot's event reflected about ``x = midline_x_m``: same height, forward position,
    contact, force, time and sequence number."""
    return replace(event, side=event.side.other, x_m=2.0 * midline_x_m - event.x_m)
