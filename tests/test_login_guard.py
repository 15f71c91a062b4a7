"""Password guessing is throttled, audited and logged; idle sockets cannot crowd out real clients."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TypeVar

import pytest
from sqlalchemy import select
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidMessage, InvalidStatus

from clients.link import Link, ServerError
from server.app import StrideServer
from server.config import Settings
from server.demo import DemoCredentials
from server.login_guard import (
    Admission,
    Busy,
    ConnectionAdmission,
    HashingPool,
    LoginThrottle,
    Throttled,
    ThrottleRule,
)
from server.storage.models import AuditEntry
from tests.conftest import RunningServer, serving


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_wait_doubles_past_the_free_failures_and_time_is_the_way_back() -> None:
    clock = Clock()
    rule = ThrottleRule(free_failures=2, first_delay_s=1.0, max_delay_s=8.0, forget_after_s=100.0)
    guard = LoginThrottle(account=rule, address=ThrottleRule(50, 1.0, 8.0), clock=clock)
    waits = []
    for _ in range(7):
        guard.check("ana", "10.0.0.1")
        waits.append(guard.failed("ana", "10.0.0.1"))
        clock.now += waits[-1]  # the attacker waits exactly as long as told
    assert waits == [0.0, 0.0, 1.0, 2.0, 4.0, 8.0, 8.0]  # capped at max_delay_s
    guard.failed("ana", "10.0.0.1")
    with pytest.raises(Throttled) as refused:
        guard.check("ANA", "10.0.0.2")  # the account is throttled from any address, any case
    assert refused.value.retry_after_s == pytest.approx(8.0) and refused.value.key == "this account"
    guard.check("bob", "10.0.0.1")  # another account from the same address is still free
    clock.now += 8.0
    guard.check("ana", "10.0.0.1")  # the wait is over: the real user may try again
    clock.now += 101.0
    assert guard.failed("ana", "10.0.0.1") == 0.0  # forgotten after forget_after_s


def test_many_accounts_from_one_address_are_throttled_by_address() -> None:
    clock = Clock()
    guard = LoginThrottle(account=ThrottleRule(5, 1.0, 60.0), address=ThrottleRule(3, 2.0, 900.0), clock=clock)
    for name in ("a", "b", "c"):
        guard.failed(name, "10.0.0.9")
    assert guard.failed("d", "10.0.0.9") == 2.0
    with pytest.raises(Throttled) as refused:
        guard.check("e", "10.0.0.9")
    assert refused.value.key == "this address"
    guard.check("e", "10.0.0.10")
    guard.succeeded("d", "10.0.0.9")  # a good login clears its address
    guard.check("e", "10.0.0.9")


T = TypeVar("T")


class Gate:
    """Work for the hashing pool's worker threads that waits until the test opens the gate, so
    that checks pile up in the pool's queues; ``order``: who passed, in order (:meth:`check`)."""

    def __init__(self) -> None:
        self._opened = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self.order: list[str] = []

    def open(self) -> None:
        self._opened.set()

    def wait(self, result: T) -> T:
        """In a worker thread: wait for the gate, then give ``result``."""
        asyncio.run_coroutine_threadsafe(self._opened.wait(), self._loop).result()
        return result

    def check(self, who: str) -> str:
        self.wait(None)
        self.order.append(who)
        return who


async def test_the_hashing_pool_refuses_what_it_cannot_queue() -> None:
    pool = HashingPool(workers=1, queue=2, per_address=2)
    gate = Gate()
    flood = [asyncio.create_task(pool.run("10.0.0.66", gate.wait, 1)) for _ in range(2)]
    await asyncio.sleep(0.05)
    with pytest.raises(Busy):  # that address has its share queued already
        await pool.run("10.0.0.66", gate.wait, 1)
    other = asyncio.create_task(pool.run("10.0.0.7", gate.wait, 1))  # another address still gets in line
    await asyncio.sleep(0.05)
    with pytest.raises(Busy):  # and now the pool is full for everyone
        await pool.run("10.0.0.8", gate.wait, 1)
    gate.open()
    assert await asyncio.gather(*flood, other) == [1, 1, 1]
    assert await pool.run("10.0.0.66", lambda: 2) == 2  # shares are given back
    pool.close()


