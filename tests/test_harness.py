"""The harness itself: a real redis-server answers, and each test gets a clean database."""

import redis


def test_real_redis_server_answers(redis_client: redis.Redis) -> None:
    info = redis_client.info("server")
    assert info["redis_version"]
    assert redis_client.dbsize() == 0
    redis_client.set("k", "v")
    assert redis_client.get("k") == b"v"


def test_each_test_gets_a_clean_database(redis_client: redis.Redis) -> None:
    assert redis_client.dbsize() == 0
