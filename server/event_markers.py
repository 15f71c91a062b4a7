"""The game's events as a Lab Streaming Layer marker stream, to align StrideVR with EEG/EMG.

With ``--lsl-markers NAME`` the server opens one LSL outlet (type ``Markers``, one string channel,
irregular rate; ``pylsl`` from the ``[lsl]`` extra) and pushes a JSON marker for each thing a lab
wants on its timeline, for every game this process hosts:

* ``session_start`` / ``session_stop`` (``game``; at the stop ``reason``, ``trials``, ``hits``);
* ``target_shown`` (``trial``, ``foot``, ``direction``, ``x_m``, ``y_m``, ``radius_m``);
* ``foot_lifted`` / ``foot_landed`` (``side``, ``x_m``, ``y_m``, and ``device_t_s``: the time stamp
  of the device frame that showed it);
* ``trial_outcome`` (``trial``, ``outcome``, and the game's numbers: ``placement_error_m``...);
* the game's own events by their kind: ``cue`` (neglect cueing), ``stage`` (assessment), ...;
* ``paused`` / ``resumed`` (``by``: therapist, headset, device_lost).

Every payload also has ``station``, ``session_id`` and ``game_t_s``, the game's clock, which is what
the stored trials' ``shown_at_s`` and ``ended_at_s`` are measured on. No patient code or name goes
out: an LSL stream is readable by anyone on the network, unauthenticated.

**When each marker is stamped.** Not when it is pushed but when it happened, on the LSL clock: a
target shown or a trial ended by the game's timer at the tick that did it, a foot landing at the
moment its device frame arrived (before the game processed it), a cue with the input that raised
it. The server's clock (``time.perf_counter``) is converted to LSL's ``local_clock`` by an offset
measured when the outlet opens, the tightest of several bracketed readings (on Linux both are the
monotonic clock and the offset is ~0). What a marker cannot include is the device's own latency:
a foot landing happened before its frame reached the server. ``device_t_s`` carries the frame's own
time stamp; when the device is the LSL bridge (``clients/lsl_bridge.py``) that is the LSL time the
tracker sample was captured, already on the lab's LSL clock.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from typing import Any, Protocol

log = logging.getLogger(__name__)

STREAM_TYPE = "Markers"
CLOCK_READINGS = 9  # bracketed readings of both clocks; the tightest pair gives the offset


class MarkerSink(Protocol):
    """Where markers go: ``at_s`` is when the event happened, on the server's ``perf_counter``."""

    def push(self, payload: dict[str, Any], at_s: float) -> None: ...


class LslMarkerOutlet:
    """An LSL outlet of JSON string markers, stamped on the LSL clock."""

    def __init__(self, name: str, source_id: str) -> None:
        try:
            import pylsl
        except ImportError:  # an optional extra: say how to get it, at start-up
            raise SystemExit("--lsl-markers needs pylsl: pip install 'stridevr[lsl]'") from None
        info = pylsl.StreamInfo(name, STREAM_TYPE, 1, pylsl.IRREGULAR_RATE, pylsl.cf_string, source_id)
        channel = info.desc().append_child("channels").append_child("channel")
        channel.append_child_value("label", "event")
        channel.append_child_value("type", "Marker")
        info.desc().append_child("stridevr").append_child_value("payload", "json")
        self._outlet = pylsl.StreamOutlet(info)
        self._local_clock = pylsl.local_clock
        self.offset_s = self.measure_offset()
        log.info("LSL marker stream %r open (LSL clock = server clock %+.6f s)", name, self.offset_s)

    def measure_offset(self) -> float:
        """LSL ``local_clock`` minus ``perf_counter``: each reading of one clock bracketed by two of
        the other, the narrowest bracket wins (microseconds apart)."""
        best: tuple[float, float] | None = None
        for _ in range(CLOCK_READINGS):
            before = time.perf_counter()
            lsl = self._local_clock()
            after = time.perf_counter()
            if best is None or after - before < best[0]:
                best = (after - before, lsl - (before + after) / 2)
        assert best is not None
        return best[1]

    def push(self, payload: dict[str, Any], at_s: float) -> None:
        self._outlet.push_sample([json.dumps(payload, separators=(",", ":"))], at_s + self.offset_s)


class SessionMarkers:
    """One session's markers: what changed in the game's state since the last input, and the game's
    own events, stamped with the input's time."""

    def __init__(self, sink: MarkerSink, station: str, session_id: int, game: str, now_s: float) -> None:
        self.sink = sink
        self._base = {"station": station, "session_id": session_id}
        self._target: tuple[object, ...] | None = None
        self._last: object = None
        self._planted: dict[str, bool] = {}
        self._game_t_s: float | None = None
        self._push("session_start", now_s, {"game": game})

    def _push(self, event: str, at_s: float, fields: dict[str, Any]) -> None:
        try:
            self.sink.push({"event": event, **self._base, "game_t_s": self._game_t_s, **fields}, at_s)
        except Exception:  # a marker must never break a game
            log.exception("LSL marker %s could not be pushed", event)

    def observe(self, snapshot: dict[str, Any], now_s: float, device_t_s: float | None = None) -> None:
        """The game's state after an input at ``now_s``: a new target, a foot lifted or landed, a
        trial's outcome."""
        self._game_t_s = snapshot.get("t_s")
        for side, foot in (snapshot.get("feet") or {}).items():
            planted = foot.get("planted")
            if not isinstance(planted, bool):
                continue
            before = self._planted.get(side)
            self._planted[side] = planted
            if before is not None and before != planted:
                self._push("foot_landed" if planted else "foot_lifted", now_s,
                           {"side": side, "x_m": foot.get("x_m"), "y_m": foot.get("y_m"), "device_t_s": device_t_s})
        last = snapshot.get("last")
        if last and last != self._last:
            self._push("trial_outcome", now_s, dict(last))
        self._last = last
        target: dict[str, Any] = snapshot.get("target") or {}
        key = None if not target else (snapshot.get("trial"), *sorted(target.items()))
        if key is not None and key != self._target:
            self._push("target_shown", now_s, {"trial": snapshot.get("trial"), **target})
        self._target = key

    def game_events(self, events: Iterable[dict[str, Any]], now_s: float) -> None:
        for event in events:
            fields = {k: v for k, v in event.items() if k != "kind"}
            self._push(str(event.get("kind", "game_event")), now_s, fields)

    def paused(self, by: str, now_s: float, paused: bool) -> None:
        self._push("paused" if paused else "resumed", now_s, {"by": by})

    def stop(self, reason: str, trials: int, hits: int, now_s: float) -> None:
        self._push("session_stop", now_s, {"reason": reason, "trials": trials, "hits": hits})


def open_marker_outlet(name: str | None, node_id: str) -> LslMarkerOutlet | None:
    """The server's marker outlet when ``--lsl-markers`` names one."""
    return LslMarkerOutlet(name, f"stridevr-{node_id}-{name}") if name else None
