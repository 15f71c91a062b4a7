"""A scripted player for every game, through a simulated device.

It opens a headset connection (to see the game's state) and a device connection (to move), like a
real station. Each target is answered the way a patient of the given :class:`Ability` would: a step
(stepping), a light touch and return (reaching), or a smooth weight shift and hold (weight shift);
the body pose is rendered by ``clients/sim_devices.py`` as the chosen device would report it
(tracker markers, pressure grid or force-plate COP). On the treadmill a walker of known ability
(``clients/sim_treadmill_walker.py``) steps onto the scrolling targets; the assessment is played
through by a patient of known abilities (``clients/sim_assessment.py``) that follows each stage
the state announces until the session ends by itself. Both of those send foot events in the patient
frame (a calibrated tracker's output); the assessment's patient also stands on a force plate. With
``--device tracker`` the assessment's patient is tracked instead (feet and pelvis markers) and also
does the standard measures' stages, with the known timing of ``clients/sim_measures.py``.

    python -m clients.sim_player --token TOKEN --headset-token HTOKEN --therapist demo --password PW \
        --patient DEMO-001 --game treadmill
    python -m clients.sim_player --token TOKEN --headset-token HTOKEN --join    # the game started from the panel
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from clients.link import Link, StationTokens
from clients.sim_assessment import AssessmentPatient
from clients.sim_devices import (
    PELVIS_HEIGHT_M,
    BodyPose,
    Grid,
    LabFrame,
    XrRoom,
    cop_message,
    marker_message,
    pressure_message,
    xr_message,
)
from clients.sim_measures import MeasuresPatient
from clients.sim_patient import Ability, SimulatedPatient, StepPlan, home_of
from clients.sim_treadmill_walker import TreadmillWalker, WalkerAbility
from games.assessment.settings import STANDARD_STAGES
from games.events import FootEvent, Side
from server.wire_messages import DeviceStatus, ErrorMessage, GameEvent, GameState, IdleState, read

TOUCH_LOAD_SHARE = 0.05  # a light touch: the reaching foot carries 5 % of the weight
SHIFT_TIME_S = 1.0
BODY_WEIGHT_N = 700.0
# The devices this simulator plays each game with (the first is the default). ``feet``: foot events
# in the patient frame, as a calibrated tracker sends them, and a force plate's COP where the game
# measures balance.
GAME_DEVICES: dict[str, tuple[str, ...]] = {
    "stepping": ("tracker", "grid", "xr"),
    "reaching": ("tracker", "grid", "xr"),
    "weight_shift": ("tracker", "grid", "cop", "xr"),
    "treadmill": ("feet",),
    "assessment": ("feet", "tracker"),
}
DEVICES = ("tracker", "grid", "cop", "xr", "feet")


@dataclass
class PlayReport:
    """What happened: ``ended`` says the game ended by itself (finished, or the station went idle)."""

    frames_sent: int = 0
    outcomes: list[str] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    notices: list[dict[str, Any]] = field(default_factory=list)
    stages: list[str] = field(default_factory=list)  # assessment stages, as announced
    session_id: int | None = None
    ended: bool = False


@dataclass(frozen=True)
class ShiftPlan:
    """Weight shift: move the COP to the target smoothly, hold, come back."""

    target: tuple[float, float]
    reaction_s: float
    hold_s: float

    def cop(self, t: float) -> tuple[float, float]:
        out = t - self.reaction_s
        back = out - SHIFT_TIME_S - self.hold_s
        u = 0.0 if out <= 0 else min(1.0, out / SHIFT_TIME_S)
        if back > 0:
            u = max(0.0, 1.0 - back / SHIFT_TIME_S)
        s = 0.5 - 0.5 * math.cos(math.pi * u)
        return self.target[0] * s, self.target[1] * s


def pose_at(game: str, plan: StepPlan | ShiftPlan | None, t: float) -> BodyPose:
    """The body ``t`` seconds into ``plan``: a foot in the air leaves the weight on the other; a
    stepping foot that has landed shares it; a reaching foot only touches, bearing a little."""
    feet = {side: (*home_of(side), 0.0) for side in Side}
    if isinstance(plan, ShiftPlan):
        return BodyPose(feet, plan.cop(t))
    if plan is None:
        return BodyPose(feet, (0.0, 0.0))
    moving = feet[plan.foot] = plan.position(t)
    stance = plan.foot.other
    home = home_of(plan.foot)
    if math.hypot(moving[0] - home[0], moving[1] - home[1]) < 0.01 and moving[2] < 0.005:
        return BodyPose(feet, (0.0, 0.0))
    if moving[2] >= 0.005:
        return BodyPose(feet, (home_of(stance)[0], 0.0))
    if game == "reaching":
        weight = BodyPose(feet, (0.0, 0.0)).body_weight_n
        loads = {plan.foot: TOUCH_LOAD_SHARE * weight, stance: (1 - TOUCH_LOAD_SHARE) * weight}
        return BodyPose(feet, (home_of(stance)[0], 0.0), loads_n=loads, toe_touch=plan.foot)
    middle = ((moving[0] + feet[stance][0]) / 2, (moving[1] + feet[stance][1]) / 2)
    return BodyPose(feet, middle)


Render = Callable[[BodyPose, float, int], dict[str, Any]]


def renderer(device: str, lab: LabFrame | None = None, grid: Grid | None = None,
             room: XrRoom | None = None) -> tuple[dict[str, Any], Render]:
    """The setup message and the frame renderer of one device kind: tracker, grid, cop or xr (a
    headset streaming its head and two foot controllers)."""
    if device == "tracker":
        lab = lab or LabFrame()
        return lab.setup("calibrate"), lambda pose, t, seq: marker_message(pose, lab, t, seq)
    if device == "grid":
        grid = grid or Grid()
        return grid.setup("explicit"), lambda pose, t, seq: pressure_message(pose, grid, t, seq)
    if device == "cop":
        setup = {"type": "mat_setup", "kind": "cop", "units": "cm", "mode": "explicit", "origin_m": [0.0, 0.0],
                 "forward": "+y"}
        return setup, lambda pose, t, seq: cop_message(pose, t, seq, "cm")
    if device == "xr":
        room = room or XrRoom()
        return room.setup(), lambda pose, t, seq: xr_message(pose, room, t, seq)
    raise ValueError(f"unknown device kind {device!r}")


class TargetPlayer:
    """Stepping, reaching and weight shift: each new target answered by a planned movement, the
    body pose rendered as ``device`` reports it."""

    def __init__(self, game: str, device: str, ability: Ability, seed: int | None,
                 lab: LabFrame | None, grid: Grid | None, room: XrRoom | None = None) -> None:
        self.game = game
        self.ability = ability
        self.patient = SimulatedPatient(ability, seed)
        setup, self.render = renderer(device, lab, grid, room)
        self.setup: list[dict[str, Any]] = [setup]
        self.plan: StepPlan | ShiftPlan | None = None
        self.plan_start = 0.0
        self.seen_target: Any = None

    def see(self, state: dict[str, Any], now_s: float) -> None:
        target: Any = state.get("target")  # a wire mapping, there whenever ``key`` is
        key = None if target is None else (state.get("trial"), target.get("x_m"), target.get("y_m"))
        if key is None or key == self.seen_target:
            return
        self.seen_target = key
        self.plan_start = now_s
        if self.game == "weight_shift":
            self.plan = ShiftPlan((target["x_m"], target["y_m"]), self.ability.reaction_s, target["hold_s"] + 0.5)
            return
        plan = self.patient.plan(Side(target["foot"]), target["x_m"], target["y_m"])
        if self.game == "reaching":
            plan = StepPlan(plan.foot, plan.home, plan.landing, plan.reaction_s, plan.swing_s, 0.3, plan.lift_m)
        self.plan = plan

    def frames(self, now_s: float, seq: int) -> list[dict[str, Any]]:
        t = now_s - self.plan_start
        active = self.plan if self.plan is not None and t <= _duration(self.plan) else None
        pose = pose_at(self.game, active, t) if active else pose_at(self.game, None, 0.0)
        return [self.render(pose, now_s, seq)]


class TreadmillPlayer:
    """A walker stepping onto the treadmill's scrolling targets, in the game's time: the newest
    state's ``t_s`` moved on by the time since it arrived."""

    setup: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, ability: WalkerAbility, seed: int | None) -> None:
        self.walker = TreadmillWalker(ability, seed)
        self.state: dict[str, Any] = {}
        self.state_at_s = 0.0

    def see(self, state: dict[str, Any], now_s: float) -> None:
        self.state, self.state_at_s = state, now_s

    def frames(self, now_s: float, seq: int) -> list[dict[str, Any]]:
        if "t_s" not in self.state:
            return []
        game_now = float(self.state["t_s"]) + (now_s - self.state_at_s)
        return [foot_message(e, now_s, seq + i) for i, e in enumerate(self.walker.step(game_now, self.state))]


