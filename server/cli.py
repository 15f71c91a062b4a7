"""Command line: ``python -m server [serve|migrate|seed-demo]``, the account and station commands of
:mod:`server.cli_accounts` (create-therapist, set-password, set-active, station-token), the
records commands of :mod:`server.cli_records` (export-patient, erase-patient, backup, restore), the
outcome documents of :mod:`server.cli_outcomes` (report, fhir) and ``tls-init``
(:mod:`server.tls_init`: the clinic CA and the server's certificate)."""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import logging
import signal
import sys

from scoring.smallest_change import SmallestChangeError, load_smallest_changes
from server import cli_accounts, cli_outcomes, cli_records, tls_init
from server.config import add_arguments, from_arguments
from server.demo import seed_demo
from server.eventloop import loop_factory
from server.storage.database import migrate
from server.storage.store import AsyncStore, Store
from server.tls import TLSError, check_listener

log = logging.getLogger("stridevr")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server", description="StrideVR game server")
    add_arguments(parser)
    sub = parser.add_subparsers(dest="command")
    serve_p = sub.add_parser("serve", help="run the websocket server (default)")
    serve_p.add_argument("--migrate", action="store_true", help="migrate the database first")
    serve_p.add_argument("--demo", action="store_true",
                         help="create the demo clinic and print fresh demo credentials")
    sub.add_parser("migrate", help="create or upgrade the database schema")
    sub.add_parser("seed-demo", help="create the demo clinic and print fresh demo credentials")
    cli_accounts.add_parsers(sub)
    cli_records.add_parsers(sub)
    cli_outcomes.add_parsers(sub)
    tls_init.add_parser(sub)
    args = parser.parse_args(argv)
    settings = from_arguments(args)
    logging.basicConfig(level=settings.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    command = args.command or "serve"
    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 PID` prints every thread's stack to stderr

    if command == "tls-init":
        return tls_init.run(args, settings.port, settings.database_url)
    if command == "serve":
        try:  # before anything starts: plaintext on the network is refused here, said in one line
            check_listener(settings.host, settings.tls_cert is not None, settings.insecure_http)
        except TLSError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if command == "serve" and settings.smallest_change_path:
        try:  # before anything starts: a clinic's table that cannot be used stops the server here
            load_smallest_changes(settings.smallest_change_path)
        except SmallestChangeError as exc:
            print(f"error: --smallest-change: {exc}", file=sys.stderr)
            return 2
    if command == "migrate" or (command == "serve" and args.migrate):
        migrate(settings.database_url)
        log.info("database schema is up to date")
    if command == "migrate":
        return 0
    if command in cli_records.COMMANDS:
        return cli_records.run(command, args, settings.database_url)
    if command in cli_outcomes.COMMANDS:
        return cli_outcomes.run(command, args, settings.database_url)
    if command in cli_accounts.COMMANDS:
        return cli_accounts.run(command, args, settings.database_url)
    store = Store(settings.database_url)
    try:
        if command == "seed-demo" or (command == "serve" and args.demo):
            _print_demo(store)
        if command == "seed-demo":
            return 0
    except BaseException:
        store.close()
        raise
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(_serve(settings, store))


def _print_demo(store: Store) -> None:
    creds = seed_demo(store)
    print("=" * 64)
    print("StrideVR demo clinic ready (credentials are new on every start)")
    print(f"  therapist login : {creds.username} / {creds.password}")
    print(f"  admin login     : {creds.admin_username} / {creds.admin_password}")
    print(f"  station         : {creds.station}")
    print(f"    device token  : {creds.station_token}")
    print(f"    headset token : {creds.headset_token}")
    print("  demo patient    : DEMO-001 (affected side L, leg length 0.85 m)")
    print("=" * 64, flush=True)


async def _serve(settings, store: Store) -> int:  # type: ignore[no-untyped-def]
    from server.app import StrideServer
    from server.web import PanelMissing

    async_store = AsyncStore(store)
    server = StrideServer(settings, async_store)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await server.start()
    except (PanelMissing, TLSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        await server.stop()
        async_store.close()
        return 2
    print(f"StrideVR server listening on {settings.scheme}://{settings.host}:{server.port} "
          f"(panel: {settings.web_scheme}://{settings.host}:{server.port}/)", flush=True)
    await stop.wait()
    log.info("shutting down: finishing sessions and pending writes")
    await server.stop()
    async_store.close()
    return 0
