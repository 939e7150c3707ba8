"""One log line for a connection the fabric dropped: which component and how to open it.

Beyond AWS (where a dropped SYN is only a timeout): a function's log stream says what blocked
its connection, from the reachability engine's analysis of that flow, with the first fix as
an `aws` command.
"""

from __future__ import annotations


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
    return line
