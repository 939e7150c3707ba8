"""AUTH tokens and in-transit encryption, both real: the node's redis-server speaks TLS with a
certificate of vpclocal's local CA and refuses a client without the token (NOAUTH), through a
reboot and a restart of vpclocal too; ModifyCacheCluster rotates and sets tokens live."""

from __future__ import annotations

import datetime as dt

import pytest
import redis

from tests.conftest import Server
from tests.elasticache.conftest import record
from tests.elasticache.test_clusters import create, fails

TOKEN = "first-token-0123456789"
NEXT = "second-token-9876543210"


def tls_client(server, cluster_id: str, password: str | None = None) -> redis.Redis:
    """A TLS client of the node that verifies its certificate against vpclocal's CA."""
    port = record(server, cluster_id)["_LocalPort"]
    return redis.Redis(host="127.0.0.1", port=port, password=password, socket_timeout=5,
                       ssl=True, ssl_cert_reqs="required",
                       ssl_ca_certs=str(server.data_dir / "ca" / "ca.pem"))


def refused(client: redis.Redis) -> None:
    with pytest.raises(redis.exceptions.AuthenticationError):
        client.ping()


def test_auth_token_requires_transit_encryption(elasticache, net):
    fails(elasticache.create_cache_cluster, "InvalidParameterValue",
          "The AUTH token is only supported when encryption-in-transit is enabled",
          CacheClusterId="no-tls", Engine="redis", CacheNodeType="cache.t3.micro",
          NumCacheNodes=1, CacheSubnetGroupName=net["group"], AuthToken=TOKEN)
    for token in ("short-token", "x" * 129, "has@at-sign-0123456", 'has"quote-0123456',
                  "has/slash-01234567", "has space 012345678", "non-ascii-é-0123456"):
        fails(elasticache.create_cache_cluster, "InvalidParameterValue",
              "Invalid AuthToken provided.", CacheClusterId="bad-token", Engine="redis",
              CacheNodeType="cache.t3.micro", NumCacheNodes=1,
              CacheSubnetGroupName=net["group"], TransitEncryptionEnabled=True, AuthToken=token)
    assert not [c for c in elasticache.describe_cache_clusters()["CacheClusters"]
                if c["CacheClusterId"] in ("no-tls", "bad-token")]


def test_token_and_tls_are_enforced(server, elasticache, net):
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    made = create(elasticache, net, "secured", TransitEncryptionEnabled=True, AuthToken=TOKEN)
    assert made["AuthTokenEnabled"] is True and made["TransitEncryptionEnabled"] is True
    assert "AuthToken" not in made and TOKEN not in str(made)
    [got] = elasticache.describe_cache_clusters(CacheClusterId="secured")["CacheClusters"]
    assert (got["AuthTokenEnabled"], got["TransitEncryptionEnabled"],
            got["TransitEncryptionMode"]) == (True, True, "required")
    assert before <= got["AuthTokenLastModifiedDate"] <= dt.datetime.now(dt.UTC)

    refused(tls_client(server, "secured"))
    with pytest.raises(redis.exceptions.AuthenticationError):
        tls_client(server, "secured", "wrong-token-0123456789").ping()
    client = tls_client(server, "secured", TOKEN)
    assert client.set("k", "v") and client.get("k") == b"v"
    # plaintext is not served: the port speaks TLS only
    plain = redis.Redis(host="127.0.0.1", port=record(server, "secured")["_LocalPort"],
                        socket_timeout=3)
    with pytest.raises(redis.exceptions.ConnectionError):
        plain.ping()
    # the token stays off the node's command line
    pid = (server.data_dir / "elasticache" / "us-east-1" / "secured" / "redis.pid").read_text()
    with open(f"/proc/{pid.strip()}/cmdline", "rb") as f:
        assert TOKEN.encode() not in f.read()

    elasticache.reboot_cache_cluster(CacheClusterId="secured", CacheNodeIdsToReboot=["0001"])
    refused(tls_client(server, "secured"))
    assert tls_client(server, "secured", TOKEN).get("k") == b"v"


def test_a_cluster_without_token_stays_open(server, elasticache, net):
    made = create(elasticache, net, "open-tls", TransitEncryptionEnabled=True)
    assert (made["AuthTokenEnabled"], made["TransitEncryptionEnabled"]) == (False, True)
    assert "AuthTokenLastModifiedDate" not in made
    assert tls_client(server, "open-tls").ping()
    plain = create(elasticache, net, "plain")
    assert (plain["AuthTokenEnabled"], plain["TransitEncryptionEnabled"]) == (False, False)
    assert "TransitEncryptionMode" not in plain


