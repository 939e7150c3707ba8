"""The doctor's checks: one function each, registered in CHECKS with its severity and the
guide's rationale. A check yields Problems: the resources involved, what is wrong with them,
and the `aws` commands that fix it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from vpclocal.doctor.account import Account
from vpclocal.services.iam import LAMBDA_ENI_ACTIONS, role_allows

SEVERITIES = ("info", "warning", "error")  # in rising order
DATABASE_PORTS = {3306: "MySQL", 5432: "PostgreSQL", 6379: "Redis", 1433: "SQL Server",
                  5439: "Redshift"}
VPC_ACCESS_POLICY = "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
# the function security groups a fix allows in by name; beyond, one placeholder
MAX_SOURCES = 3
GATEWAY_SERVICES = ("s3", "dynamodb")
# a connect to a database in the VPC (name lookup, TCP, TLS, authentication) on a cold start
# can take seconds: the guide's functions use 30
MIN_DATABASE_TIMEOUT = 3


@dataclass(frozen=True)
class Problem:
    resources: list[str]
    message: str
    fix: list[str]


@dataclass(frozen=True)
class Finding:
    id: str
    severity: str
    resources: list[str]
    message: str
    rationale: str
    fix: list[str]

    def to_dict(self) -> dict:
        return {"id": self.id, "severity": self.severity, "resources": self.resources,
                "message": self.message, "rationale": self.rationale, "fix": self.fix}


@dataclass(frozen=True)
class Check:
    id: str
    severity: str
    rationale: str
    find: Callable[[Account], Iterator[Problem]]


def _vpc_config_cli(subnets: list[str], groups: list[str]) -> str:
    return f"SubnetIds={','.join(subnets)},SecurityGroupIds={','.join(groups)}"


# ---- 1. high availability --------------------------------------------------------------------


def function_single_az(acct: Account) -> Iterator[Problem]:
    for fn in acct.vpc_functions:
        config = fn["VpcConfig"]
        subnets = list(config["SubnetIds"])
        zones = {acct.az(s) for s in subnets}
        if len(zones) != 1:
            continue
        zone = zones.pop()
        vpc_id = config.get("VpcId", "")
        other = next((found[0] for (vpc, az), found in acct.private_subnets_by_zone.items()
                      if vpc == vpc_id and az != zone), None)
        fix = []
        if other is None:
            other_zone = next(acct.region + z for z in "abc" if acct.region + z != zone)
            fix.append(f"aws ec2 create-subnet --vpc-id {vpc_id} "
                       f"--cidr-block <FREE-CIDR> --availability-zone {other_zone}")
            other = "<NEW-SUBNET-ID>"
        fix.append(f"aws lambda update-function-configuration --function-name "
                   f"{fn['FunctionName']} --vpc-config "
                   f"{_vpc_config_cli([*subnets, other], config['SecurityGroupIds'])}")
        yield Problem([fn["FunctionName"], *subnets],
                      f"function {fn['FunctionName']} has subnets in one Availability Zone "
                      f"only ({zone})", fix)


# ---- 2. security groups ----------------------------------------------------------------------


def _open_database_ports(perm: dict) -> list[int]:
    """The database ports a permission opens to the whole internet."""
    world = any(r.get("CidrIp") == "0.0.0.0/0" for r in perm.get("IpRanges") or ()) or any(
        r.get("CidrIpv6") == "::/0" for r in perm.get("Ipv6Ranges") or ())
    if not world or str(perm.get("IpProtocol")) not in ("tcp", "6", "-1"):
        return []
    if str(perm.get("IpProtocol")) == "-1":
        return sorted(DATABASE_PORTS)
    low, high = perm.get("FromPort", 0), perm.get("ToPort", 65535)
    return [port for port in sorted(DATABASE_PORTS) if low <= port <= high]


def _revoke_cli(group_id: str, perm: dict) -> str:
    proto, low, high = str(perm.get("IpProtocol")), perm.get("FromPort"), perm.get("ToPort")
    ranges = [r for r in perm.get("IpRanges") or () if r.get("CidrIp") == "0.0.0.0/0"]
    if proto == "tcp" and low == high and ranges:
        return (f"aws ec2 revoke-security-group-ingress --group-id {group_id} --protocol tcp "
                f"--port {low} --cidr 0.0.0.0/0")
    wide: dict[str, object] = {
        "IpProtocol": proto, "IpRanges": [{"CidrIp": "0.0.0.0/0"}] if ranges else [],
        "Ipv6Ranges": [{"CidrIpv6": "::/0"}] if not ranges else []}
    if proto != "-1":
        wide.update(FromPort=low, ToPort=high)
    return (f"aws ec2 revoke-security-group-ingress --group-id {group_id} "
            f"--ip-permissions '{json.dumps([wide], separators=(',', ':'))}'")


def open_database_port(acct: Account) -> Iterator[Problem]:
    for group_id, group in sorted(acct.topo.security_groups.items()):
        vpc_id = group.get("VpcId", "")
        sources = [g for g in acct.function_groups.get(vpc_id, []) if g != group_id]
        if not 0 < len(sources) <= MAX_SOURCES:  # which functions need it is for the user
            sources = ["<FUNCTION-SECURITY-GROUP-ID>"]
        for perm in group.get("IpPermissions") or ():
            ports = _open_database_ports(perm)
            if not ports:
                continue
            names = ", ".join(f"{port} ({DATABASE_PORTS[port]})" for port in ports)
            fix = [_revoke_cli(group_id, perm)]
            for source in sources:
                fix += [f"aws ec2 authorize-security-group-ingress --group-id {group_id} "
                        f"--protocol tcp --port {port} --source-group {source}"
                        for port in ports]
            yield Problem([group_id, vpc_id],
                          f"security group {group_id} lets anyone (0.0.0.0/0) in on database "
                          f"port {names}", fix)


# ---- 3. one NAT gateway for several AZs ------------------------------------------------------


def nat_shared_across_azs(acct: Account) -> Iterator[Problem]:
    served: dict[str, list[str]] = {}
    for subnet_id in sorted(acct.topo.subnets):
        nat_id = acct.nat_of(subnet_id)
        if nat_id and acct.is_private(subnet_id):
            served.setdefault(nat_id, []).append(subnet_id)
    for nat_id, subnets in sorted(served.items()):
        nat = acct.topo.nat_gateways.get(nat_id) or {}
        if nat.get("State") not in ("pending", "available"):
            continue
        home = acct.az(nat.get("SubnetId", ""))
        zones = sorted({acct.az(s) for s in subnets})
        if len(zones) < 2:
            continue
        vpc_id = nat.get("VpcId", "")
        fix = []
        for n, zone in enumerate(z for z in zones if z != home):
            public = acct.public_subnet_in(vpc_id, zone) or f"<PUBLIC-SUBNET-IN-{zone}>"
            fix += ["aws ec2 allocate-address --domain vpc",
                    (f"aws ec2 create-nat-gateway --subnet-id {public} "
                    f"--allocation-id <EIP-ALLOCATION-ID-{n + 1}>"),
                    f"aws ec2 create-route-table --vpc-id {vpc_id}",
                    (f"aws ec2 create-route --route-table-id <NEW-ROUTE-TABLE-{n + 1}> "
                    f"--destination-cidr-block 0.0.0.0/0 --nat-gateway-id <NEW-NAT-{n + 1}>")]
            fix += [f"aws ec2 associate-route-table --route-table-id <NEW-ROUTE-TABLE-{n + 1}> "
                    f"--subnet-id {s}" for s in subnets if acct.az(s) == zone]
        yield Problem([nat_id, *subnets],
                      f"NAT gateway {nat_id} (in {home}) serves private subnets in "
                      f"{len(zones)} Availability Zones ({', '.join(zones)})", fix)


# ---- 4. a private subnet with no way out -----------------------------------------------------


def private_subnet_without_egress(acct: Account) -> Iterator[Problem]:
    for subnet_id, functions in sorted(acct.functions_by_subnet.items()):
        if not acct.is_private(subnet_id) or acct.nat_of(subnet_id):
            continue
        vpc_id = (acct.topo.subnets.get(subnet_id) or {}).get("VpcId", "")
        rtb_id = acct.route_table_id(subnet_id)
        if acct.gateway_endpoint_services(subnet_id) or any(
                ep.get("VpcEndpointType") != "Gateway" for ep in acct.endpoints_in(vpc_id)):
            continue
        names = [fn["FunctionName"] for fn in functions]
        nats = sorted(nid for nid, nat in acct.topo.nat_gateways.items()
                      if nat.get("VpcId") == vpc_id and nat.get("State") == "available")
        nat = nats[0] if nats else "<NAT-GATEWAY-ID>"
        fix = [] if nats else [
            "aws ec2 allocate-address --domain vpc",
            (f"aws ec2 create-nat-gateway --subnet-id "
            f"{acct.public_subnet_in(vpc_id, acct.az(subnet_id)) or '<PUBLIC-SUBNET-ID>'} "
            "--allocation-id <EIP-ALLOCATION-ID>")]
        fix += [(f"aws ec2 create-route --route-table-id {rtb_id} --destination-cidr-block "
                f"0.0.0.0/0 --nat-gateway-id {nat}"),
                ("aws ec2 create-vpc-endpoint --vpc-endpoint-type Gateway "
                f"--vpc-id {vpc_id} --service-name com.amazonaws.{acct.region}.s3 "
                f"--route-table-ids {rtb_id}")]
        yield Problem([subnet_id, *names],
                      f"private subnet {subnet_id} has no route to a NAT gateway and its VPC no "
                      f"endpoint: functions here ({', '.join(names)}) cannot reach the internet "
                      "or AWS APIs", fix)


# ---- 5. S3 and DynamoDB through a NAT gateway ------------------------------------------------


def gateway_service_through_nat(acct: Account) -> Iterator[Problem]:
    by_table: dict[str, list[str]] = {}
    for subnet_id in sorted(acct.functions_by_subnet):
        if acct.nat_of(subnet_id):
            by_table.setdefault(acct.route_table_id(subnet_id) or "", []).append(subnet_id)
    for rtb_id, subnets in sorted(by_table.items()):
        have = acct.gateway_endpoint_services(subnets[0])
        vpc_id = (acct.topo.subnets.get(subnets[0]) or {}).get("VpcId", "")
        names = sorted({fn["FunctionName"] for s in subnets for fn in acct.functions_by_subnet[s]})
        for service in GATEWAY_SERVICES:
            name = f"com.amazonaws.{acct.region}.{service}"
            if name in have:
                continue
            existing = next((ep["VpcEndpointId"] for ep in acct.endpoints_in(vpc_id)
                             if ep.get("VpcEndpointType") == "Gateway"
                             and ep.get("ServiceName") == name), None)
            fix = ([(f"aws ec2 modify-vpc-endpoint --vpc-endpoint-id {existing} "
                    f"--add-route-table-ids {rtb_id}")] if existing else
                   [(f"aws ec2 create-vpc-endpoint --vpc-endpoint-type Gateway --vpc-id {vpc_id} "
                    f"--service-name {name} --route-table-ids {rtb_id}")])
            yield Problem([rtb_id, acct.nat_of(subnets[0]), *subnets, *names],
                          f"{service} traffic of functions in {', '.join(subnets)} goes through "
                          f"NAT gateway {acct.nat_of(subnets[0])}: route table {rtb_id} has no "
                          f"{service} gateway endpoint", fix)


# ---- 6. monitoring ---------------------------------------------------------------------------


def vpc_without_flow_logs(acct: Account) -> Iterator[Problem]:
    logged = {log.get("ResourceId") for log in acct.topo.flow_logs.values()}
    for vpc_id in sorted(acct.topo.vpcs):
        if vpc_id in logged or vpc_id not in acct.vpcs_with_interfaces:
            continue
        yield Problem([vpc_id], f"VPC {vpc_id} has network interfaces and no flow log", [
            (f"aws ec2 create-flow-logs --resource-type VPC --resource-ids {vpc_id} "
            "--traffic-type ALL --log-destination-type cloud-watch-logs "
            "--log-group-name /aws/vpc/flowlogs --deliver-logs-permission-arn <ROLE-ARN>")])


# ---- 7. IAM ----------------------------------------------------------------------------------


def role_without_vpc_permissions(acct: Account) -> Iterator[Problem]:
    for fn in acct.vpc_functions:
        role = fn.get("Role", "")
        missing = role_allows(acct.view, role, list(LAMBDA_ENI_ACTIONS))
        if not missing:
            continue
        yield Problem([fn["FunctionName"], role],
                      f"function {fn['FunctionName']}'s role does not allow "
                      f"{', '.join(missing)}", [
                          (f"aws iam attach-role-policy --role-name {role.rpartition('/')[2]} "
                          f"--policy-arn {VPC_ACCESS_POLICY}")])


# ---- 8. timeouts -----------------------------------------------------------------------------


def timeout_under_database_connect(acct: Account) -> Iterator[Problem]:
    for fn in acct.vpc_functions:
        vpc_id = fn["VpcConfig"].get("VpcId", "")
        timeout = fn.get("Timeout", 3)
        if vpc_id in acct.database_vpcs and timeout <= MIN_DATABASE_TIMEOUT:
            yield Problem([fn["FunctionName"], vpc_id],
                          f"function {fn['FunctionName']} times out after {timeout} s, with a "
                          f"database in its VPC {vpc_id}", [
                              (f"aws lambda update-function-configuration --function-name "
                              f"{fn['FunctionName']} --timeout 30")])


# ---- 9. seen at run time -------------------------------------------------------------------


def dropped_connection(acct: Account) -> Iterator[Problem]:
    """Connections an invocation waited on until it gave up because the network dropped them
    (the runtime's hint line names the ENI), where the path is still closed now: the engine
    analyses it again, so a fix makes the finding go."""
    from vpclocal.fabric.hints import blocked_line

    names = {fn["FunctionName"] for fn in acct.functions}
    for (region, name), lines in sorted(acct.evidence.blocked.items()):
        if region != acct.region or name not in names:
            continue
        for (address, port), seen in sorted(lines.items()):
            eni_id = seen.partition(" from ")[2].partition(" ")[0]
            line = blocked_line(acct.view, eni_id, address, port)
            if line is None:
                continue  # open now
            what, _, fix = line.partition(". Fix: ")
            first = fix.split(". Or, without the internet: ")[0]
            yield Problem([name, eni_id, f"{address}:{port}"],
                          f"function {name}'s connections to {address}:{port}/tcp were "
                          f"dropped: {what.partition(' blocked: ')[2]}",
                          [c for c in first.split(" && ") if c])


CONNECTION_PER_INVOKE_MIN = 3  # invocations before connections per invocation mean anything


def connection_per_invoke(acct: Account) -> Iterator[Problem]:
    """Functions whose invocations each opened a database connection (counted where the
    fabric publishes the database) instead of reusing one from a warm environment. Only
    what happened since the functions last changed counts: a fix makes the finding go."""
    evidence = acct.evidence
    seen: dict[tuple[str, tuple[str, ...]], list[float]] = {}
    for (eni_id, _port, client), times in evidence.connections.items():
        functions = tuple(acct.functions_at.get(client) or ())
        if eni_id in acct.databases and functions:
            seen.setdefault((eni_id, functions), []).extend(times)
    for (eni_id, functions), times in sorted(seen.items()):
        since = max(acct.modified(f) for f in functions)
        count = sum(1 for t in times if t >= since)
        invocations = sum(1 for f in functions
                          for t in evidence.invocations.get((acct.region, f), ()) if t >= since)
        if invocations < CONNECTION_PER_INVOKE_MIN or count < invocations:
            continue
        kind, db, record = acct.databases[eni_id]
        fix = []
        if kind == "db_instances":
            family = "POSTGRESQL" if "postgres" in record.get("Engine", "") else "MYSQL"
            subnets = [s["SubnetIdentifier"] for s in
                       (record.get("DBSubnetGroup") or {}).get("Subnets") or ()]
            groups = [g["VpcSecurityGroupId"] for g in record.get("VpcSecurityGroups") or ()]
            fix = [(f"aws rds create-db-proxy --db-proxy-name {db}-proxy --engine-family "
                    f"{family} --role-arn <PROXY-ROLE-ARN> --auth SecretArn=<SECRET-ARN>,"
                    f"IAMAuth=DISABLED --vpc-subnet-ids {' '.join(subnets)} "
                    f"--vpc-security-group-ids {' '.join(groups)}"),
                   (f"aws rds register-db-proxy-targets --db-proxy-name {db}-proxy "
                    f"--db-instance-identifiers {db}")]
        yield Problem([*functions, db],
                      f"{', '.join(functions)} opened {count} connections to {db} in "
                      f"{invocations} invocations: one per invocation. Open it outside the "
                      "handler, where warm invocations reuse it"
                      + (", or connect through an RDS Proxy" if fix else ""), fix)


CHECKS = [
    Check("function-single-az", "warning",
          "Use multiple AZs (minimum 2 for HA): a function in one AZ does not survive its "
          "failure (guide 7.1, 7.4).", function_single_az),
    Check("database-port-open-to-world", "error",
          "Reference security groups by ID, not IP ranges: the database accepts only the "
          "function's security group (guide 6 issue 2, 7.2).", open_database_port),
    Check("nat-gateway-shared-across-azs", "warning",
          "One NAT gateway per AZ, each private subnet routing to the NAT in its own AZ: an "
          "AZ's failure takes a shared NAT down for all (guide 3, 7.3 strategy 2).",
          nat_shared_across_azs),
    Check("private-subnet-without-egress", "info",
          "A VPC function has no internet access without a NAT gateway, nor AWS APIs without "
          "a VPC endpoint (guide 6 issue 1).", private_subnet_without_egress),
    Check("gateway-service-through-nat", "warning",
          "S3 and DynamoDB gateway endpoints are free; through a NAT gateway the same traffic "
          "costs $0.045/GB (guide 7.3 strategy 1).", gateway_service_through_nat),
    Check("vpc-without-flow-logs", "info",
          "Enable VPC Flow Logs to monitor network traffic (guide 7.6).", vpc_without_flow_logs),
    Check("role-without-vpc-permissions", "error",
          "AWSLambdaVPCAccessExecutionRole's permissions are required for VPC-enabled "
          "functions (guide 2, 6 issue 5).", role_without_vpc_permissions),
    Check("timeout-under-database-connect", "info",
          "A cold start's database connect can take seconds: a 3 s timeout leaves no room "
          "(guide 5 and 8 use 30 s).", timeout_under_database_connect),
    Check("connection-dropped", "error",
          "In a VPC a blocked connection is a timeout, not an error: routes, NACLs and "
          "security groups must allow the way there and back (guide 6 issues 1 and 2).",
          dropped_connection),
    Check("database-connection-per-invoke", "warning",
          "Initialize connections outside the handler and reuse them; RDS Proxy pools them "
          "for many concurrent functions (guide 7.5, 8).", connection_per_invoke),
]


def run(acct: Account, checks: list[Check] = CHECKS) -> list[Finding]:
    """Every finding, most severe first (in CHECKS' order within a severity)."""
    findings = [Finding(check.id, check.severity, problem.resources, problem.message,
                        check.rationale, problem.fix)
                for check in checks for problem in check.find(acct)]
    return sorted(findings, key=lambda f: -SEVERITIES.index(f.severity))
