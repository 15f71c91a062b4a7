"""LSL outlets and inlets for the tests, each run in a process of its own (as a lab's would be).

    python -m tests.lsl_processes tracker NAME URL STATION HEADSET_TOKEN OUT.json [--seconds S]
        a motion-capture outlet: a simulated patient who sees the station's game (as its headset)
        and steps to each target, its heel, toe and ankle markers streamed as LHEE_x ... RANK_z in
        millimetres (Z-up), stamped with LSL's clock; OUT lists every sample's time stamp
    python -m tests.lsl_processes walk NAME OUT.json [--rate-hz R]
        a motion-capture outlet playing the synthetic walk of ``tests/synthetic_walk.py`` in real
        time (a second standing still first, for the calibration)
    python -m tests.lsl_processes plate NAME X_M Y_M
        a force-plate outlet (Fx Fy Fz Mx My Mz in N and N·m, 100 Hz): 700 N standing still with its
        centre of pressure at (X_M, Y_M) on the plate, until killed
    python -m tests.lsl_processes channels NAME LABEL [LABEL ...] [--unit U]
        an outlet whose channels have these labels, sending zeros until killed
    python -m tests.lsl_processes record NAME OUT.json [--seconds S]
        a marker inlet: every marker until ``session_stop`` (or S seconds), as [time stamp, payload]

Each prints ``ready`` on stdout once its outlet or inlet is open.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import numpy as np
import pylsl

from clients.link import Link
from clients.sim_devices import LabFrame
from clients.sim_player import player_for

MARKERS = (("L", "heel", "LHEE"), ("L", "toe", "LTOE"), ("L", "ankle", "LANK"),
           ("R", "heel", "RHEE"), ("R", "toe", "RTOE"), ("R", "ankle", "RANK"))


def mocap_outlet(name: str, rate_hz: float) -> pylsl.StreamOutlet:
    info = pylsl.StreamInfo(name, "Mocap", 3 * len(MARKERS), rate_hz, pylsl.cf_double64, f"test-{name}")
    channels = info.desc().append_child("channels")
    for _, _, label in MARKERS:
        for axis in "xyz":
            channel = channels.append_child("channel")
            channel.append_child_value("label", f"{label}_{axis}")
            channel.append_child_value("unit", "millimeters")
            channel.append_child_value("type", "Position")
    return pylsl.StreamOutlet(info)


def ready() -> None:
    print("ready", flush=True)


async def tracker(name: str, url: str, station: str, headset_token: str, out: Path, seconds: float) -> None:
    rate_hz = 100.0
    outlet = mocap_outlet(name, rate_hz)
    lab = LabFrame(units="mm", up="z", yaw_deg=30.0, origin_m=(1.2, -0.4, 0.0))
    player = player_for("stepping", "tracker", lab=lab, seed=3)
    headset = await Link.station(url, "headset", station, headset_token)
    loop = asyncio.get_running_loop()
    start = loop.time()
    stamps: list[float] = []
    over = asyncio.Event()  # the game has ended: stop streaming

    async def watch() -> None:
        playing = False
        while True:
            message = await headset.recv()
            if message.get("type") != "state":
                continue
            if message.get("phase") in ("finished", "idle"):
                if playing:
                    over.set()
                continue
            playing = True
            player.see(message, loop.time() - start)

    watcher = asyncio.create_task(watch())
    ready()
    frame = 0
    try:
        while loop.time() - start < seconds and not over.is_set():
            [message] = player.frames(loop.time() - start, frame)
            sample: list[float] = []
            for side, marker, _ in MARKERS:
                p = message[side][marker]
                sample += p if p is not None else [float("nan")] * 3
            stamp = pylsl.local_clock()
            outlet.push_sample(sample, stamp)
            stamps.append(stamp)
            frame += 1
            await asyncio.sleep(max(0.0, start + frame / rate_hz - loop.time()))
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        await headset.close()
        out.write_text(json.dumps(stamps))


def walk(name: str, out: Path, rate_hz: float) -> None:
    from tests.synthetic_walk import WalkSpec
    from tests.synthetic_walk import walk as make_walk

    w = make_walk(WalkSpec(step_length_m=0.5, step_width_m=0.16, step_time_s=0.6, strikes=8, rate_hz=rate_hz,
                           stand_s=2.5, heading_deg=0.0))
    outlet = mocap_outlet(name, rate_hz)
    ready()
    outlet.wait_for_consumers(30.0)  # the bridge's inlet: from now on it keeps what is sent
    samples = np.concatenate([w.positions_m[(side, marker)] for side, marker, _ in MARKERS], axis=1) * 1000.0
    # standing where the walk starts (3 s, then the walk's own 2.5 s) while the tracker calibrates
    waiting = int(3.0 * rate_hz)
    samples = np.concatenate([np.repeat(samples[:1], waiting, axis=0), samples])
    stamps = []
    start, captured = time.perf_counter(), pylsl.local_clock()
    for i, row in enumerate(samples):
        time.sleep(max(0.0, start + i / rate_hz - time.perf_counter()))
        stamp = captured + i / rate_hz  # when a camera system would have captured it, however late it is sent
        outlet.push_sample(row.tolist(), stamp)
        stamps.append(stamp)
    out.write_text(json.dumps({"stamps": stamps, "strikes": dict(w.heel_strikes)}))
    time.sleep(1.0)


def channels(name: str, labels: list[str], unit: str | None) -> None:
    info = pylsl.StreamInfo(name, "Mocap", len(labels), 50.0, pylsl.cf_float32, f"test-{name}")
    desc = info.desc().append_child("channels")
    for label in labels:
        channel = desc.append_child("channel")
        channel.append_child_value("label", label)
        if unit:
            channel.append_child_value("unit", unit)
    outlet = pylsl.StreamOutlet(info)
    ready()
    while True:
        outlet.push_sample([0.0] * len(labels))
        time.sleep(0.02)


def plate(name: str, x_m: float, y_m: float) -> None:
    labels = ("Fx", "Fy", "Fz", "Mx", "My", "Mz")
    info = pylsl.StreamInfo(name, "Force", len(labels), 100.0, pylsl.cf_double64, f"test-{name}")
    desc = info.desc().append_child("channels")
    for label in labels:
        channel = desc.append_child("channel")
        channel.append_child_value("label", label)
        channel.append_child_value("unit", "N" if label[0] == "F" else "N.m")
    outlet = pylsl.StreamOutlet(info)
    ready()
    fz = 700.0
    start = time.perf_counter()
    for i in range(100 * 120):
        time.sleep(max(0.0, start + i / 100.0 - time.perf_counter()))
        outlet.push_sample([0.0, 0.0, fz, y_m * fz, -x_m * fz, 0.0])  # COP = (-My / Fz, Mx / Fz)


def record(name: str, out: Path, seconds: float) -> None:
    [info] = pylsl.resolve_byprop("name", name, 1, 10.0)
    inlet = pylsl.StreamInlet(info, processing_flags=pylsl.proc_clocksync)
    inlet.open_stream(10.0)
    ready()
    markers: list[tuple[float, dict[str, object]]] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sample, stamp = inlet.pull_sample(0.2)
        if sample is None:
            continue
        payload = json.loads(sample[0])
        markers.append((stamp, payload))
        if payload.get("event") == "session_stop":
            break
    out.write_text(json.dumps(markers))


def main() -> None:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="what", required=True)
    t = sub.add_parser("tracker")
    for arg in ("name", "url", "station", "headset_token", "out"):
        t.add_argument(arg)
    t.add_argument("--seconds", type=float, default=120.0)
    w = sub.add_parser("walk")
    w.add_argument("name")
    w.add_argument("out")
    w.add_argument("--rate-hz", type=float, default=100.0)
    c = sub.add_parser("channels")
    c.add_argument("name")
    c.add_argument("labels", nargs="+")
    c.add_argument("--unit")
    f = sub.add_parser("plate")
    f.add_argument("name")
    f.add_argument("x_m", type=float)
    f.add_argument("y_m", type=float)
    r = sub.add_parser("record")
    r.add_argument("name")
    r.add_argument("out")
    r.add_argument("--seconds", type=float, default=120.0)
    args = p.parse_args()
    if args.what == "tracker":
        asyncio.run(tracker(args.name, args.url, args.station, args.headset_token, Path(args.out), args.seconds))
    elif args.what == "walk":
        walk(args.name, Path(args.out), args.rate_hz)
    elif args.what == "plate":
        plate(args.name, args.x_m, args.y_m)
    elif args.what == "channels":
        channels(args.name, args.labels, args.unit)
    else:
        record(args.name, Path(args.out), args.seconds)


if __name__ == "__main__":
    main()
