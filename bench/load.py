"""Load benchmark: N stations, each a tracker at R Hz plus a headset, against the full server.

For each station count it runs the bare relay (bench/relay.py) and the full StrideVR server (games
running, database on) with the same client harness, one after the other in the same run, and
prints events sent/delivered, latency from foot event to the headset state that reflects it
(p50/p99/max), server CPU (% of a core and microseconds per event) and memory, and trials stored,
with the ratios to the relay's p99 and CPU per event; then what each load generator used (and
whether it was the limit) and the server's memory per station and its growth over the run.

    .venv/bin/python bench/load.py                       # 16 and 64 stations at 120 Hz, 10 s each
    .venv/bin/python bench/load.py --stations 8,32,64,96 --rate-hz 120 --seconds 15
    .venv/bin/python bench/load.py --database-url postgresql://postgres@127.0.0.1/test
    .venv/bin/python bench/load.py --stations 64 --seconds 600          # memory over 10 minutes
    .venv/bin/python bench/load.py --processes 2 --database-url postgresql://...   # Redis cluster mode

Latency is measured on the client side of loopback: event send time to the arrival of the first
state whose ``foot_seq`` includes that event (every event, also those a state merged). The load
comes from separate processes (bench/generator.py) that share the machine with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
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
    cpu_s: float = 0.0  # the server's CPU time while measuring
    kernel_s: float = 0.0  # the part of it spent in the kernel (sockets, epoll)
    main_thread_s: float = 0.0  # the part of it on the main threads (the event loop; the rest: the database writer)
    idle_rss_mb: float = float("nan")  # before any station connected
    rss_samples: list[tuple[float, float]] = field(default_factory=list)  # (s into the measured time, MB)
    spread: Spread | None = None

    @property
    def cpu_us_per_event(self) -> float:
        return self.cpu_s / self.sent * 1e6 if self.sent else float("nan")

    @property
    def kernel_us_per_event(self) -> float:
        return self.kernel_s / self.sent * 1e6 if self.sent else float("nan")

    @property
    def other_threads_us_per_event(self) -> float:
        return (self.cpu_s - self.main_thread_s) / self.sent * 1e6 if self.sent else float("nan")

    def memory(self) -> str:
        """RSS per station over the idle server, and its growth while measuring (MB per minute:
        a least-squares slope over the samples, so one garbage collection does not decide it)."""
        per_station_kb = (self.rss_mb - self.idle_rss_mb) * 1024 / self.stations
        t, mb = np.array(self.rss_samples).T if len(self.rss_samples) > 1 else (np.zeros(2), np.zeros(2))
        slope = float(np.polyfit(t, mb, 1)[0]) * 60.0 if len(self.rss_samples) > 2 else 0.0
        return (f"RSS idle {self.idle_rss_mb:.1f} MB, end {self.rss_mb:.1f} MB: {per_station_kb:.0f} kB per station;"
                f" while measuring {mb[0]:.1f} -> {mb[-1]:.1f} MB, slope {slope:+.2f} MB/min")

    def row(self, relay_p99: float | None) -> str:
        lat = self.latencies_ms
        p50, p99, mx = (np.percentile(lat, 50), np.percentile(lat, 99), lat.max()) if lat.size else (np.nan,) * 3
        ratio = f"{p99 / relay_p99:5.2f}x" if relay_p99 else "   - "
        us = self.cpu_us_per_event
        trials = "-" if self.trials is None else str(self.trials)
        return (f"{self.label:<8}{self.stations:>4} {self.sent:>9} {self.delivered:>9} {self.sent - self.delivered:>6}"
                f" {p50:8.2f} {p99:8.2f} {mx:8.2f} {ratio:>7} {self.cpu_percent:6.0f}% {us:7.1f}"
                f" {self.rss_mb:7.1f} {trials:>7}")

    @property
    def p99(self) -> float:
        return float(np.percentile(self.latencies_ms, 99)) if self.latencies_ms.size else float("nan")


def cpu_times(pid: int, main_thread: bool = False) -> tuple[float, float]:
    """A process's CPU seconds so far, or its main thread's (the server's event loop): (user, kernel)."""
    stat = f"/proc/{pid}/task/{pid}/stat" if main_thread else f"/proc/{pid}/stat"
    fields_ = Path(stat).read_text().rsplit(")", 1)[1].split()
    return int(fields_[11]) / CLK_TCK, int(fields_[12]) / CLK_TCK


def cpu_seconds(pid: int) -> float:
    return sum(cpu_times(pid))


def cpu_times_of(pids: list[int]) -> tuple[float, float, float]:
    """Several processes' CPU seconds so far, together: (user, kernel, of which main threads')."""
    times = [cpu_times(pid) for pid in pids]
    main = sum(sum(cpu_times(pid, main_thread=True)) for pid in pids)
    return sum(user for user, _ in times), sum(kernel for _, kernel in times), main


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


@dataclass
class Spread:
    """What the generator processes measured, and whether they, not the server, were the limit."""

    sent: int
    delivered: int
    latencies_ms: np.ndarray
    cpu_percent: list[float]  # each generator process's share of one core while measuring
    lag_p99_ms: float  # how late the slowest generator's ticks were (99th percentile)
    on_devices_process: tuple[int, int] = (0, 0)  # games hosted where their devices are, of those started

    def limit(self, period_ms: float) -> str:
        busy = max(self.cpu_percent)
        if busy > 85.0:
            return f"generator saturated ({busy:.0f}% of a core)"
        if self.lag_p99_ms > period_ms:
            return f"generator ticks late (p99 {self.lag_p99_ms:.1f} ms)"
        return ""


async def spread_drive(urls: list[str], stations: list[tuple[str, StationTokens]], args: argparse.Namespace,
                       pids: list[int], full: bool, tmp: str
                       ) -> tuple[Spread, tuple[float, float, float], list[tuple[float, float]]]:
    """Run the stations from ``--generators`` processes (bench/generator.py), station i on server
    process i mod len(urls) (its device, its headset and its game); returns what they measured, the
    servers' CPU seconds while measuring (user, kernel, main threads'), and their RSS samples
    (seconds, MB) over the run."""
    count = args.generators or max(1, min(os.cpu_count() or 1, -(-len(stations) // 48)))
    therapists: list[ClientConnection] = []
    if full:  # a therapist per process whose games it starts (--start-through own), or one on the first
        for url in urls if args.start_through == "own" else urls[:1]:
            therapists.append(await connect(url, compression=None))
            await request(therapists[-1], {"type": "login", "username": THERAPIST, "password": PASSWORD})
        patient_ids = {p["code"]: p["id"]
                       for p in (await request(therapists[0], {"type": "list_patients"}))["patients"]}
    workers = []
    for k in range(count):
        share = [{"name": name, "device": tokens.device, "headset": tokens.headset, "seed": i,
                  "url": urls[i % len(urls)]}
                 for i, (name, tokens) in enumerate(stations) if i % count == k]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "bench" / "generator.py"), cwd=ROOT, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE)
        assert proc.stdin is not None and proc.stdout is not None
        path = f"{tmp}/latencies-{k}.npy"
        proc.stdin.write((json.dumps({"stations": share, "rate_hz": args.rate_hz,
                                      "latencies_path": path}) + "\n").encode())
        await proc.stdin.drain()
        workers.append((proc, path))
    for proc, _ in workers:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 120)).decode().strip()
        if line != "ready":
            raise RuntimeError(f"a generator failed to connect its stations: {line!r}")
    for i, (name, _) in enumerate(stations if full else []):
        therapist = therapists[i % len(therapists)]
        reply = await request(therapist, {"type": "start_game", "station": name,
                                          "patient_id": patient_ids[name.replace("bench", "BENCH")],
                                          "game": "stepping"})
        assert reply["type"] == "game_started", reply
        # starting a game makes the therapist a watcher; this one does not read, so stop it
        await request(therapist, {"type": "unwatch", "station": name})
        await asyncio.sleep(0.05 / len(therapists))  # stay under each therapist's message rate limit
    placed = (0, 0)
    if full and len(urls) > 1:  # where did each game go: the process of its station's devices?
        hosts = {s["station"]: s.get("hosted_by")
                 for s in (await request(therapists[0], {"type": "list_stations"}))["stations"]}
        placed = (sum(hosts.get(name) == f"bench-{i % len(urls)}" for i, (name, _) in enumerate(stations)),
                  len(stations))
    t_start = time.perf_counter() + 0.3
    t_measure = t_start + args.warmup
    t_end = t_measure + args.seconds
    for proc, _ in workers:
        assert proc.stdin is not None
        proc.stdin.write(f"go {t_start} {t_measure} {t_end}\n".encode())
        await proc.stdin.drain()
    await asyncio.sleep(max(0.0, t_measure - time.perf_counter()))
    user0, kernel0, main0 = cpu_times_of(pids)
    spy = None
    if full and args.py_spy:  # sample the server while measuring (folded stacks, for flame graphs)
        spy = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pids[0]), "--rate", "250",
            "--duration", str(max(1, int(args.seconds))), "--format", "raw", "--output",
            f"{args.py_spy}-{len(stations)}.txt", "--nonblocking", stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL)
    rss_samples = [(0.0, sum(map(rss_mb, pids)))]
    step_s = max(1.0, args.seconds / 20)
    while (now := time.perf_counter()) < t_end:
        await asyncio.sleep(min(step_s, t_end - now))
        rss_samples.append((time.perf_counter() - t_measure, sum(map(rss_mb, pids))))
    user1, kernel1, main1 = cpu_times_of(pids)
    if spy is not None:
        await spy.wait()
    results = []
    for proc, path in workers:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        await proc.wait()
        if not line:
            raise RuntimeError("a generator exited without a result")
        result = json.loads(line)
        result["latencies"] = np.load(path)
        results.append(result)
    for therapist in therapists:
        await therapist.close()
    spread = Spread(sum(r["sent"] for r in results), sum(r["delivered"] for r in results),
                    np.concatenate([r["latencies"] for r in results]),
                    [r["cpu_s"] / r["elapsed_s"] * 100.0 for r in results], max(r["lag_p99_ms"] for r in results),
                    placed)
    return spread, (user1 - user0, kernel1 - kernel0, main1 - main0), rss_samples


