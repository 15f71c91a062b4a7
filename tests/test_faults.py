"""Faults: a stalled headset, a headset that reconnects, and a database that goes away."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time

import msgpack
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from websockets.asyncio.client import connect

from clients.link import Link, StationTokens
from clients.sim_patient import Ability
from clients.sim_tracker import run_sim_tracker
from server.app import StrideServer
from server.config import Settings
from server.connection import DIRECT_WRITE_LIMIT
from server.demo import seed_demo
from server.storage.database import normalise_url
from server.storage.models import Trial
from server.storage.store import AsyncStore, Store
from tests.conftest import PG_ENV, RunningServer

pytestmark = pytest.mark.db


async def start_game(url: str, username: str, password: str, **settings: object) -> tuple[Link, int]:
    therapist = await Link.therapist(url, username, password)
    patient_id = (await therapist.call({"type": "list_patients"}))["patients"][0]["id"]
    started = await therapist.call({"type": "start_game", "station": "station-1", "patient_id": patient_id,
                                    "game": "stepping", "settings": settings})
    return therapist, started["session_id"]


async def test_a_stalled_headset_neither_slows_others_nor_grows(running: RunningServer) -> None:
    token = running.creds.headset_token
    therapist, _ = await start_game(running.url, running.creds.username, running.creds.password)
    await therapist.call({"type": "unwatch", "station": "station-1"})
    # the stalled headset's client buffers one message and then stops reading its socket; small
    # socket buffers at both ends stand for a slow wireless link (loopback would absorb megabytes)
    raw = socket.create_connection(("127.0.0.1", running.server.port))
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled = await connect(running.url, sock=raw, compression=None, max_queue=1)
    await stalled.send(msgpack.packb({"type": "hello", "v": 1, "role": "headset", "station": "station-1",
                                      "token": token}))
    station = running.server.stations["station-1"]
    while not station.headsets:
        await asyncio.sleep(0.01)
    [slow] = station.headsets
    slow.ws.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    good = await Link.station(running.url, "headset", "station-1", token)
    device = await Link.station(running.url, "device", "station-1", running.creds.station_token)
    last_seq = 0
    for seq in range(3000):  # ~1.5 MB of state, beyond the socket buffers; under the device rate limit
        await device.send({"type": "foot", "side": "LR"[seq % 2], "pos_m": [0.1 * (1 - 2 * (seq % 2 == 0)), 0.0, 0.0],
                           "t_s": seq / 500, "seq": seq})
        last_seq = seq
        if seq % 15 == 0:
            await asyncio.sleep(0.01)
    # the good headset gets the newest state promptly
    deadline = time.perf_counter() + 5
    while True:
        state = await good.recv(5)
        seqs = (state.get("foot_seq") or {}).values()
        if last_seq in seqs:
            break
        assert time.perf_counter() < deadline, "good headset fell behind"
    # states are coalesced per loop pass (the busier the machine, the more events a pass takes in, so
    # the fewer states there are to drop), then dropped per slot instead of queued
    assert slow.dropped_states > 10
    assert slow.ws.transport.get_write_buffer_size() <= DIRECT_WRITE_LIMIT + 64 * 1024
    assert len(slow._reliable) == 0  # nothing piles up: one state slot at most
    for link in (good, device, therapist):
        await link.close()
    await stalled.close()


async def test_a_headset_that_reconnects_is_resynced_at_once(running: RunningServer) -> None:
    therapist, session_id = await start_game(running.url, running.creds.username, running.creds.password)
    token = running.creds.headset_token
    headset = await Link.station(running.url, "headset", "station-1", token)
    first = await headset.recv(5)
    assert first["type"] == "state" and first["session_id"] == session_id
    await headset.close()
    revision = (await therapist.current_config("station-1"))["revision"]
    await therapist.call({"type": "set_difficulty", "station": "station-1", "level": 0.9, "revision": revision})
    headset = await Link.station(running.url, "headset", "station-1", token)
    state = await headset.recv(5)  # the current state arrives without asking
    assert state["type"] == "state" and state["session_id"] == session_id
    assert state["paused_by"] == ["device_lost"]  # no tracker yet, and the headset is told so
    assert state["difficulty"]["target_radius_m"] == pytest.approx(0.2 + (0.05 - 0.2) * 0.9, abs=1e-3)
    await headset.close()
    await therapist.close()


class CuttableProxy:
    """A TCP proxy to PostgreSQL that a test can cut (every connection dropped, new ones refused)."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.up = True
        self.writers: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def cut(self) -> None:
        self.up = False
        for w in self.writers:
            w.transport.abort()
        self.writers.clear()

    def restore(self) -> None:
        self.up = True

    async def close(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()


@pytest.mark.skipif(not os.environ.get(PG_ENV), reason="needs PostgreSQL (STRIDEVR_TEST_DATABASE_URL)")
async def test_database_outage_keeps_the_game_going_and_loses_nothing(database_url: str) -> None:
    real = make_url(normalise_url(database_url))
    proxy = CuttableProxy(real.host or "127.0.0.1", real.port or 5432)
    proxied = real.set(host="127.0.0.1", port=await proxy.start()).render_as_string(hide_password=False)
    seeding = Store(database_url)  # directly: the proxy runs on this event loop, sync calls would block it
    creds = seed_demo(seeding)
    seeding.close()
    async_store = AsyncStore(Store(proxied))
    server = StrideServer(Settings(port=0, database_url=proxied), async_store)
    await server.start()
    url = f"ws://127.0.0.1:{server.port}"
    try:
        therapist, session_id = await start_game(url, creds.username, creds.password,
                                                 dwell_s=0.2, inter_trial_s=0.2, trials=6, seed=3)
        therapist_token = therapist.welcome["session_token"]
        tokens = StationTokens(creds.station_token, creds.headset_token)
        play = asyncio.create_task(run_sim_tracker(url, "station-1", tokens,
                                                   Ability(hold_s=0.4), trials=6, seed=8, timeout_s=60))
        stored: list[int] = []
        while len(stored) < 2:
            msg = await therapist.recv(30)
            if msg["type"] == "trial":
                stored.append(msg["trial"]["index"])
        other = await Link.open(url, {"type": "login", "token": therapist_token}, binary=False)
        proxy.cut()
        # a panel request during the outage gets a clear answer, and the panel stays connected
        failed = await other.request({"type": "list_patients"})
        assert failed["type"] == "error" and failed["code"] == "unavailable", failed
        report = await play  # the patient keeps playing while the database is gone
        assert len(report.outcomes) == 6
        assert len(stored) <= 3  # at most one write was already past the proxy
        await asyncio.sleep(1.0)
        proxy.restore()
        while True:
            msg = await therapist.recv(30)
            if msg["type"] == "trial":
                stored.append(msg["trial"]["index"])
            if msg["type"] == "game_stopped":
                break
        assert sorted(stored) == list(range(6))
        engine = Store(database_url).engine
        with engine.connect() as conn:
            rows = conn.scalars(select(Trial.trial_index).where(Trial.session_id == session_id)).all()
        engine.dispose()
        assert sorted(rows) == list(range(6))  # everything, exactly once
        assert (await other.call({"type": "list_patients"}))["patients"]  # and the panel carries on
        await other.close()
        await therapist.close()
    finally:
        proxy.restore()
        await server.stop()
        async_store.close()
        await proxy.close()
