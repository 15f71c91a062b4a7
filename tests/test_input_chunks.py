"""A session's recorded input in chunks: cut in bounded pieces, stored, read back, rebuilt exactly."""

from __future__ import annotations

import asyncio
import math

import numpy as np
import pytest

from scoring.gait import analyze_gait
from scoring.input_chunks import EVENTS, MARKERS, InputJournal, restore
from scoring.session_metrics import gait_metrics
from scoring.trajectories import SwayRecorder, TrajectoryRecorder
from server.app import StrideServer
from server.config import Settings
from server.demo import seed_demo
from server.storage.store import AsyncStore, Store
from tests.conftest import demo_records
from tests.synthetic_walk import WalkSpec, walk

pytestmark = pytest.mark.db


def live_session(frames: int) -> tuple[TrajectoryRecorder, SwayRecorder, list[dict[str, object]]]:
    """Recorders fed as a live session feeds them: a marker seen only from frame 300 on, gaps,
    device times far from zero, a plate's COP and a pelvis proxy, and a few game events."""
    markers, sway, events = TrajectoryRecorder(), SwayRecorder(("cop", "com_proxy")), []
    rng = np.random.default_rng(4)
    for i in range(frames):
        t = 86_400.0 + i / 240.0  # a day of device uptime: float32 would keep only centiseconds
        frame = {("L", "heel"): tuple(rng.normal(0, 0.3, 3)), ("R", "heel"): None if i % 50 == 7 else
                 tuple(rng.normal(0, 0.3, 3))}
        if i >= 300:
            frame[("L", "toe")] = tuple(rng.normal(0, 0.3, 3))
        markers.append(t, frame)
        if i % 2 == 0:
            x, y = rng.normal(0, 0.01, 2)
            sway.append(t, x, y, "cop")
        if i % 3 == 0:
            x, y = rng.normal(0, 0.01, 2)
            sway.append(t, x, y, "com_proxy")
        if i % 400 == 0:
            events.append({"kind": "cue", "reason": "idle", "affected_side_share": 0.7 + i / 10_000})
    return markers, sway, events


def test_input_goes_in_bounded_chunks_and_comes_back_exactly(store: Store) -> None:
    creds = seed_demo(store)
    _, station, therapist = demo_records(store, creds.username, creds.station)
    patient = store.list_patients(therapist.clinic_id)[0]
    session_id = store.start_session(patient.id, station.id, therapist.id, therapist.clinic_id, "assessment", {}, [])
    markers, sway, events = live_session(2000)

    journal = InputJournal(markers, sway, events, every_s=2.0, max_samples=256)
    full = journal.take(0.0)  # full chunks go at once; the rest waits for the flush time
    assert [c.kind for c in full].count(MARKERS) == 2000 // 256
    assert journal.take(1.0) == []  # not due, and less than a chunk waiting
    pending = full + journal.take(2.5)  # due: everything goes
    assert journal.take(2.6) == []  # nothing new
    chunks = [c.pack() for c in pending]
    assert max(c.samples for c in chunks) <= 256
    assert sum(c.samples for c in chunks if c.kind == MARKERS) == 2000
    assert sum(c.samples for c in chunks if c.kind == "cop") == 1000
    assert sum(c.samples for c in chunks if c.kind == EVENTS) == len(events)
    assert [c.seq for c in chunks] == list(range(1, len(chunks) + 1))
    first = next(c for c in chunks if c.kind == MARKERS)
    assert first.columns[:4] == ("t_s", "L.heel.x_m", "L.heel.y_m", "L.heel.z_m")
    assert first.t_first_s == 86_400.0 and first.t_last_s == 86_400.0 + 255 / 240.0

    store.record_input_chunks(session_id, chunks[::-1])
    store.record_input_chunks(session_id, chunks[:3])  # a write retried after an outage: stored once
    back = store.input_chunks(session_id)
    assert back == chunks

    rebuilt = restore(back[::-1])  # rebuilt in sequence order whatever the order read
    live, again = markers.build(), rebuilt.markers.build()
    np.testing.assert_array_equal(again.times_s, live.times_s)
    assert set(again.positions_m) == set(live.positions_m) == {("L", "heel"), ("R", "heel"), ("L", "toe")}
    for key, positions in live.positions_m.items():
        np.testing.assert_array_equal(again.positions_m[key], positions)  # NaN where unseen, bit for bit
    assert math.isnan(again.positions_m[("L", "toe")][299, 0]) and math.isnan(again.positions_m[("R", "heel")][7, 2])
    for source in ("cop", "com_proxy"):
        a, b = sway.build(source), rebuilt.sway.build(source)
        assert a.start_s == b.start_s == 86_400.0
        np.testing.assert_array_equal(a.times_s, b.times_s)
        np.testing.assert_array_equal(a.cop_m, b.cop_m)
    assert rebuilt.events == events

    # a session that ends cleanly takes its chunks with it: the table holds only running sessions
    store.end_session(session_id, "completed")
    assert store.input_chunks(session_id) == []
    assert store.sessions_awaiting_metrics() == {}


