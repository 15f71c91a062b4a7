"""A session's recorded input, written in chunks while it runs, so a server that dies loses little.

The session metrics need the tracker's markers, the balance points and the game's events (cues,
assessment stage marks); trials are stored one by one already. :class:`InputJournal` cuts what the
recorders gathered since the last chunk into new chunks, at most every ``FLUSH_EVERY_S`` seconds of
play and at most ``MAX_CHUNK_SAMPLES`` samples each; a restarted server rebuilds the recorders from
the stored chunks (:func:`restore`) and computes the metrics of the part that reached the database.

Packing: a chunk of samples is one little-endian float64 array, a row per sample, its columns named
in ``columns`` with their units (``t_s`` device seconds, positions ``_m`` in metres, the patient
frame the live recorders use). float64, not float32, because device times run to 1e5 s and more
(float32 would keep only centiseconds) and because the rebuilt recorders then hold exactly the
numbers a clean end would have analysed: same input, same metrics. Game events are few and
heterogeneous: a chunk of them is the msgpack list of the events as the headset got them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgpack
import numpy as np

from games.events import MarkerKey
from scoring.trajectories import SwayRecorder, TrajectoryRecorder

MARKERS = "markers"
EVENTS = "events"
# Other kinds are balance sources (SwayRecorder): "cop", "com_proxy".

# At most this much play is lost with a crash. Two seconds are one or two steps (gait needs whole
# strides anyway) and one small write every two seconds per station is nothing for the writer.
FLUSH_EVERY_S = 2.0
# Caps a chunk's size whatever the device's rate: 1024 tracker frames of 6 markers are ~150 kB
# (4 s at 240 Hz), small enough for one insert on SQLite or PostgreSQL.
MAX_CHUNK_SAMPLES = 1024
# How often the journal looks at the recorders at all (it is asked on every game tick, 60 Hz per
# station): a quarter second holds at most a few hundred samples at any device's rate.
LOOK_EVERY_S = 0.25
DTYPE = np.dtype("<f8")
MARKER_AXES = ("x_m", "y_m", "z_m")
SWAY_COLUMNS = ("t_s", "ap_m", "ml_m")


@dataclass(frozen=True, slots=True)
class InputChunk:
    """One stored chunk. ``samples`` rows (frames, balance points, or events); ``t_first_s`` and
    ``t_last_s`` are the device times it spans (None for events)."""

    seq: int
    kind: str
    samples: int
    t_first_s: float | None
    t_last_s: float | None
    columns: tuple[str, ...]
    data: bytes

    def array(self) -> np.ndarray:
        """The samples as an (N, columns) float64 array."""
        return np.frombuffer(self.data, dtype=DTYPE).reshape(self.samples, len(self.columns))


@dataclass(frozen=True, slots=True)
class PendingChunk:
    """What the journal cut out on the game loop: slices of the recorders' lists (references, cheap
    to take). :meth:`pack` turns them into an :class:`InputChunk` on the store's writer thread."""

    seq: int
    kind: str
    payload: Any  # events: list of dicts; markers: (times, {key: rows}); a balance source: (times, ap, ml)

    def pack(self) -> InputChunk:
        if self.kind == EVENTS:
            return InputChunk(self.seq, self.kind, len(self.payload), None, None, (), msgpack.packb(self.payload))
        if self.kind == MARKERS:
            times, rows = self.payload
            keys = sorted(rows)
            columns = marker_columns(keys)
            parts = [np.asarray(times, dtype=DTYPE), *(np.asarray(rows[k], dtype=DTYPE).reshape(-1, 3) for k in keys)]
        else:
            columns, parts = SWAY_COLUMNS, [np.asarray(p, dtype=DTYPE) for p in self.payload]
        data = np.column_stack(parts).astype(DTYPE, copy=False)
        return InputChunk(self.seq, self.kind, data.shape[0], float(data[0, 0]), float(data[-1, 0]), columns,
                          data.tobytes())


def marker_columns(keys: Iterable[MarkerKey]) -> tuple[str, ...]:
    return ("t_s", *(f"{side}.{name}.{axis}" for side, name in keys for axis in MARKER_AXES))


