"""A game being played on a station: results -> staircase -> storage -> therapist.

Data direction: foot events go into the game; each trial result goes to ``scoring`` (staircase,
range-of-motion samples) and then to the store on its worker thread. The therapist hears of a
trial only once it is committed, so what the panel shows is what the database holds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError

from games.base import TrialResult
from games.events import FootEvent
from games.stepping.game import SteppingGame
from games.stepping.settings import SteppingSettings, home_spot
from scoring.difficulty import DifficultyChange, Staircase
from scoring.storage.records import PatientRecord
from scoring.storage.store import AsyncStore, TrialWrite
from scoring.trials import rom_samples
from server.codec import envelope
from server.stations import StationRuntime

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRY_FIRST_S = 0.5
RETRY_MAX_S = 5.0


class Play:
    def __init__(
        self,
        station: StationRuntime,
        session_id: int,
        patient: PatientRecord,
        game: SteppingGame,
        staircase: Staircase,
        store: AsyncStore,
    ) -> None:
        self.station = station
        self.session_id = session_id
        self.patient = patient
        self.game = game
        self.staircase = staircase
        self.store = store
        self.paused_by: set[str] = set()
        self._writes: set[asyncio.Task[None]] = set()
        self._stopping = False

    @property
    def settings(self) -> SteppingSettings:
        return self.game.settings

    # -- live input -----------------------------------------------------------------------------

    def on_foot(self, event: FootEvent, now_s: float) -> None:
        """Apply at once, even while paused: the headset keeps drawing the feet where they are."""
        if self._stopping:
            return
        self._handle(self.game.on_foot(event, now_s))
        self.station.broadcast_state()

    def tick(self, now_s: float) -> None:
        if self.paused_by or self._stopping:
            return
        version = self.game.version
        self._handle(self.game.tick(now_s))
        if self.game.version != version:
            self.station.broadcast_state()

    def pause(self, who: str, now_s: float) -> None:
        """Pause for a reason (therapist, headset, device_lost); resume only when all are gone."""
        first = not self.paused_by
        self.paused_by.add(who)
        if first:
            self.game.pause(now_s)
        self.station.broadcast_state()

    def resume(self, who: str, now_s: float) -> None:
        self.paused_by.discard(who)
        if not self.paused_by:
            self.game.resume(now_s)
        self.station.broadcast_state()

    def apply_difficulty(self, changes: list[DifficultyChange]) -> None:
        if changes:
            self.game.set_difficulty(self.staircase.values())
            self.station.broadcast_state()

    @property
    def finished(self) -> bool:
        return self.game.finished

    # -- results --------------------------------------------------------------------------------

    def _handle(self, results: list[TrialResult]) -> None:
        for result in results:
            changes = self.staircase.record(result.outcome.success)
            self.game.set_difficulty(self.staircase.values())
            task = asyncio.create_task(self._store_trial(result, changes))
            self._writes.add(task)
            task.add_done_callback(self._writes.discard)

    async def _store_trial(self, result: TrialResult, changes: list[DifficultyChange]) -> None:
        samples = rom_samples(result, *home_spot(result.foot, self.settings))
        write = TrialWrite(self.session_id, self.patient.id, result, samples, changes)
        try:
            trial_id = await self._retrying(
                f"trial {result.index} of session {self.session_id}", lambda: self.store.record_trial(write)
            )
        except DBAPIError as exc:
            self._storage_failed(result, exc)
            return
        self.station.notify(
            envelope(
                "trial",
                station=self.station.name,
                session_id=self.session_id,
                trial_id=trial_id,
                trial=result.as_record(),
                rom=[asdict(s) for s in samples],
                difficulty=self.staircase.describe(),
            )
        )

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
        self.station.notify(envelope("error", code="storage_failed", station=self.station.name,
                                     message=f"trial {result.index} of session {self.session_id} "
                                     "could not be stored; see the server log"))

    async def stop(self, reason: str) -> None:
        """End the session: wait for every trial write, then close the session row."""
        if self._stopping:
            return
        self._stopping = True
        self.game.finish()
        self.station.broadcast_state()
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)
        await self._retrying(f"end of session {self.session_id}",
                             lambda: self.store.call(self.store.store.end_session, self.session_id, reason))
        self.game.close()
        self.station.notify(
            envelope("game_stopped", station=self.station.name, session_id=self.session_id,
                     reason=reason, trials=self.game.trials_done, hits=self.game.hits)
        )

