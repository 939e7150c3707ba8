"""examples/lambda-vpc-rds/cleanup.sh tears down whatever of the guide's exercise exists and can
be run again (issue 18): here, after a walkthrough that stopped after step 2 (a VPC, subnets, an
internet gateway, the two security groups, no database, function or role) and with one of the
rules already revoked by hand, as the README's "break it" step does. It removes its work folder.
(tests/fabric/test_walkthrough.py runs it after the whole exercise.)"""

from __future__ import annotations

import subprocess

from tests.conftest import ROOT, Server, guide_step

CLEANUP = ROOT / "examples" / "lambda-vpc-rds" / "cleanup.sh"


def test_cleanup_after_a_partial_walkthrough_twice(tmp_path):
    srv = Server(tmp_path / "data").start()
    try:
        env = srv.env()
        env.pop("AWS_CONFIG_FILE")  # the example's own (its plugin keeps `aws rds` here)
        work = tmp_path / "lambda-vpc-rds-work"
        work.mkdir()
        made = subprocess.run(
            ["bash", "-c", "set -e\n" + guide_step(1) + guide_step(2) +
             'echo "VPC_ID=$VPC_ID IGW_ID=$IGW_ID PRIVATE_SUBNET_1=$PRIVATE_SUBNET_1 '
             'PRIVATE_SUBNET_2=$PRIVATE_SUBNET_2 LAMBDA_SG=$LAMBDA_SG RDS_SG=$RDS_SG" > ids.sh'],
            cwd=work, env=env, capture_output=True, text=True, timeout=120, check=False)
        assert made.returncode == 0, made.stderr
        ids = dict(part.split("=") for part in (work / "ids.sh").read_text().split())
        srv.aws("ec2", "revoke-security-group-ingress", "--group-id", ids["RDS_SG"],
                "--protocol", "tcp", "--port", "3306", "--source-group", ids["LAMBDA_SG"])

        runs = []
        for _ in range(2):
            runs.append(subprocess.run(["bash", str(CLEANUP)], cwd=tmp_path, env=env,
                                       capture_output=True, text=True, timeout=120,
                                       check=False))
            assert runs[-1].returncode == 0, (runs[-1].stdout, runs[-1].stderr)
            assert not work.exists()
        first, second = (run.stdout for run in runs)
        assert "already gone: aws ec2 revoke-security-group-ingress" in first, first
        assert "already gone: aws ec2 delete-vpc" not in first, first
        assert "already gone: aws ec2 delete-vpc" in second, second  # no ids.sh: nothing known

        ec2 = srv.client("ec2")
        assert [v["IsDefault"] for v in ec2.describe_vpcs()["Vpcs"]] == [True]
        assert ec2.describe_security_groups(
            Filters=[{"Name": "vpc-id", "Values": [ids["VPC_ID"]]}])["SecurityGroups"] == []
        assert ids["IGW_ID"] not in [g["InternetGatewayId"] for g in
                                     ec2.describe_internet_gateways()["InternetGateways"]]
    finally:
        srv.stop()
