"""Per-connection message rate limit: a token bucket, refilled continuously."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

# Messages per second each role may send, with a burst of one second's worth. A 240 Hz tracker
# sends 480 foot events/s; headsets and therapists send a few messages a second at most.
ROLE_RATES_PER_S: dict[str, float] = {"device": 2000.0, "headset": 50.0, "therapist": 50.0}


@dataclass(slots=True)
class TokenBucket:
    rate_per_s: float
    tokens: float = 0.0
    last: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.tokens = self.rate_per_s

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.rate_per_s, self.tokens + (now - self.last) * self.rate_per_s)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False
