"""Server configuration from CLI flags, falling back to ``STRIDEVR_*`` environment variables."""

from __future__ import annotations

import argparse
import os
import socket
from dataclasses import dataclass, field

from scoring.storage.database import DEFAULT_SQLITE_URL
from server.cluster_seal import MIN_SECRET_BYTES, read_secret


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8765
    database_url: str = DEFAULT_SQLITE_URL
    tick_hz: float = 60.0
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
    smallest_change_path: str | None = None  # the clinic's thresholds (scoring/smallest_change.py)
    device_silence_s: float = 5.0  # a connected device silent this long pauses the game, as if gone
    device_timeout_s: float = 300.0  # a game this long without a device ends (device_timeout)


ENV_PREFIX = "STRIDEVR_"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = Settings()
    env = os.environ.get
    parser.add_argument("--host", default=env(ENV_PREFIX + "HOST", d.host),
                        help="address to listen on (env STRIDEVR_HOST)")
    parser.add_argument("--port", type=int, default=int(env(ENV_PREFIX + "PORT", d.port)),
                        help="TCP port, 0 for any free port (env STRIDEVR_PORT)")
    parser.add_argument("--database-url", default=env(ENV_PREFIX + "DATABASE_URL", d.database_url),
                        help="SQLAlchemy URL; SQLite file by default, postgresql://... in production "
                        "(env STRIDEVR_DATABASE_URL)")
    parser.add_argument("--tick-hz", type=float, default=float(env(ENV_PREFIX + "TICK_HZ", d.tick_hz)),
                        help="game timer rate in Hz (env STRIDEVR_TICK_HZ)")
    parser.add_argument("--log-level", default=env(ENV_PREFIX + "LOG_LEVEL", d.log_level),
                        help="DEBUG, INFO, WARNING or ERROR (env STRIDEVR_LOG_LEVEL)")
    parser.add_argument("--max-frame-bytes", type=int,
                        default=int(env(ENV_PREFIX + "MAX_FRAME_BYTES", d.max_frame_bytes)),
                        help="largest websocket frame accepted (env STRIDEVR_MAX_FRAME_BYTES)")

    parser.add_argument("--auth-timeout-s", type=float,
                        default=float(env(ENV_PREFIX + "AUTH_TIMEOUT_S", d.auth_timeout_s)),
                        help="seconds a new connection has to complete the handshake and authenticate "
                        "(env STRIDEVR_AUTH_TIMEOUT_S)")
    parser.add_argument("--max-unauthenticated", type=int,
                        default=int(env(ENV_PREFIX + "MAX_UNAUTHENTICATED", d.max_unauthenticated)),
                        help="connections that may be waiting to authenticate at once; more are "
                        "refused (env STRIDEVR_MAX_UNAUTHENTICATED)")
    parser.add_argument("--max-unauthenticated-per-address", type=int,
                        default=int(env(ENV_PREFIX + "MAX_UNAUTHENTICATED_PER_ADDRESS",
                                        d.max_unauthenticated_per_address)),
                        help="of those, how many from one address (env STRIDEVR_MAX_UNAUTHENTICATED_PER_ADDRESS)")
    parser.add_argument("--new-connections-per-address-per-s", type=float,
                        default=float(env(ENV_PREFIX + "NEW_CONNECTIONS_PER_ADDRESS_PER_S",
                                          d.new_connections_per_address_per_s)),
                        help="new connections one address may open per second, in bursts of four "
                        "seconds' worth; more get HTTP 429; 0 for no limit "
                        "(env STRIDEVR_NEW_CONNECTIONS_PER_ADDRESS_PER_S)")
    parser.add_argument("--device-silence-s", type=float,
                        default=float(env(ENV_PREFIX + "DEVICE_SILENCE_S", d.device_silence_s)),
                        help="a connected device that sends nothing this long (s) pauses its station's "
                        "game like a disconnected one (env STRIDEVR_DEVICE_SILENCE_S)")
    parser.add_argument("--device-timeout-s", type=float,
                        default=float(env(ENV_PREFIX + "DEVICE_TIMEOUT_S", d.device_timeout_s)),
                        help="a game paused this long (s) for want of a device ends with reason "
                        "device_timeout, its trials stored (env STRIDEVR_DEVICE_TIMEOUT_S)")
    parser.add_argument("--session-ttl-s", type=float,
                        default=float(env(ENV_PREFIX + "SESSION_TTL_S", d.session_ttl_s)),
                        help="how long a therapist login stays valid, in seconds (env STRIDEVR_SESSION_TTL_S)")
    parser.add_argument("--redis-url", default=env(ENV_PREFIX + "REDIS_URL", d.redis_url),
                        help="run as one of several server processes coordinated through this Redis "
                        "(env STRIDEVR_REDIS_URL); without it the server runs alone")
    parser.add_argument("--node-id", default=env(ENV_PREFIX + "NODE_ID"),
                        help="this process's stable name among several (env STRIDEVR_NODE_ID; "
                        "default: host name and port)")
    parser.add_argument("--cluster-secret-file", default=env(ENV_PREFIX + "CLUSTER_SECRET_FILE"),
                        help="file holding the secret every server process of the cluster shares, to "
                        "authenticate their messages over Redis; required with --redis-url (env "
                        "STRIDEVR_CLUSTER_SECRET_FILE, or the secret itself in env STRIDEVR_CLUSTER_SECRET)")
    parser.add_argument("--redis-prefix", default=env(ENV_PREFIX + "REDIS_PREFIX", d.redis_prefix),
                        help="prefix of every Redis key and channel (env STRIDEVR_REDIS_PREFIX)")
    parser.add_argument("--smallest-change", default=env(ENV_PREFIX + "SMALLEST_CHANGE"),
                        help="TOML file of the clinic's smallest change worth noting per assessment "
                        "metric, each with its source (env STRIDEVR_SMALLEST_CHANGE; default: the "
                        "built-in conservative values)")


def from_arguments(args: argparse.Namespace) -> Settings:
    if not 1.0 <= args.tick_hz <= 1000.0:
        raise SystemExit("--tick-hz must be between 1 and 1000")
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
        smallest_change_path=args.smallest_change or None,
        device_silence_s=args.device_silence_s,
        device_timeout_s=args.device_timeout_s,
    )
