"""What kind of device a connection is, and which game inputs each kind can give.

A device says what it is by its setup message (``tracker_setup``; ``mat_setup`` with kind
``grid`` or ``cop``; ``board_setup``; ``xr_setup``, a headset streaming its own poses) and by the
first message of a kind (``foot``, ``belt``: one connection may send both). Until then its kind is
unknown, and an unknown device is taken to give anything: nothing is refused on a guess. The station
keeps each connection's kinds (``server.stations``); ``start_game`` refuses a game no connected
device can feed, and a device that cannot feed a running game is told so.
"""

from __future__ import annotations

from collections.abc import Iterable

from games.events import BALANCE, FEET, INPUT_WORDS, PELVIS_HEIGHT

TRACKER = "tracker"
PRESSURE_MAT = "pressure_mat"
FORCE_PLATE = "force_plate"
BALANCE_BOARD = "balance_board"
FOOT_EVENTS = "foot_events"
TREADMILL = "treadmill"
HEADSET_TRACKER = "headset_tracker"  # a WebXR headset's head and foot controllers (server/adapters/xr.py)
BELT = "belt_speed"  # not a game input: a treadmill game starts at and follows it when there is one

# Which inputs each kind gives: a tracker's balance input is its pelvis marker's floor projection, a
# headset tracker's its head's, scaled to the centre of mass; only a tracker sees the pelvis's height
# (the assessment's chair and walking tests).
PROVIDES: dict[str, frozenset[str]] = {
    TRACKER: frozenset({FEET, BALANCE, PELVIS_HEIGHT}),
    PRESSURE_MAT: frozenset({FEET, BALANCE}),
    FORCE_PLATE: frozenset({BALANCE}),
    BALANCE_BOARD: frozenset({BALANCE}),
    FOOT_EVENTS: frozenset({FEET}),
    TREADMILL: frozenset({BELT}),
    HEADSET_TRACKER: frozenset({FEET, BALANCE}),
}
LABELS: dict[str, str] = {
    TRACKER: "motion tracker",
    PRESSURE_MAT: "pressure mat",
    FORCE_PLATE: "force plate (centre of pressure only)",
    BALANCE_BOARD: "balance board (centre of pressure only)",
    FOOT_EVENTS: "foot-event device",
    TREADMILL: "treadmill (belt speed only)",
    HEADSET_TRACKER: "headset tracker (head and foot controllers)",
}


def provided_by(kinds: Iterable[str]) -> frozenset[str]:
    return frozenset().union(*(PROVIDES[kind] for kind in kinds))


def describe_kinds(kinds: Iterable[str]) -> str:
    """'force plate (centre of pressure only)', or several joined with 'and'."""
    return " and ".join(LABELS[kind] for kind in sorted(kinds)) or "no identified device"


def describe_inputs(inputs: Iterable[str]) -> str:
    words = {**INPUT_WORDS, BELT: "belt speed"}
    return " and ".join(words[name] for name in sorted(inputs)) or "nothing"


def known_kinds(values: object) -> frozenset[str]:
    """Kinds from another server process (a list of names): unknown names are dropped, never trusted."""
    if not isinstance(values, list):
        return frozenset()
    return frozenset(value for value in values if isinstance(value, str) and value in PROVIDES)