class AssessmentPlayer:
    """A patient going through the assessment's stages as the state announces them, on a force
    plate (its centre of pressure) with tracked feet."""

    setup: ClassVar[list[dict[str, Any]]] = [{"type": "mat_setup", "kind": "cop", "units": "m", "mode": "explicit",
                                              "origin_m": [0.0, 0.0], "forward": "+y"}]

    def __init__(self, patient: AssessmentPatient) -> None:
        self.patient = patient
        self.state: dict[str, Any] = {}

    def see(self, state: dict[str, Any], now_s: float) -> None:
        self.state = state

    def frames(self, now_s: float, seq: int) -> list[dict[str, Any]]:
        p = self.patient
        p.act(self.state, now_s)
        messages = [foot_message(FootEvent(side, x, y, z, None, None, now_s, 0), now_s, seq + i)
                    for i, (side, (x, y, z)) in enumerate(p.feet.items())]
        messages.append({"type": "cop", "t_s": now_s, "seq": seq + len(messages),
                         "cop": [p.reading[0], p.reading[1]], "force_n": BODY_WEIGHT_N})
        return messages


class TrackedAssessmentPlayer:
    """The assessment through a motion tracker (feet and pelvis markers): the protocol's patient
    for its stages, the patient of known timing (``clients/sim_measures.py``) for the standard
    measures' chair, walking and four-square stages."""

    def __init__(self, patient: AssessmentPatient, measures: MeasuresPatient, lab: LabFrame) -> None:
        self.patient, self.measures, self.lab = patient, measures, lab
        self.setup = [lab.setup("explicit")]
        self.state: dict[str, Any] = {}

    def see(self, state: dict[str, Any], now_s: float) -> None:
        self.state = state

    def frames(self, now_s: float, seq: int) -> list[dict[str, Any]]:
        stage = (self.state.get("stage") or {}).get("name")
        if stage in STANDARD_STAGES:
            self.measures.act(self.state, now_s)
            feet, pelvis = self.measures.feet, self.measures.pelvis
        else:
            p = self.patient
            p.act(self.state, now_s)
            feet, pelvis = p.feet, (p.reading[0], p.reading[1], PELVIS_HEIGHT_M)
        message = marker_message(BodyPose(dict(feet), (0.0, 0.0)), self.lab, now_s, seq)
        message["pelvis"] = self.lab.to_lab(pelvis)
        return [message]


