"""Load benchmark: N stations, each a tracker at R Hz plus a headset, against the full server.

For each station count it runs the bare relay (bench/relay.py) and the full StrideVR server (games
running, database on) with the same client harness, one after the other in the same run, and
prints events sent/delivered, latency from foot event to the headset state that reflects it
(p50/p99/max), server CPU and memory, and trials stored, with the ratio to the relay's p99.

    .venv/bin/python bench/load.py                       # 16 and 64 stations at 120 Hz, 10 s each
    .venv/bin/python bench/load.py --stations 8,32,64,96 --rate-hz 120 --seconds 15
    .venv/bin/python bench/load.py --database-url postgresql://postgres@127.0.0.1/test

Latency is measured on the client side of loopback: event send time to the arrival of the first
state whose ``foot_seq`` includes that event. The load generator shares the machine with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import msgpack
import numpy as np
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from clients.link import StationTokens  # noqa: E402
from clients.sim_patient import Ability, SimulatedPatient, StepPlan, feet_at  # noqa: E402
from games.events import Side  # noqa: E402
from server import auth  # noqa: E402
from server.storage.database import migrate  # noqa: E402
from server.storage.store import Store  # noqa: E402
from server.wire import PROTOCOL_VERSION  # noqa: E402

THERAPIST, PASSWORD = "bench", "bench-password-not-secret"
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class StationLoad:
    name: str
    tokens: StationTokens
    device: ClientConnection | None = None
    headset: ClientConnection | None = None
    seq: int = 0
    sent_at: dict[int, float] = field(default_factory=dict)
    sent_side: dict[int, str] = field(default_factory=dict)
    last_seen: dict[str, int] = field(default_factory=lambda: {"L": -1, "R": -1})
    plan: StepPlan | None = None
    plan_start: float = 0.0
    target_key: tuple | None = None


@dataclass
class RunResult:
    label: str
    stations: int
    sent: int
    delivered: int
    latencies_ms: np.ndarray
    cpu_percent: float
    rss_mb: float
    trials: int | None

    def row(self, relay_p99: float | None) -> str:
        lat = self.latencies_ms
        p50, p99, mx = (np.percentile(lat, 50), np.percentile(lat, 99), lat.max()) if lat.size else (np.nan,) * 3
        ratio = f"{p99 / relay_p99:5.2f}x" if relay_p99 else "   - "
        trials = "-" if self.trials is None else str(self.trials)
        return (f"{self.label:<8}{self.stations:>4} {self.sent:>9} {self.delivered:>9} {self.sent - self.delivered:>6}"
                f" {p50:8.2f} {p99:8.2f} {mx:8.2f} {ratio:>7} {self.cpu_percent:6.0f}% {self.rss_mb:7.1f} {trials:>7}")

    @property
    def p99(self) -> float:
        return float(np.percentile(self.latencies_ms, 99)) if self.latencies_ms.size else float("nan")


def cpu_seconds(pid: int) -> float:
    fields_ = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields_[11]) + int(fields_[12])) / CLK_TCK


def rss_mb(pid: int) -> float:
    m = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(m.group(1)) / 1024 if m else float("nan")


async def start_process(*args: str) -> tuple[asyncio.subprocess.Process, int]:
    proc = await asyncio.create_subprocess_exec(*args, cwd=ROOT, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    assert proc.stdout is not None
    while True:
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        if not line:
            raise RuntimeError(f"{args} exited before listening")
        if m := re.search(r"listening on wss?://[\d.]+:(\d+)", line):
            _DRAINING.add(asyncio.create_task(_drain(proc)))  # held: the loop holds tasks only weakly
            return proc, int(m.group(1))


_DRAINING: set[asyncio.Task[None]] = set()


async def _drain(proc: asyncio.subprocess.Process) -> None:
    assert proc.stdout is not None
    while await proc.stdout.readline():
        pass


def seed(database_url: str, n: int) -> list[tuple[str, StationTokens]]:
    migrate(database_url)
    store = Store(database_url)
    clinic = store.ensure_clinic("Bench Clinic")
    if store.find_therapist(THERAPIST) is None:
        store.create_therapist(clinic, THERAPIST, auth.hash_password(PASSWORD))
    therapist = store.find_therapist(THERAPIST)
    assert therapist is not None
    existing = {p.code for p in store.list_patients(clinic)}
    stations = []
    for i in range(n):
        tokens = StationTokens(auth.new_token(), auth.new_token())
        for role, token in zip(("device", "headset"), tokens, strict=True):
            store.upsert_station(clinic, f"bench-{i}", auth.hash_token(token), role)
        if f"BENCH-{i}" not in existing:
            store.create_patient(clinic, therapist.id, f"BENCH-{i}", "L", 0.9, 0.5, "")
        stations.append((f"bench-{i}", tokens))
    store.close()
    return stations


def count_trials(database_url: str) -> int:
    from sqlalchemy import func, select

    from server.storage.models import Trial

    store = Store(database_url)
    with store.engine.connect() as conn:
        n = conn.scalar(select(func.count()).select_from(Trial)) or 0
    store.close()
    return n


async def request(ws: ClientConnection, message: dict) -> dict:
    await ws.send(msgpack.packb({"v": PROTOCOL_VERSION, **message, "id": 1}))
    while True:
        reply = msgpack.unpackb(await ws.recv(decode=False))
        if reply.get("id") == 1 or reply["type"] == "error":
            return reply


async def drive(url: str, loads: list[StationLoad], rate_hz: float, seconds: float, warmup_s: float,
                pid: int, full: bool) -> tuple[int, int, np.ndarray, float, float]:
    patients = [SimulatedPatient(Ability(hold_s=0.6), seed=i) for i in range(len(loads))]
    therapist = None
    if full:
        therapist = await connect(url, compression=None)
        await request(therapist, {"type": "login", "username": THERAPIST, "password": PASSWORD})
        patient_ids = [p["id"] for p in (await request(therapist, {"type": "list_patients"}))["patients"]]
    for i, load in enumerate(loads):
        for role in ("device", "headset"):
            ws = await connect(url, compression=None)
            await ws.send(msgpack.packb({"type": "hello", "v": PROTOCOL_VERSION, "role": role, "station": load.name,
                                         "token": getattr(load.tokens, role)}))
            msgpack.unpackb(await ws.recv(decode=False))
            setattr(load, role, ws)
        if therapist is not None:
            reply = await request(therapist, {"type": "start_game", "station": load.name,
                                              "patient_id": patient_ids[i], "game": "stepping"})
            assert reply["type"] == "game_started", reply
            # starting a game makes the therapist a watcher; this one does not read, so stop it
            await request(therapist, {"type": "unwatch", "station": load.name})
            await asyncio.sleep(0.05)  # stay under the therapist's message rate limit

    latencies: list[float] = []
    measuring = False

    async def receive(load: StationLoad, patient: SimulatedPatient) -> None:
        assert load.headset is not None
        async for frame in load.headset:
            now = time.perf_counter()
            msg = msgpack.unpackb(cast(bytes, frame))  # the server sends binary frames
            for side, seq in (msg.get("foot_seq") or {}).items():
                if seq > load.last_seen[side]:
                    load.last_seen[side] = seq
                    sent = load.sent_at.pop(seq, None)
                    if sent is not None and measuring:
                        latencies.append((now - sent) * 1000.0)
            target = msg.get("target")
            if target is not None and msg.get("phase") == "target":
                key = (msg["trial"], target["x_m"], target["y_m"])
                if key != load.target_key:
                    load.target_key = key
                    load.plan = patient.plan(Side(target["foot"]), target["x_m"], target["y_m"])
                    load.plan_start = now

    receivers = [asyncio.create_task(receive(ld, p)) for ld, p in zip(loads, patients, strict=True)]
    period = 1.0 / rate_hz
    start = time.perf_counter()
    next_t = start
    tick = 0
    sent_total = 0
    cpu0 = cpu_seconds(pid)
    t_measure = start + warmup_s
    end = t_measure + seconds
    while (now := time.perf_counter()) < end:
        if not measuring and now >= t_measure:
            measuring = True
            cpu0, t_measure = cpu_seconds(pid), now
        side_index = tick % 2
        for load in loads:
            t = now - load.plan_start
            if load.plan is not None and t > load.plan.duration_s:
                load.plan = None
            sample = feet_at(load.plan, t)[side_index]
            seq = load.seq
            load.seq += 1
            load.sent_at[seq] = time.perf_counter()
            load.sent_side[seq] = sample.side.value
            assert load.device is not None
            await load.device.send(msgpack.packb({
                "type": "foot", "v": PROTOCOL_VERSION, "side": sample.side.value,
                "pos_m": [sample.x_m, sample.y_m, sample.z_m], "t_s": now, "seq": seq}))
            if measuring:
                sent_total += 1
        tick += 1
        next_t += period
        await asyncio.sleep(max(0.0, next_t - time.perf_counter()))
    elapsed = time.perf_counter() - t_measure
    cpu = (cpu_seconds(pid) - cpu0) / elapsed * 100.0
    memory = rss_mb(pid)
    await asyncio.sleep(1.0)  # let the last events arrive
    delivered = 0
    for load in loads:
        first_measured = load.seq - (sent_total // len(loads))
        for seq in range(max(0, first_measured), load.seq):
            if seq <= load.last_seen[load.sent_side[seq]]:
                delivered += 1
    for task in receivers:
        task.cancel()
    for load in loads:
        for conn in (load.device, load.headset):
            if conn is not None:
                await conn.close()
    if therapist is not None:
        await therapist.close()
    return sent_total, delivered, np.array(latencies), cpu, memory


async def run_one(label: str, n: int, args: argparse.Namespace, database_url: str) -> RunResult:
    stations = (seed(database_url, n) if label == "stridevr"
                else [(f"relay-{i}", StationTokens("x", "x")) for i in range(n)])
    if label == "relay":
        proc, port = await start_process(sys.executable, str(ROOT / "bench" / "relay.py"))
    else:
        profile = ["-m", "cProfile", "-o", args.profile] if args.profile else []
        # every station here connects from 127.0.0.1; in a clinic each is its own device and address
        proc, port = await start_process(sys.executable, *profile, "-m", "server", "--port", "0", "--database-url",
                                         database_url, "--log-level", "WARNING",
                                         "--new-connections-per-address-per-s", "0", "serve")
    try:
        loads = [StationLoad(name, tokens) for name, tokens in stations]
        trials_before = count_trials(database_url) if label == "stridevr" else 0
        sent, delivered, lat, cpu, rss = await drive(f"ws://127.0.0.1:{port}", loads, args.rate_hz,
                                                     args.seconds, args.warmup, proc.pid, label == "stridevr")
    finally:
        proc.terminate()
        await proc.wait()
    trials = count_trials(database_url) - trials_before if label == "stridevr" else None
    return RunResult(label, n, sent, delivered, lat, cpu, rss, trials)


def load_arguments(p: argparse.ArgumentParser, stations: str | int, stations_help: str, warmup_s: float) -> None:
    """The options every benchmark built on :func:`drive` shares."""
    p.add_argument("--stations", type=type(stations), default=stations, help=stations_help)
    p.add_argument("--rate-hz", type=float, default=120.0, help="foot events per second per station")
    p.add_argument("--seconds", type=float, default=10.0, help="measured time per run")
    p.add_argument("--warmup", type=float, default=warmup_s, help="unmeasured time before each run")


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    load_arguments(p, "16,64", "comma-separated station counts", 3.0)
    p.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    p.add_argument("--profile", default=None, help="write a cProfile of the StrideVR server here")
    args = p.parse_args()
    tmp = tempfile.TemporaryDirectory()
    database_url = args.database_url or f"sqlite:///{tmp.name}/bench.sqlite3"
    print(f"# {os.cpu_count()} CPUs, {args.rate_hz:.0f} Hz per tracker, {args.seconds:.0f} s measured "
          f"after {args.warmup:.0f} s warm-up; database {database_url.split('://')[0]}")
    print(f"{'server':<8}{'N':>4} {'sent':>9} {'delivered':>9} {'lost':>6} {'p50 ms':>8} {'p99 ms':>8}"
          f" {'max ms':>8} {'p99/relay':>7} {'CPU':>7} {'RSS MB':>7} {'trials':>7}")
    best_under_20 = None
    for n in [int(x) for x in args.stations.split(",")]:
        relay = await run_one("relay", n, args, database_url)
        print(relay.row(None), flush=True)
        full = await run_one("stridevr", n, args, database_url)
        print(full.row(relay.p99), flush=True)
        if full.p99 < 20.0 and full.delivered == full.sent:
            best_under_20 = n
    print(f"# largest N tried with p99 < 20 ms and nothing lost: {best_under_20}")
    tmp.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