async def _login(url: str, username: str, password: str) -> dict[str, object]:
    try:
        link = await Link.therapist(url, username, password)
    except ServerError as exc:
        return exc.reply
    await link.close()
    return link.welcome


@pytest.mark.db
async def test_guessing_a_password_is_throttled_audited_and_logged(
        running: RunningServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="server.app")
    user = running.creds.username
    for _ in range(5):  # the free failures, each a full check
        reply = await _login(running.url, user, "wrong password 123")
        assert reply["code"] == "auth_failed"
    sixth = await _login(running.url, user, "wrong password 123")  # starts the wait
    assert sixth["code"] == "auth_failed"
    started = time.perf_counter()
    refused = await _login(running.url, user, running.creds.password)  # even the right one must wait
    elapsed = time.perf_counter() - started
    assert refused["code"] == "throttled" and 0 < float(refused["retry_after_s"]) <= 1.0  # type: ignore[arg-type]
    assert "retry in" in str(refused["message"])
    assert elapsed < 1.0  # answered without a password check
    await asyncio.sleep(float(refused["retry_after_s"]) + 0.05)  # type: ignore[arg-type]
    welcome = await _login(running.url, user, running.creds.password)  # time is the way back
    assert welcome["type"] == "welcome"
    await asyncio.sleep(0.2)  # the throttled attempt's audit entry is written off the request path
    with running.store.store.engine.connect() as db:
        rows = db.execute(select(AuditEntry.action, AuditEntry.subject, AuditEntry.therapist_id, AuditEntry.detail)
                          .where(AuditEntry.action.in_(("login_failed", "login_throttled")))).all()
    failed = [r for r in rows if r.action == "login_failed"]
    assert len(failed) == 6 and all(r.subject == f"username:{user}" and r.therapist_id is not None for r in failed)
    assert all(r.detail["address"] == "127.0.0.1" for r in rows)
    assert [r.action for r in rows].count("login_throttled") == 1
    messages = [r.getMessage() for r in caplog.records]
    assert sum("login failed for" in m for m in messages) == 6
    assert any("login throttled for" in m for m in messages)
    # each refused connection is not logged again: at most one summary line in 10 s for them all
    assert sum("refused before authentication" in m for m in messages) <= 1


@pytest.mark.db
async def test_an_unknown_user_or_a_bad_session_token_is_a_failure_too(running: RunningServer) -> None:
    assert (await _login(running.url, "nobody-here", "whatever password"))["code"] == "auth_failed"
    with pytest.raises(ServerError) as refused:
        await Link.open(running.url, {"type": "login", "token": "x" * 32})
    assert refused.value.reply["code"] == "auth_failed"
    with running.store.store.engine.connect() as db:
        subjects = sorted(db.scalars(select(AuditEntry.subject).where(AuditEntry.action == "login_failed")))
    assert subjects == ["session-token", "username:nobody-here"]


@pytest.mark.db
async def test_idle_sockets_are_capped_and_timed_out(database_url: str) -> None:
    """A server that lets 3 connections from one address wait to authenticate, for 0.5 s each."""
    async with serving(Settings(host="127.0.0.1", port=0, database_url=database_url,
                                auth_timeout_s=0.5, max_unauthenticated_per_address=3)) as running:
        await _idle_sockets_are_capped_and_timed_out(running.server, running.creds)


async def _idle_sockets_are_capped_and_timed_out(server: StrideServer, creds: DemoCredentials) -> None:
    url = f"ws://127.0.0.1:{server.port}"
    idle = [await connect(url) for _ in range(3)]  # handshaken, then silent
    crowded = await connect(url)
    refusal = await asyncio.wait_for(crowded.recv(), 2)
    assert '"busy"' in str(refusal) and "retry_after_s" in str(refusal)
    await crowded.close()
    async with connect(url, local_addr=("127.0.0.2", 0)) as other:  # another address is not crowded out
        await other.send(json.dumps({"type": "login", "v": 1, "username": creds.username,
                                     "password": creds.password}))
        assert json.loads(await asyncio.wait_for(other.recv(), 5))["type"] == "welcome"
    raw = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(5)]  # never handshake
    await asyncio.sleep(0.8)  # past auth_timeout_s: the silent ones are closed, the slots free again
    for ws in idle:
        assert "auth_timeout" in str(await asyncio.wait_for(ws.recv(), 1))
    for reader, writer in raw:
        assert await asyncio.wait_for(reader.read(), 2) == b""  # the server hung up
        writer.close()
    link = await Link.therapist(url, creds.username, creds.password)
    assert (await link.call({"type": "ping"}))["type"] == "pong"
    await link.close()


