"""Multi-AZ failover time: from the failover's start to the first query that succeeds through
the endpoint name at the new primary (issue 15's goal: <= 2 s; AWS: 60-120 s).

A `vpclocal up --fabric` server (root: the prober enters a client ENI's namespace with
nsenter). A Multi-AZ instance per engine (subnets in us-east-1a and us-east-1b), a prober in
a client ENI of us-east-1c that, once told the failover starts, loops: resolve the endpoint
name with the VPC resolver, connect (0.5 s timeout), SELECT 1, until that succeeds at another
address than the old primary's; it prints the seconds since the start (time.time() of the
bench, same host clock).

Failovers measured:
  force-failover  RebootDBInstance ForceFailover (start: just before the call; the call
                  returns once the old primary is rebuilt as the standby, also printed)
  az-disruption   an FIS experiment cutting off the primary's subnet (scope all; start: just
                  before StartExperiment), once per engine at the end

Run (root): .venv/bin/python bench/rds_failover.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import statistics
import sys
import time
import uuid
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import start_fabric_vpclocal, stop
from fabric_api_latency import netns_of

from tests.fabric.test_functions_in_fabric import InNamespace

PASSWORD = "Secret123!"
PORTS = {"mysql": 3306, "postgres": 5432}
PROBER = """
import json, sys, time
import dns.resolver, pg8000.native, pymysql
resolver_ip, name, port, engine, password = sys.argv[1:6]
resolver = dns.resolver.Resolver(configure=False)
resolver.nameservers, resolver.lifetime = [resolver_ip], 1

def attempt():
    address = resolver.resolve(name, "A")[0].to_text()
    if engine == "postgres":
        conn = pg8000.native.Connection("admin", host=address, port=int(port),
                                        password=password, database="app", timeout=0.5)
        conn.run("SELECT 1")
        conn.close()
    else:
        conn = pymysql.connect(host=address, port=int(port), user="admin", password=password,
                               database="app", connect_timeout=0.5, read_timeout=1)
        conn.cursor().execute("SELECT 1")
        conn.close()
    return address

print("ready", flush=True)
for line in sys.stdin:
    start, old = line.split()
    attempts, address = 0, None
    while time.time() - float(start) < 60:  # (a failover that never happens: reported)
        attempts += 1
        try:
            address = attempt()
            if address != old:
                break
        except Exception:
            pass
        time.sleep(0.005)
    print(json.dumps({"seconds": time.time() - float(start), "attempts": attempts,
                      "moved": address not in (None, old)}), flush=True)