Player = TargetPlayer | TreadmillPlayer | AssessmentPlayer | TrackedAssessmentPlayer


def foot_message(event: FootEvent, t_s: float, seq: int) -> dict[str, Any]:
    return {"type": "foot", "side": event.side.value, "pos_m": [event.x_m, event.y_m, event.z_m],
            "t_s": t_s, "seq": seq}


def player_for(game: str, device: str, *, ability: Ability | None = None, rate_hz: float = 60.0,
               seed: int | None = None, lab: LabFrame | None = None, grid: Grid | None = None,
               room: XrRoom | None = None) -> Player:
    """The simulated patient and device for ``game``; ValueError for a device it is not played with here."""
    if game not in GAME_DEVICES:
        raise ValueError(f"unknown game {game!r}")
    if device not in GAME_DEVICES[game]:
        raise ValueError(f"{game} is played here with --device {' or '.join(GAME_DEVICES[game])}, not {device}")
    if game == "treadmill":
        return TreadmillPlayer(WalkerAbility(), seed)
    if game == "assessment":
        patient = AssessmentPatient(rate_hz=rate_hz, seed=7 if seed is None else seed)
        if device == "tracker":
            return TrackedAssessmentPlayer(patient, MeasuresPatient(), LabFrame(units="m", up="z"))
        return AssessmentPlayer(patient)
    return TargetPlayer(game, device, ability or Ability(step_reach_m=0.8, placement_sd_m=0.0, hold_s=0.7),
                        seed, lab, grid, room)


