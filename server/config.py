"""Server configuration from CLI flags, falling back to ``STRIDEVR_*`` environment variables."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

from scoring.storage.database import DEFAULT_SQLITE_URL


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8765
    database_url: str = DEFAULT_SQLITE_URL
    tick_hz: float = 60.0
    log_level: str = "INFO"
    max_frame_bytes: int = 64 * 1024
    auth_timeout_s: float = 10.0
    max_errors_per_minute: int = 30


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


def from_arguments(args: argparse.Namespace) -> Settings:
    if not 1.0 <= args.tick_hz <= 1000.0:
        raise SystemExit("--tick-hz must be between 1 and 1000")
    if not 0 <= args.port <= 65535:
        raise SystemExit("--port must be between 0 and 65535")
    return Settings(
        host=args.host,
        port=args.port,
        database_url=args.database_url,
        tick_hz=args.tick_hz,
        log_level=args.log_level.upper(),
        max_frame_bytes=args.max_frame_bytes,
    )
