"""A lean round trip for the producer's one command per enqueue.

redis-py's ``execute_command`` checks a connection out of its pool for every command, and
the checkout probes the socket for stray bytes (a non-blocking ``recv`` between two
socket-timeout changes) before each use; the client then records the command for its
observability hooks. On the machines we measured (bench/bench_throughput.py) that
per-command work cost more than the ENQUEUE script's whole server time.

``DirectScript`` runs one Lua script by its SHA on a few connections of its own, made
with the client's pool settings (host, TLS, auth, timeouts, retry). It keeps them clean
instead of probing them: a connection goes back to the free list only after a complete
reply was read, and any other outcome (a network error, a timeout, an interrupt)
disconnects it. Clients it cannot safely mirror (a blocking or caching pool, a
single-connection client, Sentinel) go through redis-py's normal path.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from typing import Any

import redis
from redis.exceptions import NoScriptError, ResponseError
from redis.sentinel import SentinelConnectionPool

from .errors import ConfigurationError

__all__ = ["DirectScript", "FollowingSentinelPool", "client_from_url", "follow_promotions",
           "is_cluster", "pack_command"]


def _bulk(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, int) and not isinstance(value, bool):
        return b"%d" % value
    raise TypeError(f"DirectScript sends str, bytes or int, not {type(value).__name__}")


def pack_command(*args: Any) -> bytes:
    """One command in RESP, the way Redis reads it: an array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = _bulk(arg)
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class DirectScript:
    """Run one Lua script (``EVALSHA``, no keys) through a lean, self-cleaning connection list.

    ``DirectScript(client, source)(argv)`` returns what redis-py's ``Script`` would
    return without response callbacks (the raw reply). The script is loaded on first use
    and again after a ``SCRIPT FLUSH`` or a server restart."""

    def __init__(self, client: redis.Redis, source: str, max_idle: int = 16,
                 numkeys: int = 0) -> None:
        self.client = client
        self.numkeys = numkeys  # the first ``numkeys`` items of argv are the script's KEYS
        self.script = client.register_script(source)
        self.max_idle = max_idle
        pool = getattr(client, "connection_pool", None)  # a RedisCluster has none
        # Only a plain pool is mirrored: a blocking pool's limit, a client-side cache, a
        # single-connection client or a Sentinel-managed pool each need their own path.
        self.direct = (type(pool) is redis.ConnectionPool
                       and getattr(client, "connection", None) is None
                       and getattr(pool, "cache", None) is None)
        self._idle: deque[Any] = deque()
        self._pid = os.getpid()

    def __call__(self, argv: list[Any]) -> Any:
        if not self.direct:
            return self._via_redis_py(argv)
        packed = pack_command("EVALSHA", self.script.sha, self.numkeys, *argv)
        conn, reused = self._checkout()
        try:
            return self._send(conn, packed, argv)
        except redis.ConnectionError:
            if not reused:
                raise
        # An idle connection the server closed meanwhile (CLIENT KILL, its `timeout`, a
        # restart, a proxy's idle cut): redis-py's pool probes each connection before
        # use to catch this; we skip that probe for speed, so a dead reused connection
        # gets one more try on a fresh one instead. A dead socket fails before the server
        # reads the command, so the script did not run; timeouts are not retried.
        return self._send(self._connect(), packed, argv)

    def _send(self, conn: Any, packed: bytes, argv: list[Any]) -> Any:
        try:
            reply = conn.retry.call_with_retry(lambda: self._round_trip(conn, packed),
                                               lambda _error: conn.disconnect())
        except NoScriptError:
            # The whole error reply was read, so the connection is clean. The server lost
            # its scripts (SCRIPT FLUSH, restart): load it and run it once through redis-py.
            self._checkin(conn)
            return self._via_redis_py(argv)
        except ResponseError:
            self._checkin(conn)
            raise
        except BaseException:
            # Mid-reply (timeout, interrupt, network): the socket may hold a partial reply.
            conn.disconnect()
            raise
        self._checkin(conn)
        return reply

    def _via_redis_py(self, argv: list[Any]) -> Any:
        return self.script(keys=argv[:self.numkeys], args=argv[self.numkeys:])

    @staticmethod
    def _round_trip(conn: Any, packed: bytes) -> Any:
        conn.send_packed_command([packed])
        return conn.read_response()

    def _checkout(self) -> tuple[Any, bool]:
        """A connection, and whether it was reused from the idle list."""
        if self._pid != os.getpid():
            # A forked child must not share its parent's sockets: start a fresh list.
            self._idle = deque()
            self._pid = os.getpid()
        try:
            return self._idle.pop(), True
        except IndexError:
            return self._connect(), False

    def _connect(self) -> Any:
        pool = self.client.connection_pool
        return pool.connection_class(**pool.connection_kwargs)

    def _checkin(self, conn: Any) -> None:
        if len(self._idle) < self.max_idle and self._pid == os.getpid():
            self._idle.append(conn)
        else:
            conn.disconnect()


# -- Sentinel: follow a promotion at once ------------------------------------------------------

class FollowingSentinelPool(SentinelConnectionPool):
    """A Sentinel master pool that stops writing to a master being failed over, and moves
    to the promoted replica as soon as it is one.

    redis-py's pool asks the sentinels for the master only when it opens a connection, and
    reads ``SENTINEL MASTERS``, which names the new master only once a failover is over.
    In a planned ``SENTINEL FAILOVER`` that is ~10 s after the promotion (the sentinels
    first move every replica), and the old master, still a master to itself, takes every
    write sent on the connections already open; its resync from the new master then drops
    them all (issue 13: 455 of 648 acknowledged enqueues lost).

    So at most every ``follow_interval`` seconds, on a connection checkout, this pool asks
    each sentinel for the master's flags and ``GET-MASTER-ADDR-BY-NAME`` (one round trip
    per sentinel):

    - a sentinel names another address whose ``ROLE`` is ``master`` (the promoted
      replica; a replica not yet promoted still says ``slave``): switch to it and drop the
      connections to the old one (idle ones now, in-use ones when they come back);
    - else a sentinel reports ``failover_in_progress``: hold. Checkouts raise
      ``ConnectionError`` (which producers and the outbox retry within their deadlines,
      see ENQUEUE_RETRY_ERRORS) until the new master is named or the failover is
      abandoned. Writes acknowledged by the old master after the promotion are what a
      failover loses; holding from the failover's start, a few 100 ms before it promotes
      anyone, leaves only what had not reached the replica by then.
    """

    follow_interval = 0.1
    max_hold = 30.0  # seconds a hold outlives sentinels that stop answering mid-failover

    def __init__(self, service_name: str, sentinel_manager: Any, **kwargs: Any) -> None:
        follow_interval = kwargs.pop("follow_interval", None)
        super().__init__(service_name, sentinel_manager, **kwargs)  # type: ignore[no-untyped-call]
        self._init_following(follow_interval)

    def _init_following(self, follow_interval: float | None = None) -> None:
        if follow_interval is not None:
            self.follow_interval = follow_interval
        self._next_look = 0.0
        self._looking = threading.Lock()
        self._promoted: tuple[str, int] | None = None
        self.holding = False  # a failover is under way and no new master is named yet
        self._failing_from: tuple[Any, ...] | None = None  # the master a failover started from
        self.switches = 0  # promotions followed (for tests and logs)
        self.held_at: float | None = None  # time.monotonic() of the last hold's start
        self.switched_at: float | None = None  # ... and of the last switch
        discover = self.proxy.get_master_address

        def master_address() -> Any:
            # Until the sentinels' MASTERS view catches up with the promotion it still
            # names the old master: keep to the promoted one meanwhile.
            address = discover()  # type: ignore[no-untyped-call]
            if self._promoted is not None:
                if address == self._promoted:
                    self._promoted = None
                else:
                    self.proxy.master_address = address = self._promoted
            return address

        self.proxy.get_master_address = master_address  # type: ignore[method-assign]

    def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        if time.monotonic() >= self._next_look and self._looking.acquire(blocking=False):
            try:
                self._next_look = time.monotonic() + self.follow_interval
                self._look_for_promotion()
            finally:
                self._looking.release()
        if self.holding:
            raise redis.ConnectionError(
                f"Sentinel is failing over {self.service_name!r}: holding writes until the "
                "new master is named")
        return super().get_connection(*args, **kwargs)

    def _look_for_promotion(self) -> None:
        current = self.proxy.master_address
        if current is None:  # no connection made yet: the first one asks the sentinels
            return
        failing_over = silent = False
        for sentinel in self.sentinel_manager.sentinels:
            try:
                pipe = sentinel.pipeline(transaction=False)
                pipe.execute_command("SENTINEL", "MASTER", self.service_name)
                pipe.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service_name)
                state, named = pipe.execute()
            except (redis.ConnectionError, redis.TimeoutError, ResponseError):
                silent = True
                continue
            failing_over = failing_over or "failover_in_progress" in _flags(state)
            if not named:
                continue
            address = (_text(named[0]), int(named[1]))
            if address != tuple(current) and self._is_master(address):
                self._promoted = address
                self.proxy.master_address = address
                self.switches += 1
                self.switched_at = time.monotonic()
                self.holding = False
                # Idle connections now; in-use ones are dropped when they come back (the
                # pool owns only connections to the current master). Closing a socket
                # another thread is reading would break its reply mid-way.
                self.disconnect(inuse_connections=False)
                return
        if (not failing_over and silent and self.holding and self.held_at is not None
                and time.monotonic() - self.held_at < self.max_hold):
            # The sentinel leading the failover may be the one that did not answer: a
            # release now could send writes to the master being replaced.
            failing_over = True
        if not failing_over:
            self._failing_from = None
        elif self._failing_from is None:
            self._failing_from = tuple(current)
        # Hold only while still on the master being failed over: once this pool has moved
        # to the promoted one, the sentinels keep the flag until every replica is moved.
        holding = failing_over and tuple(current) == self._failing_from
        if holding and not self.holding:
            self.held_at = time.monotonic()
            self.disconnect(inuse_connections=False)
        self.holding = holding

    def _is_master(self, address: tuple[str, int]) -> bool:
        kwargs = {k: self.connection_kwargs[k] for k in (
            "username", "password", "socket_timeout", "socket_connect_timeout",
            "ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_cert_reqs")
            if self.connection_kwargs.get(k) is not None}
        kwargs.setdefault("socket_timeout", 1.0)
        kwargs.setdefault("socket_connect_timeout", 1.0)
        ssl = issubclass(self.connection_class, redis.SSLConnection)
        try:
            with redis.Redis(host=address[0], port=address[1], ssl=ssl, **kwargs) as probe:
                role = probe.execute_command("ROLE")
        except redis.RedisError:
            return False
        return bool(role) and _text(role[0]) == "master"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _flags(state: Any) -> list[str]:
    """The ``flags`` of a ``SENTINEL MASTER`` reply (a flat list in RESP2, a map in RESP3)."""
    if isinstance(state, dict):
        flags = state.get(b"flags", state.get("flags", b""))
    else:
        items = [_text(x) for x in state or []]
        flags = dict(zip(items[::2], items[1::2])).get("flags", "")
    return _text(flags).split(",")


def follow_promotions(pool: Any, follow_interval: float | None = None) -> Any:
    """Make a redis-py ``SentinelConnectionPool`` follow promotions as
    FollowingSentinelPool does (used for a pool given to ``RedisHuey(connection_pool=)``
    or ``Board``). Other pools are returned as they are."""
    if type(pool) is SentinelConnectionPool:
        pool.__class__ = FollowingSentinelPool
        pool._init_following(follow_interval)  # type: ignore[attr-defined]
    return pool


# -- Redis URLs -----------------------------------------------------------------------------

CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")


def _hosts(netloc: str, url: str) -> list[tuple[str, int]]:
    hosts = []
    for part in netloc.rsplit("@", 1)[-1].split(","):
        host, _, port = part.rpartition(":") if ":" in part else (part, "", "")
        try:
            hosts.append((host or "localhost", int(port) if port else 6379))
        except ValueError:
            raise ConfigurationError(f"Bad port in Redis URL {url!r}: {part!r}.") from None
    return hosts


def client_from_url(url: str, **options: Any) -> Any:
    """A Redis client for ``url``, one of:

    - ``redis://[:password@]host:port/db``, ``rediss://`` (TLS), ``unix:///path?db=0``:
      one server (``redis.Redis``);
    - ``redis+cluster://[:password@]host:port[,host:port...]``: a Redis Cluster, found
      from any of the nodes given (``redis.cluster.RedisCluster``);
    - ``redis+sentinel://[:password@]host:port[,host:port...]/<master name>[/db]``: the
      master that Sentinel names, followed through failovers.

    A malformed URL raises ConfigurationError with one line saying what is wrong."""
    from urllib.parse import unquote, urlsplit

    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ConfigurationError(f"Bad Redis URL {url!r}: {exc}.") from None
    scheme = parts.scheme.lower()
    password = unquote(parts.password) if parts.password else None
    username = unquote(parts.username) if parts.username else None
    tls = scheme.startswith("rediss")
    if scheme in CLUSTER_SCHEMES:
        from redis.cluster import ClusterNode, RedisCluster

        nodes = [ClusterNode(h, p) for h, p in _hosts(parts.netloc, url)]  # type: ignore[no-untyped-call]
        return RedisCluster(startup_nodes=nodes, password=password, username=username,
                            ssl=tls, **options)
    if scheme in SENTINEL_SCHEMES:
        from redis.sentinel import Sentinel

        path = [p for p in parts.path.split("/") if p]
        if not path:
            raise ConfigurationError(
                f"Redis URL {url!r} names no master: use redis+sentinel://host:port/<master name>.")
        db = int(path[1]) if len(path) > 1 and path[1].isdigit() else 0
        # A sentinel that hangs must not hang a checkout (FollowingSentinelPool asks them).
        sentinel_kwargs: dict[str, Any] = {"socket_timeout": 0.5, "socket_connect_timeout": 0.5}
        if password:
            sentinel_kwargs["password"] = password
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            _hosts(parts.netloc, url), sentinel_kwargs=sentinel_kwargs)
        return sentinel.master_for(  # type: ignore[no-untyped-call]
            path[0], connection_pool_class=FollowingSentinelPool, password=password,
            username=username, db=db, ssl=tls, **options)
    if scheme not in ("redis", "rediss", "unix"):
        raise ConfigurationError(
            f"Unsupported Redis URL scheme {parts.scheme!r} in {url!r}: use redis://, rediss://, "
            "unix://, redis+cluster:// or redis+sentinel://.")
    try:
        return redis.Redis.from_url(url, **options)
    except ValueError as exc:
        raise ConfigurationError(f"Bad Redis URL {url!r}: {exc}.") from None


def is_cluster(client: Any) -> bool:
    """True for a ``redis.cluster.RedisCluster`` client."""
    from redis.cluster import RedisCluster

    return isinstance(client, RedisCluster)
