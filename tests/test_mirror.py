"""Mirror therapy: the sound foot's movement, reflected about the midline, plays the affected foot."""

from __future__ import annotations

from games.base import TrialResult
from games.events import FootEvent, Side
from games.mirror import midline_x, mirrored
from games.modes import MIRROR, training_modes
from games.registry import GAMES
from games.setting_fields import PatientInfo
from games.stepping.game import SteppingGame

PATIENT = PatientInfo(Side.LEFT, leg_length_m=0.9, step_reach_m=0.5)
EASY = {"step_distance_frac": 0.5, "target_radius_m": 0.08, "time_window_s": 5.0}


def make_game(mirror: bool) -> SteppingGame:
    settings = GAMES["stepping"].settings_from(
        {"mirror": mirror, "affected_side_share": 1.0, "trials": 3, "inter_trial_s": 0.2, "dwell_s": 0.2,
         "directions": ["anterolateral"], "seed": 3}, PATIENT)
    game = GAMES["stepping"].make(settings, dict(EASY), 0.0)
    assert isinstance(game, SteppingGame)
    return game


def test_mirrored_event_reflects_about_the_midline_and_keeps_the_rest() -> None:
    event = FootEvent(Side.RIGHT, 0.30, 0.25, 0.04, False, 120.0, 12.5, 7)
    image = mirrored(event, midline_x({Side.LEFT: (-0.1, 0.0), Side.RIGHT: (0.14, 0.0)}))
    assert image.side is Side.LEFT
    assert image.x_m == 2 * 0.02 - 0.30
    assert (image.y_m, image.z_m, image.contact, image.force_n, image.device_time_s, image.seq) == (
        0.25, 0.04, False, 120.0, 12.5, 7)
    assert mirrored(image, 0.02).x_m == 0.30  # a reflection twice is the identity


class Clock:
    def __init__(self) -> None:
        self.t, self.seq = 0.0, 0

    def feed(self, game, side: Side, x: float, y: float, z: float, seconds: float) -> list:
        """Hold one foot at (x, y, z) for ``seconds``, at 60 Hz, ticking the game."""
        results: list[TrialResult] = []
        for _ in range(max(1, int(seconds * 60))):
            self.t += 1 / 60
            self.seq += 1
            results += game.on_foot(FootEvent(side, x, y, z, None, None, self.t, self.seq), self.t)
            results += game.tick(self.t)
        return results


def test_the_sound_foot_plays_the_affected_foots_targets_through_its_mirror_image() -> None:
    game = make_game(mirror=True)
    clock = Clock()
    results: list[TrialResult] = []
    for side in Side:  # both feet home, as the device first reports them
        clock.feed(game, side, *game.home_spot(side), 0.0, 0.1)
    while len(results) < 3:
        results += clock.feed(game, Side.RIGHT, *game.home_spot(Side.RIGHT), 0.0, 0.3)
        target = game.rules.target
        assert target is not None and target.foot is Side.LEFT  # affected-side share 1.0
        # The affected foot itself stays home the whole time (it is not followed) ...
        clock.feed(game, Side.LEFT, *game.home_spot(Side.LEFT), 0.0, 0.05)
        # ... while the sound foot steps to the target's mirror image and holds.
        mx = 2 * midline_x({s: game.home_spot(s) for s in Side}) - target.x_m
        clock.feed(game, Side.RIGHT, (mx + game.home_spot(Side.RIGHT)[0]) / 2, target.y_m / 2, 0.06, 0.15)
        results += clock.feed(game, Side.RIGHT, mx, target.y_m, 0.0, 0.5)
        snapshot = game.snapshot()
    assert [r.outcome.value for r in results] == ["hit", "hit", "hit"]
    assert all(r.foot is Side.LEFT for r in results)
    assert all(r.placement_error_m is not None and abs(r.placement_error_m) < 1e-9 for r in results)
    assert snapshot["mirror"] == {"source": "R", "shown": "L"}
    # The therapist still sees where the real affected foot is: at home.
    assert (snapshot["real_feet"]["L"]["x_m"], snapshot["real_feet"]["L"]["y_m"]) == game.home_spot(Side.LEFT)
    assert training_modes(game.settings) == (MIRROR,)


def test_without_mirror_the_affected_foot_is_followed_and_nothing_is_mirrored() -> None:
    game = make_game(mirror=False)
    clock = Clock()
    for side in Side:
        clock.feed(game, side, *game.home_spot(side), 0.0, 0.1)
    clock.feed(game, Side.RIGHT, 0.35, 0.2, 0.0, 0.2)
    snapshot = game.snapshot()
    assert "mirror" not in snapshot and "real_feet" not in snapshot
    assert snapshot["feet"]["L"]["x_m"] == game.home_spot(Side.LEFT)[0]  # not the right foot's image
    assert training_modes(game.settings) == ()
