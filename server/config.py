"""Server configuration from CLI flags, falling back to ``STRIDEVR_*`` environment variables."""

from __future__ import annotations

import argparse
import os
import socket
from dataclasses import dataclass, field
from typing import Any

from server.cluster_seal import MIN_SECRET_BYTES, read_secret
from server.storage.database import DEFAULT_SQLITE_URL


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8765
    database_url: str = DEFAULT_SQLITE_URL
    tick_hz: float = 60.0
    # at most this many states a second to a station's viewers (0: one per event-loop pass);
    # see server/state_pacing.py
    state_hz: float = 0.0
    log_level: str = "INFO"
    max_frame_bytes: int = 64 * 1024
    # a connection must authenticate within this (the websocket handshake too); at most this many
    # may be waiting to, and this many from one address: one machine's idle sockets cannot crowd
    # out the stations and therapists of others
    auth_timeout_s: float = 5.0
    max_unauthenticated: int = 1024
    max_unauthenticated_per_address: int = 32
    # new connections one address may open per second (bursts of 4 s worth); 0 = no limit
    new_connections_per_address_per_s: float = 50.0
    max_errors_per_minute: int = 30
    session_ttl_s: float = 8 * 3600.0
    redis_url: str | None = None
    node_id: str = "local"
    redis_prefix: str = "stridevr"
    cluster_secret: bytes | None = field(default=None, repr=False)  # never in a log line
    # several processes: a game started anywhere runs on the process its station's devices are on
    station_affinity: bool = True
    smallest_change_path: str | None = None  # the clinic's thresholds (scoring/smallest_change.py)
    device_silence_s: float = 5.0  # a connected device silent this long pauses the game, as if gone
    device_timeout_s: float = 300.0  # a game this long without a device ends (device_timeout)
    lsl_markers: str | None = None  # the name of the game-event LSL marker stream, or none
    # PEM files: with both, the one port serves https:// and wss:// only (server/tls.py)
    tls_cert: str | None = None
    tls_key: str | None = None
    insecure_http: bool = False  # plaintext on a non-loopback --host: refused without it

    @property
    def scheme(self) -> str:
        """The websocket URL scheme clients use here."""
        return "wss" if self.tls_cert else "ws"

    @property
    def web_scheme(self) -> str:
        """The panel's (and every page's) URL scheme here."""
        return "https" if self.tls_cert else "http"


ENV_PREFIX = "STRIDEVR_"


def _option(parser: argparse.ArgumentParser, flag: str, kind: type[Any], default: Any, help_: str) -> None:
    """``--some-flag``, defaulting to env ``STRIDEVR_SOME_FLAG`` and then to ``default``; the help
    names the variable, so each option is declared once."""
    name = ENV_PREFIX + flag.removeprefix("--").replace("-", "_").upper()
    from_env = os.environ.get(name)
    parser.add_argument(flag, type=kind, default=kind(from_env) if from_env is not None else default,
                        help=f"{help_} (env {name})")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = Settings()
    _option(parser, "--host", str, d.host,
            "address to listen on (0.0.0.0: every interface); an address other machines reach needs "
            "--tls-cert and --tls-key, or --insecure-http")
    _option(parser, "--port", int, d.port, "TCP port, 0 for any free port")
    _option(parser, "--database-url", str, d.database_url,
            "SQLAlchemy URL; SQLite file by default, postgresql://... in production")
    _option(parser, "--tick-hz", float, d.tick_hz, "game timer rate in Hz")
    _option(parser, "--state-hz", float, d.state_hz,
            "at most this many states a second to a station's headsets and watchers (0: no cap)")
    _option(parser, "--log-level", str, d.log_level, "DEBUG, INFO, WARNING or ERROR")
    _option(parser, "--max-frame-bytes", int, d.max_frame_bytes, "largest websocket frame accepted")
    _option(parser, "--auth-timeout-s", float, d.auth_timeout_s,
            "seconds a new connection has to complete the handshake and authenticate")
    _option(parser, "--max-unauthenticated", int, d.max_unauthenticated,
            "connections that may be waiting to authenticate at once; more are refused")
    _option(parser, "--max-unauthenticated-per-address", int, d.max_unauthenticated_per_address,
            "of those, how many from one address")
    _option(parser, "--new-connections-per-address-per-s", float, d.new_connections_per_address_per_s,
            "new connections one address may open per second, in bursts of four seconds' worth; more "
            "get HTTP 429; 0 for no limit")
    _option(parser, "--device-silence-s", float, d.device_silence_s,
            "a connected device that sends nothing this long (s) pauses its station's game like a "
            "disconnected one")
    _option(parser, "--device-timeout-s", float, d.device_timeout_s,
            "a game paused this long (s) for want of a device ends with reason device_timeout, its "
            "trials stored")
    _option(parser, "--session-ttl-s", float, d.session_ttl_s,
            "how long a therapist login stays valid, in seconds")
    _option(parser, "--redis-url", str, d.redis_url,
            "run as one of several server processes coordinated through this Redis; without it the "
            "server runs alone")
    _option(parser, "--node-id", str, None,
            "this process's stable name among several (default: host name and port)")
    _option(parser, "--cluster-secret-file", str, None,
            "file holding the secret every server process of the cluster shares, to authenticate their "
            "messages over Redis; required with --redis-url (or the secret itself in env "
            "STRIDEVR_CLUSTER_SECRET)")
    _option(parser, "--redis-prefix", str, d.redis_prefix, "prefix of every Redis key and channel")
    no_affinity = ENV_PREFIX + "NO_STATION_AFFINITY"
    parser.add_argument("--no-station-affinity", action="store_true",
                        default=os.environ.get(no_affinity, "").lower() in ("1", "true", "yes", "on"),
                        help="with several processes, run a game on the process its start_game reached "
                             "rather than on the one its station's devices are connected to (their input "
                             f"then crosses Redis) (env {no_affinity}=1)")
    _option(parser, "--tls-cert", str, None,
            "PEM certificate (its chain after it) to serve https:// and wss:// on the port; made by "
            "`python -m server tls-init`")
    _option(parser, "--tls-key", str, None, "PEM private key of --tls-cert")
    insecure = ENV_PREFIX + "INSECURE_HTTP"
    parser.add_argument("--insecure-http", action="store_true",
                        default=os.environ.get(insecure, "").lower() in ("1", "true", "yes", "on"),
                        help="serve plain http:// and ws:// on an address other machines reach (behind a "
                             f"TLS proxy of your own); logged as a warning (env {insecure}=1)")
    _option(parser, "--smallest-change", str, None,
            "TOML file of the clinic's smallest change worth noting per assessment metric, each with "
            "its source (default: the built-in conservative values)")
    _option(parser, "--lsl-markers", str, None,
            "publish the game's events (targets, foot landings, outcomes, cues, session start and stop) "
            "as a Lab Streaming Layer marker stream of this name, stamped on LSL's clock; needs pylsl "
            "(pip install 'stridevr[lsl]'); the stream is unauthenticated: lab networks only")


