"""Per-connection input limits: what a client may make the server read and compute each second.

Counting messages is not enough: one valid 80 x 80 pressure grid costs the server as much as a
thousand foot events. So each connection has token buckets for

* **messages** per second (a flood of tiny messages),
* **bytes** per second, checked before a frame is decoded (decoding costs about its size), and
* for a device, **grid cells** per second, checked before a pressure grid is parsed and searched
  for feet (that work grows with its cells, whatever the frame's size in bytes), and **headset
  poses** per second (a WebXR headset streaming as the station's tracker sends at most 90).

A message over the message rate is refused with ``rate_limited``, each time. A frame over the byte
or cell budget is dropped; the first drop is answered with ``over_budget`` at once, later ones at
most once a second, saying how many were dropped. Each such error counts toward the connection's
cut-off (``--max-errors-per-minute``), so a device that stays over budget is closed after that many
seconds, while a short burst costs a few frames and nothing else.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from server.codec import ProtocolError

# Messages per second each role may send, with a burst of one second's worth. A 240 Hz tracker
# sends 480 foot events/s; headsets and therapists send a few messages a second at most.
ROLE_RATES_PER_S: dict[str, float] = {"device": 2000.0, "headset": 50.0, "therapist": 50.0}
# Bytes per second each role may send. A device: a frame of the default largest size (64 KiB) at
# 100 Hz; a 64 x 64 mat at 100 Hz sends 3.7 MB/s as msgpack floats. Headsets and therapists send
# small messages.
ROLE_BYTES_PER_S: dict[str, float] = {"device": 64 * 1024 * 100.0, "headset": 256_000.0,
                                      "therapist": 1_000_000.0}
# Grid cells per second one device may send: a 64 x 64 mat at 125 Hz (the largest grid accepted,
# 80 x 80, at 80 Hz). At that rate parsing grids and finding feet in them takes 5-15 % of a core.
DEVICE_CELLS_PER_S = 64 * 64 * 125.0
# How much of a byte or cell budget may arrive at once: a quarter second's worth (a mat's frames
# bunched by a network hiccup), not a whole second's (that much work at once stalls the loop).
BURST_S = 0.25
# Headset poses (``xr_pose``) per second one device may send: 90 Hz and a margin for a frame clock
# that runs fast (120 Hz displays), with a quarter second's burst. A pose costs the tracker path's
# work; more of them say nothing the game can use.
DEVICE_POSES_PER_S = 125.0
REPORT_EVERY_S = 1.0


@dataclass(slots=True)
class TokenBucket:
    """``rate_per_s`` tokens a second, holding at most ``capacity`` (default: one second's worth)."""

    rate_per_s: float
    capacity: float = 0.0
    clock: Callable[[], float] = time.monotonic
    tokens: float = 0.0
    last: float = 0.0

    def __post_init__(self) -> None:
        self.capacity = self.capacity or self.rate_per_s
        self.tokens = self.capacity
        self.last = self.clock()

    def take(self, amount: float = 1.0) -> bool:
        return self.take_at(self.clock(), amount)

    def take_at(self, now: float, amount: float) -> bool:
        """:meth:`take` at a time already read from the bucket's clock (several buckets, one read)."""
        tokens = self.tokens + (now - self.last) * self.rate_per_s
        self.tokens = tokens if tokens < self.capacity else self.capacity
        self.last = now
        if self.tokens >= amount:
            self.tokens -= amount
            return True
        return False

    def allow(self) -> bool:
        return self.take(1.0)


@dataclass(slots=True)
class InputBudget:
    """One connection's limits. ``admit_frame`` before decoding, ``admit_cells`` before a grid's
    work; each returns True to go on, False to drop the frame quietly (already reported this
    second), or raises the :class:`ProtocolError` to send back."""

    messages: TokenBucket
    bytes: TokenBucket
    cells: TokenBucket | None = None
    poses: TokenBucket | None = None
    clock: Callable[[], float] = time.monotonic
    dropped: int = 0  # frames dropped over the byte or cell budget, in all
    _unreported: int = 0
    _reported_at: float = field(default=float("-inf"))

    @classmethod
    def for_role(cls, role: str, max_frame_bytes: int = 0,
                 clock: Callable[[], float] = time.monotonic) -> InputBudget:
        """A role's budget; the byte burst always holds at least one frame of the largest size."""
        byte_rate = ROLE_BYTES_PER_S[role]
        device = role == "device"
        cells = TokenBucket(DEVICE_CELLS_PER_S, DEVICE_CELLS_PER_S * BURST_S, clock) if device else None
        poses = TokenBucket(DEVICE_POSES_PER_S, DEVICE_POSES_PER_S * BURST_S, clock) if device else None
        return cls(TokenBucket(ROLE_RATES_PER_S[role], clock=clock),
                   TokenBucket(byte_rate, max(byte_rate * BURST_S, max_frame_bytes), clock), cells, poses, clock)

    def admit_frame(self, size_bytes: int) -> bool:
        now = self.clock()  # the budget's buckets share its clock: read once per frame
        if not self.messages.take_at(now, 1.0):
            raise ProtocolError("rate_limited", f"more than {self.messages.rate_per_s:.0f} messages/s; "
                                "message dropped")
        if self.bytes.take_at(now, size_bytes):
            return True
        return self._drop(f"more than {self.bytes.rate_per_s / 1e6:g} MB/s")

    def admit_cells(self, cells: int) -> bool:
        if self.cells is None or self.cells.take(cells):
            return True
        return self._drop(f"more than {self.cells.rate_per_s:.0f} pressure cells/s")

    def admit_pose(self) -> bool:
        if self.poses is None or self.poses.take():
            return True
        return self._drop(f"more than {self.poses.rate_per_s:.0f} headset poses/s")

    def _drop(self, what: str) -> bool:
        self.dropped += 1
        self._unreported += 1
        now = self.clock()
        if now - self._reported_at < REPORT_EVERY_S:
            return False
        count, self._unreported, self._reported_at = self._unreported, 0, now
        raise ProtocolError("over_budget", f"{what}: {count} frame(s) dropped; "
                            "send smaller or fewer frames (see docs/protocol.md)")
