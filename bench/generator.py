"""One load-generator process of bench/load.py: a share of the stations, each a tracker plus a headset.

Run by bench/load.py, not by hand. It reads its job (one JSON line) on stdin, connects its stations
(``hello`` as device and as headset), prints ``ready``, waits for the line ``go T_START T_MEASURE
T_END`` (``time.perf_counter`` values: CLOCK_MONOTONIC, the same in every process of the machine),
sends foot events at the given rate until T_END, then prints one JSON line with what it measured.

Kept cheap so that the server, not the generator, is what a run measures: frames are written straight
to the socket (websockets' ``broadcast``, no lock and no task switch per event), the constant part of
each foot frame is packed once, and a headset's state is scanned for the two fields the bench needs.
The process also reports what would make it the limit: its own CPU share, and how late its ticks were.
"""

from __future__ import annotations

import asyncio
import collections
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import msgpack
import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.connection import broadcast

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from clients.sim_patient import Ability, SimulatedPatient, StepPlan, feet_at  # noqa: E402
from games.events import Side  # noqa: E402
from server.eventloop import loop_factory  # noqa: E402
from server.wire import PROTOCOL_VERSION  # noqa: E402


@dataclass
class Station:
    name: str
    url: str
    device_token: str
    headset_token: str
    patient: SimulatedPatient
    device: ClientConnection | None = None
    headset: ClientConnection | None = None
    seq: int = 0
    # per side, the events not yet reflected in a state, oldest first: (seq, perf_counter at send)
    pending: dict[str, collections.deque[tuple[int, float]]] = field(
        default_factory=lambda: {"L": collections.deque(), "R": collections.deque()})
    sent_side: list[str] = field(default_factory=list)
    last_seen: dict[str, int] = field(default_factory=lambda: {"L": -1, "R": -1})
    plan: StepPlan | None = None
    plan_start: float = 0.0
    target_key: tuple[Any, ...] | None = None
    first_measured_seq: int | None = None


# a foot frame is a 6-entry map; its first two entries never change, so they are packed once
_FOOT_HEAD = b"\x86" + b"".join(map(msgpack.packb, ("type", "foot", "v", PROTOCOL_VERSION)))
_SIDE = {s: msgpack.packb("side") + msgpack.packb(s) for s in ("L", "R")}
_POS, _T, _SEQ = msgpack.packb("pos_m"), msgpack.packb("t_s"), msgpack.packb("seq")


def foot_frame(side: str, pos_m: tuple[float, float, float], t_s: float, seq: int) -> bytes:
    return b"".join((_FOOT_HEAD, _SIDE[side], _POS, msgpack.packb(pos_m), _T, msgpack.packb(t_s),
                     _SEQ, msgpack.packb(seq)))


async def hello(url: str, role: str, station: str, token: str) -> ClientConnection:
    ws = await connect(url, compression=None, max_size=None)
    await ws.send(msgpack.packb({"type": "hello", "v": PROTOCOL_VERSION, "role": role, "station": station,
                                 "token": token}))
    reply = msgpack.unpackb(await ws.recv(decode=False))
    if reply.get("type") == "error":
        raise RuntimeError(f"{station} {role}: {reply}")
    return ws


async def run(job: dict[str, Any]) -> dict[str, Any]:
    stations = [Station(s["name"], s["url"], s["device"], s["headset"],
                        SimulatedPatient(Ability(hold_s=0.6), seed=s["seed"])) for s in job["stations"]]
    for st in stations:
        st.device = await hello(st.url, "device", st.name, st.device_token)
        st.headset = await hello(st.url, "headset", st.name, st.headset_token)
    print("ready", flush=True)
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    _, t_start, t_measure, t_end = line.split()
    t_start_s, t_measure_s, t_end_s = float(t_start), float(t_measure), float(t_end)

    latencies: list[float] = []

    async def receive(st: Station) -> None:
        assert st.headset is not None
        async for frame in st.headset:
            now = time.perf_counter()
            msg = msgpack.unpackb(cast(bytes, frame))
            for side, seq in (msg.get("foot_seq") or {}).items():
                if seq > st.last_seen[side]:
                    st.last_seen[side] = seq
                    pending = st.pending[side]
                    while pending and pending[0][0] <= seq:
                        sent = pending.popleft()[1]
                        if t_measure_s <= sent < t_end_s:
                            latencies.append((now - sent) * 1000.0)
            target = msg.get("target")
            if target is not None and msg.get("phase") == "target":
                key = (msg["trial"], target["x_m"], target["y_m"])
                if key != st.target_key:
                    st.target_key = key
                    st.plan = st.patient.plan(Side(target["foot"]), target["x_m"], target["y_m"])
                    st.plan_start = now

    receivers = [asyncio.create_task(receive(st)) for st in stations]
    period = 1.0 / float(job["rate_hz"])
    await asyncio.sleep(max(0.0, t_start_s - time.perf_counter()))
    next_t = t_start_s
    tick = 0
    sent_total = 0
    lags_ms: list[float] = []
    cpu0 = time.process_time()
    measuring = False
    while (now := time.perf_counter()) < t_end_s:
        if not measuring and now >= t_measure_s:
            measuring = True
            cpu0 = time.process_time()
            for st in stations:
                st.first_measured_seq = st.seq
        if measuring:
            lags_ms.append((now - next_t) * 1000.0)
        side_index = tick % 2
        for st in stations:
            t = now - st.plan_start
            if st.plan is not None and t > st.plan.duration_s:
                st.plan = None
            sample = feet_at(st.plan, t)[side_index]
            seq = st.seq
            st.seq += 1
            st.sent_side.append(sample.side.value)
            st.pending[sample.side.value].append((seq, time.perf_counter()))
            assert st.device is not None
            broadcast((st.device,), foot_frame(sample.side.value, (sample.x_m, sample.y_m, sample.z_m), now, seq))
            if measuring:
                sent_total += 1
        tick += 1
        next_t += period
        await asyncio.sleep(max(0.0, next_t - time.perf_counter()))
    cpu_s = time.process_time() - cpu0
    elapsed_s = time.perf_counter() - t_measure_s
    await asyncio.sleep(1.0)  # let the last events arrive
    # delivered: an event counts once a state's foot_seq for its side reached it (a state may
    # stand for several events: coalesced states carry the newest sequence number of each side)
    delivered = 0
    for st in stations:
        first = st.first_measured_seq if st.first_measured_seq is not None else st.seq
        delivered += sum(1 for s in range(first, st.seq) if s <= st.last_seen[st.sent_side[s]])
    for task in receivers:
        task.cancel()
    for st in stations:
        for conn in (st.device, st.headset):
            if conn is not None:
                await conn.close()
    np.save(job["latencies_path"], np.array(latencies, dtype=np.float64))
    lag = np.array(lags_ms) if lags_ms else np.zeros(1)
    return {"sent": sent_total, "delivered": delivered, "cpu_s": cpu_s, "elapsed_s": elapsed_s,
            "lag_p50_ms": float(np.percentile(lag, 50)), "lag_p99_ms": float(np.percentile(lag, 99)),
            "lag_max_ms": float(lag.max())}


def main() -> None:
    job = json.loads(sys.stdin.readline())
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        result = runner.run(run(job))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
