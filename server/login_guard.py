"""Password guessing, throttled: per account and per source address, before any hashing.

Each failed login adds to two counters, the account's and the address's. Past a few free
failures each further one makes the key wait, doubling from ``first_delay_s`` up to ``max_delay_s``;
an attempt that comes while its key waits is refused at once (``throttled``, with
``retry_after_s``) without touching scrypt, so guessing costs the attacker time and the server
nothing. The account's wait is capped low (a minute) so that a stranger cannot lock a therapist
out for long; the address's counter is what stops one machine trying many accounts. The way back
for the real user is time: the wait never exceeds ``max_delay_s``, and a counter is forgotten
``forget_after_s`` after its last failure (or at once on a successful login). State lives in the
process: with several processes an attacker who spreads attempts over them gets each one's budget.

New connections are admitted per address at a bounded rate (a bucket of ``burst`` refilled at
``rate_per_s``): one machine opening hundreds of connections a second to guess or to hold sockets is
answered with HTTP 429 before any websocket is set up (once a second; its other connections over the
rate are dropped at accept, before any HTTP is read: held open unread for a while, then reset), at
a fraction of a connection's cost.

Password checks run on their own small thread pool with a bounded queue: a burst of (long) bogus
passwords waits its turn there instead of taking every worker thread and hundreds of megabytes of
scrypt memory, and a check that cannot even queue is refused with ``busy``. Waiting checks are
served address by address in turn; those of addresses with failed logins on record run on a worker
of their own below the event loop's priority.
"""

from __future__ import annotations

import asyncio
import collections
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum
from typing import TypeVar

from server.ratelimit import TokenBucket

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ThrottleRule:
    free_failures: int
    first_delay_s: float
    max_delay_s: float
    forget_after_s: float = 900.0

    def delay_s(self, failures: int) -> float:
        over = failures - self.free_failures
        if over <= 0:
            return 0.0
        return min(self.max_delay_s, self.first_delay_s * 2.0 ** (over - 1))


ACCOUNT_RULE = ThrottleRule(free_failures=5, first_delay_s=1.0, max_delay_s=60.0)
ADDRESS_RULE = ThrottleRule(free_failures=20, first_delay_s=1.0, max_delay_s=900.0)
MAX_KEYS = 100_000  # a flood of distinct usernames must not grow memory without bound
TRUSTED_FOR_S = 12 * 3600.0  # an address a login succeeded from stays trusted this long (a working day)


@dataclass(slots=True)
class _Failures:
    count: int
    last_s: float
    blocked_until_s: float


class Throttled(Exception):
    def __init__(self, retry_after_s: float, key: str) -> None:
        super().__init__(f"too many failed logins for {key}; retry in {retry_after_s:.0f} s")
        self.retry_after_s = retry_after_s
        self.key = key


