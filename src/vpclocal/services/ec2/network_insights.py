"""Reachability Analyzer: paths, analyses that finish at once, and the `vpclocal reach` query.

Analyses run the reachability engine (vpclocal.network) over the region's model; AWS takes
minutes per analysis, this takes milliseconds, so StartNetworkInsightsAnalysis returns with
the analysis already `succeeded`.
"""

from __future__ import annotations

import ipaddress

from vpclocal.errors import ServiceError
from vpclocal.ids import resource_id
from vpclocal.network import Engine, Topology, UnknownComponentError
from vpclocal.network.hosts import declared_hosts
from vpclocal.network.names import ec2_internal_address, public_address
from vpclocal.network.zone import Answer, zone
from vpclocal.protocols.base import now_iso
from vpclocal.services.ec2.common import arn, get
from vpclocal.services.ec2.errors import KIND_BY_PREFIX, check_id, invalid
from vpclocal.services.ec2.query import describe, tags_for

PATH_FILTERS = {"destination": "Destination", "destination-ip": "DestinationIp",
                "destination-port": "DestinationPort", "protocol": "Protocol",
                "source": "Source", "source-ip": "SourceIp"}
ANALYSIS_FILTERS = {"path-found": "NetworkPathFound", "status": "Status"}

# ARN resource types AWS uses for the components a path may name.
_ARN_TYPES = {"network_interfaces": "network-interface", "internet_gateways": "internet-gateway",
              "nat_gateways": "natgateway", "vpc_endpoints": "vpc-endpoint",
              "vpc_peering_connections": "vpc-peering-connection"}


def _component_id(value: str) -> str:
    """`arn:aws:ec2:r:a:network-interface/eni-1` -> `eni-1`; ids pass through."""
    return value.rsplit("/", 1)[-1] if value.startswith("arn:") else value


def _is_ip(value: str) -> bool:
    try:
        ipaddress.IPv4Address(value)
        return True
    except ValueError:
        return False


# ---- names a user may give `vpclocal reach` ---------------------------------------------------


def interfaces_of_function(tx, name: str) -> list[str]:
    """A Lambda function's Hyperplane ENIs: one per subnet of its VPC config."""
    fn = tx.get("functions", name)
    if fn is None:
        raise UnknownComponentError(f"Function not found: {name}")
    config = fn.get("VpcConfig") or {}
    subnets, groups = set(config.get("SubnetIds") or []), set(config.get("SecurityGroupIds") or [])
    if not subnets:
        raise UnknownComponentError(f"Function {name} is not connected to a VPC")
    return [eni["NetworkInterfaceId"] for eni in tx.all("network_interfaces").values()
            if eni["InterfaceType"] == "lambda" and eni["SubnetId"] in subnets
            and {g["GroupId"] for g in eni["Groups"]} == groups]


def _owned_interfaces(kind: str, label: str):
    def lookup(tx, name: str) -> list[str]:
        record = tx.get(kind, name)
        if record is None:
            raise UnknownComponentError(f"{label} not found: {name}")
        return list(record.get("_NetworkInterfaceIds") or [])
    return lookup


NAME_PREFIXES = {
    "function": interfaces_of_function,
    "rds": _owned_interfaces("db_instances", "DB instance"),
    "proxy": _owned_interfaces("db_proxies", "DB proxy"),
    "cache": _owned_interfaces("cache_clusters", "Cache cluster"),
}


def resolve_name(tx, value: str) -> list[str]:
    """Candidate engine endpoints (ids or addresses) for what a user typed."""
    kind, sep, rest = value.partition(":")
    if sep and kind in NAME_PREFIXES:
        enis = NAME_PREFIXES[kind](tx, rest)
        if not enis:
            raise UnknownComponentError(f"{value} has no network interfaces yet")
        return enis
    return [_component_id(value)]


def hostname_resolver(tx, vpc_id: str | None = None):
    """The VPC resolver's view of names, for the engine's hostname hook: the resolver of
    `vpc_id` (the source's VPC: an interface endpoint's private DNS name leads to its
    network interfaces there), else the names every VPC shares."""
    vpc_zone = zone(tx, vpc_id) if vpc_id else None
    if vpc_zone is not None:
        def answer(name: str) -> str | None:
            result = vpc_zone.lookup(name)
            return result.addresses[0] if isinstance(result, Answer) and result.addresses \
                else None
        return answer
    declared = declared_hosts(tx)

    def resolve(name: str) -> str | None:
        for kind in ("db_instances", "db_proxies", "cache_clusters"):
            for record in tx.all(kind).values():
                if record.get("_Hostname") == name.lower().rstrip("."):
                    return record.get("_Address")
        return ec2_internal_address(name) or public_address(name, declared)

    return resolve


def reach(tx, source: str, destination: str, protocol: str = "tcp",
          port: int | None = None):
    """The engine's answer for `vpclocal reach`: the first source interface that gets through,
    else every blocked analysis (with the blocked path and verified fixes)."""
    sources = resolve_name(tx, source)
    eni = tx.get("network_interfaces", sources[0]) if sources[0].startswith("eni-") else None
    engine = Engine(Topology.from_view(tx), hostname_resolver(tx, eni and eni.get("VpcId")))
    destinations = resolve_name(tx, destination)
    return engine.analyze_any(sources, destinations[0], protocol, port)


# ---- the EC2 API --------------------------------------------------------------------------


