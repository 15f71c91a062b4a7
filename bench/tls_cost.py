"""TLS's cost: the full server driven by the same stations over ws:// and then over wss://.

N stations play stepping (a tracker at R Hz plus a headset each, as in bench/load.py) against the
full server started twice: plain, then with a throwaway clinic certificate (``tls-init`` into a
temporary folder) so every frame is encrypted both ways. It prints the latency (foot event to the
headset state showing it) and the server's CPU of both runs. This process trusts the throwaway CA
through ``SSL_CERT_FILE`` (OpenSSL's own variable), so bench/load.py's client code runs unchanged.

    .venv/bin/python bench/tls_cost.py                     # 16 stations at 120 Hz, 10 s each run
    .venv/bin/python bench/tls_cost.py --stations 64 --seconds 15
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.load import StationLoad, drive, load_arguments, seed, start_process  # noqa: E402
from server.tls_init import make_certificates  # noqa: E402


async def run(args: argparse.Namespace, database_url: str, tls_files: tuple[Path, Path] | None) -> str:
    stations = seed(database_url, args.stations)
    tls = ["--tls-cert", str(tls_files[0]), "--tls-key", str(tls_files[1])] if tls_files else []
    proc, port = await start_process(sys.executable, "-m", "server", "--port", "0", "--database-url",
                                     database_url, "--log-level", "WARNING",
                                     "--new-connections-per-address-per-s", "0", *tls, "serve")
    url = f"{'wss' if tls_files else 'ws'}://127.0.0.1:{port}"
    try:
        loads = [StationLoad(name, tokens) for name, tokens in stations]
        sent, delivered, lat, cpu, rss = await drive(url, loads, args.rate_hz, args.seconds, args.warmup,
                                                     proc.pid, True)
    finally:
        proc.terminate()
        await proc.wait()
    p50, p99, mx = (np.percentile(lat, 50), np.percentile(lat, 99), lat.max()) if lat.size else (np.nan,) * 3
    return (f"{url.split(':')[0]:<6} {sent:>8} {delivered:>9} {p50:8.2f} {p99:8.2f} {mx:8.2f} {cpu:6.0f}%"
            f" {rss:7.1f}")


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    load_arguments(p, 16, "stations playing", 3.0)
    p.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    args = p.parse_args()
    tmp = tempfile.TemporaryDirectory()
    database_url = args.database_url or f"sqlite:///{tmp.name}/tls.sqlite3"
    made = make_certificates(Path(tmp.name) / "tls", "localhost", [])
    os.environ["SSL_CERT_FILE"] = str(made.ca_cert)  # this process's clients trust the throwaway CA
    print(f"# {os.cpu_count()} CPUs; {args.stations} stations at {args.rate_hz:.0f} Hz, {args.seconds:.0f} s "
          f"measured after {args.warmup:.0f} s; TLS 1.3 on loopback, ECDSA P-256 certificate")
    print(f"{'scheme':<6} {'sent':>8} {'delivered':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'CPU':>7}"
          f" {'RSS MB':>7}")
    for tls_files in (None, (made.server_cert, made.server_key)):
        print(await run(args, database_url, tls_files), flush=True)
    tmp.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
