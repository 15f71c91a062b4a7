"""Panda3D scene for floor-target games, headless.

Each running game owns one :class:`FloorScene` (its own scene root and collision traverser) and one
:class:`GameClock`, so one server process hosts many games without a ShowBase or a window.
Feet are tiny collision spheres (``from`` objects); a target is a vertical capsule whose radius is
the target radius (``into`` object), so "foot inside target" means the foot's floor projection lies
within the target disc. Whether the foot is *on* the floor is the rules' business, not the scene's.
Balance games add a cursor (the centre of pressure, or its stand-in) as one more probe sphere on the
floor; it is created on first use, so foot-only games traverse nothing extra.

Feet move on every input event (120 Hz per tracker), so the feet have a *broad phase* before the
traverser: a foot clearly inside or clearly outside the target's disc (farther than
``_BROAD_PHASE_MARGIN_M`` from its rim, where the traverser's 32-bit coordinates cannot disagree) is
decided by its distance to the axis; only a foot near the rim runs the traverser. Foot positions
reach the scene graph only when the traverser runs. Profiling at 24-64 stations showed the
traversal and ``set_pos`` at about a tenth of the server's time per event; the answers are the same
(``tests/test_scene.py`` compares both phases near the rim).
"""

from __future__ import annotations

from typing import Protocol

from panda3d.core import (
    BitMask32,
    ClockObject,
    CollisionCapsule,
    CollisionHandlerQueue,
    CollisionNode,
    CollisionSphere,
    CollisionTraverser,
    NodePath,
)

from games.events import Side

_TARGET_MASK = BitMask32.bit(1)
_FOOT_PROBE_RADIUS_M = 0.001
_CURSOR = "cursor"
# The capsule is tall enough that any tracked foot height falls inside its straight section.
_CAPSULE_HALF_HEIGHT_M = 10.0
# Closer than this to the rim (the target radius plus the probe's), the traverser decides: float32
# positions are good to well under a micrometre at room scale, so the margin is ample.
_BROAD_PHASE_MARGIN_M = 1e-4
# A foot whose height is within this of the capsule's straight section is inside it vertically.
_BROAD_PHASE_MAX_HEIGHT_M = _CAPSULE_HALF_HEIGHT_M - 1.0


class PlacedTarget(Protocol):
    """What the scene needs of any game's target: where it is on the floor and how big."""

    @property
    def x_m(self) -> float: ...
    @property
    def y_m(self) -> float: ...
    @property
    def radius_m(self) -> float: ...


class GameClock:
    """A game's time: 0 when the game starts, moved only when told (the server feeds it its
    monotonic time), never backwards.

    The time is kept in Python, read on every event and state. A Panda3D clock in slave mode
    (:attr:`panda_clock`, for Panda3D intervals and tasks that read one) is brought to it when
    asked for, not on every event.
    """

    def __init__(self, start_s: float) -> None:
        self._start_s = start_s
        self._now = 0.0
        self._panda: ClockObject | None = None

    def advance(self, now_s: float) -> float:
        game_time = now_s - self._start_s
        if game_time > self._now:  # it never goes back
            self._now = game_time
        return self._now

    @property
    def now(self) -> float:
        return self._now

    @property
    def start_s(self) -> float:
        """The server time at game time 0: game time ``t`` is server time ``start_s + t``."""
        return self._start_s

    @property
    def panda_clock(self) -> ClockObject:
        """A Panda3D clock (slave mode) whose frame time is this game time."""
        if self._panda is None:
            self._panda = ClockObject(ClockObject.M_slave)
        self._panda.set_frame_time(self._now)
        return self._panda


