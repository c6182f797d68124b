"""A real Redis Cluster for the tests: 3 masters and 3 replicas from the redis-server binary.

Each node is a ``redis-server --cluster-enabled yes`` child process on loopback with its
own folder; ``redis-cli --cluster create`` joins them. ``kill_master_of(key)`` SIGKILLs the
master serving a key's slot, as a crash would, so that its replica takes over.
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
from redis.cluster import RedisCluster

from jobboard.redis_server import find_redis_server


def _cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free and valid too."""
    import random
    import socket

    while True:
        port = random.randint(20000, 50000)
        try:
            for p in (port, port + 10000):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
            return port
        except OSError:
            continue


class LocalCluster:
    """Six redis-server processes joined into one cluster (``--cluster-replicas 1``)."""

    def __init__(self, nodes: int = 6, node_timeout_ms: int = 1500) -> None:
        self.ports = [_cluster_port() for _ in range(nodes)]
        self.node_timeout_ms = node_timeout_ms
        self.dir = Path(tempfile.mkdtemp(prefix="jobboard-cluster-"))
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.ports[:3])

    def start(self) -> "LocalCluster":
        for port in self.ports:
            d = self.dir / str(port)
            d.mkdir()
            self.procs[port] = subprocess.Popen(
                [find_redis_server(), "--port", str(port), "--bind", "127.0.0.1",
                 "--dir", str(d), "--cluster-enabled", "yes",
                 "--cluster-config-file", "nodes.conf",
                 "--cluster-node-timeout", str(self.node_timeout_ms),
                 "--save", "", "--appendonly", "yes", "--appendfsync", "always",
                 "--loglevel", "warning"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        for port in self.ports:
            self._wait(lambda p=port: redis.Redis(port=p).ping())
        cli = shutil.which("redis-cli") or "/usr/bin/redis-cli"
        subprocess.run([cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports),
                        "--cluster-replicas", "1", "--cluster-yes"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        self._wait(self._healthy, timeout=60)
        return self

    def _healthy(self) -> bool:
        for port in self.live_ports():
            info = redis.Redis(port=port).execute_command("CLUSTER", "INFO").decode()
            if "cluster_state:ok" not in info:
                return False
        return True

    @staticmethod
    def _wait(predicate: Any, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if predicate():
                    return
            except (redis.RedisError, OSError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("the cluster did not come up")
            time.sleep(0.1)

    def live_ports(self) -> list[int]:
        return [p for p, proc in self.procs.items() if proc.poll() is None]

    def client(self) -> RedisCluster:
        return RedisCluster(host="127.0.0.1", port=self.live_ports()[0])

    def master_port_of(self, key: str) -> int:
        c = self.client()
        return int(c.get_node_from_key(key).port)

    def kill_master_of(self, key: str) -> int:
        """SIGKILL the master serving ``key``; returns its port once a replica took over."""
        port = self.master_port_of(key)
        self.procs[port].send_signal(signal.SIGKILL)
        self.procs[port].wait(5)
        self._wait(lambda: self._healthy() and self._master_moved(key, port), timeout=60)
        return port

    def _master_moved(self, key: str, old: int) -> bool:
        c = RedisCluster(host="127.0.0.1", port=self.live_ports()[0])
        return int(c.get_node_from_key(key).port) != old

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


def queues_on_distinct_masters(cluster: LocalCluster, count: int = 3, prefix: str = "jb",
                               stem: str = "q") -> list[str]:
    """Queue names whose key slots are served by ``count`` different masters."""
    c = cluster.client()
    chosen: dict[int, str] = {}
    for i in range(1000):
        name = f"{stem}{i}"
        port = int(c.get_node_from_key(f"{prefix}:{{{name}}}:waiting").port)
        chosen.setdefault(port, name)
        if len(chosen) == count:
            break
    return sorted(chosen.values())