async def run_one(label: str, n: int, args: argparse.Namespace, database_url: str) -> RunResult:
    stations = (seed(database_url, n) if label == "stridevr"
                else [(f"relay-{i}", StationTokens("x", "x")) for i in range(n)])
    procs: list[asyncio.subprocess.Process] = []
    ports: list[int] = []
    try:
        if label == "relay":
            for _ in range(args.processes):
                proc, port = await start_process(sys.executable, str(ROOT / "bench" / "relay.py"))
                procs.append(proc)
                ports.append(port)
        else:
            profile = ["-m", "cProfile", "-o", args.profile] if args.profile else []
            cluster: list[str] = []
            prefix = f"bench{os.getpid()}n{n}"
            for k in range(args.processes):
                if args.processes > 1:  # the Redis cluster mode: each process hosts its stations' games
                    cluster = ["--redis-url", args.redis_url, "--node-id", f"bench-{k}", "--redis-prefix", prefix]
                # every station here connects from 127.0.0.1; in a clinic each is its own device and address
                proc, port = await start_process(
                    sys.executable, *profile, "-m", "server", "--port", "0", "--database-url", database_url,
                    "--log-level", "WARNING", "--new-connections-per-address-per-s", "0", *cluster,
                    *args.server_args, "serve")
                procs.append(proc)
                ports.append(port)
        pids = [proc.pid for proc in procs]
        idle_rss = sum(map(rss_mb, pids))
        trials_before = count_trials(database_url) if label == "stridevr" else 0
        with tempfile.TemporaryDirectory() as tmp:
            urls = [f"ws://127.0.0.1:{port}" for port in ports]
            full = label == "stridevr"
            spread, (user_s, kernel_s, main_s), rss = await spread_drive(urls, stations, args, pids, full, tmp)
    finally:
        for proc in procs:
            proc.terminate()
            await proc.wait()
    trials = count_trials(database_url) - trials_before if label == "stridevr" else None
    cpu_s = user_s + kernel_s
    return RunResult(label, n, spread.sent, spread.delivered, spread.latencies_ms, cpu_s / args.seconds * 100.0,
                     rss[-1][1], trials, cpu_s, kernel_s, main_s, idle_rss, rss, spread)


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
    p.add_argument("--py-spy", default=None, metavar="PREFIX",
                   help="sample the StrideVR server with py-spy (the bench extra) into PREFIX-N.txt (folded stacks)")
    p.add_argument("--processes", type=int, default=1,
                   help="server processes (and relays); above 1 they run in the Redis cluster mode, each hosting"
                        " the games of its share of the stations, and need a PostgreSQL --database-url")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/0", help="Redis for --processes above 1")
    p.add_argument("--start-through", choices=("first", "own"), default="first",
                   help="start every game through one therapist on the first process, which places it on the"
                        " process of the station's devices (first), or each through its own process (own)")
    p.add_argument("--generators", type=int, default=0,
                   help="load-generator processes (default: one per 48 stations, at most one per CPU)")
    p.add_argument("--rounds", type=int, default=1,
                   help="measure relay then server this many times per station count; prints each round's"
                        " ratios and the worst")
    p.add_argument("--relay-seconds", type=float, default=None,
                   help="the relay's measured time (default: --seconds): its CPU per event and p99 need less "
                        "than a long memory run, e.g. --seconds 600 --relay-seconds 10")
    p.add_argument("--server-arg", dest="server_args", action="append", default=[],
                   help="an extra option for the StrideVR server (repeatable), e.g. --server-arg=--state-hz=60")
    args = p.parse_args()
    if args.processes > 1:
        if not (args.database_url or "").startswith("postgresql"):
            p.error("--processes above 1 shares one database between processes: give a PostgreSQL --database-url")
        os.environ.setdefault("STRIDEVR_CLUSTER_SECRET", secrets.token_urlsafe(32))  # the servers inherit it
    tmp = tempfile.TemporaryDirectory()
    database_url = args.database_url or f"sqlite:///{tmp.name}/bench.sqlite3"
    print(f"# {os.cpu_count()} CPUs, {args.rate_hz:.0f} Hz per tracker, {args.seconds:.0f} s measured "
          f"after {args.warmup:.0f} s warm-up; database {database_url.split('://')[0]}; {args.processes} server "
          f"process(es)")
    print(f"{'server':<8}{'N':>4} {'sent':>9} {'delivered':>9} {'lost':>6} {'p50 ms':>8} {'p99 ms':>8}"
          f" {'max ms':>8} {'p99/relay':>7} {'CPU':>7} {'us/ev':>7} {'RSS MB':>7} {'trials':>7}")
    best_under_20 = None
    period_ms = 1000.0 / args.rate_hz
    for n in [int(x) for x in args.stations.split(",")]:
        pairs: list[tuple[RunResult, RunResult]] = []
        for _ in range(args.rounds):  # relay then server, again: each pair measured minutes apart at most
            relay_args = argparse.Namespace(**{**vars(args), "seconds": args.relay_seconds or args.seconds})
            relay = await run_one("relay", n, relay_args, database_url)
            print(relay.row(None), flush=True)
            full = await run_one("stridevr", n, args, database_url)
            print(full.row(relay.p99), flush=True)
            pairs.append((relay, full))
            for result in (relay, full):
                assert result.spread is not None
                gen = "/".join(f"{c:.0f}%" for c in result.spread.cpu_percent)
                limit = result.spread.limit(period_ms)
                print(f"#   {result.label}: generator CPU {gen} of a core each, tick lag p99 "
                      f"{result.spread.lag_p99_ms:.1f} ms{'; LIMIT: ' + limit if limit else ''}")
            print(f"#   CPU per event: server {full.cpu_us_per_event:.1f} us (kernel {full.kernel_us_per_event:.1f};"
                  f" threads besides the event loop {full.other_threads_us_per_event:.1f}),"
                  f" relay {relay.cpu_us_per_event:.1f} us (kernel {relay.kernel_us_per_event:.1f}),"
                  f" ratio {full.cpu_us_per_event / relay.cpu_us_per_event:.2f}x")
            print(f"#   memory: {full.memory()}", flush=True)
            if args.processes > 1:
                on, of = full.spread.on_devices_process if full.spread else (0, 0)
                print(f"#   games hosted on the process of their station's devices: {on}/{of}", flush=True)
        if len(pairs) > 1:
            cpu_ratios = [f.cpu_us_per_event / r.cpu_us_per_event for r, f in pairs]
            p99_ratios = [f.p99 / r.p99 for r, f in pairs]
            print(f"# {n} stations, {len(pairs)} rounds: CPU per event server/relay "
                  f"{', '.join(f'{x:.2f}x' for x in cpu_ratios)} (worst {max(cpu_ratios):.2f}x); p99 server/relay "
                  f"{', '.join(f'{x:.2f}x' for x in p99_ratios)} (worst {max(p99_ratios):.2f}x)", flush=True)
        if all(f.p99 < 20.0 and f.delivered == f.sent for _, f in pairs):
            best_under_20 = n
    print(f"# largest N tried with p99 < 20 ms and nothing lost: {best_under_20}")
    tmp.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
