"""A real Sentinel set for the tests: 1 master + 2 replicas + 3 sentinels, from Debian's
``redis-server`` and ``redis-sentinel`` binaries (issue 13).

Every process is a child on loopback with its own folder (data, a writable config file,
a log). The data nodes run with AOF (``appendonly yes``, ``appendfsync always``); the
replicas start with ``replicaof`` the master. The sentinels watch it as ``jbmaster``
(quorum 2) with short timeouts, so that a failover takes a few seconds. Each sentinel
rewrites its own copy of the config template, as Sentinel requires.

``kill_master()`` SIGKILLs the master as a crash would; ``failover()`` asks for a planned
``SENTINEL FAILOVER``; both return once the sentinels name a new master that answers
``ROLE`` as one. ``restart(port)`` brings a killed node back on its port and folder, as a
replica of the current master.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

from jobboard.redis_server import find_redis_server, free_port

MASTER_NAME = "jbmaster"

NODE_TEMPLATE = """\
port {port}
bind 127.0.0.1
protected-mode yes
daemonize no
dir {dir}
logfile {dir}/redis.log
loglevel notice
save ""
appendonly yes
appendfsync always
repl-diskless-sync yes
repl-diskless-sync-delay 0
"""

SENTINEL_TEMPLATE = """\
port {port}
bind 127.0.0.1
protected-mode no
daemonize no
dir {dir}
logfile {dir}/sentinel.log
sentinel resolve-hostnames no
sentinel monitor {name} 127.0.0.1 {master} 2
sentinel down-after-milliseconds {name} 1000
sentinel failover-timeout {name} 5000
sentinel parallel-syncs {name} 1
"""


def find_redis_sentinel() -> str:
    return shutil.which("redis-sentinel") or "/usr/bin/redis-sentinel"


class LocalSentinel:
    """Three data nodes and three sentinels; ``url`` is jobboard's ``redis+sentinel://``."""

    def __init__(self, replicas: int = 2, sentinels: int = 3) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="jobboard-sentinel-"))
        self.node_ports = [free_port() for _ in range(1 + replicas)]
        self.sentinel_ports = [free_port() for _ in range(sentinels)]
        self.first_master = self.node_ports[0]
        self.nodes: dict[int, subprocess.Popen[bytes]] = {}
        self.sentinels: dict[int, subprocess.Popen[bytes]] = {}

    # -- addresses -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{MASTER_NAME}/0"

    def node(self, port: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, socket_timeout=2, socket_connect_timeout=2)

    def sentinel(self, port: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, socket_timeout=2, socket_connect_timeout=2)

    def live_nodes(self) -> list[int]:
        return [p for p, proc in self.nodes.items() if proc.poll() is None]

    def live_sentinels(self) -> list[int]:
        return [p for p, proc in self.sentinels.items() if proc.poll() is None]

    # -- processes ----------------------------------------------------------------------------

    def _node_dir(self, port: int) -> Path:
        return self.dir / f"node-{port}"

    def _spawn_node(self, port: int, replica_of: int | None) -> None:
        d = self._node_dir(port)
        conf = d / "redis.conf"
        if not conf.exists():  # first start: its own config; later starts keep it (rewritten)
            d.mkdir(parents=True, exist_ok=True)
            conf.write_text(NODE_TEMPLATE.format(port=port, dir=d))
        args = [find_redis_server(), str(conf)]
        if replica_of is not None:
            args += ["--replicaof", "127.0.0.1", str(replica_of)]
        self.nodes[port] = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL, start_new_session=True)

    def _spawn_sentinel(self, port: int) -> None:
        d = self.dir / f"sentinel-{port}"
        d.mkdir(parents=True, exist_ok=True)
        conf = d / "sentinel.conf"  # a writable copy of the template: Sentinel rewrites it
        conf.write_text(SENTINEL_TEMPLATE.format(port=port, dir=d, name=MASTER_NAME,
                                                 master=self.first_master))
        self.sentinels[port] = subprocess.Popen(
            [find_redis_sentinel(), str(conf)], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)

    def start(self) -> "LocalSentinel":
        try:
            self._spawn_node(self.first_master, None)
            self._wait(lambda: self.node(self.first_master).ping(), what="the master answers")
            for port in self.node_ports[1:]:
                self._spawn_node(port, self.first_master)
            for port in self.node_ports[1:]:
                self._wait(lambda p=port: self._replica_linked(p), what=f"replica {port} syncs")
            for port in self.sentinel_ports:
                self._spawn_sentinel(port)
            self._wait(self._sentinels_settled, timeout=30,
                       what="the sentinels see each other and both replicas")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for proc in [*self.sentinels.values(), *self.nodes.values()]:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:  # pragma: no cover
                pass
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- waiting --------------------------------------------------------------------------

    @staticmethod
    def _wait(predicate: Any, timeout: float = 20.0, what: str = "the condition") -> Any:
        deadline = time.monotonic() + timeout
        last: BaseException | None = None
        while True:
            try:
                value = predicate()
                if value:
                    return value
            except (redis.RedisError, OSError) as exc:
                last = exc
            if time.monotonic() > deadline:
                raise TimeoutError(f"sentinel set: {what}: not within {timeout} s (last error: {last!r})")
            time.sleep(0.05)

    def _replica_linked(self, port: int) -> bool:
        info = self.node(port).info("replication")
        return info.get("role") == "slave" and info.get("master_link_status") == "up"

    def _sentinels_settled(self) -> bool:
        want_others = len(self.sentinel_ports) - 1
        want_replicas = len(self.node_ports) - 1
        for port in self.sentinel_ports:
            m = self._pairs(self.sentinel(port).execute_command("SENTINEL", "MASTER", MASTER_NAME))
            if int(m["num-other-sentinels"]) < want_others or int(m["num-slaves"]) < want_replicas:
                return False
            if "s_down" in m["flags"] or "o_down" in m["flags"]:
                return False
        return True

    @staticmethod
    def _pairs(reply: Any) -> dict[str, str]:
        if isinstance(reply, dict):
            return {_s(k): _s(v) for k, v in reply.items()}
        items = [_s(x) for x in reply]
        return dict(zip(items[::2], items[1::2]))

    # -- the master ------------------------------------------------------------------------

    def master_port(self) -> int:
        """The master's port as the sentinels name it (the first live sentinel that answers)."""
        last: BaseException | None = None
        for port in self.live_sentinels():
            try:
                host, mport = self.sentinel(port).execute_command(
                    "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)
                return int(mport)
            except (redis.RedisError, OSError, TypeError, ValueError) as exc:
                last = exc
        raise redis.ConnectionError(f"no sentinel names the master: {last!r}")

    def _named_by_all(self) -> int | None:
        """The master's port if every live sentinel names the same one, else None."""
        ports = set()
        for port in self.live_sentinels():
            _host, mport = self.sentinel(port).execute_command(
                "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)
            ports.add(int(mport))
        return ports.pop() if len(ports) == 1 else None

    def _is_master(self, port: int) -> bool:
        role = self.node(port).execute_command("ROLE")
        return _s(role[0]) == "master"

    def _wait_new_master(self, old: int, timeout: float) -> int:
        def promoted() -> int | None:
            new = self._named_by_all()
            if new is None or new == old or not self._is_master(new):
                return None
            return new

        return int(self._wait(promoted, timeout=timeout, what=f"a new master replaces {old}"))

    def kill_master(self, timeout: float = 30.0) -> int:
        """SIGKILL the master; returns its port once the sentinels name a new master that
        answers ``ROLE`` as master."""
        old = self.master_port()
        proc = self.nodes[old]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
        self._wait_new_master(old, timeout)
        return old

    def failover(self, timeout: float = 30.0) -> int:
        """``SENTINEL FAILOVER``: a planned switch; returns the old master's port once the
        sentinels name a new master that answers ``ROLE`` as master."""
        old = self.master_port()
        self._wait(lambda: self.sentinel(self.live_sentinels()[0]).execute_command(
            "SENTINEL", "FAILOVER", MASTER_NAME), timeout=10, what="SENTINEL FAILOVER is accepted")
        self._wait_new_master(old, timeout)
        return old

    def restart(self, port: int, timeout: float = 30.0) -> None:
        """Start a killed node again on its port, folder and config, as a replica of the
        current master; returns once its replication link is up."""
        assert self.nodes[port].poll() is not None, f"node {port} is still running"
        master = self.master_port()
        self._spawn_node(port, None if master == port else master)
        self._wait(lambda: self._replica_linked(port), timeout=timeout,
                   what=f"node {port} rejoins as a replica")

    def wait_demoted(self, port: int, timeout: float = 30.0) -> None:
        """Wait until the node on ``port`` (a former master) is a replica whose link is up."""
        self._wait(lambda: self._replica_linked(port), timeout=timeout,
                   what=f"node {port} is a linked replica")

    def set_min_replicas_to_write(self, n: int, max_lag: int = 10) -> None:
        for port in self.live_nodes():
            c = self.node(port)
            c.config_set("min-replicas-to-write", n)
            c.config_set("min-replicas-max-lag", max_lag)

    def replicas_in_sync(self, timeout: float = 20.0) -> None:
        """Wait until every live node but the master is a linked replica of it."""
        def synced() -> bool:
            master = self.master_port()
            return all(self._replica_linked(p) for p in self.live_nodes() if p != master)

        self._wait(synced, timeout=timeout, what="every replica is linked to the master")


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
