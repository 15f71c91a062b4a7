"""Abuse benchmark: does a playing station and a therapist's login survive a password flood and
a crowd of idle sockets?

One server process (SQLite), S stations each playing stepping (a tracker at R Hz plus a headset,
the harness of bench/load.py). First a quiet run; then the same run while an "attacker" keeps
``--bogus`` parallel logins with wrong passwords going (from 127.0.0.2, or spread over
``--attacker-addresses`` addresses) and holds ``--idle`` sockets open that never authenticate (half
raw TCP that never even handshakes, half websockets that never send a first message; each is
reopened when the server drops it). Meanwhile a real therapist logs in once a second from
127.0.0.1. Prints the station p99 in both runs and their ratio, the therapist's login times, what
the bogus logins were answered, and the server's memory.

    .venv/bin/python bench/abuse.py
    .venv/bin/python bench/abuse.py --bogus 50 --idle 1000 --attacker-addresses 20 --seconds 15

Everything runs on loopback; the load generator shares the machine with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import json
import multiprocessing
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.load import (  # noqa: E402
    PASSWORD,
    THERAPIST,
    StationLoad,
    cpu_seconds,
    drive,
    load_arguments,
    rss_mb,
    seed,
    start_process,
)
from server.wire import PROTOCOL_VERSION  # noqa: E402


async def request(ws: ClientConnection, message: dict[str, Any]) -> dict[str, Any]:
    """One request in JSON, as a browser would send it; an error sent before the first message is
    read (``busy``) arrives in JSON too."""
    await ws.send(json.dumps({"v": PROTOCOL_VERSION, **message, "id": 1}))
    while True:
        reply = json.loads(await ws.recv())
        if reply.get("id") == 1 or reply["type"] == "error":
            return dict(reply)


class Attack:
    def __init__(self, url: str, port: int, bogus: int, idle: int, addresses: int) -> None:
        self.url, self.port = url, port
        self.bogus, self.idle = bogus, idle
        self.addresses = [f"127.0.1.{i + 1}" for i in range(addresses)] if addresses > 1 else ["127.0.0.2"]
        self.answers: collections.Counter[str] = collections.Counter()
        self.first_errors: dict[str, str] = {}
        self.held = 0
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        spread = itertools.cycle(self.addresses)
        self._tasks += [asyncio.create_task(self._guess(next(spread))) for _ in range(self.bogus)]
        self._tasks += [asyncio.create_task(self._idle(i % 2 == 0, next(spread))) for i in range(self.idle)]

    async def stop(self) -> None:
        self._stop.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def report(self) -> dict[str, Any]:
        return {"held": self.held, "answers": dict(self.answers), "errors": self.first_errors}

    async def _guess(self, address: str) -> None:
        while not self._stop.is_set():
            try:
                async with connect(self.url, compression=None, local_addr=(address, 0)) as ws:
                    reply = await request(ws, {"type": "login", "username": f"guess-{secrets.token_hex(4)}",
                                               "password": secrets.token_urlsafe(190)})
                    self.answers[str(reply.get("code", reply["type"]))] += 1
            except Exception as exc:  # the server may refuse or drop us
                self.answers[type(exc).__name__] += 1
                if type(exc).__name__ not in self.first_errors:
                    self.first_errors[type(exc).__name__] = repr(exc)[:200]
                await asyncio.sleep(0.05)

    async def _idle(self, raw: bool, address: str) -> None:
        while not self._stop.is_set():
            try:
                if raw:
                    reader, writer = await asyncio.open_connection("127.0.0.1", self.port, local_addr=(address, 0))
                    self.held += 1
                    try:
                        await reader.read()  # until the server hangs up
                    finally:
                        self.held -= 1
                        writer.close()
                else:
                    async with connect(self.url, compression=None, local_addr=(address, 0)) as ws:
                        self.held += 1
                        try:
                            async for _ in ws:  # never say hello; read until closed
                                pass
                        finally:
                            self.held -= 1
            except Exception:
                pass
            await asyncio.sleep(0.1)


def attacker_process(url: str, port: int, bogus: int, idle: int, addresses: int, stop: Any, out: Any) -> None:
    """The attack in a process of its own, so that it does not slow the load generator's loop."""
    async def attack() -> None:
        attack = Attack(url, port, bogus, idle, addresses)
        attack.start()
        while not stop.is_set():
            await asyncio.sleep(0.2)
        held = attack.held
        await attack.stop()
        out.put({**attack.report(), "held": held})
    asyncio.run(attack())


async def therapist_logins(url: str, stop: asyncio.Event, times_ms: list[float], failures: list[str]) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        try:
            async with connect(url, compression=None, local_addr=("127.0.0.1", 0)) as ws:
                reply = await asyncio.wait_for(
                    request(ws, {"type": "login", "username": THERAPIST, "password": PASSWORD}), 10)
            if reply["type"] == "welcome":
                times_ms.append((time.perf_counter() - started) * 1000.0)
            else:
                failures.append(str(reply.get("code")))
        except Exception as exc:
            failures.append(type(exc).__name__)
        await asyncio.sleep(1.0)


