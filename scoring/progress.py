"""A one-line text progress bar on stderr, drawn only where a person is watching.

It draws when its stream is a terminal (or when forced), so test runs and CI logs stay clean;
redraws are throttled, and the last one (100 %) always shows.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """``update(done, total)`` as work proceeds, ``close()`` at the end (or use ``with``)."""

    def __init__(self, label: str = "", *, stream: TextIO | None = None, force: bool = False,
                 width: int = 30, min_interval_s: float = 0.1) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = force or bool(isatty and isatty())
        self.width = width
        self.min_interval_s = min_interval_s
        self._last_draw = float("-inf")
        self._drawn = False

    def update(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        finished = total > 0 and done >= total
        if not finished and now - self._last_draw < self.min_interval_s:
            return
        self._last_draw = now
        share = min(1.0, done / total) if total > 0 else 0.0
        filled = round(share * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        label = f"{self.label} " if self.label else ""
        self.stream.write(f"\r{label}[{bar}] {share * 100:3.0f}% {done}/{total}")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        """End the bar's line (if one was drawn) so later output starts on a fresh line."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