def test_new_connections_are_admitted_per_address_at_a_bounded_rate() -> None:
    clock = Clock()
    admission = ConnectionAdmission(rate_per_s=2.0, burst=4.0, clock=clock)
    assert [admission.admit("10.0.0.5") for _ in range(5)] == [True] * 4 + [False]
    assert admission.admit("10.0.0.6")  # its own bucket
    clock.now += 0.5
    assert admission.admit("10.0.0.5") and not admission.admit("10.0.0.5")  # refilled at 2 per second
    assert all(ConnectionAdmission(0.0, 0.0).admit("x") for _ in range(100))  # 0: no limit


def test_refused_connections_are_answered_once_a_second_and_dropped_otherwise() -> None:
    clock = Clock()
    admission = ConnectionAdmission(rate_per_s=2.0, burst=2.0, clock=clock)
    verdicts = [admission.at_accept("10.0.0.5") for _ in range(6)]
    assert verdicts == [Admission.ADMIT] * 2 + [Admission.ANSWER_429] + [Admission.DROP] * 3
    assert admission.at_accept("10.0.0.6") is Admission.ADMIT  # another address is not affected
    clock.now += 0.4
    assert admission.at_accept("10.0.0.5") is Admission.DROP  # still refused, answered 0.4 s ago
    clock.now += 0.6  # a second later: the bucket holds two again, and the next refusal is answered
    assert [admission.at_accept("10.0.0.5") for _ in range(4)] == [
        Admission.ADMIT, Admission.ADMIT, Admission.ANSWER_429, Admission.DROP]


def test_dropped_connections_are_held_up_to_a_cap() -> None:
    admission = ConnectionAdmission(rate_per_s=2.0, burst=2.0, max_held=2)
    assert [admission.hold() for _ in range(3)] == [True, True, False]
    admission.release()
    assert admission.hold() and admission.held == 2


@pytest.mark.db
async def test_an_address_opening_connections_too_fast_gets_429(database_url: str) -> None:
    async with serving(Settings(host="127.0.0.1", port=0, database_url=database_url,
                                new_connections_per_address_per_s=2.0)) as running:
        url = running.url
        opened = [await connect(url) for _ in range(8)]  # the burst: four seconds' worth
        with pytest.raises(InvalidStatus) as refused:
            await connect(url)
        assert refused.value.response.status_code == 429
        assert refused.value.response.headers["Retry-After"] == "1"
        # more in the same second are dropped at accept, without an HTTP answer: held open unread
        # (a client that would reconnect at once after a reset waits instead), then reset; with
        # no room left to hold one, reset at once
        admission = running.server.admission
        admission.hold_s, admission.max_held = 1.0, 0
        started = time.monotonic()
        with pytest.raises((OSError, InvalidMessage, ConnectionClosed)):
            await connect(url, open_timeout=5)
        assert time.monotonic() - started < 0.5
        admission.max_held = 10
        started = time.monotonic()
        with pytest.raises((OSError, InvalidMessage, ConnectionClosed)):
            await connect(url, open_timeout=5)
        assert 0.9 <= time.monotonic() - started < 4.0, "held for hold_s, then reset"
        assert admission.held == 0
        async with connect(url, local_addr=("127.0.0.2", 0)) as other:  # another address is let in
            await other.send(json.dumps({"type": "login", "v": 1, "username": running.creds.username,
                                         "password": running.creds.password}))
            assert json.loads(await asyncio.wait_for(other.recv(), 5))["type"] == "welcome"
        for ws in opened:
            await ws.close()