def test_rotate_then_set(server, elasticache, net):
    create(elasticache, net, "rotating", TransitEncryptionEnabled=True, AuthToken=TOKEN)
    first = record(server, "rotating")["AuthTokenLastModifiedDate"]
    changed = elasticache.modify_cache_cluster(CacheClusterId="rotating", AuthToken=NEXT,
                                               AuthTokenUpdateStrategy="ROTATE")["CacheCluster"]
    assert changed["AuthTokenEnabled"] is True
    assert changed["AuthTokenLastModifiedDate"] >= dt.datetime.fromisoformat(first)
    # while a rotation lasts, both tokens work
    assert tls_client(server, "rotating", TOKEN).ping()
    assert tls_client(server, "rotating", NEXT).ping()
    refused(tls_client(server, "rotating"))
    elasticache.modify_cache_cluster(CacheClusterId="rotating", AuthToken=NEXT,
                                     AuthTokenUpdateStrategy="SET")
    with pytest.raises(redis.exceptions.AuthenticationError):
        tls_client(server, "rotating", TOKEN).ping()
    assert tls_client(server, "rotating", NEXT).ping()
    # ... and only the new one after a reboot too
    elasticache.reboot_cache_cluster(CacheClusterId="rotating", CacheNodeIdsToReboot=["0001"])
    with pytest.raises(redis.exceptions.AuthenticationError):
        tls_client(server, "rotating", TOKEN).ping()
    assert tls_client(server, "rotating", NEXT).ping()


def test_adding_a_token_to_an_open_cluster(server, elasticache, net):
    """ROTATE onto a cluster without a token keeps it open as well; SET closes it."""
    create(elasticache, net, "opening", TransitEncryptionEnabled=True)
    elasticache.modify_cache_cluster(CacheClusterId="opening", AuthToken=TOKEN)
    assert tls_client(server, "opening").ping() and tls_client(server, "opening", TOKEN).ping()
    [got] = elasticache.describe_cache_clusters(CacheClusterId="opening")["CacheClusters"]
    assert got["AuthTokenEnabled"] is True
    elasticache.modify_cache_cluster(CacheClusterId="opening", AuthToken=TOKEN,
                                     AuthTokenUpdateStrategy="SET")
    refused(tls_client(server, "opening"))
    assert tls_client(server, "opening", TOKEN).ping()


def test_modify_token_errors(server, elasticache, net):
    create(elasticache, net, "no-transit")
    fails(elasticache.modify_cache_cluster, "InvalidParameterValue",
          "The AUTH token is only supported when encryption-in-transit is enabled",
          CacheClusterId="no-transit", AuthToken=TOKEN, AuthTokenUpdateStrategy="ROTATE")
    create(elasticache, net, "tls-only", TransitEncryptionEnabled=True, AuthToken=TOKEN)
    fails(elasticache.modify_cache_cluster, "InvalidParameterValue",
          "Invalid AuthToken provided.", CacheClusterId="tls-only", AuthToken="too-short")
    fails(elasticache.modify_cache_cluster, "InvalidParameterValue",
          "AuthTokenUpdateStrategy must be specified together with AuthToken.",
          CacheClusterId="tls-only", AuthTokenUpdateStrategy="SET")
    assert tls_client(server, "tls-only", TOKEN).ping()
    refused(tls_client(server, "tls-only"))


def test_token_survives_a_restart(tmp_path):
    srv = Server(tmp_path / "data").start()
    try:
        ec2 = srv.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.235.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.235.1.0/24")["Subnet"]["SubnetId"]
        ec = srv.client("elasticache")
        ec.create_cache_subnet_group(CacheSubnetGroupName="g", CacheSubnetGroupDescription="g",
                                     SubnetIds=[subnet])
        ec.create_cache_cluster(CacheClusterId="kept", CacheNodeType="cache.t3.micro",
                                Engine="redis", NumCacheNodes=1, CacheSubnetGroupName="g",
                                TransitEncryptionEnabled=True, AuthToken=TOKEN)
        tls_client(srv, "kept", TOKEN).set("k", "v")
        srv.stop()
        srv.start()
        refused(tls_client(srv, "kept"))
        assert tls_client(srv, "kept", TOKEN).get("k") == b"v"
    finally:
        srv.stop()
