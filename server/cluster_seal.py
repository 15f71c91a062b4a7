"""Authenticated cluster messages: only a process holding the cluster secret can speak on the bus.

Anyone who can publish to the clinic's Redis could otherwise stop a game or act as a therapist.
Every publication is sealed with HMAC-SHA256 under the shared secret, over its channel and its
body; the body carries the sender's clock and a nonce, so a captured message cannot be replayed
on another channel, later than ``REPLAY_WINDOW_S``, or twice within it. Clocks of the processes
must agree to within that window (NTP). Refused messages are counted and logged at most every
``LOG_EVERY_S``: whoever floods the bus with forgeries cannot flood the log too.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import itertools
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import msgpack

from server.log_limit import LimitedLog

log = logging.getLogger(__name__)

MAC_BYTES = 32  # SHA-256
REPLAY_WINDOW_S = 10.0
LOG_EVERY_S = 10.0
MIN_SECRET_BYTES = 16


class ClusterSeal:
    """Seals this process's publications and opens (verifies) everyone's."""

    def __init__(self, secret: bytes, clock: Callable[[], float] = time.time) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(f"the cluster secret must be at least {MIN_SECRET_BYTES} bytes")
        self._secret = secret
        self._clock = clock
        self._nonce_prefix = os.urandom(8)  # unique to this process run, the counter within it
        self._counter = itertools.count()
        self._seen: set[bytes] = set()
        self._seen_order: collections.deque[tuple[float, bytes]] = collections.deque()
        self._log = LimitedLog(log, LOG_EVERY_S)

    def _mac(self, channel: str, body: bytes) -> bytes:
        return hmac.new(self._secret, channel.encode() + b"\0" + body, hashlib.sha256).digest()

    def seal(self, channel: str, payload: dict[str, Any]) -> bytes:
        nonce = self._nonce_prefix + next(self._counter).to_bytes(8, "big")
        body = msgpack.packb({**payload, "ts": self._clock(), "nonce": nonce}, use_bin_type=True)
        return self._mac(channel, body) + body

    def open(self, channel: str, data: bytes) -> dict[str, Any] | None:
        """The payload of an authentic, fresh message; None (counted, logged) for anything else."""
        mac, body = data[:MAC_BYTES], data[MAC_BYTES:]
        if len(mac) < MAC_BYTES or not hmac.compare_digest(mac, self._mac(channel, body)):
            self._refuse(channel, "bad or missing HMAC (forged, or another cluster secret)")
            return None
        try:
            payload = msgpack.unpackb(body, raw=False)
        except Exception:
            self._refuse(channel, "unreadable payload")
            return None
        if not isinstance(payload, dict):
            self._refuse(channel, "unreadable payload")
            return None
        now = self._clock()
        ts, nonce = payload.get("ts"), payload.get("nonce")
        if not isinstance(ts, float | int) or not isinstance(nonce, bytes) or not abs(now - ts) <= REPLAY_WINDOW_S:
            self._refuse(channel, f"outside the {REPLAY_WINDOW_S:g} s window (replayed, or clocks apart)")
            return None
        self._forget_old(now)
        if nonce in self._seen:
            self._refuse(channel, "replayed (nonce seen before)")
            return None
        self._seen.add(nonce)
        self._seen_order.append((now, nonce))
        return payload

    def _forget_old(self, now: float) -> None:
        """Nonces older than the window need not be kept: their messages fail the clock check."""
        while self._seen_order and now - self._seen_order[0][0] > 2 * REPLAY_WINDOW_S:
            self._seen.discard(self._seen_order.popleft()[1])

    @property
    def refused(self) -> int:
        return self._log.total

    def _refuse(self, channel: str, why: str) -> None:
        self._log.warning("refused cluster message on %s: %s", channel, why)


def read_secret(path: str | None, value: str | None) -> bytes | None:
    """The secret from a file (its content, surrounding whitespace stripped) or from a value
    (the environment); a file wins, as it keeps the secret out of the process's environment."""
    if path:
        with open(path, "rb") as f:
            return f.read().strip()
    return value.encode() if value else None
