"""The patient-frame floor in Panda3D: grid, home spots, targets (the treadmill's moving ones
too), weight-shift outlines, feet and the neglect cue's ring.

Everything lies in the floor plane of the patient frame (metres: +x right, +y forward, +z up).
Seen from straight above through an orthographic lens (the top-down view), metres map to pixels
by one scale and one offset (:class:`Projection`): +y forward is up on screen, +x right is right.
Seen from the patient's eyes (:mod:`clients.headset.first_person`), the same floor is in
perspective and the feet are solid avatars. Layers are drawn in a fixed order without depth
testing (all of them lie on the floor), so a foot is always drawn over a target and a target over
the grid; only a solid foot tests depth, against itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from panda3d.core import (
    Geom,
    GeomNode,
    GeomTriangles,
    GeomVertexData,
    GeomVertexFormat,
    GeomVertexWriter,
    LineSegs,
    NodePath,
    OrthographicLens,
)

from clients.headset.first_person import solid_foot
from clients.headset.state import SIDES, BeltTarget, Disc, Foot, Los, StateView, Target, home_spots

Colour = tuple[float, float, float, float]

BACKGROUND: Colour = (0.07, 0.08, 0.10, 1.0)
BLANK: Colour = (0.0, 0.0, 0.0, 1.0)  # an eyes-closed stand: no floor, no grid, nothing to steady on
GRID_MINOR: Colour = (0.16, 0.18, 0.21, 1.0)
GRID_MAJOR: Colour = (0.27, 0.29, 0.33, 1.0)
GRID_AXIS: Colour = (0.42, 0.44, 0.48, 1.0)
HOME: Colour = (0.60, 0.60, 0.66, 1.0)
TARGET: Colour = (0.98, 0.82, 0.10, 1.0)  # the target's fill, every game
TARGET_RING: dict[str | None, Colour] = {  # which foot should step: a tint of that foot's colour
    "L": (0.60, 0.82, 1.00, 1.0), "R": (1.00, 0.72, 0.55, 1.0), None: (0.95, 0.95, 0.95, 1.0),
}
ANCHOR_LINE: Colour = (0.60, 0.50, 0.10, 1.0)
CENTRE: Colour = (0.75, 0.75, 0.82, 1.0)
LOS: Colour = (0.25, 0.85, 0.85, 1.0)
CURSOR: Colour = (1.00, 0.25, 0.85, 1.0)
TOUCH: Colour = (1.00, 1.00, 1.00, 1.0)
FOOT: dict[str, Colour] = {"L": (0.20, 0.55, 1.00, 1.0), "R": (1.00, 0.45, 0.15, 1.0)}
SHADOW: Colour = (0.02, 0.02, 0.03, 1.0)
CUE_RING: Colour = (1.00, 1.00, 0.55, 1.0)  # neglect cue: a bright ring round the cued foot


def faded(colour: Colour, share: float = 0.5) -> Colour:
    """``colour`` taken ``share`` of the way to the background."""
    r, g, b = (c + share * (bg - c) for c, bg in zip(colour[:3], BACKGROUND[:3], strict=True))
    return (r, g, b, 1.0)


# Treadmill targets: a coming one is filled with its foot's tint (the next one due is also drawn
# as the target, yellow over it); a hit one fades to a dim green disc, a missed one to an outline
# in its foot's tint, faded.
BELT_HIT: Colour = (0.22, 0.42, 0.26, 1.0)
BELT_MISSED: dict[str | None, Colour] = {foot: faded(tint) for foot, tint in TARGET_RING.items()}

FOOT_LENGTH_M = 0.24
FOOT_WIDTH_M = 0.095
HOME_MARK_RADIUS_M = 0.05
TARGET_EDGE_M = 0.012  # the target's rim, inside its radius, in the colour of the foot to use
CURSOR_RADIUS_M = 0.025
TOUCH_RADIUS_M = 0.015
LIFT_SCALE_PER_M = 2.0  # a lifted foot looks bigger from above: 10 cm up, 20 % larger
LIFTED_M = 0.005  # above this a foot casts a shadow
SHADOW_OFFSET = 0.6  # shadow shift (right and back) per metre of lift
CURSOR_KEY = "cursor"  # the cursor's key among the smoothed positions
GRID_X_M = (-3.0, 3.0)  # wider than any view at 16:9
GRID_Y_M = (-2.0, 5.0)  # the first-person view sees further ahead than the top-down one
GRID_STEP_M = 0.1
CUE_RING_M = (0.15, 0.185)  # inner and outer radius round the foot's centre (a foot is 0.24 m long)
CUE_PULSE = 0.15  # the ring grows by up to this share ...
CUE_PULSE_HZ = 2.0  # ... this many times a second
BELT_MISSED_EDGE_M = 0.008

# Layer order (``fixed`` bin): later layers are drawn over earlier ones. A stepping or reaching
# foot is drawn over the target it lands on; in weight shift the feet stay planted and the
# targets often lie over a foot, so there the feet go under everything but the grid.
LAYERS = ("grid", "home", "los", "centre", "anchor", "belt", "target", "cue", "shadows", "feet", "touch",
          "cursor")
FEET_UNDER_TARGETS = frozenset({"weight_shift"})


@dataclass(frozen=True, slots=True)
class View:
    """The floor area on screen: ``height_m`` of floor, centred on ``centre_m``."""

    centre_m: tuple[float, float] = (0.0, 0.2)
    height_m: float = 2.4


# Stepping and reaching need room for steps and reaches in every direction; the weight-shift
# game plays within the limits of stability (centimetres), so it is seen from closer.
# The treadmill's targets come from ahead, so its view reaches further forward. An assessment
# is seen as the game its running stage plays (the reach stage as reaching, the limits of
# stability, a lean of the balance cursor, as weight shift).
DEFAULT_VIEW = View()
GAME_VIEWS: dict[str, View] = {"reaching": View((0.0, 0.1), 3.0), "weight_shift": View((0.0, 0.0), 0.8),
                               "treadmill": View((0.0, 0.6), 3.0)}
ASSESSMENT_STAGE_VIEWS: dict[str, View] = {"reach": GAME_VIEWS["reaching"],
                                           "limits_of_stability": GAME_VIEWS["weight_shift"]}


def view_for(game: str | None, stage: str | None = None) -> View:
    if game == "assessment":
        return ASSESSMENT_STAGE_VIEWS.get(stage or "", DEFAULT_VIEW)
    return GAME_VIEWS.get(game or "", DEFAULT_VIEW)


def view_for_state(view: StateView) -> View:
    return view_for(view.game, None if view.stage is None else view.stage.name)


@dataclass(frozen=True, slots=True)
class Projection:
    """Metres on the floor to pixels in the image (column right, row down from the top-left
    corner). The view is ``view_height_m`` tall around ``centre_m``; its width follows the
    window's aspect ratio, with square pixels."""

    width_px: int
    height_px: int
    centre_m: tuple[float, float] = DEFAULT_VIEW.centre_m
    view_height_m: float = DEFAULT_VIEW.height_m

    @classmethod
    def of(cls, size_px: tuple[int, int], view: View) -> Projection:
        return cls(size_px[0], size_px[1], view.centre_m, view.height_m)

    @property
    def px_per_m(self) -> float:
        return self.height_px / self.view_height_m

    @property
    def film_m(self) -> tuple[float, float]:
        return self.width_px / self.px_per_m, self.view_height_m

    def to_pixel(self, x_m: float, y_m: float) -> tuple[float, float]:
        s = self.px_per_m
        return self.width_px / 2 + (x_m - self.centre_m[0]) * s, self.height_px / 2 - (y_m - self.centre_m[1]) * s

    def to_metres(self, col: float, row: float) -> tuple[float, float]:
        s = self.px_per_m
        return self.centre_m[0] + (col - self.width_px / 2) / s, self.centre_m[1] - (row - self.height_px / 2) / s


