"""Flood benchmark: other stations' latency with and without a maxed-out pressure mat.

N stations play stepping (a tracker at R Hz plus a headset each, as in bench/load.py) against the
full server, first alone, then while one more station's device sends valid 80 x 80 pressure grids
(msgpack float64 kPa, the largest grid accepted) at 700 Hz, from a separate process: the rate a
probe reached, under the device's message-rate limit (2000/s; a faster flood is cut off by that).
It prints the N stations' latency (foot event to the headset state showing it) and the server's
CPU in both runs, how many grids the flooder sent and what the server answered it.

    .venv/bin/python bench/flood.py                        # 8 stations at 120 Hz, 10 s each run
    .venv/bin/python bench/flood.py --stations 16 --seconds 15 --flood-hz 1500
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

import msgpack
import numpy as np
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.load import StationLoad, drive, load_arguments, seed, start_process  # noqa: E402
from server.wire import PROTOCOL_VERSION  # noqa: E402

ROWS = COLS = 80


def grid(seq: int) -> bytes:
    kpa = np.zeros((ROWS, COLS))
    kpa[10:30, 10:20] = 40.0 + seq % 7
    kpa[10:30, 40:50] = 35.0
    return msgpack.packb({"type": "pressure", "v": PROTOCOL_VERSION, "t_s": seq / 1000.0, "seq": seq,
                          "kpa": kpa.tolist()})


async def flood(url: str, station: str, token: str, seconds: float, rate_hz: float) -> dict[str, object]:
    """Send grids at ``rate_hz`` (or as fast as the socket takes them, if slower); count the
    server's replies by error code."""
    ws = await connect(url, compression=None, max_size=1 << 20)
    await ws.send(msgpack.packb({"type": "hello", "v": PROTOCOL_VERSION, "role": "device", "station": station,
                                 "token": token}))
    msgpack.unpackb(await ws.recv(decode=False))
    await ws.send(msgpack.packb({"type": "mat_setup", "v": PROTOCOL_VERSION, "id": 1, "kind": "grid", "rows": ROWS,
                                 "cols": COLS, "cell_m": [0.01, 0.01], "forward": "+y", "mode": "explicit",
                                 "origin_m": [0.4, 0.4]}))
    assert msgpack.unpackb(await ws.recv(decode=False))["type"] == "ok"
    codes: dict[str, int] = {}

    async def read() -> None:
        try:
            async for frame in ws:
                assert isinstance(frame, bytes)  # the server answers msgpack with msgpack
                code = msgpack.unpackb(frame).get("code", "other")
                codes[code] = codes.get(code, 0) + 1
        except ConnectionClosed:
            pass

    reader = asyncio.create_task(read())
    frames = [grid(i) for i in range(8)]
    sent, start = 0, time.perf_counter()
    try:
        while (now := time.perf_counter()) - start < seconds:
            await ws.send(frames[sent % 8])
            sent += 1
            await asyncio.sleep(max(0.0, start + sent / rate_hz - now))
    except ConnectionClosed:
        pass
    elapsed = time.perf_counter() - start
    await ws.close()
    await reader
    return {"sent_per_s": sent / elapsed, "replies": codes, "closed_by_server": ws.close_code not in (None, 1000)}


def flood_process(url: str, station: str, token: str, seconds: float, rate_hz: float,
                  results: multiprocessing.Queue[dict]) -> None:
    results.put(asyncio.run(flood(url, station, token, seconds, rate_hz)))


async def run(args: argparse.Namespace, database_url: str, with_flood: bool) -> str:
    stations = seed(database_url, args.stations + 1)
    flooder_name, flooder_tokens = stations[-1]
    proc, port = await start_process(sys.executable, "-m", "server", "--port", "0", "--database-url",
                                     database_url, "--log-level", "WARNING", "serve")
    url = f"ws://127.0.0.1:{port}"
    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: not a fork of this event loop
    results = spawn.Queue()
    flooder = None
    try:
        if with_flood:
            flooder = spawn.Process(target=flood_process, args=(
                url, flooder_name, flooder_tokens.device, args.warmup + args.seconds + 1.0, args.flood_hz, results))
            flooder.start()
        loads = [StationLoad(name, tokens) for name, tokens in stations[:-1]]
        sent, delivered, lat, cpu, _rss = await drive(url, loads, args.rate_hz, args.seconds, args.warmup,
                                                     proc.pid, True)
    finally:
        if flooder is not None:
            flooder.join(60)
        proc.terminate()
        await proc.wait()
    p50, p99, mx = (np.percentile(lat, 50), np.percentile(lat, 99), lat.max()) if lat.size else (np.nan,) * 3
    row = (f"{'with' if with_flood else 'without':<8} {sent:>8} {delivered:>9} {p50:8.2f} {p99:8.2f} {mx:8.2f}"
           f" {cpu:6.0f}%")
    if flooder is not None:
        report = results.get(timeout=5)
        row += (f"   flooder: {report['sent_per_s']:.0f} grids/s sent, replies {report['replies']}, "
                f"{'closed by the server' if report['closed_by_server'] else 'still connected'}")
    return row


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    load_arguments(p, 8, "stations playing beside the flooder", 3.0)
    p.add_argument("--flood-hz", type=float, default=700.0, help="grids per second the flooder sends")
    p.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    args = p.parse_args()
    tmp = tempfile.TemporaryDirectory()
    database_url = args.database_url or f"sqlite:///{tmp.name}/flood.sqlite3"
    print(f"# {os.cpu_count()} CPUs; {args.stations} stations at {args.rate_hz:.0f} Hz, {args.seconds:.0f} s "
          f"measured after {args.warmup:.0f} s; flooder: {ROWS}x{COLS} msgpack grids at {args.flood_hz:.0f} Hz")
    print(f"{'flood':<8} {'sent':>8} {'delivered':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'CPU':>7}")
    for with_flood in (False, True):
        print(await run(args, database_url, with_flood), flush=True)
    tmp.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
