"""DirectScript, the producer's lean round trip: it must stay as correct as redis-py's path."""

from __future__ import annotations

import os
import time

import pytest
import redis

from jobboard.board import Board
from jobboard.connections import DirectScript, pack_command
from jobboard.redis_server import free_port
from tests.support import make_core_huey

ECHO = "redis.call('incr', 'calls') return ARGV"

# Busy for ARGV[2] ms of server time, then answer ARGV[1]: outlives a short socket timeout.
SLOW = """
local t = redis.call('time')
local wait = tonumber(ARGV[2]) * 1000
repeat
  local n = redis.call('time')
until (n[1] - t[1]) * 1000000 + (n[2] - t[2]) >= wait
return ARGV[1]
"""


def test_pack_command_is_what_redis_reads(redis_client: redis.Redis) -> None:
    assert pack_command("SET", b"k", 5) == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n5\r\n"
    assert pack_command("ECHO", "é") == b"*2\r\n$4\r\nECHO\r\n$2\r\n\xc3\xa9\r\n"
    with pytest.raises(TypeError):
        pack_command("ECHO", 1.5)


def test_replies_match_redis_py_and_one_connection_is_reused(redis_client: redis.Redis) -> None:
    run = DirectScript(redis_client, ECHO)
    assert run.direct
    argv = ["a", b"\x00\xffbinary", 42, "ünïcode"]
    assert run(argv) == redis_client.register_script(ECHO)(args=argv)
    for _ in range(20):
        run(argv)
    assert len(run._idle) == 1  # sequential calls share one clean connection
    assert int(redis_client.get("calls")) == 22


def test_script_flush_is_survived(redis_client: redis.Redis) -> None:
    run = DirectScript(redis_client, ECHO)
    assert run(["x"]) == [b"x"]
    redis_client.script_flush()
    assert run(["y"]) == [b"y"]  # NOSCRIPT: loaded again and run once, not twice
    assert int(redis_client.get("calls")) == 2
    assert run(["z"]) == [b"z"]


def test_script_error_is_raised_and_the_connection_stays_usable(redis_client: redis.Redis) -> None:
    run = DirectScript(redis_client, "if ARGV[1] == 'boom' then return redis.error_reply('ERR boom') end return ARGV[1]")
    with pytest.raises(redis.ResponseError, match="boom"):
        run(["boom"])
    assert run(["fine"]) == b"fine"
    assert len(run._idle) == 1


@pytest.mark.parametrize("retries", [0, 3])
def test_a_connection_the_server_closed_is_replaced_without_an_error(
        redis_url: str, redis_client: redis.Redis, retries: int) -> None:
    # Huey builds its pool from a URL, whose connections retry nothing (retries=0): the
    # first call after the server dropped an idle connection must still succeed, as
    # redis-py's own pooled commands do.
    client = redis.Redis.from_url(redis_url, retry=redis.retry.Retry(redis.backoff.NoBackoff(), retries))
    run = DirectScript(client, ECHO)
    run(["warm"])
    for n in range(5):
        redis_client.client_kill_filter(_type="normal", skipme=True)
        assert run([f"after kill {n}"]) == [f"after kill {n}".encode()]
    assert len(run._idle) == 1


def test_an_idle_connection_cut_by_the_server_timeout_is_replaced(redis_url: str,
                                                                  redis_client: redis.Redis) -> None:
    run = DirectScript(redis.Redis.from_url(redis_url), ECHO)
    run(["warm"])
    redis_client.config_set("timeout", 1)
    try:
        time.sleep(2.5)  # the fault itself: the server's idle timeout (1 s) must pass
        assert run(["after idle"]) == [b"after idle"]
    finally:
        redis_client.config_set("timeout", 0)


def test_a_server_that_stays_down_still_raises(redis_url: str) -> None:
    # The one extra try is on a fresh connection; a refused connection is not hidden.
    client = redis.Redis.from_url(redis_url.rsplit(":", 1)[0] + f":{free_port()}/0")
    with pytest.raises(redis.ConnectionError):
        DirectScript(client, ECHO)(["x"])


def test_a_timed_out_reply_is_never_read_by_the_next_call(redis_url: str,
                                                          redis_client: redis.Redis) -> None:
    client = redis.Redis.from_url(redis_url, socket_timeout=0.1,
                                  retry=redis.retry.Retry(redis.backoff.NoBackoff(), 0))
    run = DirectScript(client, SLOW)
    assert run(["quick", "0"]) == b"quick"
    with pytest.raises(redis.TimeoutError):
        run(["late", "300"])
    assert len(run._idle) == 0  # the socket that may still get "late" was dropped
    redis_client.ping()  # waits for the busy script to end
    assert run(["next", "0"]) == b"next"


def test_other_pools_go_through_redis_py(redis_url: str) -> None:
    pool = redis.BlockingConnectionPool.from_url(redis_url, max_connections=2)
    run = DirectScript(redis.Redis(connection_pool=pool), ECHO)
    assert not run.direct
    assert run(["b"]) == [b"b"]
    single = redis.Redis.from_url(redis_url, single_connection_client=True)
    assert not DirectScript(single, ECHO).direct


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_uses_its_own_connections(redis_client: redis.Redis) -> None:
    run = DirectScript(redis_client, ECHO)
    run(["parent"])
    parent_conn = run._idle[0]
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: must not touch the parent's socket
        try:
            ok = run(["child"]) == [b"child"] and run._idle[0] is not parent_conn
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1"
    assert run(["parent again"]) == [b"parent again"]
    assert run._idle[0] is parent_conn


def test_enqueue_takes_the_direct_path_and_records_the_job(redis_url: str) -> None:
    huey = make_core_huey(redis_url)
    assert huey.storage._enqueue_script.direct
    result = huey.test_tasks["double"](21)
    job = Board([huey]).queue("core").job(result.id)
    assert (job.state, job.task, job.args) == ("waiting", "tests.support.double", "21")