class LoginThrottle:
    def __init__(self, account: ThrottleRule = ACCOUNT_RULE, address: ThrottleRule = ADDRESS_RULE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._rules = {"account": account, "address": address}
        self._clock = clock
        self._failures: dict[tuple[str, str], _Failures] = {}
        self._logged_in_from: dict[str, float] = {}  # address -> when a login from it last succeeded

    def check(self, username: str | None, address: str) -> None:
        """Raise ``Throttled`` if either key must still wait (no account for a token login);
        cheap, no hashing."""
        now = self._clock()
        waits = [(entry.blocked_until_s - now, kind) for kind, entry in self._entries(username, address, now)
                 if entry.blocked_until_s > now]
        if waits:
            wait, kind = max(waits)
            raise Throttled(wait, "this account" if kind == "account" else "this address")

    def failed(self, username: str | None, address: str) -> float:
        """Count a failure against both keys; returns the longer wait it now imposes (s)."""
        now = self._clock()
        if len(self._failures) >= MAX_KEYS:
            self._forget_old(now)
        longest = 0.0
        for kind, value in _keys(username, address):
            rule = self._rules[kind]
            entry = self._live(kind, value, now)
            count = 1 if entry is None else entry.count + 1
            wait = rule.delay_s(count)
            self._failures[(kind, value)] = _Failures(count, now, now + wait)
            longest = max(longest, wait)
        return longest

    def failing(self, address: str) -> bool:
        """Whether ``address`` has failed logins on record (its password checks are suspect)."""
        return self._live("address", address, self._clock()) is not None

    def trusted(self, address: str) -> bool:
        """Whether a login from ``address`` succeeded within ``TRUSTED_FOR_S`` and none failed
        since (a therapist's workstation): its password checks go first."""
        when = self._logged_in_from.get(address)
        return when is not None and self._clock() - when < TRUSTED_FOR_S and not self.failing(address)

    def succeeded(self, username: str | None, address: str) -> None:
        for key in _keys(username, address):
            self._failures.pop(key, None)
        if len(self._logged_in_from) >= MAX_KEYS:
            now = self._clock()
            self._logged_in_from = {a: t for a, t in self._logged_in_from.items() if now - t < TRUSTED_FOR_S}
            if len(self._logged_in_from) >= MAX_KEYS:
                self._logged_in_from.clear()
        self._logged_in_from[address] = self._clock()

    def _entries(self, username: str | None, address: str, now: float) -> list[tuple[str, _Failures]]:
        found = []
        for kind, value in _keys(username, address):
            entry = self._live(kind, value, now)
            if entry is not None:
                found.append((kind, entry))
        return found

    def _live(self, kind: str, value: str, now: float) -> _Failures | None:
        entry = self._failures.get((kind, value))
        if entry is not None and now - entry.last_s > self._rules[kind].forget_after_s:
            del self._failures[(kind, value)]
            return None
        return entry

    def _forget_old(self, now: float) -> None:
        for key in [k for k, e in self._failures.items() if now - e.last_s > self._rules[k[0]].forget_after_s]:
            del self._failures[key]
        if len(self._failures) >= MAX_KEYS:  # still full: drop the oldest half
            for key, _ in sorted(self._failures.items(), key=lambda kv: kv[1].last_s)[: MAX_KEYS // 2]:
                del self._failures[key]


def _keys(username: str | None, address: str) -> list[tuple[str, str]]:
    keys = [("address", address)]
    if username is not None:
        keys.append(("account", username.lower()))
    return keys


class Admission(Enum):
    ADMIT = "admit"
    ANSWER_429 = "answer_429"  # refused, told so over HTTP (429 with Retry-After)
    DROP = "drop"  # refused at accept: held unread for a while, or reset (see ConnectionAdmission)


class ConnectionAdmission:
    """Per-address token buckets for new connections; an address idle for a minute is forgotten.

    A refused address is answered with HTTP 429 at most once a second; its other refused
    connections are dropped at accept (:meth:`at_accept`), before a byte of HTTP is read. A client
    that reconnects in a tight loop would otherwise make the server parse an HTTP request and write
    a response for each attempt (thousands a second cost a third of a core, ``bench/abuse.py``).

    A dropped connection is *held* (:meth:`hold`): left open and unread for ``hold_s``, then reset,
    up to ``max_held`` at a time; only past that is it reset at once. A reset tells the client to
    try again, and one that does so at once came back thousands of times a second, each time costing
    the event loop an accept, and a backlog of them accepted in one go stalled the playing
    stations for milliseconds; a held socket costs a file descriptor and no work.
    """

    def __init__(self, rate_per_s: float, burst: float, clock: Callable[[], float] = time.monotonic,
                 hold_s: float = 10.0, max_held: int = 2048) -> None:
        self.rate_per_s, self.burst = rate_per_s, burst
        self.hold_s = hold_s
        self.max_held = max_held
        self.held = 0  # dropped connections held open now
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._answered: dict[str, float] = {}  # when each refused address was last answered 429
        self._next_sweep = 0.0

    def admit(self, address: str) -> bool:
        if self.rate_per_s <= 0:
            return True  # unlimited
        now = self._clock()
        if now >= self._next_sweep:
            self._next_sweep = now + 60.0
            self._buckets = {a: b for a, b in self._buckets.items() if now - b.last < 60.0}
            self._answered = {a: t for a, t in self._answered.items() if now - t < 60.0}
        bucket = self._buckets.get(address)
        if bucket is None:
            bucket = self._buckets[address] = TokenBucket(self.rate_per_s, self.burst, self._clock)
        return bucket.take()

    def at_accept(self, address: str) -> Admission:
        """A new TCP connection from ``address``: let it in, answer it 429, or drop it now."""
        if self.admit(address):
            return Admission.ADMIT
        now = self._clock()
        if now - self._answered.get(address, float("-inf")) >= 1.0:
            self._answered[address] = now
            return Admission.ANSWER_429
        return Admission.DROP

    def hold(self) -> bool:
        """May one more dropped connection be held open (call :meth:`release` when it closes)?"""
        if self.held >= self.max_held:
            return False
        self.held += 1
        return True

    def release(self) -> None:
        self.held -= 1


class Busy(Exception):
    pass


class _Lane:
    """Worker threads at one OS priority, handed to waiting checks one address at a time in turn."""

    def __init__(self, workers: int, queue: int, background: bool, name: str,
                 first: Callable[[str], bool] = lambda address: False) -> None:
        self.first = first  # addresses whose checks are served before the others' (trusted ones)
        self.workers = workers
        self.limit = workers + queue  # checks running or waiting here at most
        self.total = 0
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name,
                                           initializer=_in_background if background else None)
        self.running = 0
        # checks waiting for a worker, per address; the addresses in the order they are served
        self.waiting: collections.OrderedDict[str, collections.deque[asyncio.Future[None]]] = (
            collections.OrderedDict())

    async def run(self, address: str, fn: Callable[..., T], *args: object) -> T:
        self.total += 1
        try:
            await self._turn(address)
            try:
                return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)
            finally:
                self.running -= 1
                self._next()
        finally:
            self.total -= 1

    async def _turn(self, address: str) -> None:
        """Wait until a worker is free and it is this address's turn; then hold the worker."""
        if self.running < self.workers and not self.waiting:
            self.running += 1
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting.setdefault(address, collections.deque()).append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():  # given the worker, then cancelled: pass it on
                self.running -= 1
                self._next()
            else:
                queue = self.waiting.get(address)
                if queue is not None and turn in queue:
                    queue.remove(turn)
                    if not queue:
                        del self.waiting[address]
            raise

    def _next(self) -> None:
        """A worker is free: the next address in turn gets it, then goes to the back of the line."""
        while self.running < self.workers and self.waiting:
            address = next((a for a in self.waiting if self.first(a)), None) or next(iter(self.waiting))
            queue = self.waiting[address]
            turn = queue.popleft()
            if queue:
                self.waiting.move_to_end(address)
            else:
                del self.waiting[address]
            if not turn.done():
                self.running += 1
                turn.set_result(None)