class FloorScene:
    """Scene graph holding the feet and the current floor target."""

    def __init__(self, name: str) -> None:
        self.root = NodePath(f"{name}-scene")
        self._traverser = CollisionTraverser(f"{name}-traverser")
        self._queue = CollisionHandlerQueue()
        self._feet: dict[Side, NodePath] = {}
        for side in Side:
            self._feet[side] = self._add_probe(f"foot-{side.value}")
        self._cursor: NodePath | None = None
        self._target: NodePath | None = None
        self._followed: object | None = None
        # the target's disc on the floor (x, y, radius plus probe), for the broad phase
        self._disc: tuple[float, float, float] | None = None
        # where each foot is, and the feet whose node has not been moved there yet
        self._foot_at: dict[Side, tuple[float, float, float]] = dict.fromkeys(Side, (0.0, 0.0, 0.0))
        self._unsynced: set[Side] = set()

    def _add_probe(self, name: str) -> NodePath:
        node = CollisionNode(name)
        node.add_solid(CollisionSphere(0, 0, 0, _FOOT_PROBE_RADIUS_M))
        node.set_from_collide_mask(_TARGET_MASK)
        node.set_into_collide_mask(BitMask32.all_off())
        path = self.root.attach_new_node(node)
        self._traverser.add_collider(path, self._queue)
        return path

    def set_target(self, x_m: float, y_m: float, radius_m: float) -> None:
        self.clear_target()
        node = CollisionNode("target")
        node.add_solid(
            CollisionCapsule(0, 0, -_CAPSULE_HALF_HEIGHT_M, 0, 0, _CAPSULE_HALF_HEIGHT_M, radius_m)
        )
        node.set_from_collide_mask(BitMask32.all_off())
        node.set_into_collide_mask(_TARGET_MASK)
        self._target = self.root.attach_new_node(node)
        self._target.set_pos(x_m, y_m, 0.0)
        self._disc = (x_m, y_m, radius_m + _FOOT_PROBE_RADIUS_M)

    def follow_target(self, target: PlacedTarget | None) -> None:
        """Show a game's current target (None: no target), rebuilding the collision solid only when
        it is a different target object."""
        if target is self._followed:
            return
        if target is None:
            self.clear_target()
        else:
            self.set_target(target.x_m, target.y_m, target.radius_m)
        self._followed = target

    def clear_target(self) -> None:
        if self._target is not None:
            self._target.remove_node()
            self._target = None
        self._disc = None

    def move_foot(self, side: Side, x_m: float, y_m: float, z_m: float) -> None:
        self._foot_at[side] = (x_m, y_m, z_m)
        self._unsynced.add(side)

    def move_cursor(self, x_m: float, y_m: float) -> None:
        """Put the balance cursor at a floor point (it has no height: it is a point on the floor)."""
        if self._cursor is None:
            self._cursor = self._add_probe(_CURSOR)
        self._cursor.set_pos(x_m, y_m, 0.0)

    def _probes_in_target(self) -> set[str]:
        """Run the traverser once; the names of the probes inside the target."""
        if self._target is None:
            return set()
        for side in self._unsynced:
            self._feet[side].set_pos(*self._foot_at[side])
        self._unsynced.clear()
        self._traverser.traverse(self.root)
        return {
            self._queue.get_entry(i).get_from_node().get_name()
            for i in range(self._queue.get_num_entries())
        }

    def feet_in_target(self) -> set[Side]:
        """Which feet touch the target: the broad phase where it can tell, else the traverser."""
        disc = self._disc
        if disc is None:
            return set()
        cx, cy, reach = disc
        near, far = (reach - _BROAD_PHASE_MARGIN_M) ** 2, (reach + _BROAD_PHASE_MARGIN_M) ** 2
        inside: set[Side] = set()
        for side, (x, y, z) in self._foot_at.items():
            d2 = (x - cx) ** 2 + (y - cy) ** 2
            if abs(z) > _BROAD_PHASE_MAX_HEIGHT_M or near <= d2 <= far:
                return self._feet_by_traversal()
            if d2 < near:
                inside.add(side)
        return inside

    def _feet_by_traversal(self) -> set[Side]:
        """The narrow phase: which feet the traverser finds inside the target."""
        return {
            Side(name.removeprefix("foot-"))
            for name in self._probes_in_target()
            if name.startswith("foot-")
        }

    def cursor_in_target(self) -> bool:
        return self._cursor is not None and _CURSOR in self._probes_in_target()

    def destroy(self) -> None:
        self.clear_target()
        self.root.remove_node()