def from_arguments(args: argparse.Namespace) -> Settings:
    if not 1.0 <= args.tick_hz <= 1000.0:
        raise SystemExit("--tick-hz must be between 1 and 1000")
    if not (args.state_hz == 0 or 10.0 <= args.state_hz <= 1000.0):
        raise SystemExit("--state-hz must be 0 (no cap) or between 10 and 1000")
    if not 0.1 <= args.auth_timeout_s <= 300.0:
        raise SystemExit("--auth-timeout-s must be between 0.1 and 300")
    if args.max_unauthenticated < 1 or args.max_unauthenticated_per_address < 1:
        raise SystemExit("--max-unauthenticated and --max-unauthenticated-per-address must be at least 1")
    if not 0.5 <= args.device_silence_s <= 600.0:
        raise SystemExit("--device-silence-s must be between 0.5 and 600")
    if not 0.5 <= args.device_timeout_s <= 86400.0:
        raise SystemExit("--device-timeout-s must be between 0.5 and 86400")
    if not 0 <= args.port <= 65535:
        raise SystemExit("--port must be between 0 and 65535")
    if bool(args.tls_cert) != bool(args.tls_key):
        raise SystemExit("--tls-cert and --tls-key go together: the certificate and its private key")
    try:
        secret = read_secret(args.cluster_secret_file, os.environ.get(ENV_PREFIX + "CLUSTER_SECRET"))
    except OSError as exc:
        raise SystemExit(f"--cluster-secret-file: cannot read {args.cluster_secret_file}: "
                         f"{exc.strerror}") from None
    if args.redis_url and secret is None:
        raise SystemExit("--redis-url needs a cluster secret, shared by every server process of the cluster: "
                         "--cluster-secret-file FILE or env STRIDEVR_CLUSTER_SECRET (make one with "
                         "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`)")
    if secret is not None and len(secret) < MIN_SECRET_BYTES:
        raise SystemExit(f"the cluster secret must be at least {MIN_SECRET_BYTES} bytes; "
                         f"this one has {len(secret)}")
    return Settings(
        host=args.host,
        port=args.port,
        database_url=args.database_url,
        tick_hz=args.tick_hz,
        state_hz=args.state_hz,
        log_level=args.log_level.upper(),
        max_frame_bytes=args.max_frame_bytes,
        session_ttl_s=args.session_ttl_s,
        auth_timeout_s=args.auth_timeout_s,
        max_unauthenticated=args.max_unauthenticated,
        max_unauthenticated_per_address=args.max_unauthenticated_per_address,
        new_connections_per_address_per_s=args.new_connections_per_address_per_s,
        redis_url=args.redis_url or None,
        node_id=args.node_id or (f"{socket.gethostname()}-{args.port}" if args.redis_url else "local"),
        redis_prefix=args.redis_prefix,
        cluster_secret=secret,
        station_affinity=not args.no_station_affinity,
        smallest_change_path=args.smallest_change or None,
        device_silence_s=args.device_silence_s,
        device_timeout_s=args.device_timeout_s,
        lsl_markers=args.lsl_markers or None,
        tls_cert=args.tls_cert or None,
        tls_key=args.tls_key or None,
        insecure_http=args.insecure_http,
    )
