"""The first-person view: the floor scene seen from a standing patient's eyes, for a monitor or TV.

The same patient-frame scene (metres: +x right, +y forward, +z up) as the top-down view and as the
WebXR page, seen through a perspective lens from ``height_m`` above the patient frame's origin
(between the home spots), looking forward and down. The camera never moves by itself (no
artificial motion: comfort): its pose is fixed per game, so a game's floor area, feet included,
is on screen, and changes only when the game (or an assessment's stage) does. The feet are solid
avatars (a sole-shaped block) raised by their height, so a lifted foot rises in perspective over
its shadow on the floor.

:class:`EyeProjection` maps a point in metres to the pixel it lands on (pure pinhole maths, the
same as Panda3D's lens), which the render tests check against the image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from panda3d.core import (
    Geom,
    GeomNode,
    GeomTriangles,
    GeomVertexData,
    GeomVertexFormat,
    GeomVertexWriter,
    NodePath,
    PerspectiveLens,
)

Colour = tuple[float, float, float, float]

EYE_HEIGHT_M = 1.6  # a standing adult's eyes; --eye-height-m for a shorter patient or a seat
FOOT_HEIGHT_M = 0.06  # the foot avatar's top above its sole
SIDE_SHADE = 0.55  # the avatar's sides: its colour darkened (no lights: the shape reads by shade)
NEAR_M, FAR_M = 0.05, 50.0


@dataclass(frozen=True, slots=True)
class Eye:
    """Where the patient looks from: ``height_m`` above the origin, pitched ``pitch_deg`` below the
    horizontal (negative: down), with a vertical field of view of ``fov_deg``."""

    height_m: float = EYE_HEIGHT_M
    pitch_deg: float = -76.0
    fov_deg: float = 68.0

    def at_height(self, height_m: float) -> Eye:
        return replace(self, height_m=height_m)


# Each game's floor area, the feet at the origin included (at 1.6 m, on the screen's centre line:
# stepping, whose targets lie up to 0.6 m from home in every direction but sideways-back, sees the
# floor from 0.6 m behind the origin to 1.8 m ahead; reaching, which reaches further back, from 0.7 m
# behind; weight shift, played within centimetres, looks down at the feet, from 0.3 m behind to
# 0.7 m ahead; the treadmill looks further ahead, where its targets come from: from 0.3 m behind
# to 3.8 m ahead).
DEFAULT_EYE = Eye()
GAME_EYES: dict[str, Eye] = {"reaching": Eye(pitch_deg=-78.0, fov_deg=72.0),
                             "weight_shift": Eye(pitch_deg=-84.0, fov_deg=34.0),
                             "treadmill": Eye(pitch_deg=-62.0, fov_deg=78.0)}
ASSESSMENT_STAGE_EYES: dict[str, Eye] = {"reach": GAME_EYES["reaching"],
                                         "limits_of_stability": GAME_EYES["weight_shift"]}


def eye_for(game: str | None, stage: str | None = None, height_m: float = EYE_HEIGHT_M) -> Eye:
    if game == "assessment":
        eye = ASSESSMENT_STAGE_EYES.get(stage or "", DEFAULT_EYE)
    else:
        eye = GAME_EYES.get(game or "", DEFAULT_EYE)
    return eye.at_height(height_m)


@dataclass(frozen=True, slots=True)
class EyeProjection:
    """A point in the patient frame (metres) to the pixel it is drawn at (column right, row down
    from the image's top-left corner), through the eye's pinhole with square pixels."""

    width_px: int
    height_px: int
    eye: Eye = DEFAULT_EYE

    @classmethod
    def of(cls, size_px: tuple[int, int], eye: Eye) -> EyeProjection:
        return cls(size_px[0], size_px[1], eye)

    @property
    def focal_px(self) -> float:
        return self.height_px / 2 / math.tan(math.radians(self.eye.fov_deg) / 2)

    @property
    def fov_deg(self) -> tuple[float, float]:
        """Horizontal and vertical field of view (the horizontal follows the image's shape)."""
        half_w = math.atan(self.width_px / 2 / self.focal_px)
        return math.degrees(2 * half_w), self.eye.fov_deg

    def to_pixel(self, x_m: float, y_m: float, z_m: float = 0.0) -> tuple[float, float] | None:
        """None for a point behind the eye (or nearer than the lens's near plane)."""
        pitch = math.radians(self.eye.pitch_deg)
        dx, dy, dz = x_m, y_m, z_m - self.eye.height_m
        depth = dy * math.cos(pitch) + dz * math.sin(pitch)
        if depth <= NEAR_M:
            return None
        up = -dy * math.sin(pitch) + dz * math.cos(pitch)
        return (self.width_px / 2 + dx / depth * self.focal_px, self.height_px / 2 - up / depth * self.focal_px)


def aim_eye(camera: NodePath, lens: PerspectiveLens, projection: EyeProjection) -> None:
    """The camera at the eye, heading forward (+y), pitched down; square pixels."""
    lens.set_fov(*projection.fov_deg)
    lens.set_near_far(NEAR_M, FAR_M)
    camera.set_pos(0.0, 0.0, projection.eye.height_m)
    camera.set_hpr(0.0, projection.eye.pitch_deg, 0.0)


def solid_foot(name: str, outline: Sequence[tuple[float, float]], colour: Colour,
               height_m: float = FOOT_HEIGHT_M) -> GeomNode:
    """The foot avatar: its sole outline raised into a block ``height_m`` tall; the top in the
    foot's colour (the part the tests find), the sides shaded darker. Its origin is the sole's
    centre on the floor, so the node's position is the foot's."""
    data = GeomVertexData(name, GeomVertexFormat.get_v3c4(), Geom.UH_static)
    vertex, color = GeomVertexWriter(data, "vertex"), GeomVertexWriter(data, "color")
    side = (colour[0] * SIDE_SHADE, colour[1] * SIDE_SHADE, colour[2] * SIDE_SHADE, 1.0)
    tris = GeomTriangles(Geom.UH_static)
    n = len(outline)
    cx, cy = sum(p[0] for p in outline) / n, sum(p[1] for p in outline) / n
    vertex.add_data3(cx, cy, height_m)  # the top: a fan from its vertex mean
    color.add_data4(*colour)
    for x, y in outline:
        vertex.add_data3(x, y, height_m)
        color.add_data4(*colour)
    for i in range(n):
        tris.add_vertices(0, 1 + i, 1 + (i + 1) % n)
    base = n + 1  # the sides: a quad per outline edge, from the floor to the top
    for x, y in outline:
        vertex.add_data3(x, y, 0.0)
        color.add_data4(*side)
        vertex.add_data3(x, y, height_m)
        color.add_data4(*side)
    for i in range(n):
        a, b = base + 2 * i, base + 2 * ((i + 1) % n)
        tris.add_vertices(a, b, b + 1)
        tris.add_vertices(a, b + 1, a + 1)
    geom = Geom(data)
    geom.add_primitive(tris)
    node = GeomNode(name)
    node.add_geom(geom)
    return node
