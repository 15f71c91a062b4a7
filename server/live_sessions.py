"""The one owner of stations and their live sessions: start, pause, finish, follow.

Every running game is started, paused, resumed, ticked and finished here, and each station's
devices and headsets join and leave here; therapist commands (``server/therapist.py``) and the
devices' and headsets' handlers (``server/station_handlers.py``) act through this object, and the
server (``server/app.py``) only accepts connections and routes their messages to them. Other
processes are reached through :class:`server.relay.StationRelay`: a game hosted elsewhere is
followed (its state relayed to the viewers here), and input for it is relayed to its host.

A station never jams on its devices: a game pauses while no device that can feed it is connected
and sending, resumes when one is back, and ends (``device_timeout``) after ``device_timeout_s``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from functools import partial
from typing import Any

from games.base import Game
from games.events import FootEvent
from scoring.difficulty import DifficultySet
from server.adapters.frames import AdapterOutput
from server.cluster import PRESENCE_S
from server.codec import ProtocolError, encode
from server.config import Settings
from server.connection import Connection
from server.device_input import DeviceInput, event_wire, parse_balance_wire
from server.device_kinds import describe_inputs, describe_kinds, known_kinds, provided_by
from server.device_messages import parse_belt
from server.event_markers import MarkerSink
from server.fields import Fields
from server.messages import parse_foot
from server.play import Play
from server.relay import StationRelay
from server.state_pacing import StatePacer
from server.stations import DeviceFeed, StationRuntime
from server.storage.records import PatientRecord
from server.storage.store import AsyncStore
from server.wire_messages import DeviceStatus, StationStatus

log = logging.getLogger(__name__)

DEVICE_LOST = "device_lost"
DEVICE_TIMEOUT = "device_timeout"
HEADSET = "headset"


class LiveSessions:
    """The stations this process knows (loaded on first use) and the games running on them."""

    def __init__(self, settings: Settings, store: AsyncStore, relay: StationRelay,
                 event_markers: MarkerSink | None = None) -> None:
        self.settings = settings
        self._tick_period_s = 1.0 / settings.tick_hz
        self.store = store
        self.relay = relay
        self.event_markers = event_markers  # the games' events as an LSL marker stream (--lsl-markers)
        self.stations: dict[str, StationRuntime] = {}
        self._station_lock = asyncio.Lock()
        self._background: set[asyncio.Task[None]] = set()

    async def station(self, name: str) -> StationRuntime | None:
        """The station of that name, loaded on first use; None when there is none."""
        runtime = self.stations.get(name)
        if runtime is not None:
            return runtime
        record = await self.store.find_station(name)
        if record is None:
            return None
        async with self._station_lock:
            if name not in self.stations:
                runtime = StationRuntime(record, silence_s=self.settings.device_silence_s,
                                         event_markers=self.event_markers,
                                         pacer=StatePacer(self.settings.state_hz))
                runtime.publish = partial(self.relay.publish_out, name)
                runtime.followed = partial(self.relay.followed, name)
                self.stations[name] = runtime
            return self.stations[name]

    def in_background(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)  # keep a reference until done, or asyncio may drop it
        task.add_done_callback(self._background.discard)

    async def wait(self) -> None:
        """Let the work started in the background finish (at shutdown)."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    # -- a session's life ---------------------------------------------------------------------------

    def start(self, station: StationRuntime, session_id: int, patient: PatientRecord, game: Game,
              staircase: DifficultySet, by: str) -> Play:
        """Run a game whose session is stored (the station's lease is held): it takes the belt
        speed a treadmill already reports, its configuration goes to every watcher, and it
        pauses at once if no device can feed it."""
        play = station.play = Play(station, session_id, patient, game, staircase, self.store, station.event_markers)
        belt = station.belt_speed_m_s(remote_fresh_s=PRESENCE_S)
        if belt is not None:  # the treadmill already runs: the targets must move with the real belt
            play.device_settings({"belt_speed_m_s": belt}, "treadmill belt")
        station.remote_config = None
        station.config_changed(by)
        self.check_devices(station)
        return play

    def set_paused(self, station: StationRuntime, who: str, paused: bool) -> None:
        """Pause or resume the station's game for ``who`` (the game runs while no one holds it paused)."""
        play = station.play
        assert play is not None
        if paused:
            play.pause(who, time.perf_counter())
        else:
            play.resume(who, time.perf_counter())

    async def finish(self, station: StationRuntime, reason: str) -> None:
        """Detach the station's game at once (no more events reach it), then end it cleanly."""
        play = station.play
        if play is None:
            return
        station.play = None
        try:
            await play.stop(reason)
        finally:
            await self.relay.release(station.name)
        station.broadcast_state()
        station.publish("state", station.state_message())  # followers elsewhere see it end too

    def tick(self, now: float) -> None:
        """Every running game's timers, at ``Settings.tick_hz``: those not ticked by their input
        within the last period (see :meth:`_tick_if_due`)."""
        for station in list(self.stations.values()):
            play = station.play
            if play is not None:
                self._tick_if_due(station, play, now)

    def _tick_if_due(self, station: StationRuntime, play: Play, now: float) -> None:
        """A game being fed is ticked right after its input when a tick is due: its objects are
        fresh in the CPU's caches then, and the ticker passes over it. Each game is still ticked
        once per period, by whichever comes first."""
        if now >= play.next_tick_s:
            self._tick(station, play, now)

    def _tick(self, station: StationRuntime, play: Play, now: float) -> None:
        """One game's timers, when any of them is due (``Play.quiet_until_s``: asked afresh, as
        input may have brought one forward); a game that fails or is done is finished. The next
        tick is due one period after this one was (``tick_hz`` on average, whoever ticks), or one
        after now if this one was more than a period late: a timer is seen within a period."""
        due = play.next_tick_s + self._tick_period_s
        play.next_tick_s = due if due > now else now + self._tick_period_s
        if now < play.quiet_until_s():
            return  # nothing would change: the game and its journal are not woken
        try:
            play.tick(now)
        except Exception:  # one broken game must not stop the others' clocks
            log.exception("game on %s failed; stopping it", station.name)
            self.in_background(self.finish(station, "error"))
            return
        if play.finished:
            self.in_background(self.finish(station, "completed"))

    async def finish_all(self, reason: str, grace_s: float) -> None:
        for station in self.stations.values():
            try:
                await asyncio.wait_for(self.finish(station, reason), grace_s)
            except TimeoutError:
                log.error("database unreachable at shutdown: results of %s still in memory are lost "
                          "(its session is closed as server_restart on the next start)", station.name)

    # -- viewers ------------------------------------------------------------------------------------

    async def send_current_state(self, station: StationRuntime, conn: Connection) -> None:
        """A new viewer gets the state at once: from here if the game runs here; if it runs on
        another process, that process's resync (asked for by ``follow``) brings it."""
        if station.play is None:
            await self.relay.follow(station.name)
            if self.relay.distributed and await self.relay.owner(station.name) not in (None, self.relay.node_id):
                return
        conn.push_state({conn.encoding: encode(station.state_message(), conn.encoding)})

    async def maybe_unfollow(self, station: StationRuntime) -> None:
        """No local viewer left for a game hosted elsewhere: stop receiving its stream."""
        if station.play is None and not station.headsets and not station.watchers:
            await self.relay.unfollow(station.name)

    @staticmethod
    def status_changed(station: StationRuntime) -> None:
        for watcher in station.watchers:
            watcher.send(StationStatus(station.status()).wire())

    def join(self, conn: Connection, role: str, station: StationRuntime) -> DeviceInput:
        """A device or headset joined the station (its welcome is sent): watchers are told, and
        a headset gets the state at once. Returns the device's input (unused for a headset)."""
        conn.role, conn.station = role, station.name
        inputs = DeviceInput()
        if role == "device":
            station.devices[conn] = inputs
            self.devices_changed(station)
        else:
            station.headsets.add(conn)
        return inputs

    async def joined(self, conn: Connection, station: StationRuntime) -> None:
        if conn.role == "device" and len(station.devices) == 1:  # the station's devices are here now
            await self.relay.note_devices(station.name, True)
        self.status_changed(station)
        if conn.role == HEADSET:
            await self.send_current_state(station, conn)

    async def leave(self, conn: Connection) -> None:
        """A connection closed: it no longer feeds, views or watches anything here."""
        if conn.station is None:
            for watched in self.stations.values():
                if conn in watched.watchers:
                    watched.watchers.discard(conn)
                    await self.maybe_unfollow(watched)
            return
        station = self.stations.get(conn.station)
        if station is None:
            return
        station.devices.pop(conn, None)
        station.headsets.discard(conn)
        station.belt_reports.pop(conn, None)
        if conn.role == "device":
            self.devices_changed(station)
            if not station.devices:
                await self.relay.note_devices(station.name, False)
        await self.maybe_unfollow(station)
        self.status_changed(station)

    # -- input --------------------------------------------------------------------------------------

    def foot(self, station: StationRuntime, event: FootEvent, data: dict[str, Any]) -> None:
        """A device's foot event: to the game here, or to its host (``data``: as received)."""
        play = station.play
        if play is not None:
            now = time.perf_counter()
            play.on_foot(event, now)
            if now >= play.next_tick_s:  # ``_tick_if_due``, written out: this runs for every event
                self._tick(station, play, now)
        elif self.relay.distributed:
            self.relay.publish_in(station.name, "foot", data)

    def device_output(self, station: StationRuntime, conn: Connection, output: AdapterOutput) -> None:
        """Adapter output to the game (here, or relayed to the process hosting it); notices to the
        device and to the watching therapists."""
        play, now = station.play, time.perf_counter()
        for event in output.events:
            if play is not None:
                if isinstance(event, FootEvent):
                    play.on_foot(event, now)
                else:
                    play.on_balance(event, now)
            elif self.relay.distributed:
                self.relay.publish_in(station.name, *event_wire(event))
        if play is not None and output.markers is not None and output.t_s is not None:
            play.on_markers(output.t_s, output.markers)
        if play is not None and output.events:
            self._tick_if_due(station, play, now)
        for notice in output.notices:
            message = DeviceStatus(station=station.name, kind=notice.kind, message=notice.message,
                                   detail=notice.detail).wire()
            conn.send(message)
            station.notify(message)

    def belt(self, station: StationRuntime, source: object, speed_m_s: float) -> None:
        """A treadmill's belt speed: remembered for games started later, applied to one running;
        relayed to the game's host when it runs elsewhere (``source``: a connection here, or the
        process it was heard from)."""
        station.belt_reports[source] = (speed_m_s, time.monotonic())
        if station.play is not None:
            station.play.device_settings({"belt_speed_m_s": speed_m_s}, "treadmill belt")
        elif isinstance(source, Connection) and self.relay.distributed:
            self.relay.publish_in(station.name, "belt", {"speed_m_s": speed_m_s})

    async def headset_request(self, station: StationRuntime, type_: str) -> None:
        """A headset's ``ready`` or ``pause``: to the game here, or relayed to its host."""
        if station.play is not None:
            self.set_paused(station, HEADSET, type_ == "pause")
        elif self.relay.distributed and await self.relay.owner(station.name):
            self.relay.publish_in(station.name, "headset", {"type": type_})
        else:
            raise ProtocolError("no_game", f"no game is running on {station.name}")

    # -- devices ------------------------------------------------------------------------------------

    def devices_changed(self, station: StationRuntime) -> None:
        if station.play is not None:
            self.check_devices(station)
        elif self.relay.distributed:
            self.relay.publish_in(station.name, "devices", station.local_presence())

    def identified(self, station: StationRuntime, conn: Connection, inputs: DeviceInput, kind: str | None) -> None:
        """A device said what it is (a setup, or the first message of a kind): the station's
        status shows it, and a running game it cannot feed says so instead of waiting silently."""
        if kind is not None:
            inputs.kinds.add(kind)
        self.devices_changed(station)
        self.status_changed(station)
        notice = self._mismatch_notice(station, inputs.kinds)
        if notice is not None:
            conn.send(notice)
            station.notify(notice)

    def _mismatch_notice(self, station: StationRuntime, kinds: frozenset[str] | set[str]) -> dict[str, Any] | None:
        """A ``device_status`` notice when a device of these kinds joins a running game here that
        it gives none of the inputs of, or that the station's devices still cannot all feed."""
        play = station.play
        if play is None or not kinds:
            return None
        feed = station.device_feed()
        if provided_by(kinds) & play.uses and feed.feeds(play.needs):
            return None
        missing = play.needs - feed.provides
        stays = (f"; the game stays paused until a device giving {describe_inputs(missing)} connects"
                 if missing and not feed.unknown else "")
        joined = f"a {describe_kinds(kinds)} connected to {station.name}"
        message = (f"{joined} cannot feed {play.game.name}, which needs {describe_inputs(play.needs)}{stays}"
                   if not provided_by(kinds) & play.uses
                   else f"{joined}; {play.game.name} also needs {describe_inputs(missing)}{stays}")
        return DeviceStatus(station=station.name, kind="device_mismatch", message=message,
                            detail={"device_kinds": sorted(kinds), "game": play.game.name,
                                    "needs": sorted(play.needs), "missing": sorted(missing)}).wire()

    def check_devices(self, station: StationRuntime) -> None:
        """No device that can feed the game (gone, silent, or of the wrong kind), here or on
        another process: pause, voiding the trial in progress rather than scoring it as a miss; one
        back: resume. Paused so for ``device_timeout_s``: the session ends."""
        play = station.play
        if play is None:
            return
        now = time.perf_counter()
        fed = station.device_feed(fresh_s=PRESENCE_S).feeds(play.needs)
        if not fed and DEVICE_LOST not in play.paused_by:
            play.pause(DEVICE_LOST, now)
        elif fed and DEVICE_LOST in play.paused_by:
            play.resume(DEVICE_LOST, now)
        elif not fed and now - play.paused_at[DEVICE_LOST] >= self.settings.device_timeout_s:
            self.in_background(self._device_timeout(station))

    def check_all_devices(self) -> None:
        for station in self.stations.values():
            self.check_devices(station)

    async def _device_timeout(self, station: StationRuntime) -> None:
        play = station.play
        if play is None or play.stopping:
            return
        timeout_s = self.settings.device_timeout_s
        station.notify(DeviceStatus(
            station=station.name, kind=DEVICE_TIMEOUT,
            message=f"no device fed {station.name} for {timeout_s:g} s: session #{play.session_id} ended, "
                    f"its {play.game.trials_done} completed trial(s) stored; the station is free",
            detail={"session_id": play.session_id, "timeout_s": timeout_s}).wire())
        await self.finish(station, DEVICE_TIMEOUT)

    # -- other processes (see server/cluster.py) -------------------------------------------------------

    def remote_output(self, station_name: str, kind: str, message: dict[str, Any]) -> None:
        """State or an event of a game hosted elsewhere, for the viewers here."""
        station = self.stations.get(station_name)
        if station is None or station.play is not None:
            return
        if kind == "state":
            if message.get("phase") == "idle":
                station.remote_config = None
            station.push_state(message)
        elif kind == "event":
            if message.get("type") == "config":  # kept for watchers who come later
                station.remote_config = message
            elif message.get("type") == "game_stopped":
                station.remote_config = None
            station.notify_local(message)

    def remote_input(self, station_name: str, node: str, kind: str, message: dict[str, Any]) -> None:
        """Input relayed by another process for a game hosted here (validated again: never trust
        the bus either)."""
        station = self.stations.get(station_name)
        if station is None:
            return
        if kind in ("devices", "belt"):  # remembered even with no game here: one may start later
            self._remote_devices(station, node, kind, message)
        if station.play is None:
            return
        if kind == "foot":
            try:
                event = parse_foot(Fields(message, "foot"))
            except ProtocolError:
                return
            station.play.on_foot(event, time.perf_counter())
        elif kind == "balance":
            try:
                balance = parse_balance_wire(message)
            except ProtocolError:
                return
            station.play.on_balance(balance, time.perf_counter())
        elif kind == "devices":
            self.check_devices(station)
        elif kind == "headset" and message.get("type") in ("pause", "ready"):
            self.set_paused(station, HEADSET, message["type"] == "pause")
        elif kind == "resync":  # a process with a new watcher: its state and configuration
            station.broadcast_state()
            station.publish("event", station.config_message())

    def _remote_devices(self, station: StationRuntime, node: str, kind: str, message: dict[str, Any]) -> None:
        """Another process's devices for this station: how many (its heartbeat) and the belt speed
        its treadmill reports (with the heartbeat, and at once when it changes)."""
        speed = message.get("belt_speed_m_s") if kind == "devices" else message.get("speed_m_s")
        if kind == "devices":
            feed = DeviceFeed.from_presence(message)
            before = station.remote_devices.get(node)
            station.remote_devices[node] = (feed, time.monotonic())
            if before is None or feed.kinds != before[0].kinds:
                self.status_changed(station)
                if notice := self._mismatch_notice(station, feed.kinds - (before[0].kinds if before else set())):
                    station.notify(notice)
                    self.relay.tell(node, notice)  # for the device itself, connected there
            if speed is None:
                station.belt_reports.pop(node, None)
        if speed is not None:
            try:
                self.belt(station, node, parse_belt(Fields({"speed_m_s": speed}, "belt")))
            except ProtocolError:
                pass

    def lease_lost(self, station_name: str) -> None:
        station = self.stations.get(station_name)
        if station is not None:
            self.in_background(self.finish(station, "lease_lost"))

    def device_notice(self, message: dict[str, Any]) -> None:
        """A host's ``device_mismatch`` notice: to the devices here of the kinds it names."""
        station = self.stations.get(str(message.get("station")))
        detail = message.get("detail")
        if station is None or message.get("type") != "device_status" or not isinstance(detail, dict):
            return
        kinds = known_kinds(detail.get("device_kinds"))
        for conn, inputs in station.devices.items():
            if inputs.kinds & kinds:
                conn.send(message)

    def owned_stations(self) -> list[str]:
        return [name for name, st in self.stations.items() if st.play is not None]

    def device_presence(self) -> dict[str, dict[str, Any]]:
        return {name: st.local_presence() for name, st in self.stations.items() if st.devices}

    def connections(self) -> list[Connection]:
        """Every device and headset connection here."""
        conns: list[Connection] = []
        for station in self.stations.values():
            conns += station.devices
            conns += station.headsets
        return conns

