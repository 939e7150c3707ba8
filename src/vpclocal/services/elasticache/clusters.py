"""Cache clusters: Redis, one node ("0001") with an ENI in a subnet of its cache subnet group.

Validation and the records (cluster, ENI) land in one transaction, so an error leaves nothing
behind; the node's redis-server is started after that and must answer PING before the call
returns, so the first describe already says "available".

AuthToken is real: the node's server requires it (a client without it gets NOAUTH), and AWS
allows it only with TransitEncryptionEnabled, which is real too: the node serves TLS on its
port with a certificate of vpclocal's local CA (the CA functions trust). ModifyCacheCluster
changes the token on the running server: ROTATE keeps the previous token valid beside the new
one (a cluster without a token stays open as well), SET leaves only the new one.
"""

from __future__ import annotations

import hashlib
import re
import string

from vpclocal.engines.base import free_port
from vpclocal.protocols.base import now_iso
from vpclocal.services.ec2.network_interfaces import create_interface, delete_interface
from vpclocal.services.elasticache.errors import error
from vpclocal.services.elasticache.subnet_groups import (
    CLUSTERS,
    arn,
    default_group,
    get_group,
    page,
)

NODE_ID = "0001"
DEFAULT_PORT = 6379
LOCAL_BIND = "127.0.0.1"  # nodes listen on loopback; the fabric publishes them (published.py)
# Engine version -> its default parameter group (AWS's families).
ENGINE_VERSIONS = {"7.1": "default.redis7", "7.0": "default.redis7", "6.2": "default.redis6.x",
                   "6.0": "default.redis6.x", "5.0.6": "default.redis5.0"}
DEFAULT_VERSION = "7.1"
_CLUSTER_ID = re.compile(r"[a-z](?!.*--)[a-z0-9-]{0,49}(?<!-)")
# AUTH tokens: 16 to 128 printable ASCII characters, none of / " @ (nor a space).
_AUTH_TOKEN = re.compile(r'[!#-.0-?A-~]{16,128}')
TOKEN_STRATEGIES = ("ROTATE", "SET")
_DIRECTIONS = {"north": "n", "south": "s", "east": "e", "west": "w", "central": "c"}


def region_code(region: str) -> str:
    """us-east-1 -> use1, ap-southeast-2 -> apse2: the short form in node hostnames."""
    area, *middle, number = region.split("-")
    short = "".join(_DIRECTIONS.get(w, "") or "".join(_DIRECTIONS.get(d, "") for d in
                    ("north", "south", "east", "west", "central") if d in w) for w in middle)
    return f"{area}{short}{number}"


def account_token(ctx) -> str:
    """Six characters fixed per account and region, as in AWS's endpoint names."""
    digest = hashlib.sha256(f"{ctx.account_id}/{ctx.region}".encode()).digest()
    alphabet = string.ascii_lowercase + string.digits
    return "".join(alphabet[b % len(alphabet)] for b in digest[:6])


def node_hostname(ctx, cluster_id: str) -> str:
    return (f"{cluster_id}.{account_token(ctx)}.{NODE_ID}.{region_code(ctx.region)}"
            ".cache.amazonaws.com")


def check_token(token: str, transit: bool) -> None:
    if not transit:
        raise error("auth_transit")
    if not _AUTH_TOKEN.fullmatch(token):
        raise error("auth_token")


def get_cluster(tx, cluster_id: str | None) -> dict:
    cluster = tx.get(CLUSTERS, (cluster_id or "").lower())
    if cluster is None:
        raise error("cluster_not_found", id=cluster_id)
    return cluster


def security_groups(tx, vpc_id: str, group_ids: list[str], group_name: str) -> list[str]:
    for gid in group_ids:
        group = tx.get("security_groups", gid)
        if group is None:
            raise error("sg", id=gid)
        if group["VpcId"] != vpc_id:
            raise error("sg_vpc", id=gid, vpc=vpc_id, group=group_name)
    return list(dict.fromkeys(group_ids))


def default_security_group(tx, vpc_id: str) -> list[str]:
    return [g["GroupId"] for g in tx.all("security_groups").values()
            if g["VpcId"] == vpc_id and g["GroupName"] == "default"]


def shape(cluster: dict, show_nodes: bool = False) -> dict:
    """The API's CacheCluster: internal keys dropped, nodes only when asked for."""
    out = {k: v for k, v in cluster.items() if not k.startswith("_")}
    if not show_nodes:
        out.pop("CacheNodes", None)
    return out


