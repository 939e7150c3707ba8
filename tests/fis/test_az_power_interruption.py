"""Issue 15 end to end: the guide's pattern 4 built through the API loses an Availability Zone.

An FIS experiment in the manner of AWS's "AZ Availability: Power Interruption" scenario cuts
every subnet of the Multi-AZ database's primary AZ off (aws:network:disrupt-connectivity,
scope all, targets chosen by a filter on the AZ). While it runs, a function in both private
subnets is invoked again and again: the database fails over to its standby in the other AZ,
the function's environments there reconnect through the endpoint name, and the invocations
keep succeeding; each failure is counted and printed, with the time from the experiment's start
to the first query answered through the endpoint name again (the failover time, a figure, not
an assertion). Committed rows survive; the experiment's end gives the AZ back.
"""

from __future__ import annotations

import os
import time

import pytest

from tests.conftest import unique
from tests.fabric.conftest import needs_fabric
from tests.fabric.test_functions_in_fabric import applied, invoke, start_server
from tests.fis.conftest import NONE, ROLE, reaches
from tests.fis.test_zones import ZONES, pattern_4
from tests.lambda_.conftest import BASIC, VPC_ACCESS, make_role, wait_state, zipped

pytestmark = [needs_fabric, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]
PASSWORD = "Secret123!"
# a connection per environment, made again when the old one broke (the guide's section 8
# function, with the reconnect a Multi-AZ database asks of it)
HANDLER = """
import os, pymysql
connection = None

def handler(event, context):
    global connection
    for attempt in (1, 2):
        try:
            if connection is None:
                connection = pymysql.connect(host=os.environ["DB_HOST"], user="admin",
                                             password=os.environ["DB_PASSWORD"], database="app",
                                             connect_timeout=2, read_timeout=2, autocommit=True)
            with connection.cursor() as cursor:
                cursor.execute("SELECT COUNT(*) FROM orders")
                return {"orders": cursor.fetchone()[0], "server": connection.get_host_info()}
        except pymysql.err.OperationalError:
            connection = None
            if attempt == 2:
                raise
"""


def test_an_az_power_interruption_fails_the_database_over_and_functions_carry_on(tmp_path):
    server = start_server(tmp_path / "data")
    try:
        ec2, lam, rds, fis = (server.client(s) for s in ("ec2", "lambda", "rds", "fis"))
        net = pattern_4(ec2)
        db_sg = ec2.create_security_group(VpcId=net["vpc"], GroupName="db",
                                          Description="db")["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=db_sg, IpPermissions=[{
            "IpProtocol": "tcp", "FromPort": 3306, "ToPort": 3306,
            "UserIdGroupPairs": [{"GroupId": net["sg"]}]}])
        rds.create_db_subnet_group(DBSubnetGroupName="pattern4", DBSubnetGroupDescription="db",
                                   SubnetIds=[net["private"][z] for z in ZONES])
        rds.create_db_instance(DBInstanceIdentifier="orders", Engine="mariadb", DBName="app",
                               DBInstanceClass="db.t3.micro", MasterUsername="admin",
                               MasterUserPassword=PASSWORD, AllocatedStorage=20, MultiAZ=True,
                               DBSubnetGroupName="pattern4", VpcSecurityGroupIds=[db_sg])
        rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="orders",
                                                     WaiterConfig={"Delay": 1})
        db = rds.describe_db_instances(DBInstanceIdentifier="orders")["DBInstances"][0]
        lost, kept = db["AvailabilityZone"], db["SecondaryAvailabilityZone"]
        assert {lost, kept} == set(ZONES)

        name = unique("orders")
        lam.create_function(
            FunctionName=name, Runtime="python3.12", Handler="index.handler", Timeout=10,
            Role=make_role(server.client("iam"), BASIC, VPC_ACCESS),
            Code={"ZipFile": zipped(HANDLER)},
            Environment={"Variables": {"DB_HOST": db["Endpoint"]["Address"],
                                       "DB_PASSWORD": PASSWORD}},
            VpcConfig={"SubnetIds": [net["private"][z] for z in ZONES],
                       "SecurityGroupIds": [net["sg"]]})
        assert wait_state(lam, name, timeout=30)["State"] == "Active"
        applied(server)
        # rows committed before the AZ goes (a short-lived client: the function's role is
        # to read them)
        setup = """
import os, pymysql
def handler(event, context):
    c = pymysql.connect(host=os.environ["DB_HOST"], user="admin", database="app",
                        password=os.environ["DB_PASSWORD"], autocommit=True)
    with c.cursor() as cur:
        cur.execute("CREATE TABLE orders (id INT PRIMARY KEY)")
        cur.execute("INSERT INTO orders VALUES (1), (2), (3)")
    return "ok"
"""
        writer = unique("setup")
        lam.create_function(FunctionName=writer, Runtime="python3.12",
                            Handler="index.handler", Timeout=10, Code={"ZipFile": zipped(setup)},
                            Role=make_role(server.client("iam"), BASIC, VPC_ACCESS),
                            Environment={"Variables": {"DB_HOST": db["Endpoint"]["Address"],
                                                       "DB_PASSWORD": PASSWORD}},
                            VpcConfig={"SubnetIds": [net["private"][kept]],
                                       "SecurityGroupIds": [net["sg"]]})
        wait_state(lam, writer, timeout=30)
        assert invoke(lam, writer, {})[:2] == ("ok", None)
        payload, error, log = invoke(lam, name, {})
        assert error is None and payload["orders"] == 3, (payload, log)

        # the scenario: every subnet of the primary's AZ, chosen by a filter, cut off
        template = fis.create_experiment_template(
            clientToken=unique("t"), description="AZ Availability: Power Interruption",
            roleArn=ROLE, stopConditions=NONE,
            targets={"zone": {"resourceType": "aws:ec2:subnet", "selectionMode": "ALL",
                              "parameters": {"availabilityZoneIdentifier": lost,
                                             "vpc": net["vpc"]}}},
            actions={"power": {"actionId": "aws:network:disrupt-connectivity",
                               "parameters": {"duration": "PT30M", "scope": "all"},
                               "targets": {"Subnets": "zone"}}})["experimentTemplate"]
        started = time.monotonic()
        eid = fis.start_experiment(clientToken=unique("c"),
                                   experimentTemplateId=template["id"])["experiment"]["id"]
        reaches(fis, eid, "running", "power")
        failures, first_success = 0, None
        for _ in range(12):
            payload, error, log = invoke(lam, name, {})
            if error is None and payload["orders"] == 3:
                first_success = first_success or time.monotonic() - started
            else:
                failures += 1
        print(f"\nAZ {lost} lost: {failures} of 12 invocations failed; first query through "
              f"the endpoint name after {first_success:.2f} s")
        assert first_success is not None and error is None, (payload, log)
        db = rds.describe_db_instances(DBInstanceIdentifier="orders")["DBInstances"][0]
        assert db["AvailabilityZone"] == kept, db
        events = [e["Message"] for e in rds.describe_events(
            SourceType="db-instance", SourceIdentifier="orders", Duration=60)["Events"]]
        assert "Multi-AZ instance failover started." in events, events
        # the experiment's end gives the AZ back: a new standby there
        fis.stop_experiment(id=eid)
        reaches(fis, eid, "stopped")
        payload, error, log = invoke(lam, name, {})
        assert error is None and payload["orders"] == 3, (payload, log)
    finally:
        server.stop()