def test_a_flood_of_input_is_cut_before_the_flush_time() -> None:
    """A fast device between two ticks: chunks of at most ``max_samples`` as soon as one is full;
    the remainder waits for the flush time."""
    markers, sway, events = live_session(700)
    journal = InputJournal(markers, sway, events, every_s=2.0, max_samples=256)
    early = [c.pack() for c in journal.take(0.0)]
    assert [(c.kind, c.samples) for c in early] == [(MARKERS, 256), (MARKERS, 256), ("cop", 256)]
    assert journal.take(1.9) == []  # 188 frames, 94 COP samples, 234 proxy samples and 2 events wait
    late = [c.pack() for c in journal.take(2.0)]
    assert [(c.kind, c.samples) for c in late] == [(MARKERS, 188), (EVENTS, 2), ("cop", 94), ("com_proxy", 234)]


async def test_metrics_a_crash_left_uncomputed_are_computed_by_the_next_start(database_url: str) -> None:
    """A session ended by a start that died before its metrics were stored keeps its chunks; the
    next start computes the metrics from them (marked interrupted) and only then drops them."""
    store = Store(database_url)
    creds = seed_demo(store)
    _, station, therapist = demo_records(store, creds.username, creds.station)
    patient = store.list_patients(therapist.clinic_id)[0]
    session_id = store.start_session(patient.id, station.id, therapist.id, therapist.clinic_id, "stepping",
                                     {"settings": {}}, [])
    truth = walk(WalkSpec(strikes=8))
    markers = TrajectoryRecorder()
    for i, t in enumerate(truth.times_s):
        markers.append(float(t), {key: None if np.isnan(p[i]).any() else tuple(p[i].tolist())
                                  for key, p in truth.positions_m.items()})
    journal = InputJournal(markers, SwayRecorder(), [])
    store.record_input_chunks(session_id, [c.pack() for c in journal.take(0.0, everything=True)])
    assert store.end_sessions([session_id], "server_restart") == [session_id]
    assert store.sessions_awaiting_metrics() == {session_id: "local"}

    async_store = AsyncStore(store)
    server = StrideServer(Settings(host="127.0.0.1", port=0, database_url=database_url), async_store)
    await server.start()
    try:
        for _ in range(200):
            if store.sessions_awaiting_metrics() == {}:
                break
            await asyncio.sleep(0.05)
        metrics = store.session_metrics(session_id)
    finally:
        await server.stop()
        async_store.close()
    assert store.sessions_awaiting_metrics() == {} and store.input_chunks(session_id) == []
    expected = gait_metrics(analyze_gait(markers.build()).as_json())
    assert [(m.metric, m.side, m.value, m.n) for m in metrics if m.family == "gait"] == sorted(
        (m.metric, m.side, m.value, m.n) for m in expected)
    assert metrics and all(m.interrupted for m in metrics)


@pytest.mark.unit
def test_a_journal_with_nothing_recorded_is_looked_at_a_few_times_a_second_and_says_when() -> None:
    """A game fed only foot events records nothing here: asked at every 60 Hz tick, the journal
    counts its recorders four times a second, and before ``next_look_s`` it returns nothing."""
    markers, sway = TrajectoryRecorder(), SwayRecorder(("cop",))
    journal = InputJournal(markers, sway, [], every_s=2.0)
    looks = 0
    for k in range(600):  # ten seconds of ticks
        now = k / 60.0
        if k == 400:  # a balance sample arrives at 6.67 s: it goes at the next look, at most 0.25 s later
            sway.append(100.0, 0.0, 0.0, "cop")
        quiet_until, looked_before = journal.next_look_s(), journal._next_look_s
        chunks = journal.take(now)
        looks += journal._next_look_s != looked_before  # each look sets the next one
        if now < quiet_until:
            assert chunks == []
        if chunks:
            assert [c.kind for c in chunks] == ["cop"] and 400 / 60 <= now <= 400 / 60 + 0.25
    assert 40 <= looks <= 45
