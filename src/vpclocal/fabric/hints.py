"""One log line for a connection the fabric dropped: which component and how to open it.

Beyond AWS (where a dropped SYN is only a timeout): a function's log stream says what blocked
its connection, from the reachability engine's analysis of that flow, with the first fix as
an `aws` command.
"""

from __future__ import annotations

from vpclocal.network.names import GATEWAY_ADDRESSES, service_at


def blocked_line(view, eni_id: str, address: str, port: int) -> str | None:
    """The hint for a TCP connection from an ENI that never opened, or None when the engine
    finds the path open (then the destination is merely slow or silent)."""
    from vpclocal.services.ec2.network_insights import reach

    try:
        result = reach(view, eni_id, address, "tcp", port)
    except (ValueError, KeyError):  # UnknownComponentError is a ValueError
        return None
    if result.reachable or not result.blocked:
        return None
    analysis = result.blocked[0]
    why = "; ".join(f"{e.code} {e.component_id}: {e.message}" for e in analysis.explanations)
    line = f"vpclocal: connection to {address}:{port}/tcp from {eni_id} blocked: {why}"
    if analysis.fixes:
        line += ". Fix: " + " && ".join(analysis.fixes[0].commands)
    endpoint = interface_endpoint_fix(view, eni_id, address)
    if endpoint:
        line += (". Or" if analysis.fixes else ". Fix") + ", without the internet: " + endpoint
    return line


def interface_endpoint_fix(view, eni_id: str, address: str) -> str | None:
    """For a connection to an AWS API's public address: the commands that give the ENI's VPC
    an interface endpoint for that service, which the ENI's security groups may reach on
    443 (guide, section 3.2)."""
    service = service_at(address)
    eni = view.get("network_interfaces", eni_id)
    if service is None or address in GATEWAY_ADDRESSES.values() or eni is None:
        return None
    vpc_id, region = eni.get("VpcId", ""), view.scope
    groups = [g["GroupId"] for g in eni.get("Groups") or ()]
    vpc = view.get("vpcs", vpc_id) or {}
    commands = []
    if not (vpc.get("_EnableDnsSupport", True) and vpc.get("_EnableDnsHostnames")):
        commands.append(f"aws ec2 modify-vpc-attribute --vpc-id {vpc_id} --enable-dns-hostnames")
    commands.append(f"sg=$(aws ec2 create-security-group --vpc-id {vpc_id} --group-name "
                    f"{service}-endpoint --description 'HTTPS to the {service} endpoint' "
                    "--query GroupId --output text)")
    commands += [f"aws ec2 authorize-security-group-ingress --group-id $sg --protocol tcp "
                 f"--port 443 --source-group {group}" for group in groups]
    commands.append(f"aws ec2 create-vpc-endpoint --vpc-id {vpc_id} --vpc-endpoint-type "
                    f"Interface --service-name com.amazonaws.{region}.{service} --subnet-ids "
                    f"{eni.get('SubnetId', '')} --security-group-ids $sg")
    return " && ".join(commands)
