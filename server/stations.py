"""Stations at run time: who is connected to each, and the game it is running.

A station is one treatment spot (a tracker or mat plus a headset). Its state is pushed to every
headset and every watching therapist the moment it changes: the local ones directly, and those
connected to other server processes through ``publish`` (see ``server/cluster.py``).

A device counts as feeding the station while it is connected and has sent something within
``silence_s``; what it can feed a game is its kinds (``server/device_kinds.py``). Devices
connected to other processes count through their presence heartbeats.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from games.events import GAME_INPUTS
from server.cluster import PRESENCE_S
from server.codec import Encoding, PartsEncoder, encode
from server.config import Settings
from server.connection import Connection
from server.device_input import DeviceInput
from server.device_kinds import known_kinds, provided_by
from server.event_markers import MarkerSink
from server.play import Play
from server.state_pacing import StatePacer
from server.storage.records import StationRecord
from server.wire_messages import Align, Config, GameState, IdleState


def _no_publish(kind: str, message: dict[str, Any]) -> None:
    pass


def _not_followed() -> bool:
    return False


@dataclass(frozen=True, slots=True)
class DeviceFeed:
    """The devices feeding a station now: how many, their kinds, and how many have not yet said
    what they are (such a device may give anything, so it never makes a game refused)."""

    live: int = 0
    kinds: frozenset[str] = frozenset()
    unknown: int = 0

    @property
    def provides(self) -> frozenset[str]:
        return provided_by(self.kinds)

    def feeds(self, needs: frozenset[str]) -> bool:
        """Can these devices play a game needing these inputs?"""
        return self.live > 0 and (self.unknown > 0 or needs <= self.provides)

    def cannot_play(self, needs: frozenset[str]) -> bool:
        """Are there devices of known kinds that give game input, but not all these inputs? (With
        none, or only a treadmill's belt, a game may start and wait for its device.)"""
        return not self.unknown and bool(self.provides & GAME_INPUTS) and not needs <= self.provides

    def __add__(self, other: DeviceFeed) -> DeviceFeed:
        return DeviceFeed(self.live + other.live, self.kinds | other.kinds, self.unknown + other.unknown)

    def presence(self) -> dict[str, Any]:
        return {"count": self.live, "kinds": sorted(self.kinds), "unknown": self.unknown}

    @staticmethod
    def from_presence(message: dict[str, Any]) -> DeviceFeed:
        """Another process's heartbeat: checked, never trusted."""
        count, unknown = message.get("count"), message.get("unknown", 0)
        return DeviceFeed(count if type(count) is int and count >= 0 else 0, known_kinds(message.get("kinds")),
                          unknown if type(unknown) is int and unknown >= 0 else 0)


@dataclass(eq=False)
class StationRuntime:
    record: StationRecord
    # device connections here, each with its input (setup, adapter, kinds)
    devices: dict[Connection, DeviceInput] = field(default_factory=dict)
    headsets: set[Connection] = field(default_factory=set)
    watchers: set[Connection] = field(default_factory=set)
    play: Play | None = None
    # a device silent this long no longer counts as feeding the station
    silence_s: float = Settings().device_silence_s
    # devices connected to other server processes: node -> (their feed, when last heard, monotonic s)
    remote_devices: dict[str, tuple[DeviceFeed, float]] = field(default_factory=dict)
    # belt speeds (m/s) a treadmill reported: source (a device connection here, or the node it is
    # connected to) -> (speed, when reported, monotonic s); a game started later begins at it
    belt_reports: dict[object, tuple[float, float]] = field(default_factory=dict)
    publish: Callable[[str, dict[str, Any]], None] = _no_publish
    # whether another process has viewers of this station's game hosted here (then its states are
    # published too)
    followed: Callable[[], bool] = _not_followed
    # The running game's configuration revision (see ``config_message``): it only grows, across
    # the station's sessions too, so a view of an earlier game is never taken for the current one.
    config_revision: int = 0
    config_changed_by: str = ""
    # the newest ``config`` relayed from the process hosting this station's game (None here when
    # the game runs here, or none runs)
    remote_config: dict[str, Any] | None = None
    # where the games played here send their LSL markers (``--lsl-markers``), or nowhere
    event_markers: MarkerSink | None = None
    _flush_pending: asyncio.Handle | None = None  # the flush that will send the newest state
    _reading: bool = False  # one of its devices' reads is being handled (``read_began``)
    _changed_in_read: bool = False  # and the state changed in it: it goes out as the read ends
    # when states go out: as a device's read ends, else once per loop pass; at most ``Settings.state_hz`` a second
    pacer: StatePacer = field(default_factory=lambda: StatePacer(0.0))
    # the game's state encoded from its two parts, the constant one once (``state_parts``)
    _state_encoder: PartsEncoder = field(default_factory=PartsEncoder)
    # the state's constant part as last built: (the game's per-trial part, (session, revision,
    # paused by), the part)
    _constant: tuple[dict[str, Any], tuple[object, ...], dict[str, Any]] | None = None

    @property
    def name(self) -> str:
        return self.record.name

    def local_feed(self) -> DeviceFeed:
        """The devices here that are connected and not silent (read off their rate limiters'
        last-message time: nothing is added to the path every message takes)."""
        now = time.monotonic()
        live = [inputs for conn, inputs in self.devices.items()
                if conn.budget is None or now - conn.budget.messages.last <= self.silence_s]
        return DeviceFeed(len(live), frozenset().union(*(i.kinds for i in live)),
                          sum(1 for i in live if not i.kinds))

    def device_feed(self, fresh_s: float = PRESENCE_S) -> DeviceFeed:
        """The devices feeding this station, here and (heard within ``fresh_s``) elsewhere."""
        now = time.monotonic()
        feed = self.local_feed()
        for remote, heard in self.remote_devices.values():
            if now - heard <= fresh_s:
                feed += remote
        return feed

    def belt_speed_m_s(self, remote_fresh_s: float | None) -> float | None:
        """The newest belt speed reported by a treadmill still connected: here, or (unless
        ``remote_fresh_s`` is None) heard from another process within ``remote_fresh_s``; None when
        no treadmill reports one."""
        now = time.monotonic()
        live = [(heard, speed) for source, (speed, heard) in self.belt_reports.items()
                if isinstance(source, Connection) or (remote_fresh_s is not None and now - heard <= remote_fresh_s)]
        return max(live)[1] if live else None

    def local_presence(self) -> dict[str, Any]:
        """What other processes need to know of this station's devices here (the heartbeat)."""
        presence = self.local_feed().presence()
        if (belt := self.belt_speed_m_s(remote_fresh_s=None)) is not None:
            presence["belt_speed_m_s"] = belt
        return presence

    def align(self) -> int:
        """The therapist's *align*: the devices here that calibrate by standing still start their
        calibration afresh, and the headsets here are told to re-align their view (``align``).
        Returns how many devices restarted their calibration."""
        restarted = sum(1 for inputs in self.devices.values() if inputs.recalibrate())
        message = Align().wire()
        for conn in self.headsets:
            conn.send(message)
        return restarted

    def paired_connections(self) -> dict[int, list[str]]:
        """The roles connected here with each headset pairing's credentials."""
        out: dict[int, list[str]] = {}
        for conn in [*self.devices, *self.headsets]:
            if conn.pairing_id is not None and conn.role is not None:
                out.setdefault(conn.pairing_id, []).append(conn.role)
        return out

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
            "device_kinds": sorted(self.device_feed().kinds),
            "headsets": len(self.headsets),
            "session_id": None if self.play is None else self.play.session_id,
            "game": None if self.play is None else self.play.game.name,
            "patient_code": None if self.play is None else self.play.patient.code,
            "paused_by": None if self.play is None else sorted(self.play.paused_by),
        }

    def state_message(self) -> dict[str, Any]:
        fresh, constant = self.state_parts()
        return {**fresh, **constant} if constant else fresh

    def state_parts(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The state as the game's ``snapshot_parts`` splits it: what changes with every event,
        and the rest (the envelope and the per-trial part, the same object while none of it
        changes; empty when no game runs)."""
        play = self.play
        if play is None:
            return IdleState(self.name).wire(), {}
        live, per_trial = play.game.snapshot_parts()
        paused = play.paused_by
        key = (play.session_id, self.config_revision, tuple(sorted(paused)) if paused else ())
        cached = self._constant
        if cached is not None and cached[0] is per_trial and cached[1] == key:
            return live, cached[2]
        constant = GameState(self.name, play.session_id, self.config_revision, list(key[2]), per_trial).wire()
        self._constant = (per_trial, key, constant)
        return live, constant

    def config_message(self) -> dict[str, Any]:
        """The running game's whole configuration: what every form that changes it is built from.

        The server is its one source. ``revision`` grows whenever anything a therapist may set
        changes (a start, a ``set_difficulty``, a neglect cue raising the affected-side share, a
        treadmill's belt); the staircase's own moves do not count (they show in ``difficulty``'s
        levels and values all the same), or every change typed during play would be refused."""
        play = self.play
        assert play is not None
        patient = play.patient
        return Config(station=self.name,
            revision=self.config_revision,
            changed_by=self.config_changed_by,
            session_id=play.session_id,
            game=play.game.name,
            patient={"id": patient.id, "code": patient.code, "affected_side": patient.affected_side,
                     "leg_length_m": patient.leg_length_m, "step_reach_m": patient.step_reach_m},
            settings=play.live_settings(),
            difficulty=play.difficulty.describe(),
        ).wire()

    def config_changed(self, by: str) -> None:
        """A new revision of the running game's configuration, pushed to every watcher here and
        elsewhere (``by``: who or what changed it, said to a therapist whose change it overtook)."""
        if self.play is None:
            return
        self.config_revision += 1
        self.config_changed_by = by
        self.notify(self.config_message())
        self.broadcast_state()

    def current_config(self) -> dict[str, Any] | None:
        """The configuration a new watcher is sent: the game's here, or the last one relayed."""
        return self.config_message() if self.play is not None else self.remote_config

    def broadcast_state(self) -> None:
        """Send the newest state to every viewer: as the device read that changed it ends
        (:meth:`read_ended`), else once per event-loop pass (and at most ``state_hz`` a second).

        Events that arrive together (both feet of one tracker frame, or a backlog under load)
        produce one state, not one each: the newest is all a headset wants, and under load this is
        what keeps snapshots, encoding and socket writes from growing with the backlog.
        """
        if self._reading:
            self._changed_in_read = True  # nothing to schedule: the read's end sends it
        elif self._flush_pending is None:
            self._flush_pending = self.pacer.soon(self._flush_state)

    def read_began(self) -> None:
        """One of the station's devices is being read (``server/ws_connection.py: ReadObserver``)."""
        self._reading = True

    def read_ended(self) -> None:
        """The read has ended, every event in it applied: a state it changed goes out now (if the
        state rate cap allows) instead of after every other connection's read in this loop pass."""
        self._reading = False
        if not self._changed_in_read:
            return
        self._changed_in_read = False
        pending = self._flush_pending
        if not self.pacer.due():
            if pending is None:
                self._flush_pending = self.pacer.soon(self._flush_state)
            return
        if pending is not None:  # a change from before the read (a tick): it goes out with this one
            pending.cancel()
        self._flush_state()

    def _flush_state(self) -> None:
        self._flush_pending = None
        self.pacer.flushed()
        fresh, constant = self.state_parts()
        self._offer_state(partial(self._state_encoder.encode, fresh, constant))
        if self.play is not None and self.followed():
            self.publish("state", {**fresh, **constant})

    def push_state(self, message: dict[str, Any]) -> None:
        """Offer a whole state (one relayed from the process hosting the game) to every local viewer."""
        self._offer_state(partial(encode, message))

    def _offer_state(self, encode_as: Callable[[Encoding], bytes | str]) -> None:
        """Encode once per encoding in use and offer the state to every local viewer."""
        frames: dict[Encoding, bytes | str] = {}
        for viewers in (self.headsets, self.watchers):
            for conn in viewers:
                if conn.encoding not in frames:
                    frames[conn.encoding] = encode_as(conn.encoding)
                conn.push_state(frames)

    def notify(self, message: dict[str, Any]) -> None:
        """An event every watching therapist must receive (not droppable like state)."""
        self.notify_local(message)
        self.publish("event", message)

    def notify_local(self, message: dict[str, Any]) -> None:
        """Game events (cues, assessment stages) are for the patient's headset too."""
        viewers = self.watchers | self.headsets if message.get("type") == "game_event" else self.watchers
        for conn in viewers:
            conn.send(message)
