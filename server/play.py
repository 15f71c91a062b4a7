"""A game being played on a station: results -> staircase -> storage -> therapist.

Data direction: normalised events go into the game; each trial result goes to ``scoring``
(staircase, range-of-motion samples) and then to the store on its worker thread. The therapist
hears of a trial only once it is committed, so what the panel shows is what the database holds.
The tracker's markers (and, in an assessment, the centre of pressure) are recorded too, and when the
session ends they become its gait and sway metrics (the same code as ``python -m scoring.analyze``).
While it runs, that input and the game's events go to the database in chunks of a few seconds
(:mod:`scoring.input_chunks`), so a server that dies mid-session still gets the metrics of the part
played (``server.recovery``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import asdict
from functools import partial
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError

from games.base import Game, TrialResult
from games.events import BalanceEvent, FootEvent, MarkerKey
from games.modes import training_modes
from games.registry import GAMES
from scoring.difficulty import DifficultyChange, DifficultySet
from scoring.input_chunks import InputJournal, PendingChunk
from scoring.session_metrics import analyse_recorded, records_sway
from scoring.trajectories import SwayRecorder, TrajectoryRecorder
from scoring.trials import RomSample, rom_samples
from server.codec import error_reply
from server.device_kinds import BELT
from server.event_markers import MarkerSink, SessionMarkers
from server.station_link import StationLink
from server.storage.records import PatientRecord
from server.storage.store import AsyncStore, TrialWrite
from server.wire_messages import GameEvent, GameStopped, SessionMetrics, Trial

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRY_FIRST_S = 0.5
RETRY_MAX_S = 5.0


class Play:
    def __init__(
        self,
        station: StationLink,
        session_id: int,
        patient: PatientRecord,
        game: Game,
        difficulty: DifficultySet,
        store: AsyncStore,
        markers: MarkerSink | None = None,
    ) -> None:
        self.station = station
        self.session_id = session_id
        self.patient = patient
        self.game = game
        self.difficulty = difficulty
        self.store = store
        self.paused_by: set[str] = set()
        self.paused_at: dict[str, float] = {}  # since when each reason has held the game paused
        entry = GAMES[game.name]
        # what the station's devices must give this session (foot positions, the weight's
        # centre), and everything a device may usefully give it (a treadmill's belt speed)
        self.needs = entry.inputs(game.settings)
        self.uses = self.needs | ({BELT} if "belt_speed_m_s" in entry.live_settings else frozenset())
        self.markers = TrajectoryRecorder()
        # Only quiet standing (the assessment's) gives sway: a training game's centre of pressure
        # moves on purpose and is not recorded. Quiet standing may have only a tracker's pelvis
        # proxy to go by.
        self.sway = SwayRecorder(("cop", "com_proxy") if records_sway(game.name) else ())
        self.rom: list[RomSample] = []
        # Every result and game event of the session, for the analysis at its end (a session is at
        # most a few thousand trials: small).
        self.results: list[TrialResult] = []
        self.events: list[dict[str, Any]] = []
        self.modes = training_modes(game.settings)
        self._mode = "+".join(self.modes)
        # Settings the game changed itself (a neglect cue raising the affected-side share): stored
        # with the trial during which it happened.
        self._game_changes: list[DifficultyChange] = []
        self._writes: set[asyncio.Task[None]] = set()
        self._stopping = False
        # when the game's timers are next due (perf_counter s): set by whoever ticks it
        # (``LiveSessions``: its ticker, or the game's own input)
        self.next_tick_s = float("-inf")
        self.journal = InputJournal(self.markers, self.sway, self.events)
        # the game's events as LSL markers (``--lsl-markers``), stamped when each input arrived
        self.lsl = None if markers is None else SessionMarkers(markers, station.name, session_id, game.name,
                                                               time.perf_counter())

    # -- live input -----------------------------------------------------------------------------

    def on_foot(self, event: FootEvent, now_s: float) -> None:
        """Apply at once, even while paused: the headset keeps drawing the feet where they are."""
        if self._stopping:
            return
        self._handle(self.game.on_foot(event, now_s))
        if self.lsl is not None:
            self.lsl.observe(self.game.snapshot(), now_s, event.device_time_s)
        self.station.broadcast_state()

    def on_balance(self, event: BalanceEvent, now_s: float) -> None:
        if self._stopping:
            return
        self.sway.append(event.device_time_s, event.x_m, event.y_m, event.source)
        version = self.game.version
        self._handle(self.game.on_balance(event, now_s))
        if self.game.version != version:
            if self.lsl is not None:
                self.lsl.observe(self.game.snapshot(), now_s, event.device_time_s)
            self.station.broadcast_state()

    def on_markers(self, t_s: float, markers: dict[MarkerKey, tuple[float, float, float] | None]) -> None:
        """Keep the tracker's normalised markers for the session's gait analysis."""
        if not self._stopping:
            self.markers.append(t_s, markers)

    def tick(self, now_s: float) -> None:
        if self._stopping:
            return
        chunks = self.journal.take(now_s)
        if chunks:
            self._in_writes(self._store_input(chunks))
        if self.paused_by:
            return
        version = self.game.version
        self._handle(self.game.tick(now_s))
        if self.game.version != version:
            if self.lsl is not None:
                self.lsl.observe(self.game.snapshot(), now_s)
            self.station.broadcast_state()

    def quiet_until_s(self) -> float:
        """The time before which :meth:`tick` would do nothing: no timer of the game is due and
        the input journal is not looked at (``-inf`` while paused or stopping: ticked as ever)."""
        if self._stopping or self.paused_by:
            return float("-inf")
        journal_s = self.journal.next_look_s()
        timer_s = self.game.next_timer_s()
        return journal_s if journal_s < timer_s else timer_s

    def pause(self, who: str, now_s: float) -> None:
        """Pause for a reason (therapist, headset, device_lost); resume only when all are gone."""
        first = not self.paused_by
        self.paused_by.add(who)
        self.paused_at.setdefault(who, now_s)
        if first:
            self.game.pause(now_s)
        if self.lsl is not None:
            self.lsl.paused(who, now_s, True)
        self.station.broadcast_state()

    def resume(self, who: str, now_s: float) -> None:
        self.paused_by.discard(who)
        self.paused_at.pop(who, None)
        if not self.paused_by:
            self.game.resume(now_s)
        if self.lsl is not None:
            self.lsl.paused(who, now_s, False)
        self.station.broadcast_state()

    def apply_difficulty(self, changes: list[DifficultyChange]) -> None:
        if changes:
            for direction in self.difficulty.by_direction:
                self.game.set_difficulty(self.difficulty.values(direction), direction or None)
            self.station.broadcast_state()

    def apply_settings(self, values: dict[str, Any], reason: str) -> list[DifficultyChange]:
        """Live session settings (e.g. the affected-side share): recorded like difficulty changes,
        as ``setting:<name>``, so the session's history shows when the therapist changed what."""
        before = self.game.update_settings(values)
        self.station.broadcast_state()
        return [DifficultyChange(f"setting:{name}", _number(before[name]), float(value), reason)
                for name, value in values.items() if isinstance(value, int | float) and before[name] != value]

    def live_settings(self) -> dict[str, Any]:
        """The game's live settings (those ``set_difficulty`` may change) as they are now."""
        return {name: getattr(self.game.settings, name) for name in GAMES[self.game.name].live_settings}

    def configuration(self) -> tuple[object, ...]:
        """What a therapist may set, as it stands: compared before and after a change to tell
        whether it changed anything at all."""
        return (self.difficulty.describe(), self.live_settings())

    def device_settings(self, values: dict[str, Any], reason: str) -> None:
        """Live settings a device reports (a treadmill's belt speed), for games that take them;
        only a change is applied and stored."""
        live = GAMES[self.game.name].live_settings
        values = {k: v for k, v in values.items() if k in live and getattr(self.game.settings, k) != v}
        if not values or self._stopping:
            return
        changes = self.apply_settings(values, reason)
        self._config_changed(reason)
        after = self.results[-1].index if self.results else None
        task = asyncio.create_task(self._retrying(
            f"setting changes of session {self.session_id}",
            lambda: self.store.record_game_changes(self.session_id, changes, after)))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    @property
    def finished(self) -> bool:
        return self.game.finished

    @property
    def stopping(self) -> bool:
        return self._stopping

    # -- results --------------------------------------------------------------------------------

    def _handle(self, results: list[TrialResult]) -> None:
        events = self.game.take_events()  # on every input: keep it cheap when there are none
        if events:
            self._game_events(events)  # events raised during these trials go with them
        for result in results:
            # an outcome played at values no longer in force (a treadmill target set out before the
            # last change) does not move the staircase again: see DifficultySet.record
            changes = self._game_changes + self.difficulty.record(
                result.direction, result.outcome.success, result.difficulty)
            self._game_changes = []
            self.results.append(result)
            key = self.difficulty.key(result.direction)
            self.game.set_difficulty(self.difficulty.values(key), key or None)
            task = asyncio.create_task(self._store_trial(result, changes))
            self._writes.add(task)
            task.add_done_callback(self._writes.discard)

    def _game_events(self, events: Sequence[dict[str, Any]]) -> None:
        """Send the game's events (cues, assessment stages) to the headset and the therapists, and
        turn a cue's raised affected-side share into a recorded setting change."""
        if self.lsl is not None:
            self.lsl.game_events(events, time.perf_counter())
        for event in events:
            self.events.append(event)
            if event["kind"] == "cue" and event.get("share_before") != event.get("affected_side_share"):
                self._game_changes.append(DifficultyChange(
                    "setting:affected_side_share", event.get("share_before"), float(event["affected_side_share"]),
                    f"neglect cue ({event.get('reason', '')})"))
            self.station.notify(GameEvent(station=self.station.name, session_id=self.session_id,
                                         event=event).wire())
            if event["kind"] == "cue" and event.get("share_before") != event.get("affected_side_share"):
                self._config_changed(f"neglect cue ({event.get('reason', '')})")

    def _config_changed(self, by: str) -> None:
        """A setting changed by the game or a device: a new configuration revision for the
        therapists (not once the session is ending: it is no longer the station's game)."""
        if self.station.play is self:
            self.station.config_changed(by)

    async def _store_trial(self, result: TrialResult, changes: list[DifficultyChange]) -> None:
        samples = rom_samples(result, *self.game.home_spot(result.foot))
        self.rom.extend(samples)
        write = TrialWrite(self.session_id, self.patient.id, result, samples, changes, self._mode)
        try:
            trial_id = await self._retrying(
                f"trial {result.index} of session {self.session_id}", lambda: self.store.record_trial(write)
            )
        except DBAPIError as exc:
            self._storage_failed(result, exc)
            return
        self.station.notify(
            Trial(station=self.station.name,
                session_id=self.session_id,
                trial_id=trial_id,
                trial=result.as_record(),
                rom=[asdict(s) for s in samples],
                difficulty=self.difficulty.describe(),
            ).wire()
        )

    def _in_writes(self, write: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(write)
        self._writes.add(task)  # the session ends only once these are done
        task.add_done_callback(self._writes.discard)

    async def _store_input(self, chunks: list[PendingChunk]) -> None:
        """Recorded input for the metrics of a session cut short by a crash (packed on the writer
        thread; an outage keeps it in memory, like trials)."""
        try:
            await self._retrying(f"recorded input of session {self.session_id}",
                                 lambda: self.store.record_input_chunks(self.session_id, chunks))
        except DBAPIError as exc:  # only a crash would have needed it: the session goes on
            log.error("recorded input of session %d could not be stored: %s", self.session_id, exc)

    async def _store_metrics(self) -> None:
        """Range of motion, gait and sway of the whole session, stored before the session ends."""
        try:
            families = await asyncio.to_thread(
                analyse_recorded, self.rom, self.markers, self.sway, self.patient.affected_side,
                self.patient.leg_length_m, game=self.game.name, modes=self.modes, results=self.results,
                events=self.events,
            )
        except Exception:  # a bug in analysis must never keep the session from ending
            log.exception("session %d: metrics could not be computed", self.session_id)
            return
        stored: dict[str, list[dict[str, object]]] = {}
        for family, metrics in families.items():
            try:
                await self._retrying(f"{family} metrics of session {self.session_id}", partial(
                    self.store.record_session_metrics, self.session_id, self.patient.id, family, metrics))
            except DBAPIError as exc:
                log.error("%s metrics of session %d could not be stored: %s", family, self.session_id, exc)
                continue
            stored[family] = [asdict(m) for m in metrics]
        if stored:
            self.station.notify(SessionMetrics(station=self.station.name,
                                         session_id=self.session_id, metrics=stored).wire())

    async def _retrying(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """Retry through a database outage (kept in memory meanwhile); other errors propagate."""
        delay = RETRY_FIRST_S
        while True:
            try:
                return await call()
            except DBAPIError as exc:
                if not (exc.connection_invalidated or isinstance(exc, OperationalError)):
                    raise
                log.warning("database unavailable, %s kept in memory; retrying in %.1fs", what, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)

    def _storage_failed(self, result: TrialResult, exc: Exception) -> None:
        """A write the database refuses for good (not an outage): say so loudly, never silently."""
        log.error("trial %d of session %d could not be stored: %s", result.index, self.session_id, exc)
        self.station.notify(error_reply("storage_failed", f"trial {result.index} of session {self.session_id} "
                                        "could not be stored; see the server log", station=self.station.name))

    async def stop(self, reason: str) -> None:
        """End the session: wait for every trial write, then close the session row."""
        if self._stopping:
            return
        self._stopping = True
        if self.lsl is not None:
            self.lsl.stop(reason, self.game.trials_done, self.game.hits, time.perf_counter())
        self.game.finish()
        self.station.broadcast_state()
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)
        self._game_events(self.game.take_events())
        if self._game_changes:  # a cue during the trial the session ended in
            changes, self._game_changes = self._game_changes, []
            last = self.results[-1].index if self.results else None
            await self._retrying(f"setting changes of session {self.session_id}",
                                 lambda: self.store.record_game_changes(self.session_id, changes, last))
        await self._store_metrics()
        await self._retrying(f"end of session {self.session_id}",
                             lambda: self.store.end_session(self.session_id, reason))
        self.game.close()
        self.station.notify(
            GameStopped(station=self.station.name, session_id=self.session_id,
                     reason=reason, trials=self.game.trials_done, hits=self.game.hits).wire()
        )



def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