class HashingPool:
    """At most ``workers`` password checks at once and ``queue`` more waiting, per lane, of which
    at most ``per_address`` from one address; the rest are refused.

    Two lanes: checks from an address with recent failed logins (``suspect``) run on their own
    worker in the background (``SCHED_IDLE`` on Linux: it runs only on CPU time nothing else
    wants), so a password flood's scrypt (~40 ms of CPU each) never delays the event loop serving
    the playing stations, and never queues in
    front of a login from an address with a clean record, which runs at normal priority. Within a
    lane, waiting checks are served one address at a time in turn, not first come first served: a
    flood that keeps its share queued from many addresses still puts at most one check of each
    ahead of another address's; and a full suspect lane refuses only suspect checks. A check from
    a ``trusted`` address (a login from it succeeded lately, none failed since) goes before the
    other waiting ones: a flood from many fresh addresses, each with a clean record until its first
    check fails, does not delay a therapist's workstation. On a machine of up to two cores each
    lane has one worker."""

    def __init__(self, workers: int | None = None, queue: int = 32, per_address: int = 2,
                 suspect: Callable[[str], bool] = lambda address: False,
                 trusted: Callable[[str], bool] = lambda address: False) -> None:
        workers = workers or default_workers()
        self._lanes = {False: _Lane(workers, queue, False, "password", first=trusted),
                       True: _Lane(workers, queue, True, "password-suspect")}
        self._suspect = suspect
        self._per_address = per_address
        self._pending: dict[str, int] = {}

    async def run(self, address: str, fn: Callable[..., T], *args: object) -> T:
        lane = self._lanes[self._suspect(address)]
        if lane.total >= lane.limit or self._pending.get(address, 0) >= self._per_address:
            raise Busy("the server is checking too many passwords at once; try again shortly")
        self._pending[address] = self._pending.get(address, 0) + 1
        try:
            return await lane.run(address, fn, *args)
        finally:
            if (left := self._pending[address] - 1) > 0:
                self._pending[address] = left
            else:
                del self._pending[address]

    def close(self) -> None:
        for lane in self._lanes.values():
            lane.executor.shutdown(wait=False, cancel_futures=True)


def default_workers() -> int:
    """One password check at a time per lane on a machine of up to two cores, two above that."""
    return 1 if (os.cpu_count() or 1) <= 2 else 2


BACKGROUND_NICE = 19  # where SCHED_IDLE is refused: the lowest priority nice gives


def _in_background() -> None:
    """Run this worker thread only on CPU time nothing else wants (Linux ``SCHED_IDLE``: a thread
    id is a scheduling entity of its own). A normal thread that wakes up, such as the event loop
    when a station's frame arrives, takes the CPU from it at once, and the kernel counts a core
    running only such a thread as free when it places a waking thread. Elsewhere, or where that
    is refused: ``BACKGROUND_NICE``."""
    tid = threading.get_native_id()
    try:
        os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
        return
    except (AttributeError, OSError):
        pass
    try:
        os.setpriority(os.PRIO_PROCESS, tid, BACKGROUND_NICE)
    except (AttributeError, OSError):  # not allowed: normal priority
        pass
