"""Two real server processes sharing one database and one Redis: a therapist on either process
watches and controls a station whose game runs on the other, and a game runs on the process its
station's devices are connected to."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis
from sqlalchemy import create_engine, select

from clients.link import Link, StationTokens
from clients.sim_patient import Ability
from clients.sim_tracker import run_sim_tracker
from server.cluster_seal import ClusterSeal
from server.demo import DemoCredentials, seed_demo
from server.storage.database import normalise_url
from server.storage.models import DifficultyChangeRow, GameSession, Trial
from server.storage.store import Store
from tests.test_process import ServerProcess, start_server
from tests.test_station_devices import is_state, keep_sending, until

pytestmark = pytest.mark.db
REDIS_URL = "redis://127.0.0.1:6379/0"
SECRET = "test-cluster-secret-not-for-production"


def redis_up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL).ping())
    except redis.RedisError:
        return False


@dataclass
class TwoNodes:
    a: ServerProcess  # node-a
    b: ServerProcess  # node-b
    creds: DemoCredentials
    patient_id: int
    prefix: str  # the Redis keys of this test


@contextlib.asynccontextmanager
async def two_nodes(database_url: str, *options: str, redis_url: str = REDIS_URL,
                    secrets: tuple[str, str] = (SECRET, SECRET)) -> AsyncIterator[TwoNodes]:
    """Two server processes on one database and one Redis (a key prefix of their own), both with
    these extra options, each with its cluster secret from a file; both must stop cleanly on SIGTERM."""
    folder = tempfile.TemporaryDirectory()
    files = []
    for name, secret in zip(("a", "b"), secrets, strict=True):
        files.append(Path(folder.name) / f"secret-{name}")
        files[-1].write_text(secret + "\n")
    store = Store(database_url)
    creds = seed_demo(store)
    patient_id = store.list_patients(store.find_therapist("demo").clinic_id)[0].id  # type: ignore[union-attr]
    store.close()
    prefix = f"stridevr-test-{uuid.uuid4().hex[:8]}"
    common = ("--redis-url", redis_url, "--redis-prefix", prefix, *options)
    a, b = [await start_server(database_url, options=(*common, "--node-id", f"node-{name}",
                                                      "--cluster-secret-file", str(file)))
            for name, file in zip("ab", files, strict=True)]
    try:
        yield TwoNodes(a, b, creds, patient_id, prefix)
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
        folder.cleanup()


@pytest.mark.skipif(not redis_up(), reason="needs Redis on 127.0.0.1:6379")
async def test_a_station_hosted_on_one_process_is_played_and_controlled_through_another(
    database_url: str,
) -> None:
    async with two_nodes(database_url) as nodes:
        a, b, creds, patient_id, prefix = nodes.a, nodes.b, nodes.creds, nodes.patient_id, nodes.prefix
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

        # a therapist on B watches the game running on A, and gets its configuration from A
        config = await on_b.current_config("station-1")
        assert (config["session_id"], config["game"], config["revision"]) == (
            session_id, "stepping", started["config"]["revision"])
        assert config["patient"]["id"] == patient_id and config["settings"] == started["config"]["settings"]
        # tracker and headset connect to B: input is relayed to A, state back to B
        report = await run_sim_tracker(b.url, "station-1", StationTokens(creds.station_token, creds.headset_token),
                                       Ability(hold_s=0.4), trials=3, seed=4, timeout_s=60)
        assert len(report.outcomes) == 3 and len(report.targets_seen) == 3

        # B's therapist hears of stored trials and drives the difficulty on A
        seen: list[int] = []
        while len(seen) < 3:
            msg = await on_b.recv(10)
            if msg["type"] == "trial":
                seen.append(msg["trial"]["index"])
        assert seen == [0, 1, 2]
        other = await Link.therapist(b.url, creds.username, creds.password)  # a second watcher on B
        assert (await other.current_config("station-1"))["revision"] == config["revision"]
        reply = await on_b.call({"type": "set_difficulty", "station": "station-1",
                                 "bounds": {"target_radius_m": {"value": 0.12}}, "revision": config["revision"]})
        assert reply["values"]["target_radius_m"] == 0.12 and reply["session_id"] == session_id
        assert reply["revision"] == config["revision"] + 1
        # the new revision is relayed to B's watchers; one who starts watching later gets it too
        while (pushed := await other.recv(10))["type"] != "config" or pushed["revision"] != reply["revision"]:
            pass
        assert pushed["changed_by"] == "therapist demo"
        assert pushed["difficulty"]["bounds"]["target_radius_m"]["value"] == 0.12
        later = await Link.therapist(b.url, creds.username, creds.password)
        assert (await later.current_config("station-1"))["revision"] == reply["revision"]
        stale = await later.request({"type": "set_difficulty", "station": "station-1", "target_success": 0.6,
                                     "revision": config["revision"]})  # forwarded to A, refused there
        assert stale["code"] == "stale_config" and stale["config"]["revision"] == reply["revision"]
        await later.close()
        await other.close()

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


@pytest.mark.skipif(not redis_up(), reason="needs Redis on 127.0.0.1:6379")
async def test_a_treadmill_on_one_process_drives_the_belt_of_a_game_hosted_on_another(database_url: str) -> None:
    """The treadmill is connected to B and already running; the game starts on A: within a
    heartbeat its targets move at the real belt speed, and a change of speed reaches A at once."""
    async with two_nodes(database_url, "--no-station-affinity") as nodes:
        creds = nodes.creds
        treadmill = await Link.station(nodes.b.url, "device", "station-1", creds.station_token)
        await treadmill.send({"type": "belt", "speed_m_s": 0.55})
        await treadmill.call({"type": "ping"})
        on_a = await Link.therapist(nodes.a.url, creds.username, creds.password)
        headset = await Link.station(nodes.a.url, "headset", "station-1", creds.headset_token)
        started = await on_a.call({"type": "start_game", "station": "station-1", "patient_id": nodes.patient_id,
                                   "game": "treadmill", "settings": {"belt_speed_m_s": 0.3}})

        async def belt_reaches(speed: float, within_s: float) -> None:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + within_s
            with contextlib.suppress(TimeoutError):
                while loop.time() < deadline:
                    message = await headset.recv(deadline - loop.time())
                    if message["type"] == "state" and message.get("belt_speed_m_s") == speed:
                        return
            pytest.fail(f"belt speed {speed} m/s did not reach the game within {within_s} s")

        await belt_reaches(0.55, within_s=3.0)  # the presence heartbeat is sent every second
        await treadmill.send({"type": "belt", "speed_m_s": 0.7})
        await belt_reaches(0.7, within_s=1.0)
        await on_a.call({"type": "stop_game", "station": "station-1"})
        engine = create_engine(normalise_url(database_url))
        with engine.connect() as conn:
            changes = conn.execute(select(DifficultyChangeRow.old_value, DifficultyChangeRow.new_value,
                                          DifficultyChangeRow.reason).where(
                DifficultyChangeRow.session_id == started["session_id"],
                DifficultyChangeRow.parameter == "setting:belt_speed_m_s").order_by(DifficultyChangeRow.id)).all()
        engine.dispose()
        assert changes == [(0.3, 0.55, "treadmill belt"), (0.55, 0.7, "treadmill belt")]
        for link in (treadmill, on_a, headset):
            await link.close()


@pytest.mark.skipif(not redis_up(), reason="needs Redis on 127.0.0.1:6379")
async def test_a_device_on_another_process_feeds_the_game_and_its_silence_ends_it_as_device_timeout(
    database_url: str,
) -> None:
    """The game runs on A, its devices are on B: A knows their kinds from B's heartbeat, tells its
    therapist and the plate itself of a force plate that cannot feed stepping, and when B's foot
    device goes silent A pauses and, past the device timeout, ends the session."""
    async with two_nodes(database_url, "--device-silence-s", "1", "--device-timeout-s", "2",
                         "--no-station-affinity") as nodes:
        creds = nodes.creds
        feet = await Link.station(nodes.b.url, "device", "station-1", creds.station_token)
        sending = asyncio.create_task(keep_sending(feet))
        on_a = await Link.therapist(nodes.a.url, creds.username, creds.password)
        headset = await Link.station(nodes.a.url, "headset", "station-1", creds.headset_token)
        started = await on_a.call({"type": "start_game", "station": "station-1", "patient_id": nodes.patient_id,
                                   "game": "stepping", "settings": {"trials": 50, "seed": 1}})
        await until(headset, is_state(paused_by=[]), timeout_s=5)  # B's device feeds A's game
        plate = await Link.station(nodes.b.url, "device", "station-1", creds.station_token)
        await plate.call({"type": "mat_setup", "kind": "cop", "forward": "+y", "mode": "explicit", "units": "m"})
        notice = await until(on_a, lambda m: m.get("type") == "device_status", timeout_s=5)
        assert notice["kind"] == "device_mismatch" and "force plate" in notice["message"]
        told = await until(plate, lambda m: m.get("type") == "device_status", timeout_s=5)
        assert told == notice  # the plate on B is told too, by A through B
        status = (await on_a.call({"type": "list_stations"}))["stations"][0]
        assert status["device_kinds"] == ["foot_events", "force_plate"] and status["state"] == "playing"
        sending.cancel()  # B's foot device stays connected but goes silent
        await until(headset, is_state("paused", ["device_lost"]), timeout_s=5)
        stopped = await until(on_a, lambda m: m.get("type") == "game_stopped", timeout_s=10)
        assert stopped["reason"] == "device_timeout" and stopped["session_id"] == started["session_id"]
        engine = create_engine(normalise_url(database_url))
        with engine.connect() as conn:
            end_reason = conn.scalar(select(GameSession.end_reason).where(GameSession.id == started["session_id"]))
        engine.dispose()
        assert end_reason == "device_timeout"
        for link in (feet, plate, on_a, headset):
            await link.close()


@pytest.mark.skipif(not redis_up(), reason="needs Redis on 127.0.0.1:6379")
async def test_a_game_started_through_one_process_runs_on_the_process_its_devices_are_connected_to(
    database_url: str,
) -> None:
    """Station affinity: the station's tracker is on B, the therapist starts the game through A:
    B hosts it (foot events reach the game without crossing Redis), its trials are stored once, and
    A's therapist sees them and stops the game. With no device left anywhere, a game started
    through A runs on A as before."""
    async with two_nodes(database_url) as nodes:
        creds, r = nodes.creds, redis.Redis.from_url(REDIS_URL)
        tokens = StationTokens(creds.station_token, creds.headset_token)
        tracker = await Link.station(nodes.b.url, "device", "station-1", creds.station_token)
        await tracker.call({"type": "ping"})
        on_a = await Link.therapist(nodes.a.url, creds.username, creds.password)
        started = await on_a.call({"type": "start_game", "station": "station-1", "patient_id": nodes.patient_id,
                                   "game": "stepping",
                                   "settings": {"dwell_s": 0.2, "inter_trial_s": 0.2, "seed": 2}})
        session_id = started["session_id"]
        assert started["type"] == "game_started" and started["config"]["session_id"] == session_id
        assert r.get(f"{nodes.prefix}:lease:station-1") == b"node-b"
        [status] = (await on_a.call({"type": "list_stations"}))["stations"]
        assert status["hosted_by"] == "node-b"

        bus = aioredis.Redis.from_url(REDIS_URL).pubsub()  # what crosses Redis towards the game's host
        channel = f"{nodes.prefix}:in:station-1"
        await bus.subscribe(channel)
        report = await run_sim_tracker(nodes.b.url, "station-1", tokens, Ability(hold_s=0.4), trials=3, seed=4,
                                       timeout_s=60)
        assert len(report.outcomes) == 3
        seal, relayed = ClusterSeal(SECRET.encode()), []
        while (heard := await bus.get_message(timeout=0.5)) is not None:  # until 0.5 s of silence
            if heard["type"] == "message":
                relayed.append((seal.open(channel, heard["data"]) or {}).get("kind"))
        await bus.aclose()
        assert "foot" not in relayed  # the tracker's events reached the game on B directly
        seen: list[int] = []  # the starter, on A, watches the game hosted on B
        while len(seen) < 3:
            msg = await on_a.recv(10)
            if msg["type"] == "trial":
                seen.append(msg["trial"]["index"])
        assert seen == [0, 1, 2]
        stopped = await on_a.call({"type": "stop_game", "station": "station-1"})  # forwarded to B
        assert stopped["type"] == "game_stopped" and stopped["session_id"] == session_id
        engine = create_engine(normalise_url(database_url))
        with engine.connect() as conn:
            host, reason = conn.execute(select(GameSession.host_node, GameSession.end_reason)
                                        .where(GameSession.id == session_id)).one()
            indexes = conn.scalars(select(Trial.trial_index).where(Trial.session_id == session_id)
                                   .order_by(Trial.trial_index)).all()
        engine.dispose()
        assert (host, reason) == ("node-b", "stopped_by_therapist")
        assert indexes == list(range(stopped["trials"])) and len(indexes) >= 3  # each stored once

        await tracker.close()  # no device anywhere now: B says so at once
        for _ in range(50):
            if not r.hgetall(f"{nodes.prefix}:devices:station-1") and \
                    r.get(f"{nodes.prefix}:lease:station-1") is None:
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("B still claims the station's devices, or its lease")
        again = await on_a.call({"type": "start_game", "station": "station-1", "patient_id": nodes.patient_id,
                                 "game": "stepping"})
        assert r.get(f"{nodes.prefix}:lease:station-1") == b"node-a" and again["session_id"] != session_id
        await on_a.call({"type": "stop_game", "station": "station-1"})
        await on_a.close()


@pytest.mark.skipif(not redis_up(), reason="needs Redis on 127.0.0.1:6379")
async def test_a_host_publishes_its_game_s_states_only_while_another_process_follows_it(database_url: str) -> None:
    """The headset joined B before the game started there, so B follows the station too; its own
    subscription must not make it publish every state to Redis. A's therapist watching makes it
    publish; once A stops watching, B stops (its count of followers is renewed each second)."""
    async with two_nodes(database_url) as nodes:
        creds = nodes.creds
        headset = await Link.station(nodes.b.url, "headset", "station-1", creds.headset_token)
        await until(headset, is_state(), timeout_s=5)  # idle, and B now follows station-1
        tracker = await Link.station(nodes.b.url, "device", "station-1", creds.station_token)
        await tracker.call({"type": "ping"})
        on_a = await Link.therapist(nodes.a.url, creds.username, creds.password)
        await on_a.call({"type": "start_game", "station": "station-1", "patient_id": nodes.patient_id,
                         "game": "stepping"})  # hosted by B; A's therapist watches it
        feet = asyncio.create_task(keep_sending(tracker))
        # a pattern subscription sees what is published without counting as a follower
        bus = aioredis.Redis.from_url(REDIS_URL).pubsub()
        await bus.psubscribe(f"{nodes.prefix}:out:*")

        async def published_in(seconds: float) -> int:
            count, deadline = 0, asyncio.get_running_loop().time() + seconds
            while (left := deadline - asyncio.get_running_loop().time()) > 0:
                heard = await bus.get_message(timeout=left)
                count += heard is not None and heard["type"] == "pmessage"
            return count

        await until(on_a, is_state(phase="home"), timeout_s=5)
        assert await published_in(1.0) > 10  # 20 Hz feet, watched from A
        await on_a.call({"type": "unwatch", "station": "station-1"})
        await asyncio.sleep(2.5)  # B counts its followers again
        await published_in(0.2)
        assert await published_in(1.5) == 0
        await until(headset, is_state(phase="home"), timeout_s=5)  # B's own headset is served all along
        feet.cancel()
        await bus.aclose()
        await on_a.call({"type": "stop_game", "station": "station-1"})
        for link in (tracker, headset, on_a):
            await link.close()