def new_cluster(tx, ctx, p) -> dict:
    """Validate CreateCacheCluster and write the cluster and its ENI (status creating)."""
    cluster_id = (p.get("CacheClusterId") or "").lower()  # AWS keeps identifiers lower-cased
    if not cluster_id:
        raise error("missing", name="CacheClusterId")
    if not _CLUSTER_ID.fullmatch(cluster_id):
        raise error("cluster_id")
    engine = (p.get("Engine") or "redis").lower()
    if engine != "redis":
        raise error("engine", engine=engine)
    node_type = p.get("CacheNodeType")
    if not node_type:
        raise error("missing", name="CacheNodeType")
    if not node_type.startswith("cache."):
        raise error("node_type", type=node_type)
    if p.get("NumCacheNodes", 1) != 1:
        raise error("num_nodes")
    version = p.get("EngineVersion") or DEFAULT_VERSION
    if version not in ENGINE_VERSIONS:
        raise error("engine_version", version=version)
    port = p.get("Port") or DEFAULT_PORT
    if not 1024 <= port <= 65535:
        raise error("port")
    transit = bool(p.get("TransitEncryptionEnabled"))
    token = p.get("AuthToken")
    if token is not None:
        check_token(token, transit)
    if tx.get(CLUSTERS, cluster_id) is not None:
        raise error("cluster_exists", id=cluster_id)
    group = (get_group(tx, p["CacheSubnetGroupName"]) if p.get("CacheSubnetGroupName")
             else default_group(tx, ctx))
    name, vpc_id = group["CacheSubnetGroupName"], group["VpcId"]
    sg_ids = (security_groups(tx, vpc_id, p["SecurityGroupIds"], name)
              if p.get("SecurityGroupIds") else default_security_group(tx, vpc_id))
    zone = p.get("PreferredAvailabilityZone")
    subnet = next((s for s in group["Subnets"]
                   if not zone or s["SubnetAvailabilityZone"]["Name"] == zone), None)
    if subnet is None:
        raise error("subnet", id=f"in {zone}")
    az = subnet["SubnetAvailabilityZone"]["Name"]
    eni = create_interface(tx, ctx, subnet["SubnetIdentifier"], group_ids=sg_ids,
                           description=f"ElastiCache {cluster_id}", requester_managed=True,
                           requester_id="amazon-elasticache", status="in-use")
    hostname = node_hostname(ctx, cluster_id)
    now = now_iso()
    return tx.put(CLUSTERS, cluster_id, {
        "CacheClusterId": cluster_id, "CacheNodeType": node_type, "Engine": "redis",
        "EngineVersion": version, "CacheClusterStatus": "creating", "NumCacheNodes": 1,
        "PreferredAvailabilityZone": az, "CacheClusterCreateTime": now,
        "PreferredMaintenanceWindow": p.get("PreferredMaintenanceWindow")
        or "sun:05:00-sun:06:00",
        "PendingModifiedValues": {}, "CacheSecurityGroups": [],
        "CacheParameterGroup": {"CacheParameterGroupName": ENGINE_VERSIONS[version],
                                "ParameterApplyStatus": "in-sync", "CacheNodeIdsToReboot": []},
        "CacheSubnetGroupName": name,
        "CacheNodes": [{"CacheNodeId": NODE_ID, "CacheNodeStatus": "creating",
                        "CacheNodeCreateTime": now,
                        "Endpoint": {"Address": hostname, "Port": port},
                        "ParameterGroupStatus": "in-sync", "CustomerAvailabilityZone": az}],
        "AutoMinorVersionUpgrade": p.get("AutoMinorVersionUpgrade", True),
        "SecurityGroups": [{"SecurityGroupId": g, "Status": "active"} for g in sg_ids],
        "SnapshotRetentionLimit": p.get("SnapshotRetentionLimit") or 0,
        "SnapshotWindow": p.get("SnapshotWindow") or "06:30-07:30",
        "AuthTokenEnabled": token is not None,
        **({"AuthTokenLastModifiedDate": now} if token is not None else {}),
        "TransitEncryptionEnabled": transit,
        **({"TransitEncryptionMode": "required"} if transit else {}),
        "AtRestEncryptionEnabled": False, "ARN": arn(ctx, "cluster", cluster_id),
        "ReplicationGroupLogDeliveryEnabled": False, "LogDeliveryConfigurations": [],
        "NetworkType": "ipv4", "IpDiscovery": "ipv4",
        "_NetworkInterfaceIds": [eni["NetworkInterfaceId"]], "_SubnetId": eni["SubnetId"],
        "_Hostname": hostname.lower(), "_Address": eni["PrivateIpAddress"],
        "_LocalPort": free_port(LOCAL_BIND),
        "_AuthTokens": [token] if token is not None else [], "_OpenAccess": False,
    })


