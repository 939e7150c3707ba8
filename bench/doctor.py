"""`vpclocal doctor` benchmark.

The region of bench/reach_bench.py (1,000 subnets, 2,000 security groups, 50,000 rules, 10,000
network interfaces, NAT gateways shared by the private subnets of three zones, S3 gateway
endpoints on half the route tables) written to a store, plus 1,000 VPC functions (one or two
subnets each, half of their roles without the VPC permissions, timeouts of 3 or 30 s) and a
database interface in each VPC. Prints the time of one doctor run (the Account read from the
store, every check and the JSON answer, as GET /_vpclocal/doctor does) against the goal
(<= 1 s), and the findings per check.

    .venv/bin/python bench/doctor.py [--seed N] [--repeat N]
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import statistics
import sys
import time
from dataclasses import fields
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from reach_bench import build

from vpclocal.doctor import Account, run
from vpclocal.services.iam import LAMBDA_ENI_ACTIONS
from vpclocal.services.iam.common import ROLES, SCOPE
from vpclocal.services.lambda_.model import FUNCTIONS
from vpclocal.store import Store

GOAL_S = 1.0
REGION = "us-east-1"
ACCOUNT_ID = "000000000000"
FUNCTIONS_N = 1000
ROLES_N = 10


def _role(name: str, vpc_access: bool) -> dict:
    statements = [{"Effect": "Allow", "Action": ["logs:*"], "Resource": "*"}]
    if vpc_access:
        statements.append({"Effect": "Allow", "Action": list(LAMBDA_ENI_ACTIONS),
                           "Resource": "*"})
    return {"RoleName": name, "Arn": f"arn:aws:iam::{ACCOUNT_ID}:role/{name}", "Path": "/",
            "_AttachedPolicies": [], "_InlinePolicies": {"main": json.dumps(
                {"Version": "2012-10-17", "Statement": statements})}}


def populate(seed: int, path: str = ":memory:") -> Store:
    """The region in a store (in memory unless a database file is given: bench/console.py
    serves it)."""
    rnd = random.Random(seed)
    topo = build(seed)
    store = Store(path)
    roles = [_role(f"role-{n}", n % 2 == 0) for n in range(ROLES_N)]
    with store.transaction(SCOPE) as tx:
        for role in roles:
            tx.put(ROLES, role["RoleName"].lower(), role)
    lambda_enis = [e for e in topo.network_interfaces.values() if e["InterfaceType"] == "lambda"]
    by_vpc = collections.defaultdict(list)
    for eni in topo.network_interfaces.values():
        by_vpc[eni["VpcId"]].append(eni)
    for enis in by_vpc.values():  # a database in each VPC
        enis[-1]["RequesterId"] = "amazon-rds"
    with store.transaction(REGION) as tx:
        for field in fields(topo):
            for rid, record in getattr(topo, field.name).items():
                tx.put(field.name, rid, record)
        for n in range(FUNCTIONS_N):
            enis = rnd.sample(lambda_enis, rnd.choice([1, 2]))
            enis = [e for e in enis if e["VpcId"] == enis[0]["VpcId"]]
            name = f"fn-{n}"
            tx.put(FUNCTIONS, name, {
                "FunctionName": name, "Role": rnd.choice(roles)["Arn"],
                "Timeout": rnd.choice([3, 30]),
                "VpcConfig": {"SubnetIds": sorted({e["SubnetId"] for e in enis}),
                              "SecurityGroupIds": [enis[0]["Groups"][0]["GroupId"]],
                              "VpcId": enis[0]["VpcId"]}})
    return store


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    store = populate(args.seed)
    view = store.view(REGION)
    print(f"{len(view.all('subnets'))} subnets, {len(view.all('network_interfaces'))} network "
          f"interfaces, {len(view.all('security_groups'))} security groups, "
          f"{len(view.all(FUNCTIONS))} functions")
    times, findings = [], []
    for _ in range(args.repeat):
        start = time.perf_counter()
        findings = run(Account(view, REGION))
        json.dumps([f.to_dict() for f in findings])  # as the admin route answers
        times.append(time.perf_counter() - start)
    for check, n in sorted(collections.Counter(f.id for f in findings).items()):
        print(f"  {check}: {n}")
    median = statistics.median(times)
    print(f"doctor: median {median:.3f} s, worst {max(times):.3f} s of {args.repeat} runs "
          f"(goal <= {GOAL_S} s): {'ok' if median <= GOAL_S else 'MISSED'}")
    return 0 if median <= GOAL_S else 1


if __name__ == "__main__":
    sys.exit(main())