async def play(
    url: str, station: str, tokens: StationTokens, game: str, device: str | None = None, *, trials: int | None = None,
    ability: Ability | None = None, rate_hz: float = 60.0, seed: int | None = None,
    timeout_s: float | None = 120.0, lab: LabFrame | None = None, grid: Grid | None = None,
    ca_file: str | None = None, room: XrRoom | None = None,
) -> PlayReport:
    """Play ``game`` until ``trials`` outcomes have been seen (None: every one), the game ends by
    itself, or ``timeout_s`` passes. ``device`` defaults to the game's first in :data:`GAME_DEVICES`."""
    player = player_for(game, device or GAME_DEVICES[game][0], ability=ability, rate_hz=rate_hz, seed=seed,
                        lab=lab, grid=grid, room=room)
    report = PlayReport()
    headset = await Link.station(url, "headset", station, tokens.headset, ca_file=ca_file)
    link = await Link.station(url, "device", station, tokens.device, ca_file=ca_file)
    for setup in player.setup:
        await link.call(setup)
    loop = asyncio.get_running_loop()
    start = loop.time()
    seen_last: Any = None
    playing = False
    done = asyncio.Event()

    async def watch() -> None:
        nonlocal seen_last, playing
        while True:
            message = await headset.recv()
            typed = read(message)
            if isinstance(typed, GameEvent):
                if typed.event.get("kind") == "stage":
                    report.stages.append(typed.event["stage"])
                continue
            if isinstance(typed, IdleState):  # no game: not started yet, or over
                if playing:
                    report.ended = True
                    done.set()
                continue
            if not isinstance(typed, GameState):
                continue
            playing = True
            report.session_id = typed.session_id
            phase = typed.snapshot.get("phase")
            last = typed.snapshot.get("last")
            if last and last != seen_last:
                seen_last = last
                report.outcomes.append(last["outcome"])
                if last.get("fault"):
                    report.faults.append(last["fault"])
                if trials is not None and len(report.outcomes) >= trials:
                    done.set()
            if phase == "finished":
                report.ended = True
                done.set()
            player.see(message, loop.time() - start)

    async def device_replies() -> None:
        while True:
            message = await link.recv()
            typed = read(message)
            if isinstance(typed, ErrorMessage):
                report.errors.append(message)
            elif isinstance(typed, DeviceStatus):
                report.notices.append(message)

    async def stream() -> None:
        seq = 0
        frame = 0
        while True:
            for message in player.frames(loop.time() - start, seq):
                await link.send(message)
                seq += 1
            report.frames_sent += 1
            frame += 1
            await asyncio.sleep(max(0.0, start + frame / rate_hz - loop.time()))

    tasks = [asyncio.create_task(c) for c in (watch(), device_replies(), stream())]
    try:
        await asyncio.wait_for(done.wait(), timeout_s)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await link.close()
        await headset.close()
    return report


def _duration(plan: StepPlan | ShiftPlan) -> float:
    if isinstance(plan, ShiftPlan):
        return plan.reaction_s + 2 * SHIFT_TIME_S + plan.hold_s
    return plan.duration_s


def main(argv: list[str] | None = None) -> int:
    import argparse

    from clients.start import add_station_arguments, check_choice, refuse, run, start_or_join

    p = argparse.ArgumentParser(description="Play a game with a scripted patient through a simulated device.")
    add_station_arguments(p)
    p.add_argument("--game", choices=tuple(GAME_DEVICES), default="reaching",
                   help="the game to start (with --join: whatever the station runs)")
    p.add_argument("--device", choices=DEVICES,
                   help="tracker: heel/toe/ankle markers (mm, Y-up lab); grid: pressure mat; cop: force plate; "
                        "xr: a headset's head and foot controllers (local-floor metres); "
                        "feet: foot events in the patient frame (treadmill, assessment). Default: the game's first of "
                        + "; ".join(f"{g}: {', '.join(d)}" for g, d in GAME_DEVICES.items()))
    p.add_argument("--trials", type=int,
                   help="trials to play (started games: default 10; joined games: until the game ends); "
                        "the assessment always runs its whole protocol")
    p.add_argument("--rate-hz", type=float, default=60.0)
    p.add_argument("--seed", type=int)
    args = p.parse_args(argv)
    check_choice(args)
    if not args.join:
        try:
            player_for(args.game, args.device or GAME_DEVICES[args.game][0])
        except ValueError as exc:
            refuse(str(exc))
    trials = args.trials if args.join else (args.trials or 10)
    settings = {} if args.game == "assessment" else {"trials": trials}
    game = start_or_join(args, args.game, settings)
    device = args.device or GAME_DEVICES[game.game][0]
    if device not in GAME_DEVICES[game.game]:
        refuse(f"{game.station} runs {game.game}, played here with --device {' or '.join(GAME_DEVICES[game.game])}")
    # A game started here ends by itself after its trials (the assessment after its protocol): play
    # it to the end, not leave it paused for a device that went away. A joined game: to its end, or
    # for --trials.
    timeout_s = None if game.game == "assessment" or trials is None else 60.0 * trials
    trials = args.trials if game.game != "assessment" and args.join else None
    lab = LabFrame(units="mm", up="y", yaw_deg=90.0)
    tokens = StationTokens(args.token, args.headset_token)
    report = run(play(args.url, args.station, tokens, game.game, device, trials=trials,
                      rate_hz=args.rate_hz, seed=args.seed, lab=lab, room=XrRoom(yaw_deg=30.0, origin_m=(0.4, -0.6)),
                      timeout_s=timeout_s, ca_file=args.ca_file))
    hits = report.outcomes.count("hit")
    print(f"session {game.session_id}: {len(report.outcomes)} trials, {hits} hits"
          f"{' (the game ended)' if report.ended else ''}; frames sent: {report.frames_sent}")
    print(f"outcomes: {' '.join(report.outcomes)}  faults: {report.faults}")
    if report.stages:
        print(f"stages: {' '.join(report.stages)}")
    for notice in report.notices:
        print(f"  {notice.get('kind')}: {notice.get('message')}")
    return 0 if not report.errors else 1


if __name__ == "__main__":
    raise SystemExit(main())