def aim_camera(camera: NodePath, lens: OrthographicLens, projection: Projection, height_m: float = 10.0) -> None:
    """Straight down at the view's centre, screen up = +y (heading 0, pitch -90)."""
    lens.set_film_size(*projection.film_m)
    lens.set_near_far(0.1, 100.0)
    camera.set_pos(projection.centre_m[0], projection.centre_m[1], height_m)
    camera.set_hpr(0.0, -90.0, 0.0)


# -- geometry -------------------------------------------------------------------------------------


def polygon(name: str, points: Sequence[tuple[float, float]]) -> GeomNode:
    """A filled, star-shaped polygon in the floor plane, fanned from its vertex mean."""
    data = GeomVertexData(name, GeomVertexFormat.get_v3(), Geom.UH_static)
    writer = GeomVertexWriter(data, "vertex")
    cx = sum(p[0] for p in points) / len(points)
    cy = sum(p[1] for p in points) / len(points)
    writer.add_data3(cx, cy, 0.0)
    for x, y in points:
        writer.add_data3(x, y, 0.0)
    tris = GeomTriangles(Geom.UH_static)
    n = len(points)
    for i in range(n):
        tris.add_vertices(0, 1 + i, 1 + (i + 1) % n)
    geom = Geom(data)
    geom.add_primitive(tris)
    node = GeomNode(name)
    node.add_geom(geom)
    return node


