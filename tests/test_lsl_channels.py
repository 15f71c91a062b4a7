"""What the LSL bridge makes of a stream's channels, and the server's game-event markers.

No LSL here: channel labels and units as a stream's metadata gives them, turned into the
``tracker_setup`` / ``markers`` and ``mat_setup`` / ``cop`` messages the server's adapters take; and
the markers a session pushes, from a real stepping game played with foot events.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from clients.lsl_bridge import main as lsl_bridge_main
from clients.lsl_channels import ChannelError, effective_labels, marker_channels, plate_channels
from games.events import FootEvent, Side
from games.registry import GAMES
from games.setting_fields import PatientInfo
from server.event_markers import SessionMarkers


def labels_for(names: list[str], sep: str = "_", axes: str = "xyz") -> list[str | None]:
    return [f"{name}{sep}{axis}" for name in names for axis in axes]


@pytest.mark.parametrize(("names", "sep", "axes"), [
    (["LHEE", "LTOE", "LANK", "RHEE", "RTOE", "RANK"], "_", "xyz"),
    (["L.Heel", "L.Toe", "R.Heel", "R.Toe", "L.Ankle", "R.Ankle"], " ", "XYZ"),
    (["LeftHeel", "LeftToe", "LeftAnkle", "RightHeel", "RightToe", "RightAnkle"], "-", "xyz"),
    (["HEEL_L", "MT2_L", "LMAL_L", "HEEL_R", "MT2_R", "LMAL_R"], ":", "XYZ"),
    (["Subject:LHEE", "Subject:LTOE", "Subject:LANK", "Subject:RHEE", "Subject:RTOE", "Subject:RANK"], "", "xyz"),
])
def test_marker_labels_in_the_c3d_conventions_are_recognised(names: list[str], sep: str, axes: str) -> None:
    labels = ["Frame"] + labels_for(names, sep, axes) + labels_for(["C7", "LKNE"], sep, axes)
    channels = marker_channels(labels, ["millimeters"] * len(labels))
    assert set(channels.xyz) == {(s, m) for s in "LR" for m in ("heel", "toe", "ankle")}
    assert channels.units == "mm"
    assert channels.xyz[("L", "heel")] == (1, 2, 3)  # after the Frame column, in x, y, z order
    assert channels.setup("+z", 2.0) == {"type": "tracker_setup", "units": "mm", "up": "+z", "mode": "calibrate",
                                         "calibrate_s": 2.0}


def test_the_xdf_motion_capture_metadata_names_markers_by_channel() -> None:
    """``<marker>LHEE</marker><type>PositionX</type>``: the label may be anything."""
    names = ["LHEE", "LTOE", "RHEE", "RTOE"]
    markers = [name for name in names for _ in "xyz"]
    types = [f"Position{axis}" for _ in names for axis in "XYZ"]
    labels = effective_labels([f"ch{i}" for i in range(12)], markers, types)
    assert labels[:4] == ["LHEE_x", "LHEE_y", "LHEE_z", "LTOE_x"]
    channels = marker_channels(labels, ["millimeters"] * 12)
    assert channels.xyz[("R", "toe")] == (9, 10, 11)
    assert effective_labels(["Fz"], [None], ["Force"]) == ["Fz"]


def test_the_bridge_names_no_patient_for_you() -> None:
    """Like every tool: without --patient (or --join) it refuses, exit status 2, before any LSL."""
    with pytest.raises(SystemExit) as refused:
        lsl_bridge_main(["--token", "t", "--therapist", "demo", "--password", "pw", "--stream-name", "Vicon",
                         "--kind", "markers"])
    assert refused.value.code == 2


def test_samples_become_markers_messages_with_gaps_and_the_pelvis() -> None:
    labels = labels_for(["LHEE", "RHEE", "LASI", "RASI"]) + ["LHEE_res", "Frame"]
    channels = marker_channels(labels, ["m"] * len(labels))
    sample = [0.1, 0.2, 0.05, 0.1, -0.1, 0.05, 0.2, 0.1, 0.9, 0.2, -0.1, 0.9, 0.3, 7]
    message = channels.message(sample, 123.25, 9)
    assert message == {"type": "markers", "t_s": 123.25, "seq": 9, "L": {"heel": [0.1, 0.2, 0.05]},
                       "R": {"heel": [0.1, -0.1, 0.05]}, "pelvis": pytest.approx([0.2, 0.0, 0.9])}
    # a negative residual, NaN, or all zeros (an occluded marker in several LSL apps) is a gap
    gaps = list(sample)
    gaps[12] = -1.0
    gaps[4] = math.nan
    gaps[6:9] = [0.0, 0.0, 0.0]
    message = channels.message(gaps, 1.0, 10)
    assert message["L"] == {"heel": None} and message["R"] == {"heel": None}
    assert message["pelvis"] == pytest.approx([0.2, -0.1, 0.9])  # the marker still seen


def test_units_come_from_the_metadata_or_the_option_never_a_guess() -> None:
    labels = labels_for(["LHEE", "RHEE"])
    assert marker_channels(labels, ["centimeters"] * 6).units == "cm"
    assert marker_channels(labels, [None] * 6, given_units="m").units == "m"
    with pytest.raises(ChannelError, match="names no unit"):
        marker_channels(labels, [None] * 6)
    with pytest.raises(ChannelError, match="several units"):
        marker_channels(labels, ["mm"] * 3 + ["m"] * 3)
    with pytest.raises(ChannelError, match="does not know"):
        marker_channels(labels, ["furlongs"] * 6)
    with pytest.raises(ChannelError, match="no marker coordinate channels"):
        marker_channels(["Fp1", "Fp2"], ["uV", "uV"])
    with pytest.raises(ChannelError, match="--map"):
        marker_channels(labels_for(["Knee", "Hip"]), ["mm"] * 6)
    mapped = marker_channels(labels_for(["Knee", "Marker7"]), ["mm"] * 6, mapping={"L.heel": "Marker7"})
    assert mapped.xyz == {("L", "heel"): (3, 4, 5)}


def test_a_force_plate_gives_its_centre_of_pressure_from_moments_or_cop_channels() -> None:
    labels = ["Fx", "Fy", "Fz", "Mx", "My", "Mz"]
    plate = plate_channels(labels, ["N", "N", "N", "N.m", "N.m", "N.m"])
    cop = (0.03, -0.02)  # COP = (-My/Fz, Mx/Fz) for moments about the surface centre
    fz = 700.0
    sample = [1.0, 2.0, fz, cop[1] * fz, -cop[0] * fz, 0.5]
    message = plate.message(sample, 5.0, 1)
    assert message["cop"] == pytest.approx(list(cop)) and message["force_n"] == fz
    assert plate.message([0, 0, 5.0, 0, 0, 0], 5.1, 2)["cop"] is None  # nobody on the plate
    assert plate.setup("+y", 2.0)["kind"] == "cop"
    with_cop = plate_channels(["Force_Z", "COPx", "COPy"], ["kN", "mm", "mm"])
    message = with_cop.message([0.65, 12.0, -40.0], 6.0, 3)
    assert message["cop"] == pytest.approx([0.012, -0.04]) and message["force_n"] == pytest.approx(650.0)
    with pytest.raises(ChannelError, match="Fz"):
        plate_channels(["Fx", "Fy"], ["N", "N"])
    with pytest.raises(ChannelError, match="neither COP"):
        plate_channels(["Fz", "Mz"], ["N", "Nm"])


class Sink:
    def __init__(self) -> None:
        self.markers: list[tuple[float, dict[str, Any]]] = []

    def push(self, payload: dict[str, Any], at_s: float) -> None:
        self.markers.append((at_s, payload))


def test_a_stepping_session_gives_target_landing_and_outcome_markers_stamped_at_their_inputs() -> None:
    """A real stepping game, fed foot events: the target appears on a tick, the foot lifts and
    lands in it, the dwell ends the trial on a later tick; each marker is stamped with the time of
    the input that caused it and carries the game's clock and the device's time stamp."""
    entry = GAMES["stepping"]
    settings = entry.settings_from({"trials": 1, "inter_trial_s": 0.2, "dwell_s": 0.3, "directions": ["anterior"]},
                                   PatientInfo(Side.LEFT, 0.9, 0.5))
    game = entry.make(settings, {"step_distance_frac": 0.3, "target_radius_m": 0.2, "time_window_s": 5.0}, 100.0)
    sink = Sink()
    markers = SessionMarkers(sink, "station-1", 7, "stepping", 100.0)

    def foot(side: Side, x: float, y: float, z: float, now: float) -> None:
        game.on_foot(FootEvent(side, x, y, z, None, None, now - 99.0, 1), now)
        markers.observe(game.snapshot(), now, now - 99.0)

    def tick(now: float) -> None:
        game.tick(now)
        markers.observe(game.snapshot(), now)

    now = 100.0
    for side in Side:
        foot(side, side.lateral_sign * 0.1, 0.0, 0.0, now)
    while not game.snapshot().get("target"):
        now += 1 / 60
        tick(now)
    target = game.snapshot()["target"]
    side = Side(target["foot"])
    shown_at = now
    foot(side, side.lateral_sign * 0.1, 0.0, 0.1, now + 0.3)
    landed_at = now + 0.8
    foot(side, target["x_m"], target["y_m"], 0.0, landed_at)
    now = landed_at
    while game.snapshot().get("last") is None:
        now += 1 / 60
        tick(now)
    markers.game_events([{"kind": "cue", "foot": "L", "reason": "idle"}], now + 0.005)
    markers.stop("completed", game.trials_done, game.hits, now + 0.01)
    events = [(t, m["event"]) for t, m in sink.markers]
    assert [e for _, e in events] == ["session_start", "target_shown", "foot_lifted", "foot_landed",
                                      "trial_outcome", "cue", "session_stop"]
    stamps = {e: t for t, e in events}
    assert stamps["target_shown"] == shown_at and stamps["foot_landed"] == landed_at
    payload = {m["event"]: m for _, m in sink.markers}
    assert payload["foot_landed"]["device_t_s"] == pytest.approx(landed_at - 99.0)
    assert payload["trial_outcome"]["outcome"] == "hit"
    assert payload["target_shown"]["foot"] == side.value and payload["target_shown"]["station"] == "station-1"
    assert payload["trial_outcome"]["game_t_s"] - payload["target_shown"]["game_t_s"] == pytest.approx(
        stamps["trial_outcome"] - shown_at)
    assert all("patient" not in m for _, m in sink.markers)  # nothing that names the patient
    assert payload["session_stop"]["trials"] == 1 and payload["session_stop"]["hits"] == 1
    assert payload["cue"]["foot"] == "L" and payload["cue"]["reason"] == "idle"  # a game's own event, by its kind
