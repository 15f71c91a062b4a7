"""Warnings a client can trigger at will, logged at most every few seconds with a count."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class LimitedLog:
    """One kind of warning: the first is logged at once, later ones at most every ``every_s``
    seconds, each line saying how many were held back since the one before."""

    def __init__(self, logger: logging.Logger, every_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.every_s = every_s
        self.clock = clock
        self.total = 0
        self._held = 0
        self._logged_at = float("-inf")

    def warning(self, message: str, *args: object) -> bool:
        """Count one occurrence; log it if the last line is old enough. True if it was logged."""
        self.total += 1
        now = self.clock()
        if now - self._logged_at < self.every_s:
            self._held += 1
            return False
        held, self._held, self._logged_at = self._held, 0, now
        self.logger.warning(message + " (%d more since the last such line; %d since start)",
                            *args, held, self.total)
        return True