def annulus(name: str, inner_m: float, outer_m: float, segments: int = 64) -> GeomNode:
    """A filled ring (thick lines are not drawn thick by every renderer; triangles are)."""
    data = GeomVertexData(name, GeomVertexFormat.get_v3(), Geom.UH_static)
    writer = GeomVertexWriter(data, "vertex")
    for (xi, yi), (xo, yo) in zip(circle_points(inner_m, segments), circle_points(outer_m, segments), strict=False):
        writer.add_data3(xi, yi, 0.0)
        writer.add_data3(xo, yo, 0.0)
    tris = GeomTriangles(Geom.UH_static)
    for i in range(segments):
        a, b, c, d = 2 * i, 2 * i + 1, (2 * i + 2) % (2 * segments), (2 * i + 3) % (2 * segments)
        tris.add_vertices(a, b, d)
        tris.add_vertices(a, d, c)
    geom = Geom(data)
    geom.add_primitive(tris)
    node = GeomNode(name)
    node.add_geom(geom)
    return node


def circle_points(radius: float, segments: int = 64) -> list[tuple[float, float]]:
    return [(radius * math.cos(2 * math.pi * i / segments), radius * math.sin(2 * math.pi * i / segments))
            for i in range(segments)]


def polyline(name: str, points: Sequence[tuple[float, float]], colour: Colour,
             thickness_px: float = 2.0) -> NodePath:
    """Lines carry their colour per vertex (LineSegs always writes one, which overrides a node
    colour in the software renderer)."""
    lines = LineSegs(name)
    lines.set_thickness(thickness_px)
    lines.set_color(colour)
    lines.move_to(points[0][0], points[0][1], 0.0)
    for x, y in points[1:]:
        lines.draw_to(x, y, 0.0)
    return NodePath(lines.create())


def ring(name: str, radius: float, colour: Colour, thickness_px: float = 2.0) -> NodePath:
    points = circle_points(radius)
    return polyline(name, [*points, points[0]], colour, thickness_px)


def foot_outline(side: str, length_m: float = FOOT_LENGTH_M, width_m: float = FOOT_WIDTH_M,
                 segments: int = 40) -> list[tuple[float, float]]:
    """A footprint pointing forward (+y): narrow heel, wider forefoot, the big toe bulging on the
    inner side (+x for the left foot). Its area centroid is the origin, so the drawn foot's centre
    is the reported foot position."""
    inner = 1.0 if side == "L" else -1.0
    raw = []
    for i in range(segments):
        a = 2 * math.pi * i / segments
        c, t = _squircle(math.cos(a)), _squircle(math.sin(a))  # t: -1 heel .. +1 toe
        half_width = width_m / 2 * (0.78 + 0.22 * (t + 1) / 2)
        x = half_width * c
        if x * inner > 0 and t > 0.3:
            x += inner * 0.012 * (t - 0.3) / 0.7  # the big toe
        raw.append((x, length_m / 2 * t))
    cx, cy = _area_centroid(raw)
    return [(x - cx, y - cy) for x, y in raw]


def _squircle(v: float, exponent: float = 2.6) -> float:
    """A superellipse coordinate: rounder ends than an ellipse, like a sole."""
    return math.copysign(abs(v) ** (2.0 / exponent), v)