def _port(path: dict) -> int | None:
    """The path's destination port, or the single port its source filter names (AWS's
    getting-started example gives the port only as FilterAtSource.DestinationPortRange)."""
    if path.get("DestinationPort") is not None:
        return path["DestinationPort"]
    span = (path.get("FilterAtSource") or {}).get("DestinationPortRange") or {}
    if span.get("FromPort") is not None and span.get("FromPort") == span.get("ToPort"):
        return span["FromPort"]
    return None


class NetworkInsightsOperations:
    def create_network_insights_path(self, ctx, p):
        tx = ctx.tx
        if not p.get("Source"):
            raise ServiceError("The request must contain the parameter Source",
                               code="MissingParameter")
        ends = {}
        for role in ("Source", "Destination"):
            value = p.get(role)
            if not value:
                continue
            rid = _component_id(value)
            kind = KIND_BY_PREFIX.get(rid.rsplit("-", 1)[0])
            if kind not in _ARN_TYPES:
                raise invalid(f"The {role.lower()} '{value}' is not a supported resource.")
            check_id(kind, rid)
            get(tx, kind, rid)
            ends[role] = (rid, arn(ctx, f"{_ARN_TYPES[kind]}/{rid}"))
        if "Destination" not in ends and not p.get("DestinationIp"):
            raise ServiceError("Either Destination or DestinationIp must be specified.",
                               code="MissingParameter")
        for key in ("SourceIp", "DestinationIp"):
            if p.get(key) and not _is_ip(p[key]):
                raise invalid(f"Value ({p[key]}) for parameter {key} is invalid.")
        path_id = resource_id("nip")
        record = {
            "NetworkInsightsPathId": path_id,
            "NetworkInsightsPathArn": arn(ctx, f"network-insights-path/{path_id}"),
            "CreatedDate": now_iso(), "Protocol": p["Protocol"],
            "Tags": tags_for(p, "network-insights-path"),
        }
        for role, (rid, rarn) in ends.items():
            record[role], record[role + "Arn"] = rid, rarn
        for key in ("SourceIp", "DestinationIp", "DestinationPort", "FilterAtSource",
                    "FilterAtDestination"):
            if p.get(key) is not None:
                record[key] = p[key]
        tx.put("network_insights_paths", path_id, record)
        return {"NetworkInsightsPath": record}

    def describe_network_insights_paths(self, ctx, p):
        paths, token = describe(ctx.tx, "network_insights_paths", p,
                                ids_param="NetworkInsightsPathIds", filters=PATH_FILTERS)
        return {"NetworkInsightsPaths": paths, "NextToken": token}

    def delete_network_insights_path(self, ctx, p):
        tx = ctx.tx
        path_id = p["NetworkInsightsPathId"]
        get(tx, "network_insights_paths", path_id)
        analyses = [a["NetworkInsightsAnalysisId"]
                    for a in tx.all("network_insights_analyses").values()
                    if a["NetworkInsightsPathId"] == path_id]
        if analyses:
            # AWS's wording (as the Terraform provider reports it, issue #28330)
            raise ServiceError(f"At least one analysis [{', '.join(analyses)}] exists for path "
                               f"{path_id}. Delete all the analyses before deleting this network "
                               "path.", code="AnalysisExistsForNetworkInsightsPath")
        tx.delete("network_insights_paths", path_id)
        return {"NetworkInsightsPathId": path_id}

    def start_network_insights_analysis(self, ctx, p):
        tx = ctx.tx
        path = get(tx, "network_insights_paths", p["NetworkInsightsPathId"])
        engine = Engine(Topology.from_view(tx), hostname_resolver(tx))
        destination = path.get("Destination") or path["DestinationIp"]
        protocol = path["Protocol"]
        try:
            # no fixes: DescribeNetworkInsightsAnalyses has no place for them
            result = engine.analyze(path["Source"], destination, protocol, _port(path),
                                    fixes=False)
            found = result.to_aws()
        except (UnknownComponentError, ValueError) as exc:
            found = {"NetworkPathFound": False, "ForwardPathComponents": [],
                     "ReturnPathComponents": [],
                     "Explanations": [{"ExplanationCode": "NO_PATH"}]}
            found["_Error"] = str(exc)
        analysis_id = resource_id("nia")
        record = {
            "NetworkInsightsAnalysisId": analysis_id,
            "NetworkInsightsAnalysisArn": arn(ctx, f"network-insights-analysis/{analysis_id}"),
            "NetworkInsightsPathId": path["NetworkInsightsPathId"],
            "StartDate": now_iso(), "Status": "succeeded",
            "FilterInArns": p.get("FilterInArns") or [],
            "Tags": tags_for(p, "network-insights-analysis"),
            **found,
        }
        tx.put("network_insights_analyses", analysis_id, record)
        return {"NetworkInsightsAnalysis": record}

    def describe_network_insights_analyses(self, ctx, p):
        path_id = p.get("NetworkInsightsPathId")
        analyses, token = describe(
            ctx.tx, "network_insights_analyses", p, ids_param="NetworkInsightsAnalysisIds",
            filters=ANALYSIS_FILTERS,
            visible=(lambda a: a["NetworkInsightsPathId"] == path_id) if path_id else None)
        return {"NetworkInsightsAnalyses": analyses, "NextToken": token}

    def delete_network_insights_analysis(self, ctx, p):
        analysis_id = p["NetworkInsightsAnalysisId"]
        get(ctx.tx, "network_insights_analyses", analysis_id)
        ctx.tx.delete("network_insights_analyses", analysis_id)
        return {"NetworkInsightsAnalysisId": analysis_id}
