"""Interface VPC endpoints that answer at their network interfaces' addresses.

An interface endpoint is one requester-managed ENI per chosen subnet (services/ec2/
vpc_endpoints.py), planned in the fabric like any ENI: the VPC's route tables, NACLs and the
endpoint's security groups decide whether a client's SYN reaches it. Inside each such ENI's
namespace the agent binds 0.0.0.0:443 and 0.0.0.0:80 and passes the sockets here; the
simulated internet's event loop (its own thread: TLS handshakes never hold up the server's
loop) serves them:

- on 443 TLS ends with a certificate for the name the client asked for (the service's public
  name when private DNS sends it here, or the endpoint's own `vpce-…` name), from the local
  CA, as the public endpoints on the simulated internet do (internet.py);
- then the bytes go to the vpclocal server's listener, recorded (relay.Origin) as coming from
  the client's private address through this endpoint, so IAM sees aws:SourceVpce,
  aws:SourceVpc and aws:VpcSourceIp and applies the endpoint's policy, and the server counts
  the call against the endpoint.

Which ENIs are endpoints' comes from the same store snapshot as the plan (wanted()); the
listeners follow their namespaces (a rebuild makes new ones), after every apply.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import ssl
from collections import deque
from dataclasses import dataclass

from .ca import CertificateAuthority
from .relay import Origin, connect, splice
from .sandbox import FabricError, Sandbox, Space

log = logging.getLogger("vpclocal.fabric")

PORTS = (443, 80)  # what AWS's endpoint network interfaces answer
HANDSHAKE_TIMEOUT = 10.0
RECENT_CALLS = 50  # per endpoint, for GET /_vpclocal/fabric


@dataclass(frozen=True)
class Target:
    """What an endpoint ENI stands for."""

    endpoint: str  # vpce-…
    vpc: str
    service: str  # its short name: sts, logs, s3 …


def wanted(store) -> dict[str, Target]:
    """Every available interface endpoint's ENIs in the store: ENI id -> its Target."""
    out: dict[str, Target] = {}
    for scope in store.scopes("vpc_endpoints"):
        for endpoint in store.view(scope).values("vpc_endpoints"):
            if endpoint.get("VpcEndpointType") != "Interface" or endpoint.get("State") not in (
                    "available", "pending"):
                continue
            target = Target(endpoint["VpcEndpointId"], endpoint["VpcId"],
                            endpoint.get("_Service", ""))
            for eni_id in endpoint.get("NetworkInterfaceIds") or ():
                out[eni_id] = target
    return out


class InterfaceEndpoints:
    """The endpoint listeners, kept in step with the store and the ENI namespaces. sync() and
    the connections run on `loop` (the simulated internet's)."""

    def __init__(self, sandbox: Sandbox, ca: CertificateAuthority,
                 server: tuple[str, int]) -> None:
        self.sandbox = sandbox
        self.ca = ca
        self.server = server  # the vpclocal server's own listener
        self.targets: dict[str, Target] = {}
        self.listeners: dict[tuple[str, int], tuple[Space, asyncio.Server]] = {}
        self.calls: dict[str, deque] = {}  # endpoint id -> its recent calls (record())

    async def sync(self, targets: dict[str, Target], spaces: dict[str, Space]) -> None:
        self.targets = targets
        for key, (space, server) in list(self.listeners.items()):
            if key[0] not in targets or spaces.get(key[0]) is not space:
                server.close()
                del self.listeners[key]
        for eni_id, target in targets.items():
            found = spaces.get(eni_id)
            if found is None:
                continue  # its ENI is not in the fabric (yet)
            for port in PORTS:
                if (eni_id, port) in self.listeners:
                    continue
                try:
                    sock = await asyncio.to_thread(self.sandbox.listen, found, "0.0.0.0", port)
                except (FabricError, OSError) as exc:
                    log.error("interface endpoint %s cannot listen on :%d: %s",
                              target.endpoint, port, exc)
                    continue
                server = await asyncio.start_server(
                    functools.partial(self._serve, eni_id, port), sock=sock)
                self.listeners[(eni_id, port)] = (found, server)

    async def _serve(self, eni_id: str, port: int, reader, writer) -> None:
        target = self.targets.get(eni_id)
        try:
            if target is None:
                return
            if port == 443:
                local = (writer.get_extra_info("sockname") or ("",))[0]
                try:
                    await writer.start_tls(self.ca.server_context(local),
                                           ssl_handshake_timeout=HANDSHAKE_TIMEOUT)
                except (OSError, ssl.SSLError, TimeoutError, ConnectionError):
                    return
            client = (writer.get_extra_info("peername") or ("",))[0]
            try:
                up_reader, up_writer, up_port = await connect(
                    *self.server, came_from=Origin(client, target.endpoint, target.vpc))
            except OSError:
                return
            await splice(reader, writer, up_reader, up_writer, up_port)
        except (OSError, ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    def close(self) -> None:
        for _space, server in self.listeners.values():
            server.close()
        self.listeners.clear()


def record(calls: dict[str, deque], origin: Origin, service: str, operation: str,
           when: float) -> None:
    """Count a call the server received through an interface endpoint (GET /_vpclocal/fabric
    lists each endpoint's recent calls)."""
    assert origin.endpoint is not None
    recent = calls.get(origin.endpoint)
    if recent is None:
        recent = calls[origin.endpoint] = deque(maxlen=RECENT_CALLS)
    recent.append({"service": service, "operation": operation, "source": origin.address,
                   "time": when})
