"""100 concurrent Lambda invocations through the MySQL RDS Proxy, from the proxy's VPC: the
functions reach it only through the fabric (test_mysql_proxy.py has the proxy's other tests,
on a server without the fabric)."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import boto3
import botocore.config
import pymysql
import pytest

from tests.conftest import Server
from tests.lambda_.conftest import BASIC, VPC_ACCESS, make_role, unique, wait_state
from tests.rds.test_mysql_proxy import PASSWORD, hundred_at_once, proxy, rds  # noqa: F401

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (functions in the fabric)")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A server of this module's, with the fabric (the proxy's fixtures use it)."""
    srv = Server(tmp_path_factory.mktemp("mysqlproxylambda") / "data", args=("--fabric",)).start()
    yield srv
    srv.stop()


@pytest.fixture
def function(server, proxy):  # noqa: F811 - the imported fixture
    """A function in the proxy's VPC (its subnets, the VPC's default security group, which the
    proxy has too) that queries through the proxy by its endpoint name, pymysql packaged in
    its zip; deleted afterwards (its 100 environments with it)."""
    lam, iam = server.client("lambda"), server.client("iam")
    found = server.client("rds").describe_db_proxies(DBProxyName="myproxy")["DBProxies"][0]
    ec2 = server.client("ec2")
    default_sg = ec2.describe_security_groups(Filters=[
        {"Name": "vpc-id", "Values": [found["VpcId"]]},
        {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]["GroupId"]
    source = (
        "import os, pymysql\n"
        "def handler(event, context):\n"
        "    conn = pymysql.connect(host=os.environ['PROXY_HOST'], port=3306,\n"
        "                           user='admin', password=os.environ['DB_PASSWORD'],\n"
        "                           database='app', connect_timeout=30, read_timeout=60)\n"
        "    with conn.cursor() as cur:\n"
        "        cur.execute('SELECT SLEEP(0.05), CONNECTION_ID()')\n"
        "        connection = cur.fetchone()[1]\n"
        "    conn.close()\n"
        "    return {'connection': connection}\n")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", source)
        package = Path(pymysql.__file__).parent
        for path in package.rglob("*.py"):
            archive.write(path, str(path.relative_to(package.parent)))
    name = unique("proxied")
    lam.create_function(FunctionName=name, Runtime="python3.12",
                        Role=make_role(iam, BASIC, VPC_ACCESS),
                        Handler="index.handler", Code={"ZipFile": buffer.getvalue()},
                        Timeout=120, Environment={"Variables": {
                            "PROXY_HOST": found["Endpoint"], "DB_PASSWORD": PASSWORD}},
                        VpcConfig={"SubnetIds": found["VpcSubnetIds"],
                                   "SecurityGroupIds": [default_sg]})
    assert wait_state(lam, name)["State"] == "Active"
    yield name
    lam.delete_function(FunctionName=name)


def test_100_concurrent_lambda_invocations(server, function):
    lam = boto3.client(
        "lambda", endpoint_url=server.endpoint, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
        config=botocore.config.Config(max_pool_connections=100, read_timeout=300,
                                      retries={"max_attempts": 0}))

    def work():
        answer = lam.invoke(FunctionName=function)
        payload = json.loads(answer["Payload"].read())
        assert answer["StatusCode"] == 200 and "FunctionError" not in answer, payload
        return payload["connection"]

    hundred_at_once(server, work, reused=False)