async def run(args: argparse.Namespace, database_url: str, attacked: bool) -> dict[str, Any]:
    stations = seed(database_url, args.stations)
    proc, port = await start_process(sys.executable, "-m", "server", "--port", "0", "--database-url",
                                     database_url, "--log-level", "ERROR", "serve")
    url = f"ws://127.0.0.1:{port}"
    ctx = multiprocessing.get_context("spawn")
    attack_stop, attack_out = ctx.Event(), ctx.Queue()
    attacker = ctx.Process(target=attacker_process, args=(url, port, args.bogus, args.idle, args.attacker_addresses,
                                                          attack_stop, attack_out)) if attacked else None
    stop = asyncio.Event()
    logins: list[float] = []
    login_failures: list[str] = []
    report: dict[str, Any] = {"held": 0, "answers": {}, "errors": {}}
    try:
        rss_before = rss_mb(proc.pid)
        if attacker is not None:
            attacker.start()
            await asyncio.sleep(3.0)  # the flood and the idle crowd build up first
        spy = None
        if attacked and args.py_spy:  # where the attacked server's time goes (folded stacks: bench/folded.py)
            spy = await asyncio.create_subprocess_exec(
                str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(proc.pid), "--rate", "250",
                "--duration", str(int(args.warmup + args.seconds)), "--format", "raw", "--output", args.py_spy,
                "--nonblocking", stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        watcher = asyncio.create_task(therapist_logins(url, stop, logins, login_failures))
        loads = [StationLoad(name, tokens) for name, tokens in stations]
        attacker_cpu0, started = (cpu_seconds(attacker.pid) if attacker is not None and attacker.pid else 0.0,
                                  time.perf_counter())
        sent, delivered, latencies, cpu, rss = await drive(url, loads, args.rate_hz, args.seconds, args.warmup,
                                                           proc.pid, full=True)
        attacker_cpu = ((cpu_seconds(attacker.pid) - attacker_cpu0) / (time.perf_counter() - started) * 100.0
                        if attacker is not None and attacker.pid else 0.0)
        stop.set()
        await watcher
        if spy is not None:
            await spy.wait()
        if attacker is not None:
            attack_stop.set()
            report = await asyncio.to_thread(attack_out.get, True, 30)
            attacker.join(10)
        await asyncio.sleep(1.0)
        rss_after = rss_mb(proc.pid)
    finally:
        proc.terminate()
        await proc.wait()
    return {"p99": float(np.percentile(latencies, 99)) if latencies.size else float("nan"),
            "p50": float(np.percentile(latencies, 50)) if latencies.size else float("nan"),
            "lost": sent - delivered, "cpu": cpu, "attacker_cpu": attacker_cpu, "rss_before": rss_before,
            "rss_peak": rss,
            "rss_after": rss_after, "logins": logins, "login_failures": login_failures, **report}


def describe(label: str, r: dict[str, Any]) -> str:
    logins = np.array(r["logins"], dtype=float)
    login = (f"{np.median(logins):.0f} / {logins.max():.0f} ms over {logins.size}" if logins.size
             else "none succeeded")
    failures = collections.Counter(r["login_failures"])
    return (f"{label:<9} station p50 {r['p50']:6.2f} ms  p99 {r['p99']:7.2f} ms  lost {r['lost']}  "
            f"server CPU {r['cpu']:.0f} %  RSS {r['rss_before']:.0f} -> {r['rss_peak']:.0f} -> "
            f"{r['rss_after']:.0f} MB\n{'':<9} therapist login median / max {login}"
            + (f"; failed: {dict(failures)}" if failures else ""))


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    load_arguments(p, 4, "stations playing meanwhile", 2.0)
    p.add_argument("--bogus", type=int, default=50, help="parallel bogus logins")
    p.add_argument("--idle", type=int, default=1000, help="idle sockets held open")
    p.add_argument("--attacker-addresses", type=int, default=1,
                   help="spread the attack over this many loopback addresses (127.0.1.x)")
    p.add_argument("--py-spy", default=None, metavar="PATH",
                   help="sample the attacked server with py-spy (the bench extra) into PATH (folded stacks)")
    args = p.parse_args()
    tmp = tempfile.TemporaryDirectory()
    database_url = f"sqlite:///{tmp.name}/abuse.sqlite3"
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs; {args.stations} stations at "
          f"{args.rate_hz:.0f} Hz, {args.seconds:.0f} s measured; attack: {args.bogus} bogus logins, "
          f"{args.idle} idle sockets, from {args.attacker_addresses} address(es)")
    quiet = await run(args, database_url, attacked=False)
    print(describe("quiet", quiet), flush=True)
    attacked = await run(args, database_url, attacked=True)
    print(describe("attacked", attacked))
    print(f"{'':<9} idle sockets held at the end {attacked['held']}; bogus logins answered {attacked['answers']}")
    print(f"{'':<9} the attacker's process used {attacked['attacker_cpu']:.0f} % of a core (on this machine too)")
    print(attacked["errors"])
    ratio = float(attacked["p99"]) / float(quiet["p99"])
    logins = attacked["logins"]
    worst = max(logins) if logins else float("inf")
    print(f"# station p99 attacked / quiet: {ratio:.2f}x (target <= 2x); "
          f"therapist's slowest login under attack: {worst:.0f} ms (target < 1000 ms)")
    tmp.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
