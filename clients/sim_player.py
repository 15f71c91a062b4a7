"""A scripted player for every game, through any device: tracker markers, pressure grid or COP.

It opens a headset connection (to see the targets) and a device connection (to move), like a real
station. Each target is answered the way a patient of the given :class:`Ability` would: a step
(stepping), a light touch and return (reaching), or a smooth weight shift and hold (weight shift).
The body pose is rendered by ``clients/sim_devices.py`` as the chosen device would report it.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from clients.link import Link
from clients.sim_devices import BodyPose, Grid, LabFrame, cop_message, marker_message, pressure_message
from clients.sim_patient import Ability, SimulatedPatient, StepPlan, home_of
from games.events import Side

TOUCH_LOAD_SHARE = 0.05  # a light touch: the reaching foot carries 5 % of the weight
SHIFT_TIME_S = 1.0


@dataclass
class PlayReport:
    frames_sent: int = 0
    outcomes: list[str] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    notices: list[dict[str, Any]] = field(default_factory=list)


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


def renderer(device: str, lab: LabFrame | None = None, grid: Grid | None = None) -> tuple[dict[str, Any], Render]:
    """The setup message and the frame renderer of one device kind: tracker, grid or cop."""
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
    raise ValueError(f"unknown device kind {device!r}")


async def play(
    url: str, station: str, token: str, game: str, device: str, *, trials: int, ability: Ability | None = None,
    rate_hz: float = 60.0, seed: int | None = None, timeout_s: float = 120.0, settle_s: float = 2.5,
    lab: LabFrame | None = None, grid: Grid | None = None,
) -> PlayReport:
    """Stand still for ``settle_s`` (a tracker calibrates), then answer targets until ``trials``
    outcomes have been seen or ``timeout_s`` passes."""
    ability = ability or Ability(step_reach_m=0.8, placement_sd_m=0.0, hold_s=0.7)
    patient = SimulatedPatient(ability, seed)
    setup, render = renderer(device, lab, grid)
    report = PlayReport()
    headset = await Link.station(url, "headset", station, token)
    link = await Link.station(url, "device", station, token)
    await link.call(setup)
    plan: StepPlan | ShiftPlan | None = None
    plan_start = 0.0
    seen_target: Any = None
    seen_last: Any = None
    done = asyncio.Event()

    async def watch() -> None:
        nonlocal plan, plan_start, seen_target, seen_last
        while True:
            state = await headset.recv()
            if state.get("type") != "state":
                continue
            last = state.get("last")
            if last and last != seen_last:
                seen_last = last
                report.outcomes.append(last["outcome"])
                if last.get("fault"):
                    report.faults.append(last["fault"])
                if len(report.outcomes) >= trials:
                    done.set()
            target = state.get("target")
            key = None if target is None else (state.get("trial"), target.get("x_m"), target.get("y_m"))
            if key is not None and key != seen_target:
                seen_target = key
                plan_start = time.perf_counter()
                if game == "weight_shift":
                    plan = ShiftPlan((target["x_m"], target["y_m"]), ability.reaction_s, target["hold_s"] + 0.5)
                else:
                    plan = patient.plan(Side(target["foot"]), target["x_m"], target["y_m"])
                    if game == "reaching":
                        plan = StepPlan(plan.foot, plan.home, plan.landing, plan.reaction_s, plan.swing_s,
                                        0.3, plan.lift_m)

    async def device_replies() -> None:
        while True:
            message = await link.recv()
            if message.get("type") == "error":
                report.errors.append(message)
            elif message.get("type") == "device_status":
                report.notices.append(message)

    async def stream() -> None:
        start = time.perf_counter()
        seq = 0
        while True:
            now = time.perf_counter()
            active = plan if plan is not None and now - plan_start <= _duration(plan) else None
            pose = pose_at(game, active, now - plan_start) if active else pose_at(game, None, 0.0)
            await link.send(render(pose, now - start, seq))
            report.frames_sent += 1
            seq += 1
            await asyncio.sleep(max(0.0, start + seq / rate_hz - time.perf_counter()))

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

    from clients.start import add_station_arguments, run, start_if_asked

    p = argparse.ArgumentParser(description="Play a game with a scripted patient through a simulated device.")
    add_station_arguments(p)
    p.add_argument("--game", choices=("stepping", "reaching", "weight_shift"), default="reaching")
    p.add_argument("--device", choices=("tracker", "grid", "cop"), default="tracker",
                   help="tracker: heel/toe/ankle markers (mm, Y-up lab); grid: pressure mat; cop: force plate")
    p.add_argument("--trials", type=int, default=10)
    p.add_argument("--rate-hz", type=float, default=60.0)
    p.add_argument("--seed", type=int)
    args = p.parse_args(argv)
    start_if_asked(p, args, args.game, {"trials": args.trials})
    lab = LabFrame(units="mm", up="y", yaw_deg=90.0)
    report = run(play(args.url, args.station, args.token, args.game, args.device, trials=args.trials,
                              rate_hz=args.rate_hz, seed=args.seed, lab=lab, timeout_s=60.0 * args.trials))
    print(f"outcomes: {' '.join(report.outcomes)}  faults: {report.faults}  frames sent: {report.frames_sent}")
    for notice in report.notices:
        print(f"  {notice.get('kind')}: {notice.get('message')}")
    return 0 if not report.errors else 1


if __name__ == "__main__":
    raise SystemExit(main())