def set_status(tx, cluster_id: str, status: str) -> dict | None:
    """Cluster and node status together (node: "available" / "rebooting" / "creating")."""
    if tx.get(CLUSTERS, cluster_id) is None:
        return None  # deleted meanwhile
    cluster = tx.edit(CLUSTERS, cluster_id)
    cluster["CacheClusterStatus"] = status
    node_status = {"rebooting cache cluster nodes": "rebooting"}.get(status, status)
    for node in cluster["CacheNodes"]:
        node["CacheNodeStatus"] = node_status
    return cluster


def remove_cluster(tx, cluster_id: str) -> None:
    cluster = tx.get(CLUSTERS, cluster_id)
    if cluster is None:
        return
    for eni_id in cluster["_NetworkInterfaceIds"]:
        delete_interface(tx, eni_id)
    tx.delete(CLUSTERS, cluster_id)


class ClusterOperations:
    """Sync operations; create, modify, reboot and delete are async in the provider (they
    wait on the engine)."""

    def describe_cache_clusters(self, ctx, p):
        show = bool(p.get("ShowCacheNodeInfo"))
        if p.get("CacheClusterId"):
            return {"CacheClusters": [shape(get_cluster(ctx.tx, p["CacheClusterId"]), show)]}
        clusters = [shape(c, show) for _, c in sorted(ctx.tx.all(CLUSTERS).items())]
        items, marker = page(clusters, p)
        return {"CacheClusters": items, "Marker": marker}


def modify_cluster(tx, p) -> tuple[dict, bool]:
    """Validate ModifyCacheCluster and apply it to the record; True when the AUTH tokens
    changed (the caller applies them to the running server)."""
    cluster = get_cluster(tx, p.get("CacheClusterId"))
    if cluster["CacheClusterStatus"] != "available":
        raise error("cluster_state", id=cluster["CacheClusterId"])
    if p.get("NumCacheNodes", 1) != 1:
        raise error("num_nodes")
    token, strategy = p.get("AuthToken"), p.get("AuthTokenUpdateStrategy")
    if strategy == "DELETE":
        raise error("auth_delete")
    if strategy is not None and token is None:
        raise error("auth_strategy")
    if token is not None:
        check_token(token, cluster["TransitEncryptionEnabled"])
    cluster = tx.edit(CLUSTERS, cluster["CacheClusterId"])
    if p.get("SecurityGroupIds"):
        group = get_group(tx, cluster["CacheSubnetGroupName"])
        sg_ids = security_groups(tx, group["VpcId"], p["SecurityGroupIds"],
                                 group["CacheSubnetGroupName"])
        cluster["SecurityGroups"] = [{"SecurityGroupId": g, "Status": "active"}
                                     for g in sg_ids]
        names = {g: tx.get("security_groups", g)["GroupName"] for g in sg_ids}
        for eni_id in cluster["_NetworkInterfaceIds"]:
            tx.edit("network_interfaces", eni_id)["Groups"] = [
                {"GroupId": g, "GroupName": names[g]} for g in sg_ids]
    for key in ("PreferredMaintenanceWindow", "SnapshotWindow", "SnapshotRetentionLimit",
                "AutoMinorVersionUpgrade"):
        if p.get(key) is not None:
            cluster[key] = p[key]
    if token is None:
        return cluster, False
    previous = cluster.get("_AuthTokens", [])
    if (strategy or "ROTATE") == "ROTATE":
        # the newest previous token stays valid; a cluster without one stays open too
        cluster["_OpenAccess"] = cluster.get("_OpenAccess", False) or not previous
        cluster["_AuthTokens"] = previous[-1:] + [token]
    else:
        cluster["_OpenAccess"], cluster["_AuthTokens"] = False, [token]
    cluster["AuthTokenEnabled"] = True
    cluster["AuthTokenLastModifiedDate"] = now_iso()
    return cluster, True