"""


def clients(url: str):
    def make(service):
        return boto3.client(service, endpoint_url=url, region_name="us-east-1",
                            aws_access_key_id="test", aws_secret_access_key="test")
    return make("ec2"), make("rds"), make("fis")


def setup(url: str, ec2, rds, engine: str, second: int):
    vpc = ec2.create_vpc(CidrBlock=f"10.{second}.0.0/16")["Vpc"]
    subnets = {z: ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock=f"10.{second}.{i}.0/24",
                                    AvailabilityZone=f"us-east-1{z}")["Subnet"]
               for i, z in ((1, "a"), (2, "b"), (3, "c"))}
    group = f"bench-{engine}"
    rds.create_db_subnet_group(DBSubnetGroupName=group, DBSubnetGroupDescription="bench",
                               SubnetIds=[subnets["a"]["SubnetId"], subnets["b"]["SubnetId"]])
    db_id = f"bench-{engine}"
    rds.create_db_instance(DBInstanceIdentifier=db_id, DBInstanceClass="db.t3.micro",
                           Engine=engine, MasterUsername="admin", MasterUserPassword=PASSWORD,
                           AllocatedStorage=20, DBSubnetGroupName=group, DBName="app",
                           MultiAZ=True)
    db = rds.describe_db_instances(DBInstanceIdentifier=db_id)["DBInstances"][0]
    sg = ec2.describe_security_groups(Filters=[
        {"Name": "vpc-id", "Values": [vpc["VpcId"]]},
        {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]["GroupId"]
    eni = ec2.create_network_interface(SubnetId=subnets["c"]["SubnetId"],
                                       Groups=[sg])["NetworkInterface"]["NetworkInterfaceId"]
    resolver = str(ipaddress.ip_network(vpc["CidrBlock"])[2])
    prober = InNamespace(netns_of(url, eni), PROBER, resolver, db["Endpoint"]["Address"],
                         str(PORTS[engine]), engine, PASSWORD)
    assert prober.line() == "ready"
    return db, subnets, prober


def primary_address(ec2, db: dict, subnets: dict, rds) -> str:
    zone = rds.describe_db_instances(DBInstanceIdentifier=db["DBInstanceIdentifier"])[
        "DBInstances"][0]["AvailabilityZone"][-1]
    enis = ec2.describe_network_interfaces(Filters=[
        {"Name": "subnet-id", "Values": [subnets[zone]["SubnetId"]]},
        {"Name": "description", "Values": ["RDSNetworkInterface"]}])["NetworkInterfaces"]
    return enis[0]["PrivateIpAddress"]


def report(what: str, values: list[float]) -> None:
    print(f"  {what:38s} median {statistics.median(values):6.3f} s  (min {min(values):.3f}, "
          f"max {max(values):.3f}, n={len(values)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5,
                        help="force failovers per engine (default: 5)")
    args = parser.parse_args()
    proc, url = start_fabric_vpclocal()
    try:
        ec2, rds, fis = clients(url)
        for second, engine in ((70, "mysql"), (71, "postgres")):
            db, subnets, prober = setup(url, ec2, rds, engine, second)
            try:
                print(f"{engine} (Multi-AZ, goal: failover <= 2 s):")
                failovers, calls = [], []
                for _ in range(args.rounds):
                    old = primary_address(ec2, db, subnets, rds)
                    start = time.time()
                    prober.proc.stdin.write(f"{start} {old}\n")
                    prober.proc.stdin.flush()
                    rds.reboot_db_instance(DBInstanceIdentifier=db["DBInstanceIdentifier"],
                                           ForceFailover=True)
                    calls.append(time.time() - start)
                    seen = json.loads(prober.line())
                    if not seen["moved"]:
                        sys.exit(f"{engine}: the endpoint did not move (no standby?)")
                    failovers.append(seen["seconds"])
                report("force-failover -> first query", failovers)
                report("RebootDBInstance call (+ new standby)", calls)
                zone = rds.describe_db_instances(DBInstanceIdentifier=db[
                    "DBInstanceIdentifier"])["DBInstances"][0]["AvailabilityZone"][-1]
                old = primary_address(ec2, db, subnets, rds)
                template = fis.create_experiment_template(
                    clientToken=uuid.uuid4().hex, description="cut", roleArn=(
                        "arn:aws:iam::000000000000:role/fis"), stopConditions=[{
                            "source": "none"}],
                    targets={"s": {"resourceType": "aws:ec2:subnet", "selectionMode": "ALL",
                                   "resourceArns": [subnets[zone]["SubnetArn"]]}},
                    actions={"cut": {"actionId": "aws:network:disrupt-connectivity",
                                     "parameters": {"duration": "PT10M", "scope": "all"},
                                     "targets": {"Subnets": "s"}}})["experimentTemplate"]["id"]
                start = time.time()
                prober.proc.stdin.write(f"{start} {old}\n")
                prober.proc.stdin.flush()
                eid = fis.start_experiment(clientToken=uuid.uuid4().hex,
                                           experimentTemplateId=template)["experiment"]["id"]
                report("az-disruption -> first query", [json.loads(prober.line())["seconds"]])
                fis.stop_experiment(id=eid)
            finally:
                prober.stop()
    finally:
        stop(proc)


if __name__ == "__main__":
    main()