def _area_centroid(points: Sequence[tuple[float, float]]) -> tuple[float, float]:
    area = cx = cy = 0.0
    for (x0, y0), (x1, y1) in zip(points, [*points[1:], points[0]], strict=False):
        cross = x0 * y1 - x1 * y0
        area += cross
        cx += (x0 + x1) * cross
        cy += (y0 + y1) * cross
    return cx / (3 * area), cy / (3 * area)


def grid(name: str = "grid") -> NodePath:
    """Lines every 0.1 m, brighter every 0.5 m, brightest on the axes through the origin."""
    root = NodePath(name)
    groups: dict[Colour, LineSegs] = {c: LineSegs() for c in (GRID_MINOR, GRID_MAJOR, GRID_AXIS)}
    for c, segs in groups.items():
        segs.set_color(c)
        segs.set_thickness(1.0)
    def colour(v: float) -> Colour:
        k = round(v / GRID_STEP_M)
        return GRID_AXIS if k == 0 else GRID_MAJOR if k % 5 == 0 else GRID_MINOR
    for k in range(round(GRID_X_M[0] / GRID_STEP_M), round(GRID_X_M[1] / GRID_STEP_M) + 1):
        x = k * GRID_STEP_M
        segs = groups[colour(x)]
        segs.move_to(x, GRID_Y_M[0], 0.0)
        segs.draw_to(x, GRID_Y_M[1], 0.0)
    for k in range(round(GRID_Y_M[0] / GRID_STEP_M), round(GRID_Y_M[1] / GRID_STEP_M) + 1):
        y = k * GRID_STEP_M
        segs = groups[colour(y)]
        segs.move_to(GRID_X_M[0], y, 0.0)
        segs.draw_to(GRID_X_M[1], y, 0.0)
    for segs in groups.values():  # in this order: axes over major over minor lines
        root.attach_new_node(segs.create())
    return root


# -- the scene ------------------------------------------------------------------------------------


