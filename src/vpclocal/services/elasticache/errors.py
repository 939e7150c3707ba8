"""ElastiCache's errors as data: key -> (code, HTTP status, message template).

Codes and statuses are botocore's model; messages marked "unconfirmed" follow what AWS
documentation implies where no primary source showed the exact text.
"""

from __future__ import annotations

from vpclocal.errors import ServiceError

INVALID = "InvalidParameterValue"

ERRORS = {
    "missing": (INVALID, 400, "The parameter {name} must be provided and must not be blank."),
    "cluster_id": (INVALID, 400, (  # unconfirmed: RDS's wording for its identifiers
        "The parameter CacheClusterIdentifier is not a valid identifier. Identifiers must "
        "begin with a letter; must contain only ASCII letters, digits, and hyphens; and must "
        "not end with a hyphen or contain two consecutive hyphens.")),
    "group_name": (INVALID, 400, (  # unconfirmed
        "The parameter CacheSubnetGroupName is not a valid identifier. Identifiers must contain "
        "only ASCII letters, digits, and hyphens, at most 255 characters.")),
    "num_nodes": (INVALID, 400,
                  "Cannot create a Redis cluster with a NumCacheNodes parameter greater than 1."),
    "engine": (INVALID, 400, ("The engine {engine} is not supported by vpclocal, which runs "
               "redis.")),  # vpclocal's own: AWS runs memcached and valkey too
    "engine_version": ("InvalidParameterCombination", 400,
                       "Cannot find version {version} for redis"),  # unconfirmed
    "node_type": (INVALID, 400, "Invalid CacheNodeType: {type}"),  # unconfirmed
    "port": (INVALID, 400, "Port must be between 1024 and 65535."),  # unconfirmed
    "cluster_exists": ("CacheClusterAlreadyExists", 400,
                       "Cache cluster {id} already exists."),  # unconfirmed
    "cluster_not_found": ("CacheClusterNotFound", 404, "CacheCluster not found: {id}"),
    "cluster_state": ("InvalidCacheClusterState", 400,
                      "Cache cluster {id} is not in available state."),  # unconfirmed
    "group_exists": ("CacheSubnetGroupAlreadyExists", 400,
                     "Cache subnet group {name} already exists."),  # unconfirmed
    "group_not_found": ("CacheSubnetGroupNotFoundFault", 400,
                        "Cache subnet group {name} does not exist."),  # unconfirmed
    "group_in_use": ("CacheSubnetGroupInUse", 400,
                     "Cache subnet group {name} is currently in use by a cache cluster."),
    "subnet": ("InvalidSubnet", 400, "The subnet ID {id} does not exist"),  # unconfirmed
    "subnet_vpcs": ("InvalidSubnet", 400,
                    "Subnets must all belong to the same VPC."),  # unconfirmed
    "subnet_in_use": ("SubnetInUse", 400, "The subnet ID {id} is in use."),  # unconfirmed
    "no_default_vpc": ("InvalidVPCNetworkStateFault", 400,  # unconfirmed
                       "No default VPC: specify CacheSubnetGroupName."),
    "sg": (INVALID, 400, "The security group {id} does not exist"),  # unconfirmed
    "sg_vpc": ("InvalidVPCNetworkStateFault", 400, (  # unconfirmed
               "The security group {id} does not belong to VPC {vpc} of cache subnet group "
               "{group}.")),
    "auth_transit": (INVALID, 400,
                     "The AUTH token is only supported when encryption-in-transit is enabled"),
    "auth_token": (INVALID, 400, "Invalid AuthToken provided."),
    "auth_strategy": (INVALID, 400, ("AuthTokenUpdateStrategy must be specified together "
                                     "with AuthToken.")),  # unconfirmed
    "auth_delete": (INVALID, 400, ("vpclocal has no user groups (RBAC) to move to: the "
                                   "DELETE strategy is not supported.")),  # vpclocal's own
    "capacity": ("InsufficientCacheClusterCapacity", 400,
                 "vpclocal could not start the cache node: {reason}"),
}


def error(key: str, **fields) -> ServiceError:
    code, status, template = ERRORS[key]
    return ServiceError(template.format(**fields), code=code, status=status)
