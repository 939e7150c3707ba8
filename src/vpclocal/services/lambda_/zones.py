"""Spreading a VPC function's execution environments across its subnets' Availability Zones.

Lambda runs a VPC function in the Availability Zones of the subnets it is given (the guide:
"at least two subnets in different Availability Zones" for high availability): each new
environment goes to a Hyperplane ENI of one of them. vpclocal picks the AZ holding the fewest
of the function's environments (ties in turn), and passes over subnets an FIS experiment
disrupts (fabric DISRUPTIONS, any scope) while a healthy one is left: an AZ lost to
`aws:network:disrupt-connectivity` gets no new environments. When every subnet is disrupted,
environments are placed anyway, and fail as they would on AWS.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from dataclasses import dataclass

from vpclocal.fabric.service import DISRUPTIONS


@dataclass(frozen=True)
class Candidate:
    eni_id: str
    subnet_id: str
    zone: str
    disrupted: bool


def candidates(view, enis: list[dict]) -> list[Candidate]:
    """The function's ENIs (EC2 NetworkInterface records), with their AZ and health."""
    disrupted = {d["SubnetId"] for d in view.values(DISRUPTIONS)}
    return [Candidate(e["NetworkInterfaceId"], e["SubnetId"], e.get("AvailabilityZone", ""),
                      e["SubnetId"] in disrupted) for e in enis]


class Spread:
    """How many environments of each function run in each AZ (thread-safe: environments end
    on executor threads)."""

    def __init__(self) -> None:
        self._live: Counter = Counter()  # (function key, zone) -> environments there
        self._lock = threading.Lock()
        self._turn = itertools.count()

    def order(self, function: tuple, found: list[Candidate]) -> list[Candidate]:
        """The candidates in order of preference: healthy first, then the least loaded AZ,
        ties broken in turn (so one environment at a time still alternates AZs)."""
        turn = next(self._turn)
        zones = sorted({c.zone for c in found})
        with self._lock:
            load = {z: self._live[(function, z)] for z in zones}

        def rank(c: Candidate) -> tuple:
            rotated = (zones.index(c.zone) - turn) % len(zones)
            return (c.disrupted, load[c.zone], rotated, c.eni_id)
        return sorted(found, key=rank)

    def placed(self, function: tuple, zone: str):
        """Count an environment placed in `zone`; what uncounts it when it ends."""
        key = (function, zone)
        with self._lock:
            self._live[key] += 1
        done = threading.Event()

        def ended() -> None:
            if done.is_set():
                return
            done.set()
            with self._lock:
                self._live[key] -= 1
                if self._live[key] <= 0:
                    del self._live[key]
        return ended

    def live(self, function: tuple) -> dict[str, int]:
        with self._lock:
            return {z: n for (f, z), n in self._live.items() if f == function}


def init_line(c: Candidate) -> str:
    """The line a function's log shows at the environment's init (no AWS variable tells a
    function its AZ: vpclocal says it in the log)."""
    return (f"vpclocal: this execution environment runs in {c.zone} (subnet {c.subnet_id}, "
            f"Hyperplane ENI {c.eni_id})")