async def test_the_hashing_pool_serves_addresses_in_turn_not_in_arrival_order() -> None:
    """A flood from many addresses queued first still lets another address's check go next."""
    pool = HashingPool(workers=1, queue=32, per_address=2)
    gate = Gate()
    check, order = gate.check, gate.order
    busy = asyncio.create_task(pool.run("10.0.0.1", check, "first"))  # holds the one worker
    await asyncio.sleep(0.05)
    flood = [asyncio.create_task(pool.run(f"10.0.1.{i // 2}", check, f"flood-{i}")) for i in range(8)]
    await asyncio.sleep(0.05)
    therapist = asyncio.create_task(pool.run("10.0.9.9", check, "therapist"))
    await asyncio.sleep(0.05)
    gate.open()
    await asyncio.gather(busy, therapist, *flood)
    # each flooding address had one check served before the therapist's turn came: 4, not 8
    assert order.index("therapist") <= 1 + 4
    assert sorted(order) == sorted(["first", "therapist", *(f"flood-{i}" for i in range(8))])
    pool.close()


async def test_a_cancelled_wait_for_the_hashing_pool_gives_its_place_back() -> None:
    pool = HashingPool(workers=1, queue=4, per_address=2)
    gate = Gate()
    running = asyncio.create_task(pool.run("10.0.0.1", gate.wait, 1))
    await asyncio.sleep(0.05)
    waiting = asyncio.create_task(pool.run("10.0.0.2", gate.wait, 1))
    await asyncio.sleep(0.05)
    waiting.cancel()  # a client that hung up while its check waited
    gate.open()
    assert await running == 1
    assert await pool.run("10.0.0.2", lambda: 2) == 2  # nothing is left holding the worker
    pool.close()


async def test_checks_from_an_address_with_failures_do_not_queue_ahead_of_a_clean_one() -> None:
    """A flood from failing addresses fills its own lane; a therapist's check runs at once."""
    failing = {f"10.0.1.{i}" for i in range(10)}
    pool = HashingPool(workers=1, queue=8, per_address=2, suspect=failing.__contains__)
    gate = Gate()
    flood = [asyncio.create_task(pool.run(f"10.0.1.{i // 2}", gate.wait, "flood"))
             for i in range(18)]  # 1 running, 8 waiting
    await asyncio.sleep(0.05)
    with pytest.raises(Busy):  # the suspect lane is full...
        await pool.run("10.0.1.9", gate.wait, "flood")
    # ... and a clean address neither waits behind it nor is refused
    assert await asyncio.wait_for(pool.run("10.0.0.7", lambda: "therapist"), 5) == "therapist"
    gate.open()
    done = await asyncio.gather(*flood, return_exceptions=True)
    assert done.count("flood") == 9 and all(isinstance(d, Busy) for d in done if d != "flood")
    pool.close()


async def test_a_check_from_an_address_a_login_succeeded_from_goes_first() -> None:
    clock = Clock()
    guard = LoginThrottle(clock=clock)
    guard.succeeded("therapist", "10.0.0.7")
    assert guard.trusted("10.0.0.7") and not guard.trusted("10.0.0.8")
    pool = HashingPool(workers=1, queue=32, per_address=2, suspect=guard.failing, trusted=guard.trusted)
    gate = Gate()
    check, order = gate.check, gate.order

    # fresh addresses, clean until their first check fails, queue first
    fresh = [asyncio.create_task(pool.run(f"10.0.1.{i}", check, f"fresh-{i}")) for i in range(10)]
    await asyncio.sleep(0.05)
    therapist = asyncio.create_task(pool.run("10.0.0.7", check, "therapist"))
    await asyncio.sleep(0.05)
    gate.open()
    await asyncio.gather(therapist, *fresh)
    assert order.index("therapist") == 1  # right after the check already running
    pool.close()
    guard.failed("someone", "10.0.0.7")  # a failure from it since: no longer trusted
    assert not guard.trusted("10.0.0.7")
    clock.now += 13 * 3600.0
    guard.succeeded("therapist", "10.0.0.9")
    clock.now += 13 * 3600.0
    assert not guard.trusted("10.0.0.9")  # trust lasts a working day