@dataclass(slots=True)
class InputJournal:
    """Remembers how much of the session's recorders is in chunks already; :meth:`take` cuts the
    rest. Called from the game's tick, so the live input costs nothing more than its append."""

    markers: TrajectoryRecorder
    sway: SwayRecorder
    events: list[dict[str, Any]]
    every_s: float = FLUSH_EVERY_S
    max_samples: int = MAX_CHUNK_SAMPLES
    _done: dict[str, int] = field(default_factory=dict)
    _seq: int = 0
    _last_s: float | None = None
    _next_look_s: float = float("-inf")
    _idle: bool = False  # the last look found nothing waiting

    def _counts(self) -> dict[str, int]:
        counts = {MARKERS: len(self.markers), EVENTS: len(self.events)}
        counts.update({source: self.sway.count(source) for source in self.sway.sources})
        return counts

    def next_look_s(self) -> float:
        """When :meth:`take` next looks (before then it returns none): at the flush time, but a full
        chunk, or anything at all after a look found nothing waiting, is looked for only every
        ``LOOK_EVERY_S``."""
        if self._last_s is None:
            return float("-inf")
        if self._idle:
            return self._next_look_s
        return min(self._next_look_s, self._last_s + self.every_s)

    def take(self, now_s: float, everything: bool = False) -> list[PendingChunk]:
        """New chunks when ``every_s`` passed since the last ones, when a kind has ``max_samples``
        waiting, or (``everything``) now; else none. Once a look found nothing waiting, the next
        is a ``LOOK_EVERY_S`` later (a game fed only foot events records nothing here)."""
        if self._last_s is None:
            self._last_s = now_s
        if not everything and now_s < self.next_look_s():
            return []
        self._next_look_s = now_s + LOOK_EVERY_S
        counts = self._counts()
        waiting = {kind: n - self._done.get(kind, 0) for kind, n in counts.items()}
        self._idle = not any(waiting.values())
        due = everything or now_s >= self._last_s + self.every_s  # the comparison next_look_s makes
        if not (due and any(waiting.values())) and max(waiting.values()) < self.max_samples:
            return []
        self._last_s = now_s
        out: list[PendingChunk] = []
        for kind, n in counts.items():
            start = self._done.get(kind, 0)
            while start < n and (due or n - start >= self.max_samples):
                stop = min(n, start + self.max_samples)
                out.append(self._cut(kind, start, stop))
                start = stop
            self._done[kind] = start
        return out

    def _cut(self, kind: str, start: int, stop: int) -> PendingChunk:
        self._seq += 1
        if kind == EVENTS:
            return PendingChunk(self._seq, kind, self.events[start:stop])
        if kind == MARKERS:
            return PendingChunk(self._seq, kind, self.markers.frames(start, stop))
        return PendingChunk(self._seq, kind, self.sway.samples(kind, start, stop))


@dataclass(slots=True)
class RecordedInput:
    """A session's input rebuilt from its chunks: the recorders as the live session had them."""

    markers: TrajectoryRecorder
    sway: SwayRecorder
    events: list[dict[str, Any]]


def restore(chunks: Sequence[InputChunk]) -> RecordedInput:
    """Rebuild the recorders from stored chunks (any order; replayed by sequence number)."""
    ordered = sorted(chunks, key=lambda c: c.seq)
    sources = tuple(dict.fromkeys(c.kind for c in ordered if c.kind not in (MARKERS, EVENTS))) or ("cop",)
    out = RecordedInput(TrajectoryRecorder(), SwayRecorder(sources), [])
    for chunk in ordered:
        if chunk.kind == EVENTS:
            out.events.extend(msgpack.unpackb(chunk.data))
            continue
        data = chunk.array()
        if chunk.kind == MARKERS:
            positions: dict[MarkerKey, np.ndarray] = {}
            for i in range(1, len(chunk.columns), len(MARKER_AXES)):
                side, name, _ = chunk.columns[i].split(".")
                positions[(side, name)] = data[:, i:i + len(MARKER_AXES)]
            out.markers.extend(data[:, 0], positions)
        else:
            out.sway.extend(chunk.kind, data[:, 0], data[:, 1], data[:, 2])
    return out