class FloorView:
    """Builds the floor under ``parent`` and keeps it in step with the newest :class:`StateView`.

    :meth:`apply` runs when a new state arrives and rebuilds only what changed (targets change
    once per trial); :meth:`place_live` runs every frame with the smoothed feet and cursor."""

    def __init__(self, parent: NodePath, first_person: bool = False) -> None:
        self.root = parent.attach_new_node("patient-frame")
        self.root.set_depth_test(False)
        self.root.set_depth_write(False)
        self.root.set_light_off()
        self.root.set_two_sided(True)
        self.bins: dict[str, int] = {}
        self.layers = {name: self._layer(name, i) for i, name in enumerate(LAYERS)}
        grid().reparent_to(self.layers["grid"])
        self._shown: dict[str, object] = {}  # what each rebuilt layer currently shows
        self._unit_disc = polygon("disc", circle_points(1.0))
        self.flat_feet: dict[str, NodePath] = {}
        self.solid_feet: dict[str, NodePath] = {}
        self.shadows: dict[str, NodePath] = {}
        for side in SIDES:
            foot = self.layers["feet"].attach_new_node(polygon(f"foot-{side}", foot_outline(side)))
            foot.set_color(FOOT[side])
            foot.hide()
            self.flat_feet[side] = foot
            solid = self.layers["feet"].attach_new_node(solid_foot(f"solid-foot-{side}", foot_outline(side),
                                                                   FOOT[side]))
            solid.set_depth_test(True)  # its top over its sides (the floor under it draws no depth)
            solid.set_depth_write(True)
            solid.hide()
            self.solid_feet[side] = solid
            shadow = self.layers["shadows"].attach_new_node(polygon(f"shadow-{side}", foot_outline(side)))
            shadow.set_color(SHADOW)
            shadow.hide()
            self.shadows[side] = shadow
        self.cursor = self._disc(self.layers["cursor"], Disc(0.0, 0.0, CURSOR_RADIUS_M), CURSOR)
        self.cursor.hide()
        self.touch = self._disc(self.layers["touch"], Disc(0.0, 0.0, TOUCH_RADIUS_M), TOUCH)
        self.touch.hide()
        self.cue_rings: dict[str, NodePath] = {}
        for side in SIDES:
            cue = self.layers["cue"].attach_new_node(annulus(f"cue-{side}", *CUE_RING_M))
            cue.set_color(CUE_RING)
            cue.hide()
            self.cue_rings[side] = cue
        self.cued: frozenset[str] = frozenset()  # the sides whose ring is on screen
        self._belt: dict[object, tuple[tuple[object, ...], NodePath]] = {}  # key: (look, node)
        self.first_person = first_person
        self.feet = self.solid_feet if first_person else self.flat_feet

    def set_first_person(self, on: bool) -> None:
        """Solid feet seen in perspective (True), or flat ones from above, lifted ones larger."""
        if on == self.first_person:
            return
        for foot in self.feet.values():
            foot.hide()
        self.first_person = on
        self.feet = self.solid_feet if on else self.flat_feet

    def _layer(self, name: str, order: int) -> NodePath:
        layer = self.root.attach_new_node(name)
        self.bins[name] = 10 * (order + 1)
        layer.set_bin("fixed", self.bins[name])
        return layer

    @property
    def shown_target(self) -> Target | None:
        shown = self._shown.get("target")
        return shown if isinstance(shown, Target) else None

    def apply(self, view: StateView | None) -> None:
        """Draw a new state's per-state parts (not the feet: see :meth:`place_live`). A target
        with ``hidden: true`` (proprioception training) is not drawn."""
        game = view if view is not None and view.running else None
        under = game is not None and game.game in FEET_UNDER_TARGETS
        for offset, layer in enumerate(("shadows", "feet")):
            self.layers[layer].set_bin("fixed", self.bins["grid"] + 1 + offset if under else self.bins[layer])
        self._rebuild("home", None if game is None else tuple(sorted(home_spots(game).items())), self._draw_home)
        target = None if game is None or game.target is None or game.target.hidden else game.target
        self._rebuild("target", target, self._draw_target)
        self._rebuild("anchor", target, self._draw_anchor)
        self._place_belt(() if game is None else game.targets)
        self._rebuild("centre", None if game is None else game.centre, self._draw_centre)
        self._rebuild("los", None if game is None else game.los, self._draw_los)
        touch = None if game is None else game.touch
        if touch is None:
            self.touch.hide()
        else:
            self.touch.set_pos(touch.x_m, touch.y_m, 0.0)
            self.touch.show()

    def place_live(self, shown: Mapping[str, tuple[float, float, float]], feet: Mapping[str, Foot]) -> None:
        """Each foot at its smoothed position, raised by its height; a lifted foot is drawn larger
        over a shadow that stays on the floor. Feet the state does not report, or reports as
        ``hidden`` (proprioception training), are not drawn. The weight-shift cursor (key
        ``cursor``) is smoothed the same way."""
        cursor = shown.get(CURSOR_KEY)
        if cursor is None:
            self.cursor.hide()
        else:
            self.cursor.set_pos(cursor[0], cursor[1], 0.0)
            self.cursor.show()
        for side in SIDES:
            foot, shadow = self.feet[side], self.shadows[side]
            if side not in shown or side not in feet or feet[side].hidden:
                foot.hide()
                shadow.hide()
                continue
            x, y, z = shown[side]
            foot.set_pos(x, y, max(0.0, z))
            foot.show()
            if self.first_person:  # perspective shows the lift; the shadow stays right below
                shadow.set_pos(x, y, 0.0)
                if z > LIFTED_M or not feet[side].planted:
                    shadow.show()
                else:
                    shadow.hide()
                continue
            foot.set_scale(1.0 + LIFT_SCALE_PER_M * max(0.0, z))
            if z > LIFTED_M or not feet[side].planted:
                # as if lit from the front left: the higher the foot, the further its shadow
                shadow.set_pos(x + SHADOW_OFFSET * max(z, LIFTED_M), y - SHADOW_OFFSET * max(z, LIFTED_M), 0.0)
                shadow.show()
            else:
                shadow.hide()

    def place_cues(self, sides: frozenset[str], shown: Mapping[str, tuple[float, float, float]],
                   feet: Mapping[str, Foot], now_s: float) -> None:
        """A ring round each cued foot (neglect cueing), following its smoothed position and
        pulsing in size (colour constant). No ring round a foot that is not drawn."""
        pulse = 1.0 + CUE_PULSE * (0.5 + 0.5 * math.sin(2.0 * math.pi * CUE_PULSE_HZ * now_s))
        on = set()
        for side in SIDES:
            ring_node = self.cue_rings[side]
            if side not in sides or side not in shown or side not in feet or feet[side].hidden:
                ring_node.hide()
                continue
            x, y, _ = shown[side]
            ring_node.set_pos(x, y, 0.0)
            ring_node.set_scale(pulse)
            ring_node.show()
            on.add(side)
        self.cued = frozenset(on)

    @property
    def belt_shown(self) -> dict[object, NodePath]:
        """The treadmill targets on screen, by index."""
        return {key: node for key, (_, node) in self._belt.items()}

    # -- layers ----------------------------------------------------------------------------------

    def _place_belt(self, targets: Sequence[BeltTarget]) -> None:
        """The treadmill's targets move every state: one node per target (by ``index``), moved,
        and redrawn only when its foot, state or size changes."""
        keep = set()
        for i, target in enumerate(targets):
            key: object = target.index if target.index is not None else ("at", i)
            keep.add(key)
            look = (target.foot, target.state, target.radius_m)
            entry = self._belt.get(key)
            if entry is None or entry[0] != look:
                if entry is not None:
                    entry[1].remove_node()
                entry = (look, self._draw_belt_target(target))
                self._belt[key] = entry
            entry[1].set_pos(target.x_m, target.y_m, 0.0)
        for key in [k for k in self._belt if k not in keep]:
            self._belt.pop(key)[1].remove_node()

    def _draw_belt_target(self, target: BeltTarget) -> NodePath:
        node = self.layers["belt"].attach_new_node("belt-target")
        if target.state == "missed":
            edge = min(BELT_MISSED_EDGE_M, target.radius_m / 3)
            outline = node.attach_new_node(annulus("belt-missed", target.radius_m - edge, target.radius_m))
            outline.set_color(BELT_MISSED.get(target.foot, BELT_MISSED[None]))
        else:
            colour = BELT_HIT if target.state == "hit" else TARGET_RING.get(target.foot, TARGET_RING[None])
            self._disc(node, Disc(0.0, 0.0, target.radius_m), colour)
        return node

    def _rebuild(self, layer: str, part: object, draw: object) -> None:
        if self._shown.get(layer) == part and layer in self._shown:
            return
        self.layers[layer].node().remove_all_children()
        self._shown[layer] = part
        if part is not None:
            draw(self.layers[layer], part)  # type: ignore[operator]

    def _disc(self, parent: NodePath, disc: Disc, colour: Colour) -> NodePath:
        node = parent.attach_new_node(self._unit_disc.make_copy())
        node.set_pos(disc.x_m, disc.y_m, 0.0)
        node.set_scale(disc.radius_m)
        node.set_color(colour)
        return node

    def _draw_home(self, parent: NodePath, spots: tuple[tuple[str, tuple[float, float]], ...]) -> None:
        for _, (x, y) in spots:
            mark = ring("home", HOME_MARK_RADIUS_M, HOME, 1.5)
            mark.reparent_to(parent)
            mark.set_pos(x, y, 0.0)

    def _draw_target(self, parent: NodePath, target: Target) -> None:
        self._disc(parent, target.disc, TARGET)
        edge_m = min(TARGET_EDGE_M, target.radius_m / 3)
        edge = parent.attach_new_node(annulus("target-edge", target.radius_m - edge_m, target.radius_m))
        edge.set_bin("fixed", self.bins["target"] + 1)  # over the fill
        edge.set_pos(target.x_m, target.y_m, 0.0)
        edge.set_color(TARGET_RING.get(target.foot, TARGET_RING[None]))

    def _draw_anchor(self, parent: NodePath, target: Target) -> None:
        if target.anchor is not None:  # reaching: the line the reach is measured along
            line = polyline("reach-line", [target.anchor, (target.x_m, target.y_m)], ANCHOR_LINE, 2.0)
            line.reparent_to(parent)

    def _draw_centre(self, parent: NodePath, centre: Disc) -> None:
        mark = ring("centre", centre.radius_m, CENTRE, 2.0)
        mark.reparent_to(parent)
        mark.set_pos(centre.x_m, centre.y_m, 0.0)

    def _draw_los(self, parent: NodePath, los: Los) -> None:
        polyline("los", los.outline(), LOS, 2.0).reparent_to(parent)

