"""Several server processes, one clinic group: station leases and relays over Redis.

Why Redis pub/sub rather than PostgreSQL LISTEN/NOTIFY: live state is high-rate, small and
disposable (a headset only wants the newest), while NOTIFY payloads are capped at 8000 bytes,
queue inside the database we protect from load, and are delivered only at commit. Redis pub/sub is
fire-and-forget and sub-millisecond, and Redis keys with expiry give us leases for free. Durable
records still go to PostgreSQL only.

* **Lease**: a station's game runs on the process holding ``{prefix}:lease:{station}`` (value: the
  node id, expiring after ``LEASE_S`` unless renewed). A node that fails to renew stops its game.
* **out:{station}**: the host publishes state and therapist events; nodes with local headsets or
  watchers of that station subscribe and fan out locally.
* **in:{station}**: nodes with the station's tracker forward foot events (and device presence
  with a treadmill's belt speed, headset pause/ready) to the host; every node remembers the
  presence it hears, so whichever node starts the station's game next knows it.
* **devices:{station}**: a hash, node → when (Unix ms) that node last had one of the station's
  devices connected; set when one joins, dropped when the last leaves, refreshed every second. A
  game started on a process with none of the station's devices is forwarded to the process that
  has them (station affinity: their input then never crosses Redis).
* **rpc:{node}** / **reply:{node}**: therapist commands for a station hosted elsewhere; and, from
  a host, a notice for devices connected to that node (one that cannot feed the host's game).

Every publication is sealed with the cluster secret (``server/cluster_seal.py``); a message that
is not authentic and fresh is dropped before anything reads it.

:class:`LocalCluster` is the single-process case: every station is local, nothing is published.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from server.cluster_seal import ClusterSeal
from server.codec import error_reply

log = logging.getLogger(__name__)

LEASE_S = 10.0
RENEW_S = 3.0
PRESENCE_S = 3.0
DEVICES_FRESH_S = 3.0  # a node's word that it has a station's devices, refreshed every second
OUTBOX_LIMIT = 20_000
REDIS_STEP_S = 2.0

_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


class ClusterHub(Protocol):
    """What the cluster calls back into (the server)."""

    def remote_output(self, station: str, kind: str, message: dict[str, Any]) -> None: ...

    def remote_input(self, station: str, node: str, kind: str, message: dict[str, Any]) -> None: ...

    async def remote_command(self, message: dict[str, Any]) -> dict[str, Any]: ...

    def lease_lost(self, station: str) -> None: ...

    def device_notice(self, message: dict[str, Any]) -> None: ...

    def owned_stations(self) -> list[str]: ...

    def device_presence(self) -> dict[str, dict[str, Any]]: ...


class ClusterError(Exception):
    pass


class LocalCluster:
    """One process: it hosts every game itself."""

    distributed = False

    def __init__(self, node_id: str = "local") -> None:
        self.node_id = node_id
        self._claimed: set[str] = set()

    async def start(self, hub: ClusterHub) -> None:
        pass

    async def stop(self) -> None:
        self._claimed.clear()

    async def claim(self, station: str) -> bool:
        if station in self._claimed:
            return False
        self._claimed.add(station)
        return True

    async def release(self, station: str) -> None:
        self._claimed.discard(station)

    async def owner(self, station: str) -> str | None:
        return self.node_id if station in self._claimed else None

    async def node_alive(self, node: str) -> bool:
        return node == self.node_id

    async def note_devices(self, station: str, present: bool) -> None:
        pass

    async def devices_at(self, station: str) -> str | None:
        return None

    def publish_out(self, station: str, kind: str, message: dict[str, Any]) -> None:
        pass

    def followed(self, station: str) -> bool:
        return False

    def publish_in(self, station: str, kind: str, message: dict[str, Any]) -> None:
        pass

    def tell(self, node: str, message: dict[str, Any]) -> None:
        pass

    async def follow(self, station: str) -> None:
        pass

    async def unfollow(self, station: str) -> None:
        pass

    async def request(self, node: str, message: dict[str, Any], timeout_s: float = 10.0) -> dict[str, Any]:
        raise ClusterError("single-process server: there is no other node")


class RedisCluster:
    distributed = True

    def __init__(self, url: str, node_id: str, secret: bytes | None, prefix: str = "stridevr") -> None:
        """``url`` as redis-py reads it: ``redis://[user:password@]host[:port][/db]``, or
        ``rediss://`` for TLS (certificate options as URL query parameters)."""
        import redis.asyncio as aioredis

        if not secret:
            raise ClusterError("several server processes need a cluster secret to authenticate their messages")

        self.node_id = node_id
        self._seal = ClusterSeal(secret)
        self.prefix = prefix
        self._redis = aioredis.from_url(url)
        self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        self._hub: ClusterHub | None = None
        self._outbox: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(OUTBOX_LIMIT)
        self._tasks: list[asyncio.Task[None]] = []
        self._answering: set[asyncio.Task[None]] = set()  # the loop holds tasks only weakly
        self._followers: dict[str, int] = {}
        self._following: set[str] = set()
        self._hosting: set[str] = set()
        self._replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self.dropped_publications = 0

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    # -- life cycle -----------------------------------------------------------------------------

    async def start(self, hub: ClusterHub) -> None:
        self._hub = hub
        await self._redis.ping()
        await self._pubsub.subscribe(self._key("rpc", self.node_id), self._key("reply", self.node_id))
        await self._beat()
        self._tasks = [asyncio.create_task(self._read(), name="cluster-read"),
                       asyncio.create_task(self._publish(), name="cluster-publish"),
                       asyncio.create_task(self._maintain(), name="cluster-maintain")]

    async def stop(self) -> None:
        """Stop reading first (the subscription connection is then ours alone), give back our
        leases, then close; every step bounded so a sick Redis cannot hold up a shutdown."""
        for task in self._tasks:
            task.cancel()
        # bounded: a task inside a redis-py read does not always finish promptly on cancel
        await asyncio.wait(self._tasks, timeout=REDIS_STEP_S)
        for station in list(self._hosting):
            await self.release(station)
        for step in (self._redis.delete(self._key("node", self.node_id)), self._pubsub.aclose(),
                     self._redis.aclose()):
            try:
                await asyncio.wait_for(step, REDIS_STEP_S)
            except Exception as exc:  # shutting down: log and carry on
                log.warning("Redis shutdown step failed: %r", exc)

    # -- leases ---------------------------------------------------------------------------------

    async def claim(self, station: str) -> bool:
        ok = await self._redis.set(self._key("lease", station), self.node_id, nx=True, px=int(LEASE_S * 1000))
        if ok:
            self._hosting.add(station)
            await self._pubsub.subscribe(self._key("in", station))
        return bool(ok)

    async def release(self, station: str) -> None:
        self._hosting.discard(station)
        for step in (self._redis.eval(_RELEASE, 1, self._key("lease", station), self.node_id),
                     self._pubsub.unsubscribe(self._key("in", station))):
            try:
                await asyncio.wait_for(step, REDIS_STEP_S)
            except Exception as exc:  # the lease expires on its own anyway
                log.warning("releasing %s: %r", station, exc)

    async def owner(self, station: str) -> str | None:
        value = await self._redis.get(self._key("lease", station))
        return value.decode() if isinstance(value, bytes) else value  # bytes: decode_responses is off

    async def node_alive(self, node: str) -> bool:
        return node == self.node_id or bool(await self._redis.exists(self._key("node", node)))

    # -- where the devices are ------------------------------------------------------------------

    async def note_devices(self, station: str, present: bool) -> None:
        """This node now has (or no longer has) some of the station's devices connected."""
        key = self._key("devices", station)
        try:
            if present:
                async with self._redis.pipeline(transaction=False) as pipe:
                    pipe.hset(key, self.node_id, int(time.time() * 1000))
                    pipe.pexpire(key, int(DEVICES_FRESH_S * 1000))
                    await asyncio.wait_for(pipe.execute(), REDIS_STEP_S)
            else:
                await asyncio.wait_for(self._redis.hdel(key, self.node_id), REDIS_STEP_S)
        except Exception as exc:  # the heartbeat puts it right within a second
            log.warning("noting the devices of %s: %r", station, exc)

    async def devices_at(self, station: str) -> str | None:
        """The node the station's devices are connected to (this one if some are here; of several
        others, the one heard from last), or None when no live node has any."""
        heard = await self._redis.hgetall(self._key("devices", station))
        oldest = (time.time() - DEVICES_FRESH_S) * 1000
        fresh = {(node.decode() if isinstance(node, bytes) else node): int(at)  # bytes: no decode_responses
                 for node, at in heard.items() if int(at) >= oldest}
        if self.node_id in fresh or not fresh:
            return self.node_id if fresh else None
        return max(fresh, key=lambda node: fresh[node])

    # -- streams --------------------------------------------------------------------------------

    def publish_out(self, station: str, kind: str, message: dict[str, Any]) -> None:
        """From the host; only when some other node follows the station (checked each second)."""
        if self.followed(station):
            self._enqueue(self._key("out", station), kind, message)

    def followed(self, station: str) -> bool:
        return self._followers.get(station, 0) > 0

    def publish_in(self, station: str, kind: str, message: dict[str, Any]) -> None:
        self._enqueue(self._key("in", station), kind, message)

    def tell(self, node: str, message: dict[str, Any]) -> None:
        """A device notice for the devices connected to ``node`` (no reply)."""
        self._enqueue(self._key("rpc", node), "device_notice", message)

    async def follow(self, station: str) -> None:
        if station not in self._following:
            self._following.add(station)
            await self._pubsub.subscribe(self._key("out", station))
            self.publish_in(station, "resync", {})  # the host sends its current state at once

    async def unfollow(self, station: str) -> None:
        if station in self._following:
            self._following.discard(station)
            await self._pubsub.unsubscribe(self._key("out", station))

    async def request(self, node: str, message: dict[str, Any], timeout_s: float = 10.0) -> dict[str, Any]:
        request_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies[request_id] = future
        payload = {"node": self.node_id, "kind": "request", "rid": request_id, "msg": message}
        try:
            channel = self._key("rpc", node)
            await self._redis.publish(channel, self._seal.seal(channel, payload))
            return await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            raise ClusterError(f"server {node} did not answer") from None
        finally:
            self._replies.pop(request_id, None)

    # -- internals ------------------------------------------------------------------------------

    def _enqueue(self, channel: str, kind: str, message: dict[str, Any]) -> None:
        try:
            self._outbox.put_nowait((channel, self._seal.seal(channel, {"node": self.node_id, "kind": kind,
                                                                        "msg": message})))
        except asyncio.QueueFull:
            self.dropped_publications += 1

    async def _publish(self) -> None:
        while True:
            batch = [await self._outbox.get()]
            while not self._outbox.empty() and len(batch) < 200:
                batch.append(self._outbox.get_nowait())
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for channel, data in batch:
                        pipe.publish(channel, data)
                    await pipe.execute()
            except Exception:
                log.exception("publishing to Redis failed; %d messages dropped", len(batch))

    async def _read(self) -> None:
        assert self._hub is not None
        hub = self._hub
        while True:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
            except Exception:
                log.exception("Redis subscription failed; retrying")
                await asyncio.sleep(1.0)
                continue
            if message is None:
                continue
            channel = message["channel"].decode()
            payload = self._seal.open(channel, message["data"])
            if payload is None:
                continue  # not authentic or not fresh: counted and logged by the seal
            if payload.get("node") == self.node_id and payload["kind"] != "reply":
                continue  # our own publication
            kind, body = payload["kind"], payload.get("msg") or {}
            _, stream, target = channel.rsplit(":", 2)
            try:
                if stream == "out":
                    hub.remote_output(target, kind, body)
                elif stream == "in":
                    if kind == "resync":  # a new follower: publish to it before the next count
                        self._followers[target] = max(1, self._followers.get(target, 0))
                    hub.remote_input(target, payload["node"], kind, body)
                elif stream == "rpc" and kind == "device_notice":
                    hub.device_notice(body)
                elif stream == "rpc":
                    answer = asyncio.create_task(self._answer(payload, hub.remote_command))
                    self._answering.add(answer)
                    answer.add_done_callback(self._answering.discard)
                elif stream == "reply":
                    future = self._replies.get(payload["rid"])
                    if future is not None and not future.done():
                        future.set_result(body)
            except Exception:
                log.exception("bad cluster message on %s", channel)

    async def _answer(self, payload: dict[str, Any],
                      handler: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]) -> None:
        try:
            reply = await handler(payload["msg"])
        except Exception as exc:
            log.exception("remote command failed")
            reply = error_reply("remote_failed", str(exc))
        data = {"node": self.node_id, "kind": "reply", "rid": payload["rid"], "msg": reply}
        channel = self._key("reply", payload["node"])
        await self._redis.publish(channel, self._seal.seal(channel, data))

    async def _beat(self) -> None:
        await self._redis.set(self._key("node", self.node_id), str(time.time()), px=int(LEASE_S * 1000))

    async def _maintain(self) -> None:
        """Renew leases and the node heartbeat; count followers; announce local trackers."""
        assert self._hub is not None
        last_renew = 0.0
        while True:
            await asyncio.sleep(1.0)
            try:
                now = time.monotonic()
                if now - last_renew >= RENEW_S:
                    last_renew = now
                    await self._beat()
                    for station in list(self._hosting):
                        renewed = await self._redis.eval(_RENEW, 1, self._key("lease", station), self.node_id,
                                                         int(LEASE_S * 1000))
                        if not renewed and station in self._hosting:
                            log.error("lease on %s lost; stopping its game here", station)
                            self._hosting.discard(station)
                            self._hub.lease_lost(station)
                for station in list(self._hosting):
                    counts = await self._redis.pubsub_numsub(self._key("out", station))
                    # Other processes only: this one may follow a station it hosts (a headset that
                    # joined before the game started here), and its own stream is of no use to it.
                    others = (int(counts[0][1]) if counts else 0) - (station in self._following)
                    self._followers[station] = max(0, others)
                here = self._hub.device_presence()
                for station, presence in here.items():
                    if station not in self._hosting:
                        self.publish_in(station, "devices", presence)
                if here:
                    async with self._redis.pipeline(transaction=False) as pipe:
                        at = int(time.time() * 1000)
                        for station in here:
                            pipe.hset(self._key("devices", station), self.node_id, at)
                            pipe.pexpire(self._key("devices", station), int(DEVICES_FRESH_S * 1000))
                        await pipe.execute()
            except Exception:
                log.exception("cluster upkeep failed; retrying")
