"""The Panda3D scene: collision-based target tests, many independent games in one process."""

from __future__ import annotations

import math
import random

from games.events import FootEvent, Side
from games.scene import FloorScene, GameClock
from games.stepping.game import SteppingGame
from games.stepping.settings import SteppingSettings

DIFFICULTY = {"step_distance_frac": 0.5, "target_radius_m": 0.1, "time_window_s": 3.0}


def test_foot_inside_target_disc_at_any_height() -> None:
    scene = FloorScene("t")
    scene.set_target(0.3, 0.2, 0.1)
    for (x, y, z), expected in [
        ((0.3, 0.2, 0.0), True),
        ((0.39, 0.2, 0.0), True),
        ((0.3, 0.2, 0.05), True),  # height is the rules' business, not the scene's
        ((0.42, 0.2, 0.0), False),
        ((0.37, 0.27, 0.0), True),
        ((0.38, 0.28, 0.0), False),  # 0.113 m from the centre
    ]:
        scene.move_foot(Side.RIGHT, x, y, z)
        assert (Side.RIGHT in scene.feet_in_target()) is expected, (x, y)
    scene.clear_target()
    assert scene.feet_in_target() == set()
    scene.destroy()


def test_slave_clock_never_runs_backwards() -> None:
    clock = GameClock(start_s=100.0)
    assert clock.advance(101.5) == 1.5
    assert clock.advance(101.0) == 1.5
    assert clock.now == 1.5
    assert clock.panda_clock.get_frame_time() == 1.5  # Panda3D's clock reads the game time
    clock.advance(102.25)
    assert clock.panda_clock.get_frame_time() == 2.25


def test_many_games_in_one_process_do_not_interfere() -> None:
    games = [
        SteppingGame(SteppingSettings(affected_side=Side.RIGHT, affected_side_share=1.0,
                                      directions=("anterior",), inter_trial_s=0.0, seed=i),
                     DIFFICULTY, start_s=0.0)
        for i in range(50)
    ]
    for game in games:
        for side, x in ((Side.LEFT, -0.1), (Side.RIGHT, 0.1)):
            game.on_foot(FootEvent(side, x, 0.0, 0.0, None, None, 0.0, 0), 0.1)
        game.tick(0.2)
        assert game.snapshot()["target"] == {"foot": "R", "direction": "anterior", "x_m": 0.1,
                                             "y_m": 0.3, "radius_m": 0.1, "hidden": False}
    # only even-numbered games step onto their target
    for i, game in enumerate(games):
        if i % 2 == 0:
            game.on_foot(FootEvent(Side.RIGHT, 0.1, 0.15, 0.05, None, None, 0.0, 1), 0.4)
            game.on_foot(FootEvent(Side.RIGHT, 0.1, 0.3, 0.0, None, None, 0.0, 2), 0.6)
    for i, game in enumerate(games):
        assert game.snapshot()["phase"] == ("dwell" if i % 2 == 0 else "target")
        game.close()


def test_broad_phase_agrees_with_the_traverser_near_the_rim_and_away_from_it() -> None:
    """The distance check decides clear cases only; the traverser, every case: they never differ."""
    rng = random.Random(7)
    scene = FloorScene("broad")
    for _ in range(3000):
        cx, cy, radius = rng.uniform(-0.6, 0.6), rng.uniform(-0.2, 0.8), rng.uniform(0.02, 0.2)
        scene.set_target(cx, cy, radius)
        for side in Side:
            angle = rng.uniform(0.0, 2 * math.pi)
            # half the feet within a few probe radii of the rim, half anywhere on the mat
            distance = (radius + rng.uniform(-0.003, 0.003) if rng.random() < 0.5 else rng.uniform(0.0, 0.8))
            scene.move_foot(side, cx + distance * math.cos(angle), cy + distance * math.sin(angle),
                            rng.uniform(-0.1, 0.5))
        assert scene.feet_in_target() == scene._feet_by_traversal()
    scene.destroy()
