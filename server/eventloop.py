"""The event loop StrideVR runs on: uvloop where installed (same asyncio semantics, less CPU per
message: bench/load.py measured p99 at 64 stations x 120 Hz fall from ~24 ms to ~6-9 ms), else
asyncio's own. Kept free of heavy imports so the benchmark's bare relay can share it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop
