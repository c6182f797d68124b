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
from collections import deque
from typing import Any

import redis
from redis.exceptions import NoScriptError, ResponseError

from .errors import ConfigurationError

__all__ = ["DirectScript", "client_from_url", "is_cluster", "pack_command"]


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
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            _hosts(parts.netloc, url), sentinel_kwargs={"password": password} if password else None)
        return sentinel.master_for(  # type: ignore[no-untyped-call]
            path[0], password=password, username=username, db=db, ssl=tls, **options)
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
