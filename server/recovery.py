"""Metrics of sessions whose server died, computed when a server finds them.

A running session stores each trial as it ends and its recorded input (markers, balance points,
game events) in chunks of a few seconds (:mod:`scoring.input_chunks`). A server that starts and
finds its own sessions still open (it was killed), or that finds sessions of a node gone for good,
ends them (``StrideServer._close_orphaned_sessions``) and then computes their metrics here: the same
analysis a clean end runs, over the part of the session that reached the database, stored marked
``interrupted``. The input chunks go in the same transaction, so what is left of them always means
"metrics still to compute", and the next start finishes what a second crash cut short.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from games.modes import training_modes
from scoring.input_chunks import restore
from scoring.metric import MetricValue
from scoring.session_metrics import analyse_recorded
from server.storage.records import StoredSession
from server.storage.store import AsyncStore

log = logging.getLogger(__name__)


def interrupted_metrics(stored: StoredSession) -> dict[str, list[MetricValue]]:
    """Every metric family the stored part of the session supports."""
    recorded = restore(stored.chunks)
    return analyse_recorded(stored.rom, recorded.markers, recorded.sway, stored.affected_side, stored.leg_length_m,
                            game=stored.game, modes=training_modes(stored.settings), results=stored.results,
                            events=recorded.events)


async def recover_metrics(store: AsyncStore, session_ids: Iterable[int]) -> None:
    """Compute and store the metrics of these ended-but-interrupted sessions, one at a time (the
    analysis runs in a worker thread: the server serves meanwhile)."""
    for session_id in session_ids:
        try:
            stored = await store.stored_session(session_id)
            if stored is None:
                continue
            families = await asyncio.to_thread(interrupted_metrics, stored)
            count = await store.record_recovered_metrics(stored.id, stored.patient_id, families)
        except Exception:  # its chunks stay stored: the next start tries again
            log.exception("session %d: the metrics of the interrupted session could not be stored", session_id)
            continue
        log.warning("session %d was interrupted: %d metric(s) of its %d stored trial(s) and %d input chunk(s) "
                    "stored, marked interrupted", session_id, count, len(stored.results), len(stored.chunks))
