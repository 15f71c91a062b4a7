"""Stations at run time: who is connected to each, and the game it is running.

A station is one treatment spot (a tracker or mat plus a headset). Its state is pushed to every
headset and every watching therapist the moment it changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scoring.storage.records import StationRecord
from server.codec import Encoding, encode, envelope
from server.connection import Connection

if TYPE_CHECKING:
    from server.play import Play


@dataclass(eq=False)
class StationRuntime:
    record: StationRecord
    devices: set[Connection] = field(default_factory=set)
    headsets: set[Connection] = field(default_factory=set)
    watchers: set[Connection] = field(default_factory=set)
    play: Play | None = None

    @property
    def name(self) -> str:
        return self.record.name

    def status(self) -> dict[str, Any]:
        if self.play is not None:
            state = "paused" if self.play.paused_by else "playing"
        elif self.devices or self.headsets:
            state = "connected"
        else:
            state = "idle"
        return {
            "station": self.name,
            "state": state,
            "devices": len(self.devices),
            "headsets": len(self.headsets),
            "session_id": None if self.play is None else self.play.session_id,
            "paused_by": None if self.play is None else sorted(self.play.paused_by),
        }

    def state_message(self) -> dict[str, Any]:
        if self.play is None:
            return envelope("state", station=self.name, phase="idle")
        return envelope(
            "state",
            station=self.name,
            session_id=self.play.session_id,
            paused_by=sorted(self.play.paused_by),
            **self.play.game.snapshot(),
        )

    def broadcast_state(self) -> None:
        """Encode the state once per encoding in use and offer it to every viewer."""
        viewers = self.headsets | self.watchers
        if not viewers:
            return
        message = self.state_message()
        frames: dict[Encoding, bytes | str] = {}
        for conn in viewers:
            if conn.encoding not in frames:
                frames[conn.encoding] = encode(message, conn.encoding)
            conn.push_state(frames)

    def notify(self, message: dict[str, Any]) -> None:
        """An event every watching therapist must receive (not droppable like state)."""
        for conn in self.watchers:
            conn.send(message)
