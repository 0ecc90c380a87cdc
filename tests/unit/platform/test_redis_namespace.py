"""The Redis namespace a deployment derives from its database: two databases never
share keys by default, embedded ones (reached through a socket directory) included."""

from __future__ import annotations

from services.platform.config import Settings


def prefix(url: str) -> str:
    return Settings(database_url=url, redis_namespace=None).redis_prefix


def test_two_embedded_databases_in_two_socket_directories_get_two_namespaces():
    one = prefix("postgresql://postgres@/subscriptions?host=/srv/a/.data/run&port=5433")
    two = prefix("postgresql://postgres@/subscriptions?host=/srv/b/.data/run&port=5433")
    assert one != two
    assert one.startswith("subsvc:subscriptions:") and two.startswith("subsvc:subscriptions:")


def test_the_socket_port_and_the_database_name_tell_deployments_apart_too():
    base = "postgresql://postgres@/subscriptions?host=/srv/a/.data/run"
    assert prefix(base + "&port=5433") != prefix(base + "&port=5434")
    assert prefix(base) != prefix(base.replace("/subscriptions", "/other"))


def test_a_tcp_url_keeps_its_namespace_and_redis_namespace_wins():
    url = "postgresql://app@db.internal:5432/billing"
    assert prefix(url) == prefix("postgresql://other-user@db.internal/billing")
    assert prefix(url) != prefix("postgresql://app@db2.internal:5432/billing")
    chosen = Settings(database_url=url, redis_namespace="tenant-a").redis_prefix
    assert chosen == "tenant-a"
