"""Two real server processes sharing one database and one Redis: a therapist on either process
watches and controls a station whose game runs on the other."""

from __future__ import annotations

import asyncio
import signal
import uuid

import pytest
import redis
from sqlalchemy import create_engine, select

from clients.link import Link
from clients.sim_patient import Ability
from clients.sim_tracker import run_sim_tracker
from scoring.storage.database import normalise_url
from scoring.storage.models import GameSession
from scoring.storage.store import Store
from server.demo import seed_demo
from tests.test_process import start_server

pytestmark = pytest.mark.db
REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL).ping())
    except redis.RedisError:
        return False


@pytest.mark.skipif(not redis_up(), reason="needs Redis on 127.0.0.1:6379")
async def test_a_station_hosted_on_one_process_is_played_and_controlled_through_another(
    database_url: str,
) -> None:
    store = Store(database_url)
    creds = seed_demo(store)
    patient_id = store.list_patients(store.find_therapist("demo").clinic_id)[0].id  # type: ignore[union-attr]
    store.close()
    prefix = f"stridevr-test-{uuid.uuid4().hex[:8]}"
    common = ("--redis-url", REDIS_URL, "--redis-prefix", prefix)
    a = await start_server(database_url, options=(*common, "--node-id", "node-a"))
    b = await start_server(database_url, options=(*common, "--node-id", "node-b"))
    try:
        on_a = await Link.therapist(a.url, creds.username, creds.password)
        on_b = await Link.therapist(b.url, creds.username, creds.password)
        started = await on_a.call({"type": "start_game", "station": "station-1", "patient_id": patient_id,
                                   "game": "stepping",
                                   "settings": {"dwell_s": 0.2, "inter_trial_s": 0.2, "seed": 2}})
        session_id = started["session_id"]
        lease = redis.Redis.from_url(REDIS_URL).get(f"{prefix}:lease:station-1")
        assert lease == b"node-a"

        # exactly one process runs the station's game
        refused = await on_b.request({"type": "start_game", "station": "station-1",
                                      "patient_id": patient_id, "game": "stepping"})
        assert refused["code"] == "busy" and "node-a" in refused["message"]
        [status] = (await on_b.call({"type": "list_stations"}))["stations"]
        assert status["hosted_by"] == "node-a"

        # a therapist on B watches the game running on A
        await on_b.call({"type": "watch", "station": "station-1"})
        # tracker and headset connect to B: input is relayed to A, state back to B
        report = await run_sim_tracker(b.url, "station-1", creds.station_token,
                                       Ability(hold_s=0.4), trials=3, seed=4, timeout_s=60)
        assert len(report.outcomes) == 3 and len(report.targets_seen) == 3

        # B's therapist hears of stored trials and drives the difficulty on A
        seen = []
        while len(seen) < 3:
            msg = await on_b.recv(10)
            if msg["type"] == "trial":
                seen.append(msg["trial"]["index"])
        assert seen == [0, 1, 2]
        reply = await on_b.call({"type": "set_difficulty", "station": "station-1",
                                 "bounds": {"target_radius_m": {"value": 0.12}}})
        assert reply["values"]["target_radius_m"] == 0.12 and reply["session_id"] == session_id

        stopped = await on_b.call({"type": "stop_game", "station": "station-1"})
        assert stopped["type"] == "game_stopped" and stopped["trials"] >= 3
        engine = create_engine(normalise_url(database_url))
        with engine.connect() as conn:
            row = conn.execute(select(GameSession).where(GameSession.id == session_id)).one()
        engine.dispose()
        assert row.host_node == "node-a" and row.end_reason == "stopped_by_therapist"
        for _ in range(20):  # the lease is given back with the game
            if redis.Redis.from_url(REDIS_URL).get(f"{prefix}:lease:station-1") is None:
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("lease not released")
        # now B may host it
        again = await on_b.call({"type": "start_game", "station": "station-1", "patient_id": patient_id,
                                 "game": "stepping"})
        assert again["session_id"] != session_id
        await on_a.close()
        await on_b.close()
    finally:
        for proc in (a, b):
            proc.proc.send_signal(signal.SIGTERM)
        for proc in (a, b):
            try:
                assert await asyncio.wait_for(proc.proc.wait(), 30) == 0
            except TimeoutError:
                proc.proc.send_signal(signal.SIGUSR1)  # stacks to the output, for the report
                await asyncio.sleep(1)
                proc.proc.kill()
                rest = await proc.proc.stdout.read()  # type: ignore[union-attr]
                raise AssertionError("server did not stop:\n" + "".join(proc.output) + rest.decode()) from None
