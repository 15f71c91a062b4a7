"""Simulated motion tracker: a scripted patient stepping toward the targets it sees.

It opens two connections to its station, as a real set-up would: a *device* connection that
streams both feet at ``rate_hz`` and a *headset* connection through which the patient "sees" the
targets. Usable from the command line::

    python -m clients.sim_tracker --token TOKEN --headset-token HTOKEN --therapist demo --password PW \
        --patient DEMO-001 --trials 20
    python -m clients.sim_tracker --token TOKEN --headset-token HTOKEN --join

With ``--therapist USER --password PW --patient CODE`` it first logs in as that therapist and starts
a stepping game on the station for that patient; with ``--join`` it plays the stepping game already
running there (started from the panel). It never picks a patient: told neither, it refuses.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from clients.link import Link, StationTokens
from clients.sim_patient import Ability, SimulatedPatient, StepPlan, feet_at
from clients.start import add_station_arguments, refuse, run, start_or_join
from games.events import Side

log = logging.getLogger(__name__)


@dataclass
class TrackerReport:
    events_sent: int = 0
    states_seen: int = 0
    targets_seen: list[dict[str, Any]] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)


async def run_sim_tracker(
    url: str,
    station: str,
    tokens: StationTokens,
    ability: Ability,
    *,
    trials: int = 10,
    rate_hz: float = 100.0,
    seed: int | None = None,
    timeout_s: float = 300.0,
    ca_file: str | None = None,
) -> TrackerReport:
    """Play until ``trials`` trials have finished, the game stops, or ``timeout_s`` passes."""
    patient = SimulatedPatient(ability, seed)
    report = TrackerReport()
    device = await Link.station(url, "device", station, tokens.device, ca_file=ca_file)
    headset = await Link.station(url, "headset", station, tokens.headset, ca_file=ca_file)
    plan: StepPlan | None = None
    plan_start = 0.0
    target_key: tuple[Any, ...] | None = None
    done = asyncio.Event()

    async def watch() -> None:
        nonlocal plan, plan_start, target_key
        while not done.is_set():
            state = await headset.recv()
            if state.get("type") != "state":
                continue
            report.states_seen += 1
            last = state.get("last")
            if last is not None and last["trial"] == len(report.outcomes):
                report.outcomes.append(last["outcome"])
            target = state.get("target")
            if target is not None and state.get("phase") == "target":
                key = (state["trial"], target["x_m"], target["y_m"])
                if key != target_key:
                    target_key = key
                    report.targets_seen.append(target)
                    plan = patient.plan(Side(target["foot"]), target["x_m"], target["y_m"])
                    plan_start = time.perf_counter()
            game_over = state.get("phase") == "finished" or (
                state.get("phase") == "idle" and report.targets_seen)  # stopped after playing
            if len(report.outcomes) >= trials or game_over:
                done.set()

    async def stream() -> None:
        nonlocal plan
        period = 1.0 / rate_hz
        next_t = time.perf_counter()
        seq = 0
        while not done.is_set():
            now = time.perf_counter()
            t = now - plan_start
            if plan is not None and t > plan.duration_s:
                plan = None
            for sample in feet_at(plan, t):
                await device.send({
                    "type": "foot", "side": sample.side.value,
                    "pos_m": [sample.x_m, sample.y_m, sample.z_m], "t_s": now, "seq": seq,
                })
                seq += 1
                report.events_sent += 1
            next_t += period
            await asyncio.sleep(max(0.0, next_t - time.perf_counter()))

    tasks = [asyncio.create_task(watch()), asyncio.create_task(stream())]
    try:
        await asyncio.wait_for(done.wait(), timeout_s)
    finally:
        done.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await device.close()
        await headset.close()
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_station_arguments(p)
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--rate-hz", type=float, default=100.0, help="tracker frame rate")
    p.add_argument("--reach-m", type=float, default=0.45, help="farthest step the patient can make")
    p.add_argument("--noise-m", type=float, default=0.02, help="placement noise (SD per axis)")
    p.add_argument("--reaction-s", type=float, default=0.3)
    p.add_argument("--seed", type=int, default=None)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    game = start_or_join(args, "stepping", {"trials": args.trials})
    if game.game != "stepping":
        refuse(f"{game.station} runs {game.game}; sim_tracker plays stepping only "
               "(python -m clients.sim_player --join plays every game)")
    ability = Ability(step_reach_m=args.reach_m, placement_sd_m=args.noise_m, reaction_s=args.reaction_s)
    report = run(run_sim_tracker(args.url, args.station, StationTokens(args.token, args.headset_token), ability,
                                         trials=args.trials, rate_hz=args.rate_hz, seed=args.seed,
                                         ca_file=args.ca_file))
    hits = report.outcomes.count("hit")
    print(f"trials: {len(report.outcomes)}  hits: {hits}  foot events sent: {report.events_sent}")
    print("outcomes:", " ".join(report.outcomes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
